/** Builds a dataset's manifest and stores it with the labels (frames pool: it reads the dataset). */
import { ApplicationFailure } from '@temporalio/activity';
import {
  buildManifest,
  DatasetError,
  openDatasetSource,
  type DatasetKind,
  type FacesChoice,
  type Manifest,
} from '../datasets/index.ts';
import type { Split } from '../datasets/labels.ts';
import { storeKeys } from '../storage/keys.ts';
import { classifyErrors, type ActivityDeps } from './context.ts';

export interface ManifestDatasetInput {
  /** Absolute dataset root readable by the frames pool, or `s3://bucket/prefix` on the configured S3 endpoint. */
  readonly datasetPath: string;
  /** Target frames per shard. */
  readonly shardFrames: number;
  /** Dataset layout; detected from the folder when absent. */
  readonly format?: DatasetKind;
  /** Aff-Wild2: cropped/, cropped_aligned/ or the raw video (default auto, in that order). */
  readonly faces?: FacesChoice;
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
  /** The validation report, "<severity>: <message>" per finding (also in the manifest). */
  readonly findings: readonly string[];
}

export function createManifestActivities(deps: ActivityDeps) {
  return {
    async manifestDataset(input: ManifestDatasetInput): Promise<ManifestDatasetResult> {
      return classifyErrors(async () => {
        const permanent = (err: unknown): never => {
          if (err instanceof DatasetError) throw ApplicationFailure.nonRetryable(err.message, err.name);
          throw err;
        };
        const source = await openDatasetSource(input.datasetPath, deps.config).catch(permanent);
        let manifest: Manifest;
        try {
          const built = await buildManifest(source, {
            shardFrames: input.shardFrames,
            ...(input.format ? { kind: input.format } : {}),
            ...(input.faces ? { faces: input.faces } : {}),
          }).catch(permanent);
          manifest = built.manifest;
          for await (const { video, task, json } of built.labels()) {
            await deps.store.put(storeKeys.labels(manifest.datasetId, task, video), json);
          }
        } finally {
          source.close();
        }
        const manifestKey = storeKeys.manifest(manifest.datasetId, manifest.version);
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
