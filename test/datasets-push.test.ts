/**
 * `affectflow datasets push DIR s3://bucket/prefix` through the real CLI against the test
 * SeaweedFS (issue 16): every file becomes an object with its sha256 as metadata (large ones in
 * parts), a second push uploads nothing, a push killed mid-upload resumes with what it had not
 * finished, and files it cannot push are findings.
 */
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { execFileSync } from 'node:child_process';
import { mkdirSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { fileSha256 } from '../base/hashing.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore } from '../storage/objectStore.ts';
import { affectflow } from './helpers/cli.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';

async function sample(label: string, bigFiles = 0): Promise<string> {
  const root = join(tempDir(label), 'sample');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    framesPerVideo: 16,
  });
  if (bigFiles) mkdirSync(join(root, 'zz'));
  // Over the 8 MiB part size: uploaded in parts.
  for (let i = 0; i < bigFiles; i++)
    writeFileSync(join(root, 'zz', `big-${i}.bin`), randomBytes(20 * 1024 * 1024));
  return root;
}

function localFiles(root: string): string[] {
  const out: string[] = [];
  const walk = (dir: string): void => {
    for (const name of readdirSync(dir).sort()) {
      const path = join(dir, name);
      if (statSync(path).isDirectory()) walk(path);
      else out.push(relative(root, path).split('\\').join('/'));
    }
  };
  walk(root);
  return out;
}

function pushEnv(label: string): Record<string, string> {
  return {
    AFFECTFLOW_HOME: tempDir(label),
    AFFECTFLOW_STORE: `s3://${testServices.s3Bucket()}/${label}-store-${randomUUID()}`,
  };
}

/** Every local file is an object of the same size whose sha256 metadata is the file's. */
async function assertPushed(
  t: { deepEqual: (a: unknown, b: unknown, m?: string) => void },
  root: string,
  target: string,
): Promise<void> {
  const store = openStore({ ...testConfig('s3', 'push-check').store, uri: target });
  try {
    for (const path of localFiles(root))
      t.deepEqual(
        await store.head(path),
        { key: path, size: statSync(join(root, path)).size, sha256: await fileSha256(join(root, path)) },
        path,
      );
  } finally {
    store.close();
  }
}

test('push uploads every file with its sha256 (large ones in parts); a second push uploads nothing', async (t) => {
  const root = await sample('push-twice', 1);
  const target = `s3://${testServices.s3Bucket()}/push-${randomUUID()}/sample`;
  const env = pushEnv('push-twice');
  const files = localFiles(root);
  const first = await affectflow(['datasets', 'push', root, target], env);
  t.is(first.code, 0, first.stderr);
  const bytes = files.reduce((a, f) => a + statSync(join(root, f)).size, 0);
  t.true(
    first.stdout.includes(
      `datasets push: ${root} -> ${target}: ${files.length} files, ${files.length} uploaded (${(bytes / 1e6).toFixed(1)} MB), 0 already there\n`,
    ),
    first.stdout,
  );
  t.is(first.stdout.split('\n').filter((l) => l.startsWith('push: uploaded ')).length, files.length);
  await assertPushed(t, root, target);

  const second = await affectflow(['datasets', 'push', root, target], env);
  t.is(second.code, 0, second.stderr);
  t.true(
    second.stdout.includes(`${files.length} files, 0 uploaded (0.0 MB), ${files.length} already there\n`),
    second.stdout,
  );
  t.false(second.stdout.includes('push: uploaded '));
});

test('a push killed mid-upload resumes: the next one uploads only what was not finished', async (t) => {
  const root = await sample('push-resume', 3);
  const target = `s3://${testServices.s3Bucket()}/push-${randomUUID()}/sample`;
  const env = pushEnv('push-resume');
  const files = localFiles(root);
  const abort = new AbortController();
  const killed = await affectflow(
    ['datasets', 'push', root, target],
    env,
    (line) => {
      if (line.startsWith('push: uploaded ')) abort.abort();
    },
    abort.signal,
  );
  t.is(killed.code, null, 'killed by SIGKILL');
  const done = killed.stdout.split('\n').filter((l) => l.startsWith('push: uploaded ')).length;
  t.true(done >= 1 && done < files.length, killed.stdout);

  const resumed = await affectflow(['datasets', 'push', root, target], env);
  t.is(resumed.code, 0, resumed.stderr);
  const match = / (\d+) files, (\d+) uploaded \([\d.]+ MB\), (\d+) already there\n/.exec(resumed.stdout);
  t.truthy(match, resumed.stdout);
  const [uploaded, skipped] = [Number(match![2]), Number(match![3])];
  t.is(Number(match![1]), files.length);
  t.is(uploaded + skipped, files.length);
  t.true(skipped >= done, `${skipped} already there, ${done} finished before the kill`);
  t.true(uploaded >= 3, 'the large files were not finished');
  await assertPushed(t, root, target);
});

test('files push cannot read are findings; the rest is pushed', async (t) => {
  const root = join(tempDir('push-findings'), 'photos');
  mkdirSync(root);
  writeFileSync(join(root, 'a.jpg'), 'not really a photo');
  symlinkSync('/etc/hostname', join(root, 'outside.jpg'));
  execFileSync('mkfifo', [join(root, 'pipe.jpg')]);
  const target = `s3://${testServices.s3Bucket()}/push-${randomUUID()}/photos`;
  const result = await affectflow(['datasets', 'push', root, target], pushEnv('push-findings'));
  t.is(result.code, 0, result.stderr);
  t.deepEqual(
    result.stderr.split('\n').filter((l) => l.startsWith('affectflow:')),
    [
      'affectflow: warning: dataset outside.jpg: symbolic link to "/etc/hostname" leaves the dataset root; not pushed: copy the file into the dataset or link to a path inside it',
      'affectflow: warning: dataset pipe.jpg: not a regular file (a FIFO, socket or device); not pushed',
    ],
  );
  t.true(
    result.stdout.includes(
      `-> ${target}: 1 files, 1 uploaded (0.0 MB), 0 already there, 2 not pushed (listed above)\n`,
    ),
    result.stdout,
  );
  // The usage lines of docs/ERRORS.md (exit 2).
  const missing = await affectflow(
    ['datasets', 'push', join(root, 'missing'), 's3://bucket/datasets/missing'],
    pushEnv('push-findings'),
  );
  t.is(missing.code, 2);
  t.is(
    missing.stderr.trim(),
    `affectflow: datasets push: ${join(root, 'missing')}: expected a dataset folder, found none; check the path`,
  );
  const bad = await affectflow(['datasets', 'push', root, 'file:///tmp/x'], pushEnv('push-findings'));
  t.is(bad.code, 2);
  t.is(
    bad.stderr.trim(),
    'affectflow: datasets push: target "file:///tmp/x": expected s3://bucket/prefix (the prefix\'s last part names the dataset, as a folder\'s name does)',
  );
});
