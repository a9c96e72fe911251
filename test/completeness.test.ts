/**
 * Completeness is part of the commit (issue 13): a frames shard commits only when every frame of
 * its range is decoded or covered by evidence that the source is damaged. On the real Temporal dev
 * server and the real S3 server: the ffmpeg decoder SIGKILLed mid-shard (as the OOM killer does), a
 * cut file, a decoder that exits non-zero at the same frame twice. Readers refusing a shard whose
 * rows disagree with its marker: test/completeness-markers.test.ts.
 */
import test, { type ExecutionContext } from 'ava';
import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import { createFramesActivities } from '../activities/frames.ts';
import type { ExtractFramesInput, ExtractFramesResult } from '../activities/index.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { encodeVideo, probeVideo } from '../media/ffmpeg.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { findCommit, listCommitted, readCommitted, type CommitRecord } from '../storage/commit.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import { embeddingRows, readFramesShard } from '../storage/shardReader.ts';
import { decodeFramesShard, type FrameRow } from '../storage/shards.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { range } from './helpers/range.ts';
import {
  activityQueues,
  aroundExtractFrames,
  startTestWorkers,
  uniqueQueues,
  type TestQueues,
  type TestWorkers,
} from './helpers/workers.ts';

const W = 480;
const H = 272;

/** Frame i: a gradient that moves with i, so every frame differs and decoding costs real work. */
function* movingFrames(n: number, width: number, height: number): Iterable<Uint8Array> {
  for (let i = 0; i < n; i++) {
    const rgb = new Uint8Array(width * height * 3);
    for (let y = 0; y < height; y++)
      for (let x = 0; x < width; x++) {
        const o = (y * width + x) * 3;
        rgb[o] = (x + i * 3) & 255;
        rgb[o + 1] = (y * 2 + i) & 255;
        rgb[o + 2] = ((x ^ y) + i * 5) & 255;
      }
    yield rgb;
  }
}

/** Pids of running ffmpeg decoders (raw RGB to a pipe) whose command line names `file`. */
function decoderPids(file: string): number[] {
  const pids: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    let args: string[];
    try {
      args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
    } catch {
      continue;
    }
    if (args[0] === 'ffmpeg' && args.includes('rawvideo') && args.some((a) => a.endsWith(file)))
      pids.push(Number(entry));
  }
  return pids;
}

interface Attempt {
  readonly shardId: string;
  error?: string;
  result?: ExtractFramesResult;
}

/** A frames-pool wrap that records every extractFrames attempt and how it ended. */
function recordAttempts(attempts: Attempt[]) {
  return aroundExtractFrames(async (real, input: ExtractFramesInput) => {
    const attempt: Attempt = { shardId: input.shardId };
    attempts.push(attempt);
    try {
      attempt.result = await real(input);
      return attempt.result;
    } catch (err) {
      attempt.error = (err as Error).message;
      throw err;
    }
  });
}

/**
 * Workers on queues of their own recording extractFrames attempts, a store, and the input of an
 * extraction run of `datasetPath` as one whole-frame shard of `frames` frames, without heads.
 */
async function extractionSetup(
  t: ExecutionContext,
  label: string,
  datasetPath: string,
  frames: number,
): Promise<{
  store: ObjectStore;
  workers: TestWorkers;
  queues: TestQueues;
  attempts: Attempt[];
  input: ExtractionRunInput;
}> {
  const config = testConfig('s3', label);
  const store = openStore(config.store);
  const queues = uniqueQueues(label);
  const attempts: Attempt[] = [];
  const workers = await startTestWorkers(config, store, queues, { frames: recordAttempts(attempts) });
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: frames,
    maxShardsInFlight: 1,
    embedBatchSize: 64,
    maxCropSide: 64,
    faceSource: 'whole-frame',
    skipTraining: true,
    taskQueues: activityQueues(queues),
  };
  return { store, workers, queues, attempts, input };
}

/** The distinct frame numbers of a frames shard's rows, and how often each appears. */
function frameCounts(rows: readonly FrameRow[]): Map<number, number> {
  const counts = new Map<number, number>();
  for (const r of rows) counts.set(r.frame, (counts.get(r.frame) ?? 0) + 1);
  return counts;
}

async function onlyCommit(store: ObjectStore, prefix: string): Promise<CommitRecord> {
  const records: CommitRecord[] = [];
  for await (const record of listCommitted(store, prefix)) records.push(record);
  if (records.length !== 1) throw new Error(`expected one commit under ${prefix}, got ${records.length}`);
  return records[0]!;
}

