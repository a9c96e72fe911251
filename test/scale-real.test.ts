/**
 * The CI-sized scale run: Aff-Wild2's 550 videos with about 2 % of its frames (106 a video, one
 * 128-frame shard each: 550 shards, 58,300 frames) through the real manifest, frames and embed
 * activities on the real dev server (bench/scaleRun.ts; the full size is `npm run bench -- --only
 * scale`). Training is skipped: the invariants are about extraction and orchestration, and the
 * train activity reads the same shards (test/heads-activity.test.ts covers it). One shard per video
 * rather than the default 64 frames: the cost of a run here is per shard (an ffmpeg start, two
 * commits, the Temporal round trips), and two shards a video took about 14 minutes on a loaded
 * machine; the payload at the default size is asserted through the real manifest activity in
 * scale-limits.test.ts.
 */
import test from 'ava';
import { runScale } from '../bench/scaleRun.ts';
import { tempDir, testServices } from './helpers/env.ts';

test('550 videos, 550 shards through the real activities: nothing lost or duplicated, every history and payload within limits', async (t) => {
  // Minutes of work with no assertion in between: on a loaded machine (two busy processes per
  // core) more than ava's 10-minute inactivity limit, which this test's own limit replaces.
  t.timeout(30 * 60_000);
  const run = await runScale({
    address: testServices.temporalAddress(),
    workDir: tempDir('scale-ci'),
    videos: 550,
    framesPerVideo: 106,
    size: 16,
    shardFrames: 128,
    train: false,
    // Four partitions, so the run fans out and partitions finish at different times.
    partitionShards: 150,
  });
  t.log(
    `${run.frames} frames in ${run.wallSeconds.toFixed(0)} s (${(run.frames / run.wallSeconds).toFixed(0)} frames/s), ${run.executions} executions, longest history ${run.maxHistoryEvents} events, largest event ${run.maxPayloadBytes} bytes, peak RSS ${run.peakRssMb.toFixed(0)} MB`,
  );
  t.is(run.status, 'completed');
  t.is(run.shards, 550);
  t.is(run.frames, 58_300);
  t.is(run.failed, 0);
  t.is(run.lost, 0);
  t.is(run.duplicated, 0);
  t.true(run.maxHistoryEvents < 10_240, `longest history ${run.maxHistoryEvents} events`);
  t.true(run.maxPayloadBytes < 2 * 1024 * 1024, `largest event ${run.maxPayloadBytes} bytes`);
});
