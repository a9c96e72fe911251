/**
 * Embedding (embed pool): reads a committed frames shard (checked against its marker), has the worker's Embedder turn its crops
 * into embeddings and scores batch by batch (models/embedder.ts), and commits an embedding shard.
 */
import { readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import {
  backboneId,
  CHECKSUM_PREFIX,
  expectedSha256,
  getBackbone,
  type BackboneDescriptor,
} from '../models/registry.ts';
import { ensureModelFile } from '../models/onnxRuntime.ts';
import { CropError, ImageError, PREPROCESS_VERSION } from '../media/preprocess.ts';
import { sha256Hex, shortHash } from '../base/hashing.ts';
import { canonicalJson } from '../base/canonicalJson.ts';
import { findCommit } from '../storage/commit.ts';
import { parseFramesShardKey, storeKeys } from '../storage/keys.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { readFramesShard } from '../storage/shardReader.ts';
import { EMBEDDING_SCHEMA_VERSION } from '../storage/shards.ts';
import {
  classifyErrors,
  findShard,
  lastHeartbeat,
  manifestReader,
  reportProgress,
  type ActivityDeps,
} from './context.ts';

export interface EmbedShardInput {
  readonly manifestKey: string;
  readonly shardId: string;
  readonly framesKey: string;
  readonly backbone: string;
  readonly batchSize: number;
  /** How often embedded batches are checkpointed for a retry to resume from (default 2 s). */
  readonly checkpointSeconds?: number;
}

export interface EmbedShardResult {
  readonly embeddingsKey: string;
  readonly rows: number;
  readonly reused: boolean;
}

/**
 * What embedShard reports by heartbeat: faces embedded so far and the store objects holding them
 * (float32 embeddings then scores, one part per checkpoint), so a retry on another worker resumes
 * there instead of starting over.
 */
export interface EmbedCheckpoint {
  readonly facesDone: number;
  readonly parts: readonly { readonly key: string; readonly from: number; readonly to: number }[];
}

/** A downloaded backbone whose model file's sha256 nobody recorded: its embeddings cannot be keyed. */
export class ModelChecksumUnknownError extends Error {
  constructor(
    readonly backbone: string,
    readonly id: string,
    readonly store: string,
    readonly key: string,
  ) {
    super(
      `backbone ${id}: no sha256 of its model file, neither in its descriptor nor in store ${store} (${key}); run \`affectflow models pull ${backbone}\` with this store (AFFECTFLOW_STORE), then \`affectflow resume <run>\``,
    );
    this.name = 'ModelChecksumUnknownError';
  }
}

/**
 * An embedShard frames key that no retry can make right: not a frames shard key, a frames shard
 * of another dataset or shard than the input names, or one that is not committed. Permanent
 * (base/permanentErrors.ts).
 */
export class FramesKeyError extends Error {
  constructor(
    readonly framesKey: string,
    detail: string,
  ) {
    super(`frames key ${framesKey}: ${detail}`);
    this.name = 'FramesKeyError';
  }
}

const generatedSha256 = new Map<string, string>();

/**
 * The sha256 of a backbone's model file, which its embedding keys carry. A downloaded model: the
 * descriptor's, else the one `models pull` recorded in the store (of the file as published, before
 * the embedding output is added); ModelChecksumUnknownError when neither exists. A generated
 * model: that of the file the generator wrote into this machine's model cache (built there on
 * first use, as the embed pool does), hashed once per process and file version.
 */
export async function backboneModelSha256(
  deps: Pick<ActivityDeps, 'store' | 'config'>,
  descriptor: BackboneDescriptor,
): Promise<string> {
  if (descriptor.source.kind === 'generated') {
    const path = ensureModelFile(descriptor, join(deps.config.stateDir, 'models'));
    const { size, mtimeMs } = statSync(path);
    const version = `${path}:${size}:${mtimeMs}`;
    let sha = generatedSha256.get(version);
    if (!sha) generatedSha256.set(version, (sha = sha256Hex(readFileSync(path))));
    return sha;
  }
  const sha = await expectedSha256(deps.store, descriptor);
  if (!sha) {
    throw new ModelChecksumUnknownError(
      descriptor.name,
      backboneId(descriptor),
      deps.store.uri,
      `${CHECKSUM_PREFIX}${backboneId(descriptor)}.sha256`,
    );
  }
  return sha;
}

/**
 * Hash of everything that shapes an embedding shard besides the shard's identity: the schema, the
 * descriptor, the model file (sha256), the preprocessing version (media/preprocess.ts) and the
 * frames shard's settings (its facesConfig), so a change of any of them gives new keys.
 */
export function embeddingConfigHash(
  descriptor: BackboneDescriptor,
  modelSha256: string,
  facesConfig: string,
): string {
  return shortHash(
    'embedding/2',
    EMBEDDING_SCHEMA_VERSION,
    canonicalJson(descriptor),
    modelSha256,
    PREPROCESS_VERSION,
    facesConfig,
  );
}

export interface EmbeddingShardKey {
  readonly key: string;
  readonly configHash: string;
}

/**
 * The embedding shard keys of one backbone, as a map from frames shard keys (framesShardKey):
 * `embeddings/<dataset>/<name@version>/<embeddingConfigHash>/<shard>.parquet`. Reads the model's
 * sha256 once; planning, embedding and training all key embeddings through this one function.
 */
export async function embeddingShardKeys(
  deps: Pick<ActivityDeps, 'store' | 'config'>,
  backbone: string,
): Promise<(framesKey: string) => EmbeddingShardKey> {
  const descriptor = getBackbone(backbone);
  const modelSha256 = await backboneModelSha256(deps, descriptor);
  const configs = new Map<string, string>();
  return (framesKey) => {
    const frames = parseFramesShardKey(framesKey);
    if (!frames) {
      throw new FramesKeyError(
        framesKey,
        'expected a frames shard key (frames/<dataset>/<facesConfig>/<shard>.parquet) to derive the embedding key from',
      );
    }
    let configHash = configs.get(frames.facesConfig);
    if (!configHash) {
      configHash = embeddingConfigHash(descriptor, modelSha256, frames.facesConfig);
      configs.set(frames.facesConfig, configHash);
    }
    return {
      key: storeKeys.embeddingShard(frames.datasetId, backboneId(descriptor), configHash, frames.shardId),
      configHash,
    };
  };
}

export function createEmbedActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    async embedShard(input: EmbedShardInput): Promise<EmbedShardResult> {
      return classifyErrors(async () => {
        const embedder = deps.embedder;
        if (!embedder) throw new Error('embedShard: this worker has no embedder (not an embed pool)');
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const descriptor = getBackbone(input.backbone);
        const framesShard = parseFramesShardKey(input.framesKey);
        if (framesShard?.datasetId !== manifest.datasetId || framesShard.shardId !== shard.shardId) {
          throw new FramesKeyError(
            input.framesKey,
            `expected a frames shard of dataset ${manifest.datasetId} shard ${shard.shardId} (manifest ${input.manifestKey})`,
          );
        }
        const { key: embeddingsKey, configHash } = (await embeddingShardKeys(deps, input.backbone))(
          input.framesKey,
        );
        const existing = await findCommit(deps.store, embeddingsKey);
        if (existing) return { embeddingsKey, rows: existing.rows, reused: true };

        // Checked against its marker: a shard whose rows disagree is refused, never embedded.
        const frames = await readFramesShard(deps.store, input.framesKey);
        if (!frames) {
          throw new FramesKeyError(
            input.framesKey,
            `not committed (no ${input.framesKey}.commit.json); \`affectflow resume <run>\` extracts it again`,
          );
        }
        const rows = frames.rows;
        const source = await embedder.source(descriptor);
        const { embeddingDim: dim, scoresDim: k } = descriptor;
        const embedding = new Float32Array(rows.length * dim);
        const scores = new Float32Array(rows.length * k);
        const faces = rows.map((r, i) => ({ r, i })).filter(({ r }) => !r.noFace && r.image);
        const checkpointPrefix = `tmp/embed-checkpoints/${shortHash(embeddingsKey)}/`;
        const parts: EmbedCheckpoint['parts'][number][] = [];
        const resumeFrom = lastHeartbeat<EmbedCheckpoint>();
        let first = 0;
        if (resumeFrom && resumeFrom.facesDone > 0) {
          for (const part of resumeFrom.parts) {
            const bytes = await deps.store.get(part.key);
            const values = new Float32Array(
              bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength),
            );
            const n = part.to - part.from;
            faces.slice(part.from, part.to).forEach(({ i }, b) => {
              embedding.set(values.subarray(b * dim, (b + 1) * dim), i * dim);
              scores.set(values.subarray(n * dim + b * k, n * dim + (b + 1) * k), i * k);
            });
            parts.push(part);
          }
          first = resumeFrom.facesDone;
          deps.log(
            `embedShard ${shard.shardId}: resuming at face ${first} of ${faces.length} from the last heartbeat`,
          );
        }
        const checkpoint = async (to: number): Promise<void> => {
          const from = parts.at(-1)?.to ?? 0;
          if (to <= from) return;
          const values = new Float32Array((to - from) * (dim + k));
          faces.slice(from, to).forEach(({ i }, b) => {
            values.set(embedding.subarray(i * dim, (i + 1) * dim), b * dim);
            values.set(scores.subarray(i * k, (i + 1) * k), (to - from) * dim + b * k);
          });
          const key = `${checkpointPrefix}${from}-${to}.f32`;
          await deps.store.put(key, new Uint8Array(values.buffer));
          parts.push({ key, from, to });
        };
        let lastCheckpoint = Date.now();
        const embedBatch = async (start: number) => {
          const part = faces.slice(start, start + input.batchSize);
          try {
            const crops = part.map(({ r }) => r.image!);
            return { start, part, out: await embedder.embed(descriptor, crops) };
          } catch (err) {
            if (!(err instanceof CropError)) throw err;
            const row = part[err.index]!.r;
            throw new ImageError(
              `${input.framesKey} (video ${row.video}, frame ${row.frame}, face ${row.faceIndex})`,
              err.detail,
            );
          }
        };
        // Two batches in flight, so the embedder's threads never wait for this loop.
        const inFlight: ReturnType<typeof embedBatch>[] = [];
        let nextStart = first;
        const submit = (): void => {
          if (nextStart >= faces.length) return;
          inFlight.push(embedBatch(nextStart));
          nextStart += input.batchSize;
        };
        submit();
        submit();
        try {
          while (inFlight.length > 0) {
            const { start, part, out } = await inFlight.shift()!;
            submit();
            part.forEach(({ i }, b) => {
              embedding.set(out.embedding.subarray(b * dim, (b + 1) * dim), i * dim);
              scores.set(out.scores.subarray(b * k, (b + 1) * k), i * k);
            });
            const done = start + part.length;
            if (Date.now() - lastCheckpoint >= (input.checkpointSeconds ?? 2) * 1000 && done < faces.length) {
              await checkpoint(done);
              lastCheckpoint = Date.now();
            }
            reportProgress({ facesDone: parts.at(-1)?.to ?? 0, parts, embedded: done, of: faces.length });
          }
        } finally {
          // Batches still in flight when the loop stops must not become unhandled rejections.
          for (const pending of inFlight) pending.catch(() => {});
        }
        const writer = EmbeddingShardWriter.open(
          deps.store,
          embeddingsKey,
          {
            dataset: manifest.datasetId,
            split: shard.split,
            backbone: descriptor.name,
            backboneVersion: descriptor.version,
            modelSha256: source.modelSha256,
            embeddingDim: dim,
            scoresDim: k,
          },
          {
            shardId: shard.shardId,
            configHash,
            backbone: JSON.stringify(descriptor),
            preprocessing: `${PREPROCESS_VERSION}: rgb, squash resize (PIL bilinear), /255, (x-mean)/std, NCHW float32`,
            extra: { execution_provider: source.provider },
          },
        );
        try {
          await writer.append(rows, embedding, scores);
        } catch (err) {
          await writer.abort();
          throw err;
        }
        await writer.commit({ backbone: backboneId(descriptor) }, frames.record.coverage);
        await Promise.all(parts.map((part) => deps.store.delete(part.key)));
        return { embeddingsKey, rows: rows.length, reused: false };
      });
    },
  };
}
