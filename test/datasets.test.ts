/**
 * Dataset formats, manifests, shard plans and validation, from fixtures that mirror the real files
 * (test/fixtures/datasets/README.md); video files are encoded by the test with ffmpeg.
 */
import test from 'ava';
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createManifestActivities } from '../activities/manifest.ts';
import {
  AnnotationError,
  formatExprAnnotation,
  parseAuAnnotation,
  parseCeAnnotation,
  parseEmiCsv,
  parseExprAnnotation,
  parseVaAnnotation,
  parseVideoList,
} from '../datasets/annotations.ts';
import { buildManifest, detectDatasetKind } from '../datasets/index.ts';
import { planShards, type Manifest, type ManifestVideo } from '../datasets/manifest.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { storeKeys } from '../storage/keys.ts';

const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), 'fixtures', 'datasets');
const fixtureText = (path: string): string => readFileSync(join(FIXTURES, path), 'utf8');

/** A solid-colour 16x16 H.264 video of `frames` frames. */
async function solidVideo(path: string, frames: number, shade: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const frame = new Uint8Array(16 * 16 * 3).fill(shade);
  await encodeVideo(
    path,
    16,
    16,
    25,
    Array.from({ length: frames }, () => frame),
  );
}

/** A temporary copy of a fixture tree. */
function copyFixture(t: { teardown(fn: () => void): void }, name: string): string {
  const root = join(mkdtempSync(join(tmpdir(), 'affectflow-datasets-')), name);
  cpSync(join(FIXTURES, name), root, { recursive: true });
  t.teardown(() => rmSync(dirname(root), { recursive: true, force: true }));
  return root;
}

/** The Aff-Wild2 fixture with its videos: 1-30-1280x720 (6 frames), video10_1 (6, the pair), 3-25-1920x1080 (4). */
async function affwild2(t: { teardown(fn: () => void): void }): Promise<string> {
  const root = copyFixture(t, 'affwild2');
  await solidVideo(join(root, 'videos', '1-30-1280x720.mp4'), 6, 40);
  await solidVideo(join(root, 'videos', 'batch2', 'video10_1.mp4'), 6, 90);
  await solidVideo(join(root, 'videos', '3-25-1920x1080.mp4'), 4, 140);
  return root;
}

async function labelsOf(root: string, shardFrames = 4, kind?: Parameters<typeof buildManifest>[1]['kind']) {
  const built = await buildManifest(root, { shardFrames, ...(kind ? { kind } : {}) });
  const labels: Record<string, unknown> = {};
  for await (const l of built.labels()) labels[`${l.task}/${l.video}`] = JSON.parse(l.json);
  return { manifest: built.manifest, findings: built.findings, labels };
}

const videoOf = (m: Manifest, name: string): ManifestVideo => m.videos.find((v) => v.name === name)!;
const errorsOf = (m: Manifest): string[] => m.findings.filter((f) => f.startsWith('error: '));

// Parsers

test('EXPR file: header, 1-based frames, -1 kept as not annotated', (t) => {
  const file = 'annotations/EXPR_Recognition_Challenge/Train_Set/1-30-1280x720.txt';
  const text = fixtureText(`affwild2/${file}`);
  t.deepEqual(Array.from(parseExprAnnotation(text, file)), [0, 0, 4, -1, 7, 5]);
  t.is(formatExprAnnotation([0, 0, 4, -1, 7, 5]), text);
});

test('VA file: valence,arousal pairs per frame, -5 kept', (t) => {
  const file = 'annotations/VA_Estimation_Challenge/Train_Set/1-30-1280x720.txt';
  t.deepEqual(
    Array.from(parseVaAnnotation(fixtureText(`affwild2/${file}`), file)),
    [0.1, 0.2, -5, -5, -0.45, 0.9, 1, -1, 0, 0.333, -5, -5],
  );
});

test('AU file: 12 columns per frame in AU1..AU26 order, -1 rows kept', (t) => {
  const file = 'annotations/AU_Detection_Challenge/Train_Set/1-30-1280x720.txt';
  const values = parseAuAnnotation(fixtureText(`affwild2/${file}`), file);
  t.is(values.length, 6 * 12);
  t.deepEqual(Array.from(values.subarray(12, 24)), [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0]);
  t.deepEqual(Array.from(values.subarray(24, 36)), new Array<number>(12).fill(-1));
  t.deepEqual(Array.from(values.subarray(60, 72)), new Array<number>(12).fill(1));
});

