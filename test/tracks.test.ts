/**
 * Face tracks through the real frames activity (ffmpeg, YuNet): a track continues across a shard
 * boundary (the look-back before each shard's range links it to the previous shard's track) and
 * ends at a shot cut even where the next shot's face lies on the same spot. Also the scene-cut
 * distance and the key change that keeps shards of the older tracking from being reused.
 */
import test from 'ava';
import { join } from 'node:path';
import { createFramesActivities, framesShardKey } from '../activities/frames.ts';
import { frameSignature, sceneDistance } from '../media/sceneCut.ts';
import { parseTrackLinks, TRACKING, videoTrackIds } from '../media/tracking.ts';
import { findCommit, readCommitted } from '../storage/commit.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { decodeFramesShard } from '../storage/shards.ts';
import { tempDir } from './helpers/env.ts';
import { compose, portrait, videoManifest, writeVideo } from './helpers/faceVideos.ts';

const W = 640;
const H = 360;
/** Frames 1..30 one shot (portrait 1 drifting right), 31..50 another (portrait 2, same spot). */
const CUT = 31;
const FRAMES = 50;
const SHARD = 20;

test('a track continues across a shard boundary and a new one starts at a shot cut', async (t) => {
  const root = tempDir('tracks');
  const one = await portrait(1, 300);
  const two = await portrait(2, 300);
  const frames: Uint8Array[] = [];
  const signature = (rgb: Uint8Array) => frameSignature({ rgb, width: W });
  for (let f = 1; f <= FRAMES; f++) {
    frames.push(
      f < CUT
        ? await compose(W, H, '#406080', [{ face: one, left: 150 + 2 * (f - 1), top: 20 }])
        : await compose(W, H, '#b09050', [{ face: two, left: 205, top: 20 }]),
    );
  }
  t.true(
    sceneDistance(signature(frames[CUT - 2]!), signature(frames[CUT - 1]!)) > TRACKING.sceneCut,
    'the cut is a cut',
  );
  t.true(
    sceneDistance(signature(frames[0]!), signature(frames[CUT - 2]!)) < TRACKING.sceneCut / 3,
    'a drifting face in one shot is not',
  );
  const path = await writeVideo(root, 'cut', W, H, frames);
  const manifest = videoManifest(root, path, ['cut'], FRAMES, { width: W, height: H }, SHARD);
  const store = new LocalDirStore(join(root, 'store'));
  await store.put('manifest.json', JSON.stringify(manifest));
  const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
  // Shards run in any order: the last first, so no shard can lean on another's committed rows.
  const shards = [...manifest.shards].reverse();
  const keys = new Map<string, string>();
  for (const shard of shards) {
    const result = await activities.extractFrames({
      manifestKey: 'manifest.json',
      shardId: shard.shardId,
      maxCropSide: 64,
      faceSource: 'yunet',
    });
    keys.set(shard.shardId, result.framesKey);
  }
  const read = await Promise.all(
    manifest.shards.map(async (shard) => {
      const key = keys.get(shard.shardId)!;
      const rows = decodeFramesShard((await readCommitted(store, key))!.bytes);
      const links = parseTrackLinks((await findCommit(store, key))!.meta);
      return { rows, links };
    }),
  );
  for (const { rows } of read)
    t.true(
      rows.every((r) => !r.noFace),
      `one face in every frame: ${rows
        .filter((r) => r.noFace)
        .map((r) => r.frame)
        .join(', ')}`,
    );
  // Stored ids are each shard's own; the cut (frame 31) falls inside shard 2 (21..40).
  t.deepEqual(
    read.map(({ rows }) => rows.map((r) => r.trackId)),
    [
      Array<number>(20).fill(0),
      [...Array<number>(10).fill(0), ...Array<number>(10).fill(1)],
      Array<number>(10).fill(0),
    ],
  );
  t.deepEqual(
    read.map(({ links }) => links),
    [[], [{ track: 0, frame: 20, faceIndex: 0 }], [{ track: 0, frame: 40, faceIndex: 0 }]],
    'shard 2 links its first track to frame 20 of shard 1; shard 3 its only track to frame 40; the track after the cut is new',
  );
  const ids = videoTrackIds(read);
  const videoIds = read.flatMap(({ rows }, k) => rows.map((r) => ids[k]!.get(r.trackId)));
  t.deepEqual(videoIds, [...Array<number>(CUT - 1).fill(0), ...Array<number>(FRAMES - CUT + 1).fill(1)]);
});

test('videoTrackIds: links chain through shards; an unlinked track and a broken chain get new ids', (t) => {
  const row = (frame: number, faceIndex: number, trackId: number) => ({
    frame,
    faceIndex,
    trackId,
    noFace: false,
  });
  const ids = videoTrackIds([
    { rows: [row(1, 0, 0), row(1, 1, 1), row(2, 0, 0), row(2, 1, 1)], links: [] },
    { rows: [row(3, 0, 0), row(3, 1, 1), row(4, 0, 1)], links: [{ track: 0, frame: 2, faceIndex: 1 }] },
    { rows: [row(5, 0, 0)], links: [{ track: 0, frame: 4, faceIndex: 0 }] },
    { rows: [row(7, 0, 0)], links: [{ track: 0, frame: 6, faceIndex: 0 }] },
  ]);
  t.deepEqual(
    ids.map((m) => [...m]),
    [
      [
        [0, 0],
        [1, 1],
      ],
      [
        [0, 1],
        [1, 2],
      ],
      [[0, 2]],
      [[0, 3]],
    ],
  );
});

test('frames keys: YuNet shards change with tracking, whole-frame shards keep their key', (t) => {
  const manifest = videoManifest('/data', 'videos/v.mp4', ['v'], 10, { width: W, height: H }, 10);
  const shard = manifest.shards[0]!;
  // Recorded from the base commit b7bb85c, before tracks continued across shards and broke at cuts.
  t.not(framesShardKey(manifest, shard, { maxCropSide: 64, faceSource: 'yunet' }).facesConfig, YUNET_BEFORE);
  t.is(
    framesShardKey(manifest, shard, { maxCropSide: 64, faceSource: 'whole-frame' }).facesConfig,
    WHOLE_BEFORE,
  );
});

const YUNET_BEFORE = '84b94fc61d491e4d';
const WHOLE_BEFORE = '14a0659e93c34493';
