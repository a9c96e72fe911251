/**
 * Bad-input corpus, label files (issue 15 item 6, with the cases of issue 13): an Aff-Wild2
 * dataset whose videos each come with one kind of unusual annotation file, beside a good one. One
 * extraction run (manifest, frames, embed) on the dev server and the S3 store completes; each case
 * asserts its exact finding, or the label values stored when the file is read as meant (CRLF, a
 * byte-order mark, trailing blank lines).
 */
import test from 'ava';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { EXPR_HEADER, VA_HEADER } from '../datasets/annotations.ts';
import { storeKeys } from '../storage/keys.ts';
import * as make from './helpers/badInputs.ts';
import { runCorpus, videoRows, type CorpusRun } from './helpers/badInputRun.ts';
import { tempDir } from './helpers/env.ts';

const EXPR_DIR = 'annotations/EXPR_Recognition_Challenge';
const VA_DIR = 'annotations/VA_Estimation_Challenge';
const VA_ROW = '0.1,0.2';

/** Each video (a copy of one 6-frame clip) and its annotation file: [name, folder, text, bom]. */
const FILES: readonly [string, string, string, boolean?][] = [
  ['good', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n3\n4\n5\n`],
  ['crlf', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\r\n0\r\n1\r\n2\r\n3\r\n4\r\n5\r\n`],
  ['bom', `${VA_DIR}/Train_Set`, `${VA_HEADER}\n${`${VA_ROW}\n`.repeat(5)}-0.5,0.75\n`, true],
  ['blank', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n3\n4\n5\n\n\r\n  \n`],
  ['more1', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n3\n4\n5\n6\n`],
  ['more4', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n3\n4\n5\n6\n7\n0\n1\n`],
  ['fewer1', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n3\n4\n`],
  ['fewer3', `${EXPR_DIR}/Train_Set`, `${EXPR_HEADER}\n0\n1\n2\n`],
  ['nan', `${VA_DIR}/Train_Set`, `${VA_HEADER}\n${VA_ROW}\nnan,0.2\n${`${VA_ROW}\n`.repeat(4)}`],
  [
    'inf',
    `${VA_DIR}/Train_Set`,
    `${VA_HEADER}\n${VA_ROW}\n${VA_ROW}\n0.1,Infinity\n${`${VA_ROW}\n`.repeat(3)}`,
  ],
  ['unlabelled', `${EXPR_DIR}/Validation_Set`, `${EXPR_HEADER}\n${'-1\n'.repeat(6)}`],
];

let corpus: Promise<CorpusRun> | undefined;
const labels = (): Promise<CorpusRun> =>
  (corpus ??= (async () => {
    const root = join(tempDir('bad-labels'), 'ds');
    const clip = make.portraitVideo(join(root, '..', 'clip.mp4'), 6);
    mkdirSync(join(root, 'videos'), { recursive: true });
    for (const [name, dir, text, bom] of FILES) {
      copyFileSync(clip, join(root, 'videos', `${name}.mp4`));
      make.textFile(join(root, dir, `${name}.txt`), text, { bom: bom ?? false });
    }
    return runCorpus('bad-labels', root, 16);
  })());
test.after.always(async () => {
  if (corpus) (await corpus).close();
});

async function stored(task: string, video: string): Promise<unknown> {
  const run = await labels();
  const key = storeKeys.labels(run.manifest.datasetId, task, video);
  return JSON.parse(new TextDecoder().decode(await run.store.get(key)));
}

const annotation = (dir: string, name: string, line: number, detail: string): string =>
  `annotation ${dir}/${name}.txt line ${line}: ${detail}`;
const lengthDetail = (name: string, got: number): string =>
  `expected 6 frame lines after the header (videos/${name}.mp4 has 6 frames), got ${got}`;

