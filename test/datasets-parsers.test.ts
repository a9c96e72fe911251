/**
 * Annotation parsers and shard plans: the label files of each format (test/fixtures/datasets) and
 * the frame ranges and ids shards get.
 */
import test from 'ava';
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
import { planShards, type ManifestVideo } from '../datasets/manifest.ts';
import { AU_H, EMI_H, EXPR_H, fixtureText } from './helpers/datasetFixtures.ts';

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
    `annotation valid_split.csv line 1: expected the header ${EMI_H}, got "Filename,Joy" (missing Admiration, Amusement, Determination, Empathic Pain, Excitement)`,
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
