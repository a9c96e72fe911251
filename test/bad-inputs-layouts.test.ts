/**
 * Bad-input corpus, layout files and access (issue 15 item 6, with the cases of issue 13): a Hume
 * CSV missing a column (and one with a byte-order mark and CRLF, read as meant), videos.csv paths
 * with `..`, and a file and a folder of mode 000. The first two run through an extraction run on
 * the dev server and the S3 store; the mode-000 case runs the manifest step as `nobody`.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { EMI_HEADER } from '../datasets/annotations.ts';
import { storeKeys } from '../storage/keys.ts';
import * as make from './helpers/badInputs.ts';
import { runCorpus, videoRows } from './helpers/badInputRun.ts';
import { tempDir } from './helpers/env.ts';

const EMI_VALUES = '0.1,0.2,0.3,0.4,0.5,0.6';

test('a Hume CSV missing a column: an error naming the file, the header seen and the missing column; its videos kept unlabelled, a CSV with a BOM and CRLF read as meant', async (t) => {
  const root = join(tempDir('bad-hume'), 'ds');
  const clip = make.portraitVideo(join(root, 'videos', '00001.mp4'), 6);
  copyFileSync(clip, join(root, 'videos', '00002.mp4'));
  const withoutJoy = EMI_HEADER.replace(',Joy', '');
  make.textFile(join(root, 'train_split.csv'), `${withoutJoy}\n00001,0.1,0.2,0.3,0.4,0.5\n`);
  make.textFile(join(root, 'valid_split.csv'), `${EMI_HEADER}\r\n00002,${EMI_VALUES}\r\n\r\n`, { bom: true });
  const run = await runCorpus('bad-hume', root, 16);
  t.teardown(() => run.close());
  t.is(run.result.status, 'completed');
  t.deepEqual(run.result.failedShards, []);
  t.deepEqual(run.manifest.findings, [
    `error: annotation train_split.csv line 1: expected the header ${EMI_HEADER}, got ${JSON.stringify(withoutJoy)} (missing Joy); the CSV is ignored`,
  ]);
  t.deepEqual(
    run.manifest.videos.map((v) => [v.name, v.split, v.labels?.EMI?.file]),
    [
      ['00001', 'Test', undefined],
      ['00002', 'Validation', 'valid_split.csv'],
    ],
  );
  const key = storeKeys.labels(run.manifest.datasetId, 'EMI', '00002');
  t.deepEqual(
    JSON.parse(new TextDecoder().decode(await run.store.get(key))),
    EMI_VALUES.split(',').map(Number),
  );
  for (const name of ['00001', '00002'])
    t.deepEqual(
      videoRows(run, name).map((r) => r.frame),
      [1, 2, 3, 4, 5, 6],
    );
});

test('videos.csv paths with "..": leaving the root is an error naming the line and path, staying inside is read', async (t) => {
  const base = tempDir('bad-dotdot');
  const root = join(base, 'ds');
  const clip = make.portraitVideo(join(root, 'videos', 'good.mp4'), 6);
  mkdirSync(join(root, 'videos', 'sub'));
  copyFileSync(clip, join(base, 'outside.mp4'));
  make.textFile(
    join(root, 'videos.csv'),
    [
      'name,path,split',
      'good,videos/good.mp4,Train',
      'escape,../outside.mp4,Train',
      'round,videos/sub/../good.mp4,Test',
      `absolute,${join(base, 'outside.mp4')},Test`,
      '',
    ].join('\n'),
  );
  const run = await runCorpus('bad-dotdot', root, 16);
  t.teardown(() => run.close());
  t.is(run.result.status, 'completed');
  t.deepEqual(run.manifest.findings, [
    'error: dataset videos.csv line 3: path "../outside.mp4" is outside the dataset root; left out',
    `error: dataset videos.csv line 5: path ${JSON.stringify(join(base, 'outside.mp4'))} is outside the dataset root; left out`,
  ]);
  t.deepEqual(
    run.manifest.videos.map((v) => [v.name, v.split]),
    [
      ['good', 'Train'],
      ['round', 'Test'],
    ],
  );
  for (const name of ['good', 'round'])
    t.deepEqual(
      videoRows(run, name).map((r) => [r.frame, r.noFace]),
      [1, 2, 3, 4, 5, 6].map((f) => [f, false]),
    );
});

/**
 * Mode 000 means nothing to root, which the tests run as: the manifest step runs in a child
 * process as `nobody` (setpriv), in a dataset under the system temporary folder that nobody can
 * reach, so the product meets EACCES as a worker of an ordinary user would.
 */
test('a file and a folder of mode 000: errors naming each with EACCES; the readable video is manifested', async (t) => {
  const base = mkdtempSync(join(tmpdir(), 'bad-access-'));
  t.teardown(() => rmSync(base, { recursive: true, force: true }));
  chmodSync(base, 0o755);
  const root = join(base, 'ds');
  const clip = make.portraitVideo(join(root, 'good.mp4'), 3);
  copyFileSync(clip, join(root, 'locked.mp4'));
  await make.portraitPhoto(join(root, 'locked.jpg'), (i) => i.jpeg());
  mkdirSync(join(root, 'private'));
  copyFileSync(clip, join(root, 'private', 'hidden.mp4'));
  for (const path of ['locked.mp4', 'locked.jpg', 'private']) chmodSync(join(root, path), 0);
  const datasets = pathToFileURL(join(import.meta.dirname, '..', 'datasets', 'index.ts')).href;
  const code = `const { buildManifest } = await import(${JSON.stringify(datasets)});
const { manifest } = await buildManifest(process.argv[1], { shardFrames: 16 });
console.log(JSON.stringify({ videos: manifest.videos.map((v) => [v.name, v.frameCount]), findings: manifest.findings }));`;
  const asNobody =
    process.getuid?.() === 0 ? ['setpriv', '--reuid=65534', '--regid=65534', '--clear-groups'] : [];
  const child = spawnSync(
    asNobody[0] ?? process.execPath,
    [
      ...asNobody.slice(1),
      ...(asNobody.length ? [process.execPath] : []),
      '--import',
      'tsx',
      '--input-type=module',
      '-e',
      code,
      root,
    ],
    { cwd: join(import.meta.dirname, '..'), encoding: 'utf8', env: { ...process.env, HOME: base } },
  );
  t.is(child.status, 0, child.stderr);
  const out = JSON.parse(child.stdout) as { videos: unknown; findings: string[] };
  t.deepEqual(out.videos, [['good', 3]]);
  const unreadable =
    'cannot be read (EACCES: permission denied), expected a file the frames workers can read; left out: fix its permissions';
  t.deepEqual(out.findings, [
    // Videos first, then photos, as the generic layout lists them.
    `error: video locked.mp4: ${unreadable}`,
    `error: photo locked.jpg: ${unreadable}`,
    'error: dataset private/: cannot be listed (EACCES: permission denied); everything in it left out',
  ]);
});
