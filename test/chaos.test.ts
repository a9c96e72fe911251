/**
 * Build item 5 of issue 15, CI-sized: a run under chaos (test/helpers/chaos.ts) and the
 * independent check of what it committed (test/helpers/chaosCheck.ts); and the frames activity
 * that leaves no ffmpeg behind when it is cancelled.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createFramesActivities } from '../activities/frames.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { CHAOS_CI, runChaos } from './helpers/chaos.ts';
import { ffmpegChildren } from './helpers/chaosStack.ts';
import { tempDir } from './helpers/env.ts';

test('a cancelled extractFrames kills its ffmpeg (none left blocked on a full pipe)', async (t) => {
  const root = tempDir('chaos-cancel');
  // 300 frames of 320x240 RGB: 69 MB of decoder output, far more than a pipe holds.
  const made = spawnSync('ffmpeg', [
    ...['-v', 'error', '-y', '-f', 'lavfi', '-i', 'testsrc=size=320x240:rate=25'],
    ...['-frames:v', '300', '-pix_fmt', 'yuv420p', join(root, 'long.mp4')],
  ]);
  t.is(made.status, 0, made.stderr.toString());
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId: 'chaos-cancel',
    version: 'test',
    root,
    shardFrames: 300,
    videos: [
      {
        name: 'long',
        split: 'Train',
        source: { kind: 'video', path: 'long.mp4' },
        frameCount: 300,
        fps: 25,
        width: 320,
        height: 240,
        contentHash: 'c',
      },
    ],
    shards: [{ shardId: 's', video: 'long', split: 'Train', firstFrame: 1, lastFrame: 300 }],
    findings: [],
  };
  // Its own decoder only: the chaos test in this process makes its dataset with ffmpeg too.
  const ffmpegChildrenHere = (): number[] => ffmpegChildren([process.pid], join(root, 'long.mp4'));
  const store = new LocalDirStore(join(root, 'store'));
  await store.put('manifest.json', JSON.stringify(manifest));
  const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
  const env = new MockActivityEnvironment({ activityType: 'extractFrames' });
  let decoderAtCancel: number[] = [];
  // The run cancels the activity (or its heartbeat timed out) at its first progress report.
  env.once('heartbeat', () => {
    decoderAtCancel = ffmpegChildrenHere();
    env.cancel();
  });
  await t.throwsAsync(
    env.run((input: Parameters<typeof activities.extractFrames>[0]) => activities.extractFrames(input), {
      manifestKey: 'manifest.json',
      shardId: 's',
      maxCropSide: 32,
      faceSource: 'whole-frame' as const,
    }),
  );
  t.is(decoderAtCancel.length, 1, 'ffmpeg ran when the activity was cancelled');
  // A killed ffmpeg is gone within moments; one blocked on its pipe stays for good.
  for (let i = 0; i < 100 && ffmpegChildrenHere().length > 0; i++) await sleep(100);
  t.deepEqual(ffmpegChildrenHere(), [], 'no ffmpeg left after the cancelled activity');
  for (const pid of ffmpegChildrenHere()) process.kill(pid, 'SIGKILL');
});

test('chaos: 20,000 frames through 50+ SIGKILLs, a Temporal restart, a 60 s store outage and a 30 s SIGSTOP; every frame committed once', async (t) => {
  // Several minutes with no test finishing (the suite's 10 min inactivity timeout would end it), and
  // on a loaded machine far more than that in all: the limit is on silence, not on the whole run.
  // 20 min to the first commit (the dataset and the services come first), then 10 min after each
  // new commit or fault line.
  t.timeout(20 * 60_000, 'chaos: no progress for 20 min');
  const stateDir = tempDir('chaos');
  const outcome = await runChaos({
    ...CHAOS_CI,
    stateDir,
    datasetPath: join(stateDir, 'ds'),
    faults: true,
    log: (line) => {
      t.timeout(10 * 60_000, 'chaos: no progress for 10 min');
      t.log(line);
    },
    onProgress: () => t.timeout(10 * 60_000, 'chaos: no progress for 10 min'),
  });
  t.timeout(10 * 60_000, 'chaos: the checks after the run took over 10 min');
  const { result, check } = outcome;
  t.log(
    `kills ${JSON.stringify(outcome.kills)}, ${outcome.restarts} worker restarts, store away ${outcome.outageSeconds.toFixed(0)} s, ` +
      `embed worker stopped ${outcome.stoppedSeconds.toFixed(0)} s, wall ${outcome.wallSeconds.toFixed(0)} s; ${check.orphans} orphan data objects (not counted)`,
  );
  t.is(result.status, 'completed', JSON.stringify(result.failedShards));
  t.is(result.failedCount, 0);
  t.true(outcome.killCount >= 50, `${outcome.killCount} kills`);
  for (const target of ['frames', 'embed', 'train', 'orchestrator', 'ffmpeg'] as const)
    t.true(outcome.kills[target] >= 1, `no ${target} kill`);
  t.true(outcome.outageSeconds >= 60);
  t.true(outcome.stoppedSeconds >= 30);
  t.is(outcome.temporalRestarts, 1);
  t.is(check.manifestFrames, CHAOS_CI.videos * CHAOS_CI.framesPerVideo);
  t.is(check.manifestShards, result.shards);
  t.deepEqual(check.badMarkers, []);
  t.deepEqual(check.frames, { markers: result.shards, rows: check.manifestFrames, lost: 0, duplicated: 0 });
  t.deepEqual(check.embeddings, {
    markers: result.shards,
    rows: check.manifestFrames,
    lost: 0,
    duplicated: 0,
  });
  t.is(result.embeddingRows, check.manifestFrames);
  t.is(check.incompleteUploads, 0);
  t.is(typeof result.scores['EXPR'], 'number');
});