const FINDINGS = [
  `warning: ${annotation(`${EXPR_DIR}/Train_Set`, 'fewer1', 6, lengthDetail('fewer1', 5))}; frame 6 is marked not annotated`,
  `error: ${annotation(`${EXPR_DIR}/Train_Set`, 'fewer3', 4, lengthDetail('fewer3', 3))}; EXPR labels of fewer3 left out`,
  `error: ${annotation(`${VA_DIR}/Train_Set`, 'inf', 4, 'expected arousal in [-1, 1] or -5, got "Infinity"')}; VA labels of inf left out`,
  `warning: ${annotation(`${EXPR_DIR}/Train_Set`, 'more1', 8, lengthDetail('more1', 7))}; the last line is dropped`,
  `error: ${annotation(`${EXPR_DIR}/Train_Set`, 'more4', 11, lengthDetail('more4', 10))}; EXPR labels of more4 left out`,
  `error: ${annotation(`${VA_DIR}/Train_Set`, 'nan', 3, 'expected valence in [-1, 1] or -5, got "nan"')}; VA labels of nan left out`,
  `note: annotation ${EXPR_DIR}/Validation_Set/unlabelled.txt: expected at least one annotated frame, got 6 frames all marked not annotated (-1); EXPR labels of unlabelled add nothing`,
];

test('the run completes with every video manifested and these findings; every frame of every video committed and embedded', async (t) => {
  const run = await labels();
  t.is(run.result.status, 'completed');
  t.deepEqual(run.result.failedShards, []);
  t.deepEqual(run.manifest.findings, FINDINGS);
  t.deepEqual(
    run.manifest.videos.map((v) => v.name),
    FILES.map(([name]) => name).sort(),
  );
  for (const [name] of FILES)
    t.deepEqual(
      videoRows(run, name).map((r) => r.frame),
      [1, 2, 3, 4, 5, 6],
      name,
    );
  t.is(run.result.embeddingRows, FILES.length * 6);
});

test('CRLF line ends: parsed as LF, the same labels as the good file', async (t) => {
  t.deepEqual(await stored('EXPR', 'crlf'), [0, 1, 2, 3, 4, 5]);
  t.deepEqual(await stored('EXPR', 'crlf'), await stored('EXPR', 'good'));
});

test('a byte-order mark before the header: the header is recognised, the values kept', async (t) => {
  t.deepEqual(await stored('VA', 'bom'), [...Array.from({ length: 5 }, () => [0.1, 0.2]), [-0.5, 0.75]]);
});

test('trailing blank lines: ignored, no finding, all six labels kept', async (t) => {
  const run = await labels();
  t.deepEqual(await stored('EXPR', 'blank'), [0, 1, 2, 3, 4, 5]);
  t.false(run.manifest.findings.some((f) => f.includes('blank.txt')));
});

test('one line more than frames: a warning, the last line dropped', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[3]!));
  t.deepEqual(await stored('EXPR', 'more1'), [0, 1, 2, 3, 4, 5]);
});

test('four lines more than frames: an error naming the line and both counts, the labels left out', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[4]!));
  t.is(run.manifest.videos.find((v) => v.name === 'more4')!.labels, undefined);
});

test('one line fewer than frames: a warning, the last frame not annotated', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[0]!));
  t.deepEqual(await stored('EXPR', 'fewer1'), [0, 1, 2, 3, 4, -1]);
});

test('three lines fewer than frames: an error, the labels left out, the video kept (Test)', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[1]!));
  const video = run.manifest.videos.find((v) => v.name === 'fewer3')!;
  t.deepEqual([video.split, video.labels], ['Test', undefined]);
});

test('NaN and Inf values: errors naming the file, line and value, those labels left out', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[2]!));
  t.true(run.manifest.findings.includes(FINDINGS[5]!));
  t.is(run.manifest.videos.find((v) => v.name === 'nan')!.labels, undefined);
});

test('all Validation labels not annotated: a note naming the file; the video kept in Validation with 0 annotated frames', async (t) => {
  const run = await labels();
  t.true(run.manifest.findings.includes(FINDINGS[6]!));
  const video = run.manifest.videos.find((v) => v.name === 'unlabelled')!;
  t.deepEqual([video.split, video.labels?.EXPR?.annotated], ['Validation', 0]);
});