test.serial(
  'ffmpeg SIGKILLed mid-shard: the attempt fails, the retry commits every frame of the range once',
  async (t) => {
    const FRAMES = 750;
    const datasetPath = join(tempDir('complete-kill-data'), 'ds');
    mkdirSync(datasetPath, { recursive: true });
    const file = `long-${randomUUID().slice(0, 8)}.mp4`;
    await encodeVideo(join(datasetPath, file), W, H, 25, movingFrames(FRAMES, W, H));
    const { store, workers, queues, attempts, input } = await extractionSetup(
      t,
      'complete-kill',
      datasetPath,
      FRAMES,
    );
    const runId = `test-complete-kill-${queues.frames}`;
    const handle = await workers.client.workflow.start('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId: runId,
      args: [input],
    });

    // The activity's first progress heartbeat (frame 16), then its decoder by command line.
    const partition = workers.client.workflow.getHandle(`${runId}/partition-0`);
    let heartbeatFrame = 0;
    while (heartbeatFrame === 0) {
      const pending = (await partition.describe().catch(() => undefined))?.raw.pendingActivities ?? [];
      for (const activity of pending) {
        const payload = activity.heartbeatDetails?.payloads?.[0];
        if (activity.activityType?.name === 'extractFrames' && payload)
          heartbeatFrame = defaultPayloadConverter.fromPayload<{ frame: number }>(payload).frame;
      }
      if (heartbeatFrame === 0) await sleep(50);
    }
    const pids = decoderPids(file);
    t.is(pids.length, 1, `one decoder of ${file} running after the heartbeat at frame ${heartbeatFrame}`);
    process.kill(pids[0]!, 'SIGKILL');
    t.log(`killed ffmpeg ${pids[0]} after the heartbeat at frame ${heartbeatFrame}`);

    const result = (await handle.result()) as ExtractionRunResult;
    t.is(result.status, 'completed');
    t.is(result.failedCount, 0);
    t.true(attempts.length >= 2, `extractFrames attempts: ${attempts.length}`);
    t.regex(
      attempts[0]!.error ?? '(the first attempt succeeded)',
      new RegExp(
        `^video /\\S+/${file} frames 1\\.\\.${FRAMES}: ffmpeg was killed by SIGKILL after (\\d+) of ${FRAMES} frames; not committed, the shard is retried$`,
      ),
    );
    const killedAfter = Number(/after (\d+) of/.exec(attempts[0]!.error ?? '')?.[1]);
    t.true(killedAfter >= heartbeatFrame && killedAfter < FRAMES, `killed after ${killedAfter} frames`);
    const last = attempts.at(-1)!.result!;
    t.false(last.reused);
    t.is(last.frames, FRAMES);

    // Every frame of the range once, and the marker says so.
    const frames = await readCommitted(store, last.framesKey);
    const rows = decodeFramesShard(frames!.bytes);
    const counts = frameCounts(rows);
    t.deepEqual(
      [...counts.keys()].sort((a, b) => a - b),
      range(1, FRAMES),
    );
    t.true([...counts.values()].every((c) => c === 1));
    t.is(frames!.record.rows, FRAMES);
    t.deepEqual(frames!.record.coverage, {
      first: 1,
      last: FRAMES,
      expected: FRAMES,
      decoded: FRAMES,
      damaged: [],
    });
    t.is((await readFramesShard(store, last.framesKey))!.rows.length, FRAMES);

    // The embedding shard holds the same rows, and its marker carries the frames' coverage.
    t.is(result.embeddingRows, FRAMES);
    const embedded = await onlyCommit(store, `embeddings/${result.datasetId}/`);
    t.is(embedded.rows, FRAMES);
    t.deepEqual(embedded.coverage, frames!.record.coverage);
    const embeddedFrames: number[] = [];
    for await (const r of embeddingRows(store, [embedded], { columns: ['frame'] }))
      embeddedFrames.push(r.frame!);
    t.deepEqual(embeddedFrames, range(1, FRAMES));
  },
);

/** A 120-frame video whose index is at the front, cut to 60% of its bytes. */
async function cutVideo(dir: string, name: string): Promise<void> {
  const whole = join(dir, `whole-${name}`);
  await encodeVideo(whole, 160, 96, 25, movingFrames(120, 160, 96));
  const fast = join(dir, `fast-${name}`);
  const r = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-i',
    whole,
    '-c',
    'copy',
    '-movflags',
    '+faststart',
    fast,
  ]);
  if (r.status !== 0) throw new Error(`ffmpeg: ${r.stderr.toString()}`);
  writeFileSync(join(dir, name), readFileSync(fast).subarray(0, Math.floor(statSync(fast).size * 0.6)));
}