test('CE file, Hume-Vidmimic2 CSV and a test-set list', (t) => {
  t.deepEqual(
    Array.from(parseCeAnnotation(fixtureText('cexprdb/annotations/clip-01.txt'), 'clip-01.txt')),
    [0, 1, -1, 6],
  );
  const rows = parseEmiCsv(fixtureText('hume/train_split.csv'), 'train_split.csv');
  t.deepEqual(
    rows.map((r) => [r.name, r.line, Array.from(r.intensities)]),
    [['00001', 2, [0.25, 0.5, 0, 0.125, 1, 0.75]]],
  );
  t.deepEqual(parseVideoList('3-25-1920x1080\n\nvideo2_left\n', 'list.txt'), [
    { name: '3-25-1920x1080', line: 1 },
    { name: 'video2_left', line: 3 },
  ]);
});

const EXPR_H = 'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other';
const AU_H = 'AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26';
const EMI_H = 'Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy';
const badLines: readonly (readonly [string, () => unknown, string])[] = [
  [
    'EXPR out of range',
    () => parseExprAnnotation(`${EXPR_H}\n0\n8\n`, 'E.txt'),
    'annotation E.txt line 3: expected an integer in -1..7, got "8"',
  ],
  [
    'EXPR non-numeric',
    () => parseExprAnnotation(`${EXPR_H}\n0\nx\n`, 'E.txt'),
    'annotation E.txt line 3: expected an integer in -1..7, got "x"',
  ],
  [
    'EXPR fraction',
    () => parseExprAnnotation(`${EXPR_H}\n1.5\n`, 'E.txt'),
    'annotation E.txt line 2: expected an integer in -1..7, got "1.5"',
  ],
  [
    'EXPR empty line',
    () => parseExprAnnotation(`${EXPR_H}\n0\n\n1\n`, 'E.txt'),
    'annotation E.txt line 3: expected an integer in -1..7, got ""',
  ],
  [
    'header missing',
    () => parseExprAnnotation('0\n1\n', 'a.txt'),
    'annotation a.txt line 1: expected a header line, got "0"',
  ],
  [
    'VA column count',
    () => parseVaAnnotation('valence,arousal\n0.1,0.2\n0.3,0.4,0.5\n', 'V.txt'),
    'annotation V.txt line 3: expected 2 comma-separated values (valence,arousal), got 3',
  ],
  [
    'VA out of range',
    () => parseVaAnnotation('valence,arousal\n1.5,0.2\n', 'V.txt'),
    'annotation V.txt line 2: expected valence in [-1, 1] or -5, got "1.5"',
  ],
  [
    'VA non-numeric',
    () => parseVaAnnotation('valence,arousal\n0.1,abc\n', 'V.txt'),
    'annotation V.txt line 2: expected arousal in [-1, 1] or -5, got "abc"',
  ],
  [
    'AU column count',
    () => parseAuAnnotation(`${AU_H}\n0,1\n`, 'A.txt'),
    'annotation A.txt line 2: expected 12 comma-separated values, got 2',
  ],
  [
    'AU out of range',
    () => parseAuAnnotation(`${AU_H}\n0,0,0,0,0,0,0,0,0,0,0,0\n0,0,2,0,0,0,0,0,0,0,0,0\n`, 'A.txt'),
    'annotation A.txt line 3: expected AU4 to be 0, 1 or -1, got "2"',
  ],
  [
    'CE out of range',
    () => parseCeAnnotation('Fearfully Surprised\n7\n', 'C.txt'),
    'annotation C.txt line 2: expected an integer in -1..6, got "7"',
  ],
  [
    'EMI column count',
    () => parseEmiCsv(`${EMI_H}\n1,0,0,0,0,0\n`, 'train_split.csv'),
    'annotation train_split.csv line 2: expected 7 columns, got 6',
  ],
  [
    'EMI out of range',
    () => parseEmiCsv(`${EMI_H}\n1,0,0,0,0,0,1.2\n`, 'train_split.csv'),
    'annotation train_split.csv line 2: expected Joy in [0, 1], got "1.2"',
  ],
  [
    'EMI non-numeric',
    () => parseEmiCsv(`${EMI_H}\n1,0,0,a,0,0,1\n`, 'train_split.csv'),
    'annotation train_split.csv line 2: expected Determination in [0, 1], got "a"',
  ],
  [
    'EMI header',
    () => parseEmiCsv('Filename,Joy\n1,0\n', 'valid_split.csv'),
    `annotation valid_split.csv line 1: expected the header ${EMI_H}, got "Filename,Joy"`,
  ],
  [
    'test list path',
    () => parseVideoList('a\n../b\n', 'test_set.txt'),
    'annotation test_set.txt line 2: expected a video name, got the path "../b"',
  ],
];
for (const [what, parse, message] of badLines) {
  test(`malformed line names file and line: ${what}`, (t) => {
    t.throws(parse, { instanceOf: AnnotationError, message });
  });
}

