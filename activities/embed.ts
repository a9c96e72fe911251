/**
 * Embedding (embed pool): reads a committed frames shard, preprocesses crops for the backbone,
 * runs the shared ONNX Runtime session in batches and commits an embedding shard.
 */
import { getBackbone, backboneId } from '../models/registry.ts';
import { preprocessCrop } from '../media/preprocess.ts';
import { shortHash } from '../datasets/manifest.ts';
import { findCommit, readCommitted } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { decodeFramesShard, EMBEDDING_SCHEMA_VERSION } from '../storage/shards.ts';
import { classifyErrors, findShard, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

export interface EmbedShardInput {
  readonly manifestKey: string;
  readonly shardId: string;
  readonly framesKey: string;
  readonly backbone: string;
  readonly batchSize: number;
}

export interface EmbedShardResult {
  readonly embeddingsKey: string;
  readonly rows: number;
  readonly reused: boolean;
}

/** Hash of everything that shapes an embedding besides the crop: backbone and preprocessing. */
export function embeddingConfigHash(backbone: string): string {
  const d = getBackbone(backbone);
  return shortHash('embedding', EMBEDDING_SCHEMA_VERSION, JSON.stringify(d), 'squash-bilinear/1');
}

export function createEmbedActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    async embedShard(input: EmbedShardInput): Promise<EmbedShardResult> {
      return classifyErrors(async () => {
        if (!deps.sessions)
          throw new Error('embedShard: this worker has no ONNX Runtime sessions (not an embed pool)');
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const descriptor = getBackbone(input.backbone);
        const configHash = embeddingConfigHash(input.backbone);
        const embeddingsKey = storeKeys.embeddingShard(
          manifest.datasetId,
          backboneId(descriptor),
          configHash,
          shard.shardId,
        );
        const existing = await findCommit(deps.store, embeddingsKey);
        if (existing) return { embeddingsKey, rows: existing.rows, reused: true };

        const frames = await readCommitted(deps.store, input.framesKey);
        if (!frames) throw new Error(`embedShard: frames shard ${input.framesKey} is not committed`);
        const rows = decodeFramesShard(frames.bytes);
        const session = await deps.sessions.get(descriptor);
        const { embeddingDim: dim, scoresDim: k, inputSize: s } = descriptor;
        const embedding = new Float32Array(rows.length * dim);
        const scores = new Float32Array(rows.length * k);
        const faces = rows.map((r, i) => ({ r, i })).filter(({ r }) => !r.noFace && r.image);
        const batch = new Float32Array(input.batchSize * 3 * s * s);
        for (let start = 0; start < faces.length; start += input.batchSize) {
          const part = faces.slice(start, start + input.batchSize);
          await Promise.all(
            part.map(({ r }, b) => preprocessCrop(r.image!, descriptor, batch, b * 3 * s * s)),
          );
          const out = await session.run(batch.subarray(0, part.length * 3 * s * s), part.length);
          part.forEach(({ i }, b) => {
            embedding.set(out.embedding.subarray(b * dim, (b + 1) * dim), i * dim);
            scores.set(out.scores.subarray(b * k, (b + 1) * k), i * k);
          });
          reportProgress({ embedded: start + part.length, of: faces.length });
        }
        const writer = EmbeddingShardWriter.open(
          deps.store,
          embeddingsKey,
          {
            dataset: manifest.datasetId,
            split: shard.split,
            backbone: descriptor.name,
            backboneVersion: descriptor.version,
            modelSha256: session.modelSha256,
            embeddingDim: dim,
            scoresDim: k,
          },
          {
            shardId: shard.shardId,
            configHash,
            backbone: JSON.stringify(descriptor),
            preprocessing: 'rgb, squash resize (bilinear), /255, (x-mean)/std, NCHW float32',
            extra: { execution_provider: session.provider },
          },
        );
        try {
          await writer.append(rows, embedding, scores);
        } catch (err) {
          await writer.abort();
          throw err;
        }
        await writer.commit({ backbone: backboneId(descriptor) });
        return { embeddingsKey, rows: rows.length, reused: false };
      });
    },
  };
}
