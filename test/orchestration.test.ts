/**
 * Orchestration on the real Temporal dev server: a shard that keeps failing is recorded and the
 * run goes on; resuming after the input is fixed redoes only that shard; cancel stops the work.
 */
import test from 'ava';
import { join } from 'node:path';
import { setTimeout as heartbeatInterval } from 'node:timers/promises';
import { ApplicationFailure } from '@temporalio/activity';
import { WorkflowFailedError, WorkflowIdReusePolicy } from '@temporalio/client';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore } from '../storage/objectStore.ts';
import { reportProgress } from '../activities/context.ts';
import type { ExtractFramesResult } from '../activities/index.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import type { ExtractionRunInput, ExtractionRunResult, RunProgress } from '../workflows/index.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, aroundExtractFrames, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const SYNTHETIC = { ...TINY_SYNTHETIC, trainVideos: 2, validationVideos: 1, framesPerVideo: 32 };

/**
 * heartbeatTimeoutSeconds stays at the default (60 s) unless a test needs heartbeats to carry a
 * cancellation quickly: a short one times out activities on a loaded machine and retries them.
 */
function runInput(
  datasetPath: string,
  queues: ReturnType<typeof uniqueQueues>,
  heartbeatTimeoutSeconds?: number,
): ExtractionRunInput {
  return {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: 16,
    maxShardsInFlight: 2,
    embedBatchSize: 8,
    maxCropSide: 96,
    // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
    faceSource: 'whole-frame',
    expr: { epochs: 5, batchSize: 32, hidden: 16 },
    taskQueues: activityQueues(queues),
    maxAttempts: 2,
    ...(heartbeatTimeoutSeconds === undefined ? {} : { heartbeatTimeoutSeconds }),
  };
}

test('a shard that always fails is recorded, the run completes with failures, and resume redoes only that shard', async (t) => {
  const config = testConfig('local', 'orch-fail');
  const datasetPath = join(tempDir('orch-fail-data'), 'ds');
  await generateSyntheticDataset(datasetPath, SYNTHETIC);
  const store = openStore(config.store);
  const queues = uniqueQueues('fail');
  let broken: string | undefined;
  let fixed = false;
  const calls: string[] = [];
  const workers = await startTestWorkers(config, store, queues, {
    frames: aroundExtractFrames(async (real, input) => {
      calls.push(input.shardId);
      broken ??= input.shardId;
      if (input.shardId === broken && !fixed) {
        throw ApplicationFailure.nonRetryable(
          `video for shard ${input.shardId}: corrupt input (injected)`,
          'VideoError',
        );
      }
      return real(input);
    }),
  });
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const input = runInput(datasetPath, queues);
  const workflowId = `test-fail-${queues.frames}`;
  const start = () =>
    workers.client.workflow.execute('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    }) as Promise<ExtractionRunResult>;

  const first = await start();
  t.is(first.status, 'completed_with_failures');
  t.is(first.failedCount, 1);
  t.is(first.failedShards[0]?.shardId, broken);
  t.is(first.failedShards[0]?.stage, 'frames');
  t.regex(first.failedShards[0]?.error ?? '', /VideoError: video for shard .* corrupt input/);
  t.is(first.embeddingShardsWritten, first.shards - 1);
  t.is(calls.filter((id) => id === broken).length, 1, 'a non-retryable failure is not retried');
  t.truthy(first.reportKey, 'training still runs on the shards that succeeded');
  // The run's progress, per stage (queries answer after completion too).
  const progress = await workers.client.workflow.getHandle(workflowId).query<RunProgress>('progress');
  t.like(progress.counts, {
    framesStageDone: first.shards - 1,
    framesStageFailed: 1,
    framesStageInFlight: 0,
    embedStageDone: first.shards - 1,
    embedStageFailed: 0,
    embedStageInFlight: 0,
    shardsFailed: 1,
  });
  t.is(progress.failures[0]?.shardId, broken);

  fixed = true;
  calls.length = 0;
  const resumed = await start();
  t.is(resumed.status, 'completed');
  t.is(resumed.shardsSkipped, resumed.shards - 1);
  t.is(resumed.embeddingShardsWritten, 1);
  t.deepEqual(calls, [broken!], 'only the failed shard is extracted again');
});

test('cancel stops a run: heartbeating activities notice and the run ends cancelled', async (t) => {
  const config = testConfig('local', 'orch-cancel');
  const datasetPath = join(tempDir('orch-cancel-data'), 'ds');
  await generateSyntheticDataset(datasetPath, SYNTHETIC);
  const store = openStore(config.store);
  const queues = uniqueQueues('cancel');
  // Each extraction that starts adds a promise that resolves when it sees the cancellation.
  const noticed: Promise<void>[] = [];
  let firstStarted!: () => void;
  const started = new Promise<void>((resolve) => (firstStarted = resolve));
  const workers = await startTestWorkers(config, store, queues, {
    frames: <A extends object>(activities: A): A => ({
      ...activities,
      async extractFrames(): Promise<ExtractFramesResult> {
        let notice!: () => void;
        noticed.push(new Promise((resolve) => (notice = resolve)));
        firstStarted();
        try {
          for (;;) {
            reportProgress({ frame: 0 });
            await heartbeatInterval(100);
          }
        } catch (err) {
          notice();
          throw err;
        }
      },
    }),
  });
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId: `test-cancel-${queues.frames}`,
    // Heartbeats (throttled to 0.8 x this) carry the cancellation; a timeout much shorter times
    // out the manifest activity on a loaded machine.
    args: [runInput(datasetPath, queues, 15)],
  });
  const ended = handle.result().then(
    () => Promise.reject(new Error('the run ended before an extraction started')),
    (err: unknown) =>
      Promise.reject(new Error(`the run failed before an extraction started: ${String(err)}`)),
  );
  ended.catch(() => {});
  await Promise.race([started, ended]);
  t.is((await handle.query<RunProgress>('progress')).stage, 'extract');
  await handle.cancel();
  const error = await t.throwsAsync(handle.result(), { instanceOf: WorkflowFailedError });
  t.regex(String(error?.cause?.name), /CancelledFailure/);
  t.is((await handle.describe()).status.name, 'CANCELLED');
  // Every running extraction sees the cancellation (a missed one holds this until the test times out).
  await Promise.all(noticed);
  t.true(noticed.length > 0);
});
