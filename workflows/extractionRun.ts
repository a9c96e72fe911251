/**
 * The extraction run: manifest the dataset (frames pool), fan the shards out to partition child
 * workflows (at most `partitionsInFlight` at once, each a sliding window of shards through the
 * frames and embed pools), then train and evaluate the heads per backbone (train pool). Only
 * references (keys, ids, counts) travel through the history; the `progress` query sums what the
 * partitions report.
 */
import { ParentClosePolicy, log, setHandler, startChild, workflowInfo } from '@temporalio/workflow';
import type {
  AudioSelection,
  ExtractFramesInput,
  ManifestDatasetInput,
  TrainAndEvaluateInput,
} from '../activities/index.ts';
import { poolActivities, type ActivityTuning } from './activities.ts';
import { extractPartition, type PartitionInput } from './partition.ts';
import {
  MAX_FAILURES_KEPT,
  partitionProgressSignal,
  progressQuery,
  sumCounts,
  type FailedShard,
  type PartitionCounts,
  type PartitionReport,
  type RunProgress,
  type RunStage,
} from './progress.ts';

/** How frames and faces are taken (see docs/FRAMES.md and docs/DATASETS.md). */
export interface FrameOptions {
  /** Dataset layout; detected from the folder when absent. */
  readonly format?: ManifestDatasetInput['format'];
  /** Aff-Wild2: cropped/, cropped_aligned/ or the raw video (default: auto). */
  readonly faces?: ManifestDatasetInput['faces'];
  /** Default: 'provided' for frame folders (the dataset's crops), else 'yunet'; 'whole-frame' on request. */
  readonly faceSource?: ExtractFramesInput['faceSource'];
  readonly detector?: ExtractFramesInput['detector'];
  /** Every k-th frame or a target fps (default: every frame). */
  readonly sampling?: ExtractFramesInput['sampling'];
  readonly decoderThreads?: number;
}

export interface ExtractionRunInput extends ActivityTuning, FrameOptions {
  /** Dataset root, as the frames pool sees it. */
  readonly datasetPath: string;
  readonly backbones: readonly string[];
  /**
   * Audio backbone (models/registry.ts getAudioBackbone): every shard also gets an audio embedding
   * shard (docs/AUDIO.md). Absent: no audio.
   */
  readonly audioBackbone?: string;
  /** Audio windows, when other than the default (0.5 s centred on each frame, every frame). */
  readonly audioWindow?: AudioSelection['audioWindow'];
  readonly shardFrames: number;
  /** Shards in flight per partition (the sliding window). */
  readonly maxShardsInFlight: number;
  readonly embedBatchSize: number;
  /** Checkpoint interval of embedding, which a retried shard resumes from (default 2 s). */
  readonly embedCheckpointSeconds?: number;
  readonly maxCropSide: number;
  /** Overrides of the head settings per task (SPEC §4 defaults otherwise). */
  readonly expr?: TrainAndEvaluateInput['expr'];
  readonly va?: TrainAndEvaluateInput['va'];
  readonly au?: TrainAndEvaluateInput['au'];
  readonly emi?: TrainAndEvaluateInput['emi'];
  /** Smoothing half-widths per task (SPEC §5 reference windows otherwise). */
  readonly windows?: TrainAndEvaluateInput['windows'];
  /** How heads are fitted and scored (heads/protocol.ts; the challenge's otherwise). */
  readonly protocol?: TrainAndEvaluateInput['protocol'];
  /** C-EXPR-DB variants' options (an EXPR head trained elsewhere: activities/train.ts). */
  readonly ce?: TrainAndEvaluateInput['ce'];
  /** Shards per partition child workflow (default 1,000). */
  readonly partitionShards?: number;
  /** Shards planned per page inside a partition (default 200). */
  readonly pageShards?: number;
  /** History events after which a partition continues as new (default 4,000). */
  readonly partitionHistoryBudget?: number;
  /** Partition children running at once (default 2). */
  readonly partitionsInFlight?: number;
  /** Stop after extraction (no heads). */
  readonly skipTraining?: boolean;
}

