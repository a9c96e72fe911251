/**
 * Frame numbering on generated videos whose frames encode their own 1-based index in pixels
 * (10 black/white blocks, read back after decoding): constant and variable frame rate, display
 * rotation, sampling (every k-th frame, target fps), a truncated file and a zero-frame file.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { framePresentationTimes, frameStamps, probeVideo, VideoError } from '../media/ffmpeg.ts';
import { sampledFrames } from '../media/frameSampling.ts';
import { createFramesActivities } from '../activities/frames.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { readCommitted } from '../storage/commit.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { decodeFramesShard } from '../storage/shards.ts';
import { tempDir } from './helpers/env.ts';
import { decodeAll, H, makeVideo, readIndex, W } from './helpers/indexVideo.ts';

const dir = tempDir('frames');
const cfr = join(dir, 'cfr.mp4');
const vfr = join(dir, 'vfr.mkv');
makeVideo(cfr, 60, null);
// Irregular frame durations (40 ms, plus 15 ms on every third frame) and a 0.5 s gap after frame 30.
makeVideo(vfr, 60, "settb=1/1000,setpts='(N*40+if(mod(N\\,3)\\,0\\,15)+if(gte(N\\,30)\\,500\\,0))/1000/TB'", [
  '-fps_mode',
  'vfr',
  '-enc_time_base',
  '1/1000',
]);

test('constant frame rate: every frame numbered 1..n as its pixels say, counted by the decode', async (t) => {
  const probe = await probeVideo(cfr, { count: 'decode' });
  t.is(probe.frameCount, 60);
  t.deepEqual([probe.width, probe.height, probe.rotation], [W, H, 0]);
  const { frames, summary } = await decodeAll(cfr, { first: 1, last: 60 });
  t.deepEqual(
    frames.map((f) => f.frame),
    Array.from({ length: 60 }, (_, i) => i + 1),
  );
  t.deepEqual(
    frames.map((f) => readIndex(f)),
    frames.map((f) => f.frame),
  );
  t.deepEqual(summary, { wanted: 60, decoded: 60, lastFrame: 60, missing: [], exitCode: 0, error: null });
  // A raw H.264 stream has no packet timestamps: frames are counted as they are decoded.
  const elementary = join(dir, 'cfr.h264');
  t.is(
    spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', cfr, '-c', 'copy', '-f', 'h264', elementary]).status,
    0,
  );
  t.is(await frameStamps(elementary), null);
  const counted = await decodeAll(elementary, { first: 11, last: 60, sampling: { every: 10 } });
  t.deepEqual(
    counted.frames.map((f) => [f.frame, readIndex(f)]),
    [11, 21, 31, 41, 51].map((f) => [f, f]),
  );
  const pastTheEnd = await decodeAll(cfr, { first: 55, last: 70 });
  t.deepEqual(
    pastTheEnd.frames.map((f) => readIndex(f)),
    [55, 56, 57, 58, 59, 60],
  );
  t.is(pastTheEnd.summary.error, 'expected 16 frames in 55..70, decoded 6 (the last is frame 60)');
  t.deepEqual(pastTheEnd.summary.missing, [61, 62, 63, 64, 65, 66, 67, 68, 69, 70]);
  await t.throwsAsync(decodeAll(cfr, { first: 61, last: 70 }), {
    instanceOf: VideoError,
    message: /cfr\.mp4: no frame decoded: expected 10 frames in 61\.\.70, decoded 0/,
  });
  const middle = await decodeAll(cfr, { first: 17, last: 33, threads: 2 });
  t.deepEqual(
    middle.frames.map((f) => readIndex(f)),
    Array.from({ length: 17 }, (_, i) => i + 17),
  );
});

test('variable frame rate: frames numbered in display order whatever their durations and gaps', async (t) => {
  const times = (await framePresentationTimes(vfr))!;
  t.is(times.length, 60);
  t.true(times[30]! - times[29]! > 0.5, 'the file really has a gap');
  const { frames, summary } = await decodeAll(vfr, { first: 1, last: 60 });
  t.deepEqual(
    frames.map((f) => readIndex(f)),
    Array.from({ length: 60 }, (_, i) => i + 1),
  );
  t.deepEqual(
    frames.map((f) => f.frame),
    frames.map((f) => readIndex(f)),
  );
  t.is(summary.error, null);
  const tail = await decodeAll(vfr, { first: 29, last: 40 });
  t.deepEqual(
    tail.frames.map((f) => readIndex(f)),
    Array.from({ length: 12 }, (_, i) => i + 29),
  );
});

test('sampling: every k-th frame (1, 1+k, ...) and a target fps on timestamps', async (t) => {
  const every = await decodeAll(vfr, { first: 5, last: 40, sampling: { every: 5 } });
  t.deepEqual(
    every.frames.map((f) => f.frame),
    [6, 11, 16, 21, 26, 31, 36],
  );
  t.deepEqual(
    every.frames.map((f) => readIndex(f)),
    [6, 11, 16, 21, 26, 31, 36],
  );
  t.is(every.summary.error, null);

  const times = (await framePresentationTimes(vfr))!;
  const expected = sampledFrames(1, 60, { targetFps: 5 }, times);
  // Independent rule: the first frame of each 200 ms slot after the first frame.
  const slots = new Set<number>();
  const byHand = Array.from(times.entries())
    .filter(([, time]) => {
      const slot = Math.floor((time - times[0]!) * 5 + 1e-6);
      return slots.has(slot) ? false : (slots.add(slot), true);
    })
    .map(([i]) => i + 1);
  t.deepEqual(expected, byHand);
  t.true(expected.length < 20 && expected.includes(31), 'the frame after the gap opens a new slot');
  const sampled = await decodeAll(vfr, { first: 1, last: 60, sampling: { targetFps: 5 } });
  t.deepEqual(
    sampled.frames.map((f) => readIndex(f)),
    expected,
  );
  t.deepEqual(
    sampled.frames.map((f) => f.frame),
    expected,
  );
});

test('rotation metadata: frames come out in display orientation with swapped size', async (t) => {
  const rotated = join(dir, 'rotated.mp4');
  const r = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    cfr,
    '-c',
    'copy',
    '-metadata:s:v:0',
    'rotate=90',
    rotated,
  ]);
  t.is(r.status, 0, r.stderr.toString());
  const probe = await probeVideo(rotated);
  t.is(Math.abs(probe.rotation), 90);
  t.deepEqual([probe.width, probe.height], [H, W]);
  const { frames } = await decodeAll(rotated, { first: 1, last: 60 });
  t.is(frames.length, 60);
  t.true(frames.every((f) => f.width === H && f.height === W));
  // A quarter turn maps coded (x, y) to (H-1-y, x) (clockwise) or (y, W-1-x) (counter-clockwise).
  const clockwise = (x: number, y: number): number => (x * H + (H - 1 - y)) * 3;
  const counter = (x: number, y: number): number => ((W - 1 - x) * H + y) * 3;
  const turn = readIndex(frames[0]!, clockwise) === 1 ? clockwise : counter;
  t.deepEqual(
    frames.map((f) => readIndex(f, turn)),
    Array.from({ length: 60 }, (_, i) => i + 1),
  );
});

test('an edit list that starts mid-GOP: discarded packets are neither counted nor numbered', async (t) => {
  const cut = join(dir, 'cut.mp4');
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-ss', '0.5', '-i', cfr, '-c', 'copy', cut]);
  t.is(r.status, 0, r.stderr.toString());
  const decodedCount = (await probeVideo(cut, { count: 'decode' })).frameCount;
  t.is((await probeVideo(cut)).frameCount, decodedCount);
  const { frames, summary } = await decodeAll(cut, { first: 1, last: decodedCount });
  t.is(summary.error, null);
  t.deepEqual(
    frames.map((f) => f.frame),
    Array.from({ length: decodedCount }, (_, i) => i + 1),
  );
  const offset = readIndex(frames[0]!) - 1;
  t.true(offset > 0, 'the cut starts after the first source frame');
  t.deepEqual(
    frames.map((f) => readIndex(f) - offset),
    frames.map((f) => f.frame),
  );
});

test('truncated video: the frames before the damage, each under its own number, then a recorded error', async (t) => {
  const whole = join(dir, 'whole.mp4');
  makeVideo(whole, 60, null, ['-movflags', '+faststart']);
  const truncated = join(dir, 'truncated.mp4');
  writeFileSync(truncated, readFileSync(whole).subarray(0, Math.floor(statSync(whole).size * 0.6)));
  t.true((await probeVideo(truncated, { count: 'decode' })).frameCount < 60);
  const { frames, summary } = await decodeAll(truncated, { first: 1, last: 60 });
  t.true(frames.length >= 5 && frames.length < 60, `decoded ${frames.length}`);
  // With B-frames a cut in decode order can lose a frame whose display successors still decode:
  // those keep their own numbers (read back from the pixels) and the lost one is a gap.
  t.deepEqual(
    frames.map((f) => readIndex(f)),
    frames.map((f) => f.frame),
  );
  t.deepEqual(
    frames.slice(0, 5).map((f) => f.frame),
    [1, 2, 3, 4, 5],
  );
  t.is(summary.decoded, frames.length);
  t.log(`decoded frames ${frames.map((f) => f.frame).join(',')}; ${summary.error}`);
  t.regex(
    summary.error ?? '',
    new RegExp(
      `expected 60 frames in 1\\.\\.60, decoded ${frames.length} \\(the last is frame ${frames.at(-1)!.frame}\\)`,
    ),
  );
  t.regex(summary.error ?? '', /ffmpeg: /);
});

test('extractFrames on a truncated video commits the frames before the damage with the error recorded', async (t) => {
  const root = tempDir('frames-activity');
  const whole = join(root, 'whole.mp4');
  makeVideo(whole, 60, null, ['-movflags', '+faststart']);
  writeFileSync(
    join(root, 'cut.mp4'),
    readFileSync(whole).subarray(0, Math.floor(statSync(whole).size * 0.6)),
  );
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId: 'frames-test',
    version: 'test',
    root,
    shardFrames: 60,
    videos: [
      {
        name: 'cut',
        split: 'Train',
        source: { kind: 'video', path: 'cut.mp4' },
        frameCount: 60,
        fps: 25,
        width: W,
        height: H,
        contentHash: 'c',
      },
    ],
    shards: [{ shardId: 's', video: 'cut', split: 'Train', firstFrame: 1, lastFrame: 60 }],
    findings: [],
  };
  const store = new LocalDirStore(join(root, 'store'));
  await store.put('manifest.json', JSON.stringify(manifest));
  const logged: string[] = [];
  const activities = createFramesActivities({
    store,
    config: { stateDir: root },
    log: (l) => logged.push(l),
  });
  const result = await activities.extractFrames({
    manifestKey: 'manifest.json',
    shardId: 's',
    maxCropSide: 64,
    // Decoding is under test, not faces: one whole-frame row per decoded frame.
    faceSource: 'whole-frame',
  });
  t.false(result.reused);
  t.true(result.frames >= 5 && result.frames < 60);
  t.is(result.faces, result.frames);
  t.regex(
    result.findings![0]!,
    /^video cut\.mp4: expected 60 frames in 1\.\.60, decoded \d+ \(the last is frame \d+\); ffmpeg: /,
  );
  t.true(logged.some((l) => l.startsWith('frames: video cut.mp4: expected 60 frames')));
  const rows = decodeFramesShard((await readCommitted(store, result.framesKey))!.bytes);
  t.is(rows.length, result.frames);
  t.deepEqual(
    rows.map((r) => [r.box, r.cropWidth, r.cropHeight]),
    rows.map(() => [[0, 0, W, H], 64, 38]),
  );
});

test('zero-frame and unreadable files: VideoError naming the file', async (t) => {
  const empty = join(dir, 'empty.mp4');
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', '-i', cfr, '-c', 'copy', '-frames:v', '0', empty]);
  t.is(r.status, 0, r.stderr.toString());
  const probeError = await t.throwsAsync(probeVideo(empty), { instanceOf: VideoError });
  t.regex(
    probeError.message,
    /^video .*empty\.mp4: (expected at least one frame, got 0|expected a video stream, found none)/,
  );
  const garbage = join(dir, 'garbage.mp4');
  writeFileSync(garbage, Buffer.from('not a video at all'));
  const decodeError = await t.throwsAsync(decodeAll(garbage, { first: 1, last: 5 }), {
    instanceOf: VideoError,
  });
  t.regex(decodeError.message, /^video .*garbage\.mp4: /);
});

test('sampledFrames: every-k is anchored at frame 1 whatever the range', (t) => {
  t.deepEqual(sampledFrames(1, 12, { every: 5 }), [1, 6, 11]);
  t.deepEqual(sampledFrames(7, 20, { every: 5 }), [11, 16]);
  t.deepEqual(sampledFrames(3, 5, {}), [3, 4, 5]);
  t.deepEqual(sampledFrames(1, 10, { targetFps: 10 }, null, 25), [1, 4, 6, 9]);
  t.throws(() => sampledFrames(1, 5, { every: 0 }), {
    message: /expected every to be an integer >= 1, got 0/,
  });
});
