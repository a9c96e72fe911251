/** Builds a dataset's manifest and stores it with the labels (frames pool: it reads the dataset). */
import { buildAffWild2Manifest, type Split } from '../datasets/manifest.ts';
import { storeKeys } from '../storage/keys.ts';
import { classifyErrors, type ActivityDeps } from './context.ts';

export interface ManifestDatasetInput {
  /** Absolute dataset root, readable by the frames pool. */
  readonly datasetPath: string;
  /** Target frames per shard. */
  readonly shardFrames: number;
}

export interface ShardSummary {
  readonly shardId: string;
  readonly split: Split;
  readonly frames: number;
}

export interface ManifestDatasetResult {
  readonly datasetId: string;
  readonly manifestKey: string;
  readonly videos: number;
  readonly shards: readonly ShardSummary[];
  readonly findings: readonly string[];
}

export function createManifestActivities(deps: ActivityDeps) {
  return {
    async manifestDataset(input: ManifestDatasetInput): Promise<ManifestDatasetResult> {
      return classifyErrors(async () => {
        const { manifest, labels } = await buildAffWild2Manifest(input.datasetPath, input.shardFrames);
        for (const [video, expr] of labels.EXPR) {
          await deps.store.put(
            storeKeys.labels(manifest.datasetId, 'EXPR', video),
            JSON.stringify(Array.from(expr)),
          );
        }
        const manifestKey = storeKeys.manifest(manifest.datasetId);
        await deps.store.put(manifestKey, JSON.stringify(manifest));
        for (const finding of manifest.findings) deps.log(`manifest: ${finding}`);
        return {
          datasetId: manifest.datasetId,
          manifestKey,
          videos: manifest.videos.length,
          shards: manifest.shards.map((s) => ({
            shardId: s.shardId,
            split: s.split,
            frames: s.lastFrame - s.firstFrame + 1,
          })),
          findings: manifest.findings,
        };
      });
    },
  };
}
