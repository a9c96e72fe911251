/**
 * One partition of an extraction run: shards [first, end) of the manifest, page by page. Each
 * page's remaining shards go through frames then embed with at most `window` shards in flight;
 * counts go to the run by signal after every page (never by time); the partition continues as new when its
 * history grows, so no history comes near Temporal's limits whatever the dataset size.
 */
import {
  ActivityFailure,
  ApplicationFailure,
  continueAsNew,
  getExternalWorkflowHandle,
  isCancellation,
  patched,
  workflowInfo,
} from '@temporalio/workflow';
import type { AudioSelection, ExtractFramesInput, ShardTask } from '../activities/index.ts';
import { poolActivities, type ActivityTuning } from './activities.ts';
import {
  MAX_FAILURES_KEPT,
  partitionProgressSignal,
  zeroCounts,
  type FailedShard,
  type PartitionCounts,
} from './progress.ts';

export interface PartitionInput extends ActivityTuning {
  readonly runWorkflowId: string;
  readonly partition: number;
  readonly manifestKey: string;
  readonly first: number;
  readonly end: number;
  readonly backbones: readonly string[];
  readonly window: number;
  readonly pageShards: number;
  readonly embedBatchSize: number;
  readonly embedCheckpointSeconds?: number | undefined;
  /** Face source, detector, sampling and decoder threads for extractFrames. */
  readonly frameOptions?: Pick<ExtractFramesInput, 'faceSource' | 'detector' | 'sampling' | 'decoderThreads'>;
  readonly maxCropSide: number;
  /** The run's audio backbone and windows: each shard also gets its audio embedding shard. */
  readonly audio?: AudioSelection;
  /** Continue as new past this many history events (default PARTITION_HISTORY_BUDGET). */
  readonly historyBudget?: number;
  /** Carried across continue-as-new. */
  readonly next?: number;
  readonly counts?: PartitionCounts;
  readonly failures?: readonly FailedShard[];
}

export interface PartitionResult {
  readonly counts: PartitionCounts;
  readonly failures: readonly FailedShard[];
}

/** Executions recorded before partitions reported per page only signalled this often during one. */
export const PROGRESS_INTERVAL_MS = 5_000;

/** Continue as new past this many history events (Temporal warns at 10,240). */
export const PARTITION_HISTORY_BUDGET = 4_000;

function failureText(err: unknown): string {
  const cause = err instanceof ActivityFailure ? err.cause : err;
  if (cause instanceof ApplicationFailure) return `${cause.type ?? 'Error'}: ${cause.message}`;
  return cause instanceof Error ? cause.message : String(cause);
}

