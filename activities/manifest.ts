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
import { storeKeys } from '../storage/keys.ts';
import { classifyErrors, reportProgress, type ActivityDeps } from './context.ts';

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

/** Findings returned with the counts; the manifest keeps them all. */
export const FINDINGS_RETURNED = 20;

/**
 * Counts and keys only: the shard list and the findings grow with the dataset (45,650 shards of
 * Aff-Wild2 at 64 frames are 2.7 MB of JSON, over Temporal's 2 MB payload limit), so they stay in
 * the stored manifest, which partitions page through by key.
 */
export interface ManifestDatasetResult {
  readonly datasetId: string;
  readonly manifestKey: string;
  readonly videos: number;
  readonly shards: number;
  /** Frames over all shards. */
  readonly frames: number;
  /** The first FINDINGS_RETURNED findings of the validation report, "<severity>: <message>". */
  readonly findings: readonly string[];
  /** All findings, in the manifest (`findings`) and the worker log. */
  readonly findingCount: number;
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
          let inspected = 0;
          const built = await buildManifest(source, {
            shardFrames: input.shardFrames,
            // A heartbeat per video probed and hashed: a large video takes seconds, a dataset hours.
            onVideo: () => reportProgress({ stage: 'inspect', videos: ++inspected }),
            ...(input.format ? { kind: input.format } : {}),
            ...(input.faces ? { faces: input.faces } : {}),
          }).catch(permanent);
          manifest = built.manifest;
          let stored = 0;
          for await (const { video, task, json } of built.labels()) {
            await deps.store.put(storeKeys.labels(manifest.datasetId, task, video), json);
            reportProgress({ stage: 'labels', stored: ++stored });
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
          shards: manifest.shards.length,
          frames: manifest.shards.reduce((sum, s) => sum + s.lastFrame - s.firstFrame + 1, 0),
          findings: manifest.findings.slice(0, FINDINGS_RETURNED),
          findingCount: manifest.findings.length,
        };
      });
    },
  };
}
