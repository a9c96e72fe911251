/**
 * Orchestration at scale on a real Temporal server: the real extractionRun and partition
 * workflows over N synthetic shards whose activities only report (no decoding, no inference), so
 * what is measured is Temporal and the workflow code. Shared by the scale test and the bench.
 */
import { randomUUID } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, NativeConnection, Worker } from '@temporalio/worker';
import type {
  EmbedShardInput,
  EmbedShardResult,
  ExtractFramesInput,
  ExtractFramesResult,
  ManifestDatasetResult,
  ManifestSummary,
  PlanShardPageInput,
  ShardPage,
} from '../activities/index.ts';
import { storeKeys } from '../storage/keys.ts';
import { installQuietRuntime, quietBundlerLogger, workflowsPath } from '../workers/pools.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';

export interface ScaleRunOptions {
  readonly address: string;
  readonly shards: number;
  readonly partitionShards: number;
  readonly pageShards: number;
  readonly window: number;
  readonly partitionsInFlight: number;
  readonly historyBudget?: number;
  /** Also run the (reporting) training step. */
  readonly train?: boolean;
  /** Each extractFrames and embedShard takes this long (wall time: a slow run without decoding). */
  readonly activityDelayMs?: number;
}

export interface ScaleRunResult {
  readonly result: ExtractionRunResult;
  readonly seconds: number;
  /** Every execution of the run and its partitions (continue-as-new included). */
  readonly executions: number;
  readonly maxHistoryLength: number;
  readonly maxHistoryBytes: number;
  /** The run's own history (its last execution): events, and partition signals among them. */
  readonly runHistoryLength: number;
  readonly runSignals: number;
}

const FRAMES_PER_SHARD = 10;
const DATASET_ID = 'scale-0123456789abcdef';

/**
 * What the real activities return, in shape and key lengths (test/fakes.test.ts compares them on
 * one small dataset), for a dataset of `shards` shards with no decoding and no inference.
 */
export function reportingActivities(shards: number, delayMs = 0) {
  const pause = (): Promise<void> => (delayMs > 0 ? sleep(delayMs) : Promise.resolve());
  return {
    manifestDataset: (): Promise<ManifestDatasetResult> =>
      Promise.resolve({
        datasetId: DATASET_ID,
        manifestKey: storeKeys.manifest(DATASET_ID, '0123456789abcdef'),
        videos: 1,
        shards,
        frames: shards * FRAMES_PER_SHARD,
        findings: [],
        findingCount: 0,
      }),
    describeManifest: (): Promise<ManifestSummary> =>
      Promise.resolve({ datasetId: DATASET_ID, shards, frames: shards * FRAMES_PER_SHARD, videos: 1 }),
    planShardPage: (input: PlanShardPageInput): Promise<ShardPage> =>
      Promise.resolve({
        todo: Array.from({ length: Math.min(input.limit, shards - input.offset) }, (_, i) => ({
          index: input.offset + i,
          shardId: `s${input.offset + i}`,
          frames: FRAMES_PER_SHARD,
          backbones: input.backbones,
        })),
        skipped: 0,
        skippedFrames: 0,
      }),
    extractFrames: async (input: ExtractFramesInput): Promise<ExtractFramesResult> => {
      await pause();
      return {
        framesKey: storeKeys.framesShard(DATASET_ID, '0123456789ab', input.shardId),
        frames: FRAMES_PER_SHARD,
        faces: FRAMES_PER_SHARD,
        reused: false,
        noFaceFrames: 0,
        findings: [],
      };
    },
    compareBackbones: (input: { datasetId: string }) =>
      Promise.resolve({
        comparisonKey: `reports/compare/${input.datasetId}/comparison.json`,
        comparison: {},
      }),
    trainAndEvaluate: (input: {
      runId: string;
    }): Promise<{ reportKey: string; scores: Record<string, number> }> =>
      Promise.resolve({ reportKey: `reports/${input.runId}/report.json`, scores: { EXPR: 0.5 } }),
    embedShard: async (input: EmbedShardInput): Promise<EmbedShardResult> => {
      await pause();
      return {
        embeddingsKey: storeKeys.embeddingShard(
          DATASET_ID,
          input.backbone,
          '0123456789abcdef',
          input.shardId,
        ),
        rows: FRAMES_PER_SHARD,
        reused: false,
      };
    },
  };
}

export interface ReportingWorker {
  /** The one task queue of the worker: workflows and every pool's activities. */
  readonly queue: string;
  readonly client: Client;
  stop(): Promise<void>;
}

/** A worker running the real workflows with activities that only report, over `shards` shards. */
export async function startReportingWorker(
  address: string,
  shards: number,
  delayMs = 0,
): Promise<ReportingWorker> {
  installQuietRuntime();
  const queue = `scale-${randomUUID().slice(0, 8)}`;
  const connection = await NativeConnection.connect({ address });
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    logger: quietBundlerLogger,
  });
  const worker = await Worker.create({
    connection,
    taskQueue: queue,
    workflowBundle,
    activities: reportingActivities(shards, delayMs),
    maxConcurrentActivityTaskExecutions: 200,
    maxConcurrentWorkflowTaskExecutions: 20,
  });
  const running = worker.run();
  const clientConnection = await Connection.connect({ address });
  return {
    queue,
    client: new Client({ connection: clientConnection }),
    async stop() {
      worker.shutdown();
      await running;
      await clientConnection.close();
      await connection.close();
    },
  };
}

/** Run settings for the reporting worker's queue. */
export function reportingRunInput(
  queue: string,
  options: Omit<ScaleRunOptions, 'address' | 'shards'>,
): ExtractionRunInput {
  return {
    datasetPath: '/scale',
    backbones: ['reporting'],
    shardFrames: FRAMES_PER_SHARD,
    maxShardsInFlight: options.window,
    embedBatchSize: 1,
    maxCropSide: 1,
    partitionShards: options.partitionShards,
    pageShards: options.pageShards,
    partitionsInFlight: options.partitionsInFlight,
    partitionHistoryBudget: options.historyBudget,
    skipTraining: !options.train,
    taskQueues: { frames: queue, embed: queue, train: queue },
  };
}

export async function runReportingScale(options: ScaleRunOptions): Promise<ScaleRunResult> {
  const reporting = await startReportingWorker(options.address, options.shards, options.activityDelayMs);
  const { queue, client } = reporting;
  try {
    const workflowId = queue;
    const started = process.hrtime.bigint();
    const result = (await client.workflow.execute('extractionRun', {
      taskQueue: queue,
      workflowId,
      args: [reportingRunInput(queue, options)],
    })) as ExtractionRunResult;
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    let executions = 0;
    let maxHistoryLength = 0;
    let maxHistoryBytes = 0;
    const partitions = Math.ceil(options.shards / options.partitionShards);
    for (const wid of [
      workflowId,
      ...Array.from({ length: partitions }, (_, p) => `${workflowId}/partition-${p}`),
    ]) {
      for await (const execution of client.workflow.list({ query: `WorkflowId = '${wid}'` })) {
        executions++;
        maxHistoryLength = Math.max(maxHistoryLength, execution.historyLength);
        maxHistoryBytes = Math.max(maxHistoryBytes, execution.historySize ?? 0);
      }
    }
    const runEvents = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
    return {
      result,
      seconds,
      executions,
      maxHistoryLength,
      maxHistoryBytes,
      runHistoryLength: runEvents.length,
      runSignals: runEvents.filter((e) => e.workflowExecutionSignaledEventAttributes).length,
    };
  } finally {
    await reporting.stop();
  }
}
