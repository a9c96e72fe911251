/** What every activity receives, and the small helpers they share. */
import { ApplicationFailure, Context } from '@temporalio/activity';
import type { AffectflowConfig } from '../config/index.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import type { Embedder } from '../models/embedder.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { PERMANENT_ERRORS } from '../base/permanentErrors.ts';

export interface ActivityDeps {
  readonly store: ObjectStore;
  /** Crops to embeddings (ONNX Runtime sessions on worker threads); needed by the embed pool only. */
  readonly embedder?: Embedder;
  /** `store` is needed to read datasets under s3:// (the configured endpoint and credentials). */
  readonly config: Pick<AffectflowConfig, 'stateDir'> & Partial<Pick<AffectflowConfig, 'store'>>;
  readonly log: (line: string) => void;
}

/**
 * Heartbeats when running inside a Temporal activity (a no-op when called directly: tests,
 * benchmarks), and throws the cancellation once the run has cancelled this activity, so long
 * work stops at its next progress report.
 */
export function reportProgress(details: unknown): void {
  let context: Context | undefined;
  try {
    context = Context.current();
  } catch {
    return;
  }
  context.heartbeat(details);
  if (context.cancellationSignal.aborted) throw context.cancellationSignal.reason;
}

/** What the last attempt of this activity reported by heartbeat, for a retry to resume from. */
export function lastHeartbeat<T>(): T | undefined {
  try {
    return Context.current().info.heartbeatDetails as T | undefined;
  } catch {
    return undefined;
  }
}

/**
 * Runs an activity body, turning permanent input problems (base/permanentErrors.ts) into
 * non-retryable failures typed by error name; everything else stays retryable (network, S3 5xx, a lost worker).
 */
export async function classifyErrors<T>(body: () => Promise<T>): Promise<T> {
  try {
    return await body();
  } catch (err) {
    if (err instanceof Error && PERMANENT_ERRORS.includes(err.name)) {
      throw ApplicationFailure.nonRetryable(err.message, err.name);
    }
    throw err;
  }
}

/** A stored manifest that is not one this code reads; permanent (base/permanentErrors.ts). */
export class ManifestFormatError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(
      `manifest ${key}: ${detail}; run the dataset again (\`affectflow run DATASET\`) to write a current manifest`,
    );
    this.name = 'ManifestFormatError';
  }
}

/** Manifests are immutable (content-addressed keys), so each process reads one once. */
export function manifestReader(store: ObjectStore): (key: string) => Promise<Manifest> {
  const cache = new Map<string, Promise<Manifest>>();
  return (key) => {
    let manifest = cache.get(key);
    if (!manifest) {
      manifest = store.get(key).then((bytes) => {
        let parsed: Manifest | { format?: unknown } | null;
        try {
          parsed = JSON.parse(new TextDecoder().decode(bytes)) as Manifest | { format?: unknown } | null;
        } catch (err) {
          throw new ManifestFormatError(key, `expected JSON, got a parse error (${(err as Error).message})`);
        }
        if (parsed?.format !== MANIFEST_FORMAT) {
          throw new ManifestFormatError(
            key,
            `expected format ${MANIFEST_FORMAT}, got ${JSON.stringify(parsed?.format ?? null)}`,
          );
        }
        return parsed as Manifest;
      });
      manifest.catch(() => cache.delete(key));
      cache.set(key, manifest);
    }
    return manifest;
  };
}

export function findShard(manifest: Manifest, shardId: string): Manifest['shards'][number] {
  const shard = manifest.shards.find((s) => s.shardId === shardId);
  if (!shard)
    throw ApplicationFailure.nonRetryable(
      `manifest ${manifest.datasetId}: no shard ${shardId}`,
      'UnknownShard',
    );
  return shard;
}