// Shard plans

const video = (name: string, frameCount: number, contentHash: string): ManifestVideo => ({
  name,
  split: 'Train',
  source: { kind: 'video', path: `videos/${name}.mp4` },
  frameCount,
  fps: 30,
  width: 64,
  height: 64,
  contentHash,
});

test('shards: frame ranges cover every frame; ids are deterministic and change only with their video', (t) => {
  const videos = [video('a', 70, 'h1'), video('b', 32, 'h2')];
  const shards = planShards(videos, 32);
  t.deepEqual(
    shards.map((s) => [s.video, s.firstFrame, s.lastFrame]),
    [
      ['a', 1, 32],
      ['a', 33, 64],
      ['a', 65, 70],
      ['b', 1, 32],
    ],
  );
  t.deepEqual(planShards(videos, 32), shards);
  const changed = planShards([video('a', 70, 'h1-changed'), video('b', 32, 'h2')], 32);
  t.notDeepEqual(
    changed.slice(0, 3).map((s) => s.shardId),
    shards.slice(0, 3).map((s) => s.shardId),
  );
  t.is(changed[3]!.shardId, shards[3]!.shardId);
  t.is(new Set(shards.map((s) => s.shardId)).size, shards.length);
  t.notDeepEqual(
    planShards(videos, 16)
      .map((s) => s.shardId)
      .slice(0, 1),
    shards.map((s) => s.shardId).slice(0, 1),
    'another shard size gives other ids',
  );
});

// Manifests from the fixtures

test('Aff-Wild2: videos, frame folders, pairs sharing one file, test list, exact labels and shards', async (t) => {
  const root = await affwild2(t);
  t.is(detectDatasetKind(root), 'affwild2');
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(
    manifest.videos.map((v) => [v.name, v.split, v.source, v.frameCount]),
    [
      ['1-30-1280x720', 'Train', { kind: 'video', path: 'videos/1-30-1280x720.mp4' }, 6],
      ['2-24-640x360', 'Validation', { kind: 'frames', dir: 'cropped_aligned/2-24-640x360' }, 6],
      ['3-25-1920x1080', 'Test', { kind: 'video', path: 'videos/3-25-1920x1080.mp4' }, 4],
      ['video10_1_left', 'Validation', { kind: 'video', path: 'videos/batch2/video10_1.mp4' }, 6],
      ['video10_1_right', 'Validation', { kind: 'video', path: 'videos/batch2/video10_1.mp4' }, 6],
    ],
  );
  t.is(videoOf(manifest, 'video10_1_left').contentHash, videoOf(manifest, 'video10_1_right').contentHash);
  const folder = videoOf(manifest, '2-24-640x360');
  t.deepEqual(folder.noFaceFrames, [
    [3, 3],
    [6, 6],
  ]);
  t.deepEqual([folder.width, folder.height], [24, 20]);
  t.deepEqual(manifest.tasks, ['VA', 'EXPR', 'AU']);
  t.deepEqual(manifest.splits, { Train: 1, Validation: 3, Test: 1 });
  t.deepEqual(
    manifest.shards.map((s) => [s.video, s.split, s.firstFrame, s.lastFrame]),
    [
      ['1-30-1280x720', 'Train', 1, 4],
      ['1-30-1280x720', 'Train', 5, 6],
      ['2-24-640x360', 'Validation', 1, 4],
      ['2-24-640x360', 'Validation', 5, 6],
      ['3-25-1920x1080', 'Test', 1, 4],
      ['video10_1_left', 'Validation', 1, 4],
      ['video10_1_left', 'Validation', 5, 6],
      ['video10_1_right', 'Validation', 1, 4],
      ['video10_1_right', 'Validation', 5, 6],
    ],
  );
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, 5]);
  t.deepEqual(labels['VA/1-30-1280x720'], [
    [0.1, 0.2],
    [-5, -5],
    [-0.45, 0.9],
    [1, -1],
    [0, 0.333],
    [-5, -5],
  ]);
  t.deepEqual((labels['AU/1-30-1280x720'] as number[][])[2], new Array<number>(12).fill(-1));
  t.deepEqual(labels['EXPR/video10_1_right'], [6, 6, -1, -1, 3, 3]);
  t.deepEqual(labels['EXPR/2-24-640x360'], [4, 4, 4, 4, 0, 0]);
  t.is(Object.keys(labels).length, 6);
  t.deepEqual(videoOf(manifest, '1-30-1280x720').labels?.EXPR?.annotated, 5);
  t.deepEqual(videoOf(manifest, '1-30-1280x720').labels?.VA?.annotated, 4);
  t.deepEqual(errorsOf(manifest), []);
  t.true(
    manifest.findings.includes(
      'note: frames cropped_aligned/2-24-640x360/00003.jpg: no image for frame 3; 2 of 6 frames have no image (3, 6), recorded as no face',
    ),
  );
});