export interface BackboneReport {
  readonly backbone: string;
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export interface ExtractionRunResult {
  readonly status: 'completed' | 'completed_with_failures';
  readonly datasetId: string;
  readonly manifestKey: string;
  readonly shards: number;
  readonly shardsSkipped: number;
  readonly framesShardsReused: number;
  readonly embeddingShardsReused: number;
  readonly embeddingShardsWritten: number;
  readonly embeddingRows: number;
  /** Audio embedding shards committed by this run and found committed (0 without an audio backbone). */
  readonly audioShardsWritten: number;
  readonly audioShardsReused: number;
  readonly failedCount: number;
  /** The first MAX_FAILURES_KEPT failures with their errors. */
  readonly failedShards: readonly FailedShard[];
  readonly reports: readonly BackboneReport[];
  /** The first backbone's report and scores. */
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export async function extractionRun(input: ExtractionRunInput): Promise<ExtractionRunResult> {
  const { frames, train } = poolActivities(input);
  const runId = workflowInfo().workflowId;
  let stage: RunStage = 'manifest';
  let shardCount = 0;
  let frameCount = 0;
  let extractStartedMs = 0;
  let partitionsTotal = 0;
  let partitionsRunning = 0;
  const partitions = new Map<number, PartitionReport>();
  const trained: string[] = [];

  setHandler(partitionProgressSignal, (report) => {
    const known = partitions.get(report.partition);
    // A late signal from an earlier page never overwrites newer counts.
    if (
      !known ||
      report.counts.shardsDone + report.counts.shardsFailed >=
        known.counts.shardsDone + known.counts.shardsFailed
    ) {
      partitions.set(report.partition, report);
    }
  });
  setHandler(progressQuery, (): RunProgress => {
    const counts = sumCounts([...partitions.values()].map((p) => p.counts));
    const elapsed = extractStartedMs ? (Date.now() - extractStartedMs) / 1000 : 0;
    const fps = elapsed > 0 ? counts.framesDone / elapsed : 0;
    const remaining = frameCount - counts.framesDone;
    return {
      stage,
      shards: shardCount,
      frames: frameCount,
      partitions: {
        total: partitionsTotal,
        finished: [...partitions.values()].filter((p) => p.finished).length,
        running: partitionsRunning,
      },
      counts,
      framesPerSecond: fps,
      etaSeconds: fps > 0 ? remaining / fps : undefined,
      failures: [...partitions.values()].flatMap((p) => p.failures).slice(0, MAX_FAILURES_KEPT),
      trained: [...trained],
    };
  });

  const manifest = await frames.manifestDataset({
    datasetPath: input.datasetPath,
    shardFrames: input.shardFrames,
    ...(input.format ? { format: input.format } : {}),
    ...(input.faces ? { faces: input.faces } : {}),
  });
  // Counts only: the shard list stays in the store and partitions read it page by page.
  const summary = await frames.describeManifest({ manifestKey: manifest.manifestKey });
  shardCount = summary.shards;
  frameCount = summary.frames;
  stage = 'extract';
  extractStartedMs = Date.now();

  const partitionShards = input.partitionShards ?? 1_000;
  partitionsTotal = Math.ceil(shardCount / partitionShards);
  const results = new Map<number, { counts: PartitionCounts; failures: readonly FailedShard[] }>();
  let nextPartition = 0;
  const lane = async (): Promise<void> => {
    while (nextPartition < partitionsTotal) {
      const partition = nextPartition++;
      const first = partition * partitionShards;
      const childInput: PartitionInput = {
        runWorkflowId: runId,
        partition,
        manifestKey: manifest.manifestKey,
        first,
        end: Math.min(shardCount, first + partitionShards),
        backbones: input.backbones,
        window: input.maxShardsInFlight,
        pageShards: input.pageShards ?? 200,
        embedBatchSize: input.embedBatchSize,
        embedCheckpointSeconds: input.embedCheckpointSeconds,
        frameOptions: {
          faceSource: input.faceSource,
          detector: input.detector,
          sampling: input.sampling,
          decoderThreads: input.decoderThreads,
        },
        maxCropSide: input.maxCropSide,
        ...(input.audioBackbone
          ? {
              audio: {
                audioBackbone: input.audioBackbone,
                ...(input.audioWindow ? { audioWindow: input.audioWindow } : {}),
              },
            }
          : {}),
        taskQueues: input.taskQueues,
        heartbeatTimeoutSeconds: input.heartbeatTimeoutSeconds,
        maxAttempts: input.maxAttempts,
        retryBudgetSeconds: input.retryBudgetSeconds,
        historyBudget: input.partitionHistoryBudget,
      };
      partitionsRunning++;
      try {
        const child = await startChild(extractPartition, {
          workflowId: `${runId}/partition-${partition}`,
          args: [childInput],
          parentClosePolicy: ParentClosePolicy.TERMINATE,
          staticSummary: `partition ${partition}: shards ${first}..${childInput.end - 1}`,
        });
        results.set(partition, await child.result());
      } finally {
        partitionsRunning--;
      }
    }
  };
  await Promise.all(
    Array.from({ length: Math.min(input.partitionsInFlight ?? 2, Math.max(partitionsTotal, 1)) }, lane),
  );
  // Signals may trail the children's results; the results are authoritative.
  for (const [partition, result] of results) {
    partitions.set(partition, {
      partition,
      counts: result.counts,
      failures: result.failures,
      finished: true,
    });
  }

  const counts = sumCounts([...results.values()].map((r) => r.counts));
  const failedShards = [...results.values()].flatMap((r) => r.failures).slice(0, MAX_FAILURES_KEPT);
  if (counts.shardsFailed > 0) log.warn('shards failed', { failed: counts.shardsFailed });

  const reports: BackboneReport[] = [];
  if (!input.skipTraining) {
    stage = 'train';
    for (const backbone of input.backbones) {
      const evaluated = await train.trainAndEvaluate({
        manifestKey: manifest.manifestKey,
        backbone,
        // Reports are kept per workflow execution, so a re-run never overwrites an earlier one.
        runId: `${workflowInfo().runId}/${backbone}`,
        frames: {
          maxCropSide: input.maxCropSide,
          faceSource: input.faceSource,
          detector: input.detector,
          sampling: input.sampling,
        },
        ...(input.expr ? { expr: input.expr } : {}),
        ...(input.va ? { va: input.va } : {}),
        ...(input.au ? { au: input.au } : {}),
        ...(input.emi ? { emi: input.emi } : {}),
        ...(input.windows ? { windows: input.windows } : {}),
        ...(input.protocol ? { protocol: input.protocol } : {}),
        ...(input.ce ? { ce: input.ce } : {}),
        // Audio heads and their fusion with this backbone's (activities/trainAudio.ts).
        ...(input.audioBackbone ? { audioBackbone: input.audioBackbone } : {}),
        ...(input.audioWindow ? { audioWindow: input.audioWindow } : {}),
      });
      reports.push({ backbone, ...evaluated });
      trained.push(backbone);
    }
  }
  stage = 'done';
  return {
    status: counts.shardsFailed > 0 ? 'completed_with_failures' : 'completed',
    datasetId: manifest.datasetId,
    manifestKey: manifest.manifestKey,
    shards: shardCount,
    shardsSkipped: counts.shardsSkipped,
    framesShardsReused: counts.framesShardsReused,
    embeddingShardsReused: counts.embeddingShardsReused,
    embeddingShardsWritten: counts.embeddingShardsWritten,
    embeddingRows: counts.embeddingRows,
    audioShardsWritten: counts.audioShardsWritten,
    audioShardsReused: counts.audioShardsReused,
    failedCount: counts.shardsFailed,
    failedShards,
    reports,
    reportKey: reports[0]?.reportKey ?? '',
    scores: reports[0]?.scores ?? {},
  };
}
