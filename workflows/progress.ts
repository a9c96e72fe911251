/**
 * Progress of an extraction run: partitions report cumulative counts to the run by signal, the run
 * sums them and answers the `progress` query. Pure functions and definitions, no I/O.
 */
import { defineQuery, defineSignal } from '@temporalio/workflow';

/** Cumulative counts of one partition (carried across its continue-as-new). */
export interface PartitionCounts {
  /** Shards finished for every backbone (including those skipped as already committed). */
  shardsDone: number;
  shardsSkipped: number;
  shardsFailed: number;
  shardsInFlight: number;
  /** Frames of finished shards (done or skipped). */
  framesDone: number;
  /** Frames decoded by this run (excludes reused frames shards). */
  framesDecoded: number;
  framesShardsReused: number;
  embeddingShardsWritten: number;
  embeddingShardsReused: number;
  embeddingRows: number;
  /** Audio embedding shards (runs with an audio backbone): committed by this run, or found committed. */
  audioShardsWritten: number;
  audioShardsReused: number;
  /** Per stage, in shards: frames extraction, and embedding (all of a shard's backbones). */
  framesStageDone: number;
  framesStageFailed: number;
  framesStageInFlight: number;
  embedStageDone: number;
  embedStageFailed: number;
  embedStageInFlight: number;
}

export interface FailedShard {
  readonly shardId: string;
  readonly stage: 'frames' | 'embed';
  readonly error: string;
}

export interface PartitionReport {
  readonly partition: number;
  readonly counts: PartitionCounts;
  /** Failures of this partition so far (at most MAX_FAILURES_KEPT; counts.shardsFailed has them all). */
  readonly failures: readonly FailedShard[];
  readonly finished: boolean;
}

export type RunStage = 'manifest' | 'extract' | 'train' | 'done';

export interface RunProgress {
  readonly stage: RunStage;
  readonly shards: number;
  readonly frames: number;
  readonly partitions: { readonly total: number; readonly finished: number; readonly running: number };
  readonly counts: PartitionCounts;
  /** Frames finished per second of wall time since extraction started, and the remaining time at that rate. */
  readonly framesPerSecond: number;
  readonly etaSeconds: number | undefined;
  readonly failures: readonly FailedShard[];
  readonly trained: readonly string[];
}

export const MAX_FAILURES_KEPT = 100;

export const progressQuery = defineQuery<RunProgress>('progress');
export const partitionProgressSignal = defineSignal<[PartitionReport]>('partitionProgress');

export function zeroCounts(): PartitionCounts {
  return {
    shardsDone: 0,
    shardsSkipped: 0,
    shardsFailed: 0,
    shardsInFlight: 0,
    framesDone: 0,
    framesDecoded: 0,
    framesShardsReused: 0,
    embeddingShardsWritten: 0,
    embeddingShardsReused: 0,
    embeddingRows: 0,
    audioShardsWritten: 0,
    audioShardsReused: 0,
    framesStageDone: 0,
    framesStageFailed: 0,
    framesStageInFlight: 0,
    embedStageDone: 0,
    embedStageFailed: 0,
    embedStageInFlight: 0,
  };
}

export function sumCounts(all: Iterable<PartitionCounts>): PartitionCounts {
  const total = zeroCounts();
  for (const c of all)
    for (const key of Object.keys(total) as (keyof PartitionCounts)[]) total[key] += c[key];
  return total;
}