test('the same dataset manifests to identical shard ids twice; changing one video changes only its shards', async (t) => {
  const root = await affwild2(t);
  const first = (await buildManifest(root, { shardFrames: 4 })).manifest;
  const again = (await buildManifest(root, { shardFrames: 4 })).manifest;
  t.deepEqual(again, first);
  await solidVideo(join(root, 'videos', '1-30-1280x720.mp4'), 6, 200);
  const changed = (await buildManifest(root, { shardFrames: 4 })).manifest;
  // A new version of the same dataset: same identity (key namespace), new content hash.
  t.is(changed.datasetId, first.datasetId);
  t.not(changed.version, first.version);
  for (const [i, shard] of first.shards.entries()) {
    const now = changed.shards[i]!;
    t.deepEqual([now.video, now.firstFrame, now.lastFrame], [shard.video, shard.firstFrame, shard.lastFrame]);
    if (shard.video === '1-30-1280x720') t.not(now.shardId, shard.shardId);
    else t.is(now.shardId, shard.shardId);
  }
  // A changed image in a frame folder changes that folder's shards only.
  writeFileSync(
    join(root, 'cropped_aligned', '2-24-640x360', '00002.jpg'),
    readFileSync(join(FIXTURES, 'hume/face_images/00001/00001.jpg')).subarray(0, 200),
  );
  const folder = (await buildManifest(root, { shardFrames: 4 })).manifest;
  const ids = (m: Manifest, name: string): string[] =>
    m.shards.filter((s) => s.video === name).map((s) => s.shardId);
  t.notDeepEqual(ids(folder, '2-24-640x360'), ids(changed, '2-24-640x360'));
  t.deepEqual(ids(folder, 'video10_1_left'), ids(changed, 'video10_1_left'));
});

