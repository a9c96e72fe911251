/**
 * The extraction run: manifest the dataset, then per shard extract frames (frames pool) and embed
 * them (embed pool) with at most maxShardsInFlight shards at once, then train and evaluate the
 * heads (train pool). Only references (keys, ids) travel through the history.
 */
import { defineQuery, log, proxyActivities, setHandler, workflowInfo } from '@temporalio/workflow';
import type {
  EmbedPoolActivities,
  FramesPoolActivities,
  ShardSummary,
  TrainPoolActivities,
} from '../activities/index.ts';
import { TASK_QUEUES } from './taskQueues.ts';

export interface ExtractionRunInput {
  /** Dataset root, as the frames pool sees it. */
  readonly datasetPath: string;
  readonly backbone: string;
  readonly shardFrames: number;
  readonly maxShardsInFlight: number;
  readonly embedBatchSize: number;
  readonly maxCropSide: number;
  /** Overrides of the EXPR head settings (SPEC §4 defaults otherwise). */
  readonly expr?: { readonly epochs?: number; readonly batchSize?: number; readonly hidden?: number };
}

export interface StageCounts {
  done: number;
  reused: number;
  failed: number;
  inFlight: number;
}

export interface RunProgress {
  stage: 'manifest' | 'extract' | 'train' | 'done';
  shards: number;
  frames: StageCounts;
  embed: StageCounts;
  framesDecoded: number;
}

export interface ExtractionRunResult {
  readonly datasetId: string;
  readonly manifestKey: string;
  readonly shards: number;
  readonly framesShardsReused: number;
  readonly embeddingShardsReused: number;
  readonly embeddingRows: number;
  readonly failedShards: readonly { readonly shardId: string; readonly error: string }[];
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export const progressQuery = defineQuery<RunProgress>('progress');

const frames = proxyActivities<FramesPoolActivities>({
  taskQueue: TASK_QUEUES.frames,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

const embed = proxyActivities<EmbedPoolActivities>({
  taskQueue: TASK_QUEUES.embed,
  startToCloseTimeout: '30 minutes',
  heartbeatTimeout: '2 minutes',
  retry: {
    initialInterval: '1 second',
    backoffCoefficient: 2,
    maximumInterval: '1 minute',
    maximumAttempts: 5,
  },
});

const train = proxyActivities<TrainPoolActivities>({
  taskQueue: TASK_QUEUES.train,
  startToCloseTimeout: '2 hours',
  heartbeatTimeout: '5 minutes',
  retry: {
    initialInterval: '5 seconds',
    backoffCoefficient: 2,
    maximumInterval: '5 minutes',
    maximumAttempts: 3,
  },
});

function emptyCounts(): StageCounts {
  return { done: 0, reused: 0, failed: 0, inFlight: 0 };
}

export async function extractionRun(input: ExtractionRunInput): Promise<ExtractionRunResult> {
  const progress: RunProgress = {
    stage: 'manifest',
    shards: 0,
    frames: emptyCounts(),
    embed: emptyCounts(),
    framesDecoded: 0,
  };
  setHandler(progressQuery, () => progress);

  const manifest = await frames.manifestDataset({
    datasetPath: input.datasetPath,
    shardFrames: input.shardFrames,
  });
  progress.shards = manifest.shards.length;
  progress.stage = 'extract';
  const failedShards: { shardId: string; error: string }[] = [];
  let embeddingRows = 0;

  const processShard = async (shard: ShardSummary): Promise<void> => {
    progress.frames.inFlight++;
    let framesKey: string;
    try {
      const extracted = await frames.extractFrames({
        manifestKey: manifest.manifestKey,
        shardId: shard.shardId,
        maxCropSide: input.maxCropSide,
      });
      framesKey = extracted.framesKey;
      progress.frames.done++;
      if (extracted.reused) progress.frames.reused++;
      else progress.framesDecoded += extracted.frames;
    } catch (err) {
      progress.frames.failed++;
      failedShards.push({ shardId: shard.shardId, error: String((err as Error).cause ?? err) });
      return;
    } finally {
      progress.frames.inFlight--;
    }
    progress.embed.inFlight++;
    try {
      const embedded = await embed.embedShard({
        manifestKey: manifest.manifestKey,
        shardId: shard.shardId,
        framesKey,
        backbone: input.backbone,
        batchSize: input.embedBatchSize,
      });
      progress.embed.done++;
      if (embedded.reused) progress.embed.reused++;
      embeddingRows += embedded.rows;
    } catch (err) {
      progress.embed.failed++;
      failedShards.push({ shardId: shard.shardId, error: String((err as Error).cause ?? err) });
    } finally {
      progress.embed.inFlight--;
    }
  };

  // Sliding window: at most maxShardsInFlight shards between extraction and commit.
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < manifest.shards.length) {
      const shard = manifest.shards[next++]!;
      await processShard(shard);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(input.maxShardsInFlight, manifest.shards.length)) }, lane),
  );
  if (failedShards.length > 0) log.warn('shards failed', { failed: failedShards.length });

  progress.stage = 'train';
  const evaluated = await train.trainAndEvaluate({
    manifestKey: manifest.manifestKey,
    backbone: input.backbone,
    // Reports are kept per workflow execution, so a re-run never overwrites an earlier one.
    runId: workflowInfo().runId,
    expr: input.expr,
  });
  progress.stage = 'done';
  return {
    datasetId: manifest.datasetId,
    manifestKey: manifest.manifestKey,
    shards: manifest.shards.length,
    framesShardsReused: progress.frames.reused,
    embeddingShardsReused: progress.embed.reused,
    embeddingRows,
    failedShards,
    reportKey: evaluated.reportKey,
    scores: evaluated.scores,
  };
}
