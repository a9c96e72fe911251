/** Aff-Wild2 EXPR annotations, manifests and shard plans. */
import test from 'ava';
import { AnnotationError, formatExprAnnotation, parseExprAnnotation } from '../datasets/affwild2.ts';
import { planShards, type ManifestVideo } from '../datasets/manifest.ts';

test('EXPR file: header, 1-based frames, -1 kept as not annotated', (t) => {
  const text = 'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n0\n4\n-1\n7\n';
  t.deepEqual(Array.from(parseExprAnnotation(text, 'EXPR/Train_Set/1-30-1280x720.txt')), [0, 4, -1, 7]);
  t.is(formatExprAnnotation([0, 4, -1, 7]), text);
});

for (const [line, bad] of [
  ['8', 'got "8"'],
  ['x', 'got "x"'],
  ['1.5', 'got "1.5"'],
  ['', 'got ""'],
] as const) {
  test(`EXPR file: ${JSON.stringify(line)} is rejected with file and line`, (t) => {
    const text = `Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other\n0\n${line}\n1\n`;
    t.throws(() => parseExprAnnotation(text, 'EXPR_Recognition_Challenge/Train_Set/12-24.txt'), {
      instanceOf: AnnotationError,
      message: `annotation EXPR_Recognition_Challenge/Train_Set/12-24.txt line 3: expected an integer in -1..7, ${bad}`,
    });
  });
}

test('EXPR file without a header is rejected', (t) => {
  t.throws(() => parseExprAnnotation('0\n1\n', 'a.txt'), {
    message: 'annotation a.txt line 1: expected a header line, got "0"',
  });
});

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
});