export async function extractPartition(input: PartitionInput): Promise<PartitionResult> {
  const { frames, embed, options } = poolActivities(input);
  // Counts carried from executions that predate a counter start it at zero.
  const counts = { ...zeroCounts(), ...input.counts };
  const failures = [...(input.failures ?? [])];
  const parent = getExternalWorkflowHandle(input.runWorkflowId);
  const report = (finished: boolean): Promise<void> =>
    parent.signal(partitionProgressSignal, {
      partition: input.partition,
      counts: { ...counts },
      failures,
      finished,
    });

  // Counts go to the run at the end of each page only, so the run's history grows with the
  // number of pages, never with wall time (a signal every 5 s of a page was about 1,440 events an
  // hour with two partitions in flight). Executions recorded while partitions also signalled
  // during a page replay as they ran.
  const reportDuringPage =
    !patched('partition-progress-per-page') && patched('partition-progress-during-page');
  let lastReportMs = Date.now();
  const reportIfDue = async (): Promise<void> => {
    if (!reportDuringPage || Date.now() - lastReportMs < PROGRESS_INTERVAL_MS) return;
    lastReportMs = Date.now();
    await report(false);
  };

  const fail = (shard: ShardTask, stage: FailedShard['stage'], err: unknown): void => {
    // A cancelled run is not a failed shard: let the cancellation end the partition.
    if (isCancellation(err)) throw err;
    counts.shardsFailed++;
    if (failures.length < MAX_FAILURES_KEPT)
      failures.push({ shardId: shard.shardId, stage, error: failureText(err) });
  };

  // The shard's sound: extracted on the frames pool (which reads the dataset), embedded and
  // committed on the embed pool; a video without audio commits rows marked as having none.
  const embedAudio = async (shard: ShardTask, audio: AudioSelection): Promise<void> => {
    const extracted = await frames.extractAudio.executeWithOptions(
      { ...options.frames, summary: `audio of shard ${shard.shardId} (#${shard.index})` },
      [{ manifestKey: input.manifestKey, shardId: shard.shardId, ...audio }],
    );
    if (extracted.committed) {
      counts.audioShardsReused++;
      return;
    }
    const embedded = await embed.embedAudioShard.executeWithOptions(
      {
        ...options.embed,
        summary: `embed the audio of shard ${shard.shardId} (#${shard.index}) with ${audio.audioBackbone}`,
      },
      [
        {
          manifestKey: input.manifestKey,
          shardId: shard.shardId,
          ...audio,
          ...(extracted.pcmKey ? { pcmKey: extracted.pcmKey } : {}),
          batchSize: input.embedBatchSize,
        },
      ],
    );
    if (embedded.reused) counts.audioShardsReused++;
    else counts.audioShardsWritten++;
  };

  const processShard = async (shard: ShardTask): Promise<void> => {
    counts.shardsInFlight++;
    try {
      let framesKey: string;
      counts.framesStageInFlight++;
      try {
        const extracted = await frames.extractFrames.executeWithOptions(
          {
            ...options.frames,
            summary: `frames of shard ${shard.shardId} (#${shard.index}, ${shard.frames} frames)`,
          },
          [
            {
              manifestKey: input.manifestKey,
              shardId: shard.shardId,
              maxCropSide: input.maxCropSide,
              ...input.frameOptions,
            },
          ],
        );
        framesKey = extracted.framesKey;
        if (extracted.reused) counts.framesShardsReused++;
        else counts.framesDecoded += extracted.frames;
        counts.framesStageDone++;
      } catch (err) {
        counts.framesStageFailed++;
        fail(shard, 'frames', err);
        return;
      } finally {
        counts.framesStageInFlight--;
      }
      counts.embedStageInFlight++;
      try {
        for (const backbone of shard.backbones) {
          try {
            const embedded = await embed.embedShard.executeWithOptions(
              {
                ...options.embed,
                summary: `embed shard ${shard.shardId} (#${shard.index}) with ${backbone}`,
              },
              [
                {
                  manifestKey: input.manifestKey,
                  shardId: shard.shardId,
                  framesKey,
                  backbone,
                  batchSize: input.embedBatchSize,
                  ...(input.embedCheckpointSeconds
                    ? { checkpointSeconds: input.embedCheckpointSeconds }
                    : {}),
                },
              ],
            );
            if (embedded.reused) counts.embeddingShardsReused++;
            else counts.embeddingShardsWritten++;
            counts.embeddingRows += embedded.rows;
          } catch (err) {
            counts.embedStageFailed++;
            fail(shard, 'embed', err);
            return;
          }
        }
        if (shard.audio && input.audio) {
          try {
            await embedAudio(shard, input.audio);
          } catch (err) {
            counts.embedStageFailed++;
            fail(shard, 'embed', err);
            return;
          }
        }
        counts.embedStageDone++;
      } finally {
        counts.embedStageInFlight--;
      }
      counts.shardsDone++;
      counts.framesDone += shard.frames;
    } finally {
      counts.shardsInFlight--;
    }
  };

  let next = input.next ?? input.first;
  while (next < input.end) {
    const limit = Math.min(input.pageShards, input.end - next);
    const page = await frames.planShardPage.executeWithOptions(
      { ...options.frames, summary: `plan shards ${next}..${next + limit - 1}` },
      [
        {
          manifestKey: input.manifestKey,
          offset: next,
          limit,
          backbones: input.backbones,
          ...(input.audio ? { audio: input.audio } : {}),
          frames: {
            maxCropSide: input.maxCropSide,
            faceSource: input.frameOptions?.faceSource,
            detector: input.frameOptions?.detector,
            sampling: input.frameOptions?.sampling,
          },
        },
      ],
    );
    counts.shardsDone += page.skipped;
    counts.shardsSkipped += page.skipped;
    counts.framesStageDone += page.skipped;
    counts.embedStageDone += page.skipped;
    counts.framesDone += page.skippedFrames;
    counts.framesShardsReused += page.skipped;
    counts.embeddingShardsReused += page.skipped * input.backbones.length;
    if (input.audio) counts.audioShardsReused += page.skipped;
    // Sliding window over the page: at most `window` shards between extraction and commit.
    let cursor = 0;
    const lane = async (): Promise<void> => {
      while (cursor < page.todo.length) {
        await processShard(page.todo[cursor++]!);
        await reportIfDue();
      }
    };
    await Promise.all(Array.from({ length: Math.min(input.window, page.todo.length) }, lane));
    next += limit;
    await report(next >= input.end);
    lastReportMs = Date.now();
    const info = workflowInfo();
    if (
      next < input.end &&
      (info.historyLength > (input.historyBudget ?? PARTITION_HISTORY_BUDGET) || info.continueAsNewSuggested)
    ) {
      await continueAsNew<typeof extractPartition>({ ...input, next, counts, failures });
    }
  }
  return { counts, failures };
}