test('C-EXPR-DB, Hume-Vidmimic2 and generic datasets: exact labels, splits and sources', async (t) => {
  const ce = copyFixture(t, 'cexprdb');
  await solidVideo(join(ce, 'videos', 'clip-01.mp4'), 4, 60);
  await solidVideo(join(ce, 'videos', 'clip-02.mp4'), 3, 80);
  t.is(detectDatasetKind(ce), 'cexprdb');
  const c = await labelsOf(ce);
  t.deepEqual(
    c.manifest.videos.map((v) => [v.name, v.split, v.frameCount]),
    [
      ['clip-01', 'Validation', 4],
      ['clip-02', 'Test', 3],
    ],
  );
  t.deepEqual(c.labels, { 'CE/clip-01': [0, 1, -1, 6] });

  const hume = copyFixture(t, 'hume');
  await solidVideo(join(hume, 'videos', '00003.mp4'), 5, 60);
  t.is(detectDatasetKind(hume), 'hume');
  const h = await labelsOf(hume);
  t.deepEqual(
    h.manifest.videos.map((v) => [v.name, v.split, v.source.kind, v.frameCount]),
    [
      ['00001', 'Train', 'frames', 3],
      ['00002', 'Validation', 'frames', 3],
      ['00003', 'Test', 'video', 5],
    ],
  );
  t.deepEqual(h.labels, {
    'EMI/00001': [0.25, 0.5, 0, 0.125, 1, 0.75],
    'EMI/00002': [0, 0, 0.5, 0.5, 0.375, 0],
  });
  t.deepEqual(videoOf(h.manifest, '00002').noFaceFrames, [[2, 2]]);

  const generic = copyFixture(t, 'generic');
  await solidVideo(join(generic, 'videos', 'a.mp4'), 4, 60);
  t.is(detectDatasetKind(generic), 'generic');
  const g = await labelsOf(generic);
  t.deepEqual(
    g.manifest.videos.map((v) => [v.name, v.split, v.source, v.frameCount]),
    [
      ['a', 'Train', { kind: 'video', path: 'videos/a.mp4' }, 4],
      ['b', 'Validation', { kind: 'frames', dir: 'frames/b' }, 2],
    ],
  );
  t.deepEqual(g.labels, {
    'EXPR/a': [4, -1, -1, 2],
    'VA/a': [
      [0.5, 0.25],
      [-5, -5],
      [-5, -5],
      [-0.5, 0.75],
    ],
    'EXPR/b': [-1, 6],
    'VA/b': [
      [-5, -5],
      [0.125, 1],
    ],
  });
  t.deepEqual(errorsOf(c.manifest).concat(errorsOf(h.manifest), errorsOf(g.manifest)), []);
});

// Validation: every message names the file and the line; one bad video never stops the others.

test('label line count against the video: one off is a warning (padded or cut), more is an error', async (t) => {
  const root = await affwild2(t);
  const expr = (name: string, split: string): string =>
    join(root, 'annotations', 'EXPR_Recognition_Challenge', split, `${name}.txt`);
  writeFileSync(expr('1-30-1280x720', 'Train_Set'), `${EXPR_H}\n0\n0\n4\n-1\n7\n`);
  writeFileSync(expr('video10_1_left', 'Validation_Set'), `${EXPR_H}\n1\n1\n1\n-1\n2\n2\n3\n`);
  writeFileSync(expr('video10_1_right', 'Validation_Set'), `${EXPR_H}\n1\n1\n1\n-1\n2\n2\n3\n3\n`);
  const { manifest, labels } = await labelsOf(root);
  const a = 'annotations/EXPR_Recognition_Challenge';
  t.deepEqual(
    manifest.findings.filter((f) => f.includes('frame lines')),
    [
      `warning: annotation ${a}/Train_Set/1-30-1280x720.txt line 6: expected 6 frame lines after the header (videos/1-30-1280x720.mp4 has 6 frames), got 5; frame 6 is marked not annotated`,
      `warning: annotation ${a}/Validation_Set/video10_1_left.txt line 8: expected 6 frame lines after the header (videos/batch2/video10_1.mp4 has 6 frames), got 7; the last line is dropped`,
      `error: annotation ${a}/Validation_Set/video10_1_right.txt line 9: expected 6 frame lines after the header (videos/batch2/video10_1.mp4 has 6 frames), got 8; EXPR labels of video10_1_right left out`,
    ],
  );
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, -1]);
  t.deepEqual(labels['EXPR/video10_1_left'], [1, 1, 1, -1, 2, 2]);
  t.is(labels['EXPR/video10_1_right'], undefined);
  t.truthy(videoOf(manifest, 'video10_1_right'), 'the video stays; only its labels are left out');
});

test('frame folders: a missing image is a recorded no-face frame; labels not covering the images are an error', async (t) => {
  const root = await affwild2(t);
  const expr = join(root, 'annotations', 'EXPR_Recognition_Challenge', 'Validation_Set', '2-24-640x360.txt');
  writeFileSync(expr, `${EXPR_H}\n4\n4\n4\n`);
  writeFileSync(join(root, 'cropped_aligned', '2-24-640x360', 'thumbs.db'), '');
  const { manifest } = await labelsOf(root);
  t.deepEqual(
    manifest.findings.filter((f) => f.includes('2-24-640x360')),
    [
      'warning: frames cropped_aligned/2-24-640x360/thumbs.db: expected %05d.jpg (1-based frame number), ignored',
      'error: annotation annotations/EXPR_Recognition_Challenge/Validation_Set/2-24-640x360.txt line 4: expected 5 frame lines after the header (cropped_aligned/2-24-640x360 has images up to frame 5), got 3; EXPR labels of 2-24-640x360 left out',
      'note: frames cropped_aligned/2-24-640x360/00003.jpg: no image for frame 3; 1 of 5 frames have no image (3), recorded as no face',
    ],
  );
  t.is(videoOf(manifest, '2-24-640x360').frameCount, 5);
});

