/** Activities per worker pool, built by factories that receive their dependencies. */
import type { ActivityDeps } from './context.ts';
import { createAudioEmbedActivities, createAudioExtractActivities } from './audio.ts';
import { createCompareActivities } from './compare.ts';
import { createEmbedActivities } from './embed.ts';
import { createFramesActivities } from './frames.ts';
import { createManifestActivities } from './manifest.ts';
import { createShardActivities } from './shards.ts';
import { createTrainActivities, type TrainActivityOptions } from './train.ts';

export type { ActivityDeps } from './context.ts';
export type {
  AudioSelection,
  EmbedAudioShardInput,
  EmbedAudioShardResult,
  ExtractAudioInput,
  ExtractAudioResult,
} from './audio.ts';
export { audioConfigHash, audioShardKeys, audioWindowing } from './audio.ts';
export type { BackboneComparison, CompareBackbonesInput } from './compare.ts';
export { comparisonKey } from './compare.ts';
export type { EmbedShardInput, EmbedShardResult, EmbeddingShardKey } from './embed.ts';
export type { ExtractFramesInput, ExtractFramesResult, FramesSettings, FramesShardKey } from './frames.ts';
export type { ManifestDatasetInput, ManifestDatasetResult } from './manifest.ts';
export { FINDINGS_RETURNED } from './manifest.ts';
export type { ManifestSummary, PlanShardPageInput, ShardPage, ShardTask } from './shards.ts';
export type { RunReport, TrainAndEvaluateInput, TrainAndEvaluateResult } from './train.ts';
export { embeddingShardKeys, ModelChecksumUnknownError } from './embed.ts';
export { framesShardKey } from './frames.ts';

/** Frames pool: reads datasets and videos. */
export function createFramesPoolActivities(deps: ActivityDeps) {
  return {
    ...createManifestActivities(deps),
    ...createShardActivities(deps),
    ...createFramesActivities(deps),
    ...createAudioExtractActivities(deps),
  };
}

/** Embed pool: ONNX Runtime (CUDA where the worker has a GPU). */
export function createEmbedPoolActivities(deps: ActivityDeps) {
  return { ...createEmbedActivities(deps), ...createAudioEmbedActivities(deps) };
}

/** Train pool: head training and evaluation. */
export function createTrainPoolActivities(deps: ActivityDeps, options: TrainActivityOptions = {}) {
  return { ...createTrainActivities(deps, options), ...createCompareActivities(deps) };
}

export type FramesPoolActivities = ReturnType<typeof createFramesPoolActivities>;
export type EmbedPoolActivities = ReturnType<typeof createEmbedPoolActivities>;
export type TrainPoolActivities = ReturnType<typeof createTrainPoolActivities>;
