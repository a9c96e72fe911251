/**
 * Embedding shards for tests: written through the production writer (EmbeddingShardWriter, as
 * embedShard writes them) and decoded whole from a data object's bytes, to compare with what was
 * written.
 */
import type { FixedSizeList } from 'apache-arrow';
import type { CommitRecord } from '../../storage/commit.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import { decodeParquet } from '../../storage/parquet.ts';
import {
  readFaceRowKey,
  type EmbeddingFileMetadata,
  type EmbeddingIdentity,
  type FaceRowKey,
} from '../../storage/shards.ts';
import { EmbeddingShardWriter } from '../../storage/shardWriter.ts';

/** Embedding rows as columns: keys per row, vectors row-major, no-face rows' vectors zeros. */
export interface EmbeddingColumns {
  readonly keys: FaceRowKey[];
  readonly dim: number;
  readonly embedding: Float32Array;
  readonly scores: Float32Array;
  readonly scoresDim: number;
}

/** Decodes a whole embedding shard (the bytes of its committed data object). */
export function decodeEmbeddingShard(bytes: Uint8Array): EmbeddingColumns {
  const table = decodeParquet(bytes);
  const keys = Array.from({ length: table.numRows }, (_, i) => readFaceRowKey(table, i));
  const flatten = (name: string): { values: Float32Array; dim: number } => {
    const column = table.getChild(name)!;
    const dim = (column.type as FixedSizeList).listSize;
    const values = new Float32Array(table.numRows * dim);
    for (let i = 0; i < table.numRows; i++) {
      const v = column.get(i) as { toArray(): Float32Array } | null;
      if (v) values.set(v.toArray(), i * dim);
    }
    return { values, dim };
  };
  const embedding = flatten('embedding');
  const scores = flatten('scores');
  return {
    keys,
    dim: embedding.dim,
    embedding: embedding.values,
    scores: scores.values,
    scoresDim: scores.dim,
  };
}

/**
 * Writes and commits one embedding shard at `key` through EmbeddingShardWriter. embedding:
 * float32 [rows, embeddingDim], scores [rows, scoresDim], row-major.
 */
export async function writeEmbeddingShard(
  store: ObjectStore,
  key: string,
  shard: {
    readonly identity: EmbeddingIdentity;
    readonly file: EmbeddingFileMetadata;
    readonly rows: readonly FaceRowKey[];
    readonly embedding: Float32Array;
    readonly scores: Float32Array;
  },
  options: { readonly tempDir?: string; readonly meta?: Record<string, string | number> } = {},
): Promise<CommitRecord> {
  const writer = EmbeddingShardWriter.open(store, key, shard.identity, shard.file, {
    ...(options.tempDir ? { tempDir: options.tempDir } : {}),
  });
  await writer.append(shard.rows, shard.embedding, shard.scores);
  return (await writer.commit(options.meta)).record;
}