test('malformed annotation lines become findings naming file and line; the other tasks and videos go on', async (t) => {
  const root = await affwild2(t);
  const ann = (task: string, split: string, name: string): string =>
    join(root, 'annotations', task, split, `${name}.txt`);
  writeFileSync(
    ann('VA_Estimation_Challenge', 'Train_Set', '1-30-1280x720'),
    'valence,arousal\n0.1,0.2\n0.1\n',
  );
  writeFileSync(ann('EXPR_Recognition_Challenge', 'Validation_Set', 'video10_1_left'), `${EXPR_H}\n1\n9\n`);
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation annotations/VA_Estimation_Challenge/Train_Set/1-30-1280x720.txt line 3: expected 2 comma-separated values (valence,arousal), got 1; VA labels of 1-30-1280x720 left out',
    'error: annotation annotations/EXPR_Recognition_Challenge/Validation_Set/video10_1_left.txt line 3: expected an integer in -1..7, got "9"; EXPR labels of video10_1_left left out',
  ]);
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, 5]);
  t.is(manifest.videos.length, 5);
});

test('a video that cannot be probed and duplicate video names are errors; the rest is manifested', async (t) => {
  const root = await affwild2(t);
  writeFileSync(join(root, 'videos', '3-25-1920x1080.mp4'), 'not a video\n');
  await solidVideo(join(root, 'videos', '4-30-640x480.mp4'), 3, 10);
  await solidVideo(join(root, 'videos', 'batch1', '4-30-640x480.mp4'), 3, 20);
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: dataset: duplicate video name "4-30-640x480" (videos/4-30-640x480.mp4 and videos/batch1/4-30-640x480.mp4); left out',
    'error: video videos/3-25-1920x1080.mp4: cannot be probed, left out: ffprobe failed (exit 1): Invalid data found when processing input',
  ]);
  t.deepEqual(
    manifest.videos.map((v) => v.name),
    ['1-30-1280x720', '2-24-640x360', 'video10_1_left', 'video10_1_right'],
  );
});

test('generic: paths outside the root, duplicate names and bad label cells name the CSV line', async (t) => {
  const root = copyFixture(t, 'generic');
  await solidVideo(join(root, 'videos', 'a.mp4'), 4, 60);
  const outside = mkdtempSync(join(tmpdir(), 'affectflow-outside-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  await solidVideo(join(outside, 'x.mp4'), 2, 60);
  symlinkSync(join(outside, 'x.mp4'), join(root, 'videos', 'link.mp4'));
  writeFileSync(
    join(root, 'videos.csv'),
    'name,path,split\na,videos/a.mp4,Train\nb,frames/b,Validation\nc,../outside.mp4,Train\nd,videos/link.mp4,Train\na,frames/b,Test\ne,/etc/passwd,Train\n',
  );
  writeFileSync(
    join(root, 'labels.csv'),
    'video,frame,expr,valence,arousal\na,1,4,0.5,0.25\na,2,9,0,0\nb,1,1,0,0\na,3,1,0,0\n',
  );
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: dataset videos.csv line 4: path "../outside.mp4" is outside the dataset root; left out',
    'error: dataset videos.csv line 5: path "videos/link.mp4" is outside the dataset root; left out',
    'error: dataset videos.csv line 7: path "/etc/passwd" is outside the dataset root; left out',
    'error: annotation labels.csv line 3: expected expr to be an integer in -1..7, got "9"; row ignored',
    'error: annotation labels.csv line 5: rows of a must be contiguous (its first rows start at line 2); row ignored',
    'error: dataset: duplicate video name "a" (videos.csv line 2 and videos.csv line 6); all left out',
  ]);
  t.deepEqual(
    manifest.videos.map((v) => v.name),
    ['b'],
  );
  t.deepEqual(labels['EXPR/b'], [1, -1]);
});

