/**
 * Aff-Wild2's `<video>_left` and `<video>_right` entries read one video file with two people: each
 * keeps its own person's track (chosen by the track's median box centre, not per frame) through
 * the real frames activity (ffmpeg, YuNet), across a shard boundary.
 */
import test from 'ava';
import { join } from 'node:path';
import { createFramesActivities } from '../activities/frames.ts';
import { personSide } from '../datasets/affwild2.ts';
import { readCommitted } from '../storage/commit.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { decodeFramesShard, type FrameRow } from '../storage/shards.ts';
import { tempDir } from './helpers/env.ts';
import { compose, portrait, videoManifest, writeVideo } from './helpers/faceVideos.ts';

const W = 640;
const H = 360;
const FRAMES = 12;

test('personSide reads the Aff-Wild2 suffix', (t) => {
  t.deepEqual(['10-60-1280x720_left', '10-60-1280x720_right', '10-60-1280x720', 'left'].map(personSide), [
    'left',
    'right',
    null,
    null,
  ]);
});

test('_left and _right from one raw video: each entry stores its own person, frame by frame', async (t) => {
  const root = tempDir('left-right');
  const one = await portrait(1, 200);
  const two = await portrait(2, 200);
  const frames: Uint8Array[] = [];
  for (let f = 1; f <= FRAMES; f++)
    frames.push(
      await compose(W, H, '#406080', [
        { face: one, left: 80 + 2 * f, top: 60 },
        { face: two, left: 380 - 2 * f, top: 80 },
      ]),
    );
  const path = await writeVideo(root, 'pair', W, H, frames);
  const manifest = videoManifest(
    root,
    path,
    ['pair_left', 'pair_right'],
    FRAMES,
    { width: W, height: H },
    6,
    'affwild2',
  );
  const store = new LocalDirStore(join(root, 'store'));
  await store.put('manifest.json', JSON.stringify(manifest));
  const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
  const rowsOf = async (video: string): Promise<FrameRow[]> => {
    const rows: FrameRow[] = [];
    for (const shard of manifest.shards.filter((s) => s.video === video)) {
      const { framesKey } = await activities.extractFrames({
        manifestKey: 'manifest.json',
        shardId: shard.shardId,
        maxCropSide: 64,
        faceSource: 'yunet',
      });
      rows.push(...decodeFramesShard((await readCommitted(store, framesKey))!.bytes));
    }
    return rows;
  };
  const left = await rowsOf('pair_left');
  const right = await rowsOf('pair_right');
  const centre = (r: FrameRow): number => r.box![0] + r.box![2] / 2;
  for (const [name, rows] of [
    ['pair_left', left],
    ['pair_right', right],
  ] as const) {
    t.deepEqual(
      rows.map((r) => [r.frame, r.noFace, r.trackId]),
      Array.from({ length: FRAMES }, (_, i) => [i + 1, false, 0]),
      `${name}: one face a frame, one track in each shard`,
    );
  }
  for (let i = 0; i < FRAMES; i++) {
    const [l, r] = [left[i]!, right[i]!];
    t.true(
      centre(l) < W / 2 && centre(r) > W / 2,
      `frame ${i + 1}: left at ${centre(l)}, right at ${centre(r)}`,
    );
  }
  t.deepEqual(
    [...new Set(left.map((r) => r.faceIndex))].concat([...new Set(right.map((r) => r.faceIndex))]),
    [0, 1],
    'face_index stays the order among the detected faces: _left keeps the first of two, _right the second',
  );
});