test.serial(
  'a cut file: committed on the first attempt with its missing frames recorded as damaged',
  async (t) => {
    const datasetPath = join(tempDir('complete-cut-data'), 'ds');
    const scratch = tempDir('complete-cut-scratch');
    mkdirSync(datasetPath, { recursive: true });
    await cutVideo(scratch, 'cut.mp4');
    writeFileSync(join(datasetPath, 'cut.mp4'), readFileSync(join(scratch, 'cut.mp4')));
    const { store, workers, queues, attempts, input } = await extractionSetup(
      t,
      'complete-cut',
      datasetPath,
      120,
    );
    const result = (await workers.client.workflow.execute('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId: `test-complete-cut-${queues.frames}`,
      args: [input],
    })) as ExtractionRunResult;
    t.is(result.status, 'completed');
    t.is(attempts.length, 1, 'a clean exit short of the range is evidence: no retry');
    const { framesKey, frames } = attempts[0]!.result!;
    t.true(frames >= 5, `decoded ${frames}`);
    // The manifest's range ends at the last packet the cut file holds; the decoder still loses
    // frames before it (with B-frames a cut in decode order takes frames whose successors decode).
    const packets = (await probeVideo(join(datasetPath, 'cut.mp4'))).frameCount;
    t.true(packets < 120, `${packets} packets`);
    const record = (await findCommit(store, framesKey))!;
    const coverage = record.coverage!;
    t.like(coverage, { first: 1, last: packets, expected: packets, decoded: frames });
    t.true(frames < packets, `decoded ${frames} of ${packets}`);
    t.is(
      coverage.evidence,
      'ffmpeg read the file to its end and exited with 0 without them: the file is cut short or damaged',
    );
    // The damaged ranges hold exactly the frames without rows.
    const rows = (await readFramesShard(store, framesKey))!.rows;
    const present = new Set(rows.map((r) => r.frame));
    const damaged = coverage.damaged.flatMap(([a, b]) => range(a, b));
    t.deepEqual(
      [...damaged, ...present].sort((a, b) => a - b),
      range(1, packets),
    );
    t.log(`decoded ${frames} of ${packets} frames; damaged ${JSON.stringify(coverage.damaged)}`);
    t.is(result.embeddingRows, rows.length);
  },
);

test.serial(
  'a decoder that exits non-zero: retried, and committed as damaged once the same frames come out again',
  async (t) => {
    const root = tempDir('complete-exit');
    await cutVideo(root, 'cut.mp4');
    // A decoder that decodes like ffmpeg, then exits 1 (as on a read error or too many broken frames).
    const bin = join(root, 'bin');
    mkdirSync(bin);
    const real = spawnSync('sh', ['-c', 'command -v ffmpeg'], { encoding: 'utf8' }).stdout.trim();
    writeFileSync(join(bin, 'ffmpeg'), `#!/bin/sh\n"${real}" "$@"\nexit 1\n`);
    chmodSync(join(bin, 'ffmpeg'), 0o755);
    const config = testConfig('s3', 'complete-exit');
    const store = openStore(config.store);
    t.teardown(() => store.close());
    const manifest: Manifest = {
      format: MANIFEST_FORMAT,
      datasetId: `complete-exit-${randomUUID().slice(0, 8)}`,
      version: 'test',
      root,
      shardFrames: 120,
      videos: [
        {
          name: 'cut',
          split: 'Train',
          source: { kind: 'video', path: 'cut.mp4' },
          frameCount: 120,
          fps: 25,
          width: 160,
          height: 96,
          contentHash: 'c',
        },
      ],
      shards: [{ shardId: 's', video: 'cut', split: 'Train', firstFrame: 1, lastFrame: 120 }],
      findings: [],
    };
    await store.put('manifest.json', JSON.stringify(manifest));
    const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
    const input = {
      manifestKey: 'manifest.json',
      shardId: 's',
      maxCropSide: 64,
      faceSource: 'whole-frame',
    } as const;
    const path = process.env['PATH'];
    process.env['PATH'] = `${bin}:${path}`;
    try {
      const first = await t.throwsAsync(activities.extractFrames(input));
      t.is(first.name, 'DecodeInterruptedError', 'retryable: not turned into a non-retryable failure');
      t.regex(
        first.message,
        /^video \/\S+\/cut\.mp4 frames 1\.\.120: ffmpeg exited with 1 after (\d+) of 120 frames, a stop not seen on an earlier attempt; not committed, the shard is retried$/,
      );
      const second = await activities.extractFrames(input);
      t.false(second.reused);
      t.true(second.frames < 120);
      const coverage = (await findCommit(store, second.framesKey))!.coverage!;
      t.like(coverage, { first: 1, last: 120, expected: 120, decoded: second.frames });
      t.is(
        coverage.evidence,
        `ffmpeg exited with 1 after the same ${second.frames} frames on two attempts: the file is damaged there`,
      );
      t.true((await activities.extractFrames(input)).reused);
    } finally {
      process.env['PATH'] = path;
    }
  },
);