test('Hume-Vidmimic2: duplicate Filename, a Filename outside the folders and a bad value name the CSV line', async (t) => {
  const root = copyFixture(t, 'hume');
  writeFileSync(
    join(root, 'valid_split.csv'),
    `${EMI_H}\n00002,0,0,0.5,0.5,0.375,0\n00001,0,0,0,0,0,0\n../00009,0,0,0,0,0,0\n`,
  );
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation valid_split.csv line 3: duplicate Filename "00001" (first at train_split.csv line 2); ignored',
    `error: annotation valid_split.csv line 4: Filename "../00009" names a path outside the dataset's folders; ignored`,
  ]);
  writeFileSync(join(root, 'train_split.csv'), `${EMI_H}\n00001,0,0,0,0,0,2\n`);
  const bad = await labelsOf(root);
  t.true(
    bad.manifest.findings.includes(
      'error: annotation train_split.csv line 2: expected Joy in [0, 1], got "2"; the CSV is ignored',
    ),
  );
  t.is(videoOf(bad.manifest, '00001').split, 'Validation', 'its row in valid_split.csv still counts');
});

test('Aff-Wild2: a test-set list naming a path and a label file without a video are findings', async (t) => {
  const root = await affwild2(t);
  writeFileSync(
    join(
      root,
      'names_of_videos_in_each_test_set',
      'Valence_Arousal_Estimation_Challenge_test_set_release.txt',
    ),
    '5-60-1920x1080\n../../etc\n',
  );
  writeFileSync(
    join(root, 'annotations', 'EXPR_Recognition_Challenge', 'Train_Set', '7-25-1280x720.txt'),
    `${EXPR_H}\n0\n`,
  );
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation names_of_videos_in_each_test_set/Valence_Arousal_Estimation_Challenge_test_set_release.txt line 2: expected a video name, got the path "../../etc"; the list is ignored',
    'error: dataset: 7-25-1280x720 (named in annotations/EXPR_Recognition_Challenge/Train_Set/7-25-1280x720.txt) has no video file under videos/ and no frame folder; left out',
  ]);
});

test('manifestDataset stores the manifest and one label object per task and video in the store encodings', async (t) => {
  const root = await affwild2(t);
  const storeRoot = mkdtempSync(join(tmpdir(), 'affectflow-store-'));
  t.teardown(() => rmSync(storeRoot, { recursive: true, force: true }));
  const store = new LocalDirStore(storeRoot);
  const logged: string[] = [];
  const activity = createManifestActivities({
    store,
    config: { stateDir: storeRoot },
    log: (l) => logged.push(l),
  });
  const result = await activity.manifestDataset({ datasetPath: root, shardFrames: 4 });
  const read = async (key: string): Promise<unknown> =>
    JSON.parse(new TextDecoder().decode(await store.get(key)));
  const manifest = (await read(result.manifestKey)) as Manifest;
  t.regex(result.manifestKey, new RegExp(`^datasets/${result.datasetId}/manifests/[0-9a-f]{16}\\.json$`));
  t.is(manifest.datasetId, result.datasetId);
  // Counts only: the shard list stays in the stored manifest.
  t.is(result.shards, manifest.shards.length);
  t.is(
    result.frames,
    manifest.shards.reduce((sum, s) => sum + s.lastFrame - s.firstFrame + 1, 0),
  );
  t.deepEqual(result.findings, manifest.findings.slice(0, 20));
  t.is(result.findingCount, manifest.findings.length);
  t.is(result.videos, 5);
  t.deepEqual(await read(storeKeys.labels(result.datasetId, 'EXPR', '1-30-1280x720')), [0, 0, 4, -1, 7, 5]);
  t.deepEqual(
    ((await read(storeKeys.labels(result.datasetId, 'VA', '1-30-1280x720'))) as number[][])[1],
    [-5, -5],
  );
  t.deepEqual(
    ((await read(storeKeys.labels(result.datasetId, 'AU', '1-30-1280x720'))) as number[][])[1],
    [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0],
  );
  t.false(await store.head(storeKeys.labels(result.datasetId, 'EXPR', '3-25-1920x1080')).then(Boolean));
  t.true(logged.some((l) => l.startsWith('manifest: note: frames cropped_aligned/2-24-640x360/00003.jpg')));
  store.close();
});
