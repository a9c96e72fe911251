/**
 * Reads committed shards. Embedding shards for training: lists the shards of a dataset, backbone,
 * configuration and split from their commit markers, checks each data object against its
 * marker (size, sha256, then its rows and frames: checkShardRows) and streams it as column
 * batches or rows of bounded size, decoding only the columns asked for. An S3 object is streamed
 * to a temporary local file first (hashed on the way); the local store's files are read in place.
 * Frames shards: read whole (readFramesShard), checked the same way.
 */
import { randomUUID } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import type { FixedSizeList, Table } from 'apache-arrow';
import {
  checkShardRows,
  ChecksumStream,
  committedObject,
  listCommitted,
  readCommitted,
  verifyCommitted,
  type CommitRecord,
} from './commit.ts';
import { storeKeys } from './keys.ts';
import type { ObjectStore } from './objectStore.ts';
import { parquetFileMetadata, readParquetFileBatches } from './parquet.ts';
import { decodeFramesShard, type FaceRowKey, type FrameRow } from './shards.ts';

/**
 * A committed frames shard's rows, checked against its marker (size, sha256, row count, frame
 * coverage: ShardRowsMismatchError when they disagree); undefined when the shard is not committed.
 */
export async function readFramesShard(
  store: ObjectStore,
  key: string,
): Promise<{ record: CommitRecord; rows: FrameRow[] } | undefined> {
  const committed = await readCommitted(store, key);
  if (!committed) return undefined;
  const rows = decodeFramesShard(committed.bytes);
  checkShardRows(committed.record, { rows: rows.length, frames: rows.map((r) => r.frame) });
  return { record: committed.record, rows };
}

export interface EmbeddingShardQuery {
  readonly datasetId: string;
  /** backboneId(descriptor): name@version. */
  readonly backboneId: string;
  readonly configHash: string;
  /** Only shards of this split (from the marker's meta); all splits when absent. */
  readonly split?: string;
}

/** The committed embedding shards that match, in key order. */
export async function listEmbeddingShards(
  store: ObjectStore,
  query: EmbeddingShardQuery,
): Promise<CommitRecord[]> {
  const records: CommitRecord[] = [];
  const prefix = storeKeys.embeddingPrefix(query.datasetId, query.backboneId, query.configHash);
  for await (const record of listCommitted(store, prefix)) {
    if (query.split === undefined || record.meta['split'] === query.split) records.push(record);
  }
  return records;
}

/** A committed shard's verified Parquet file on local disk; close() removes a temporary copy. */
export class CommittedShardFile {
  private constructor(
    readonly record: CommitRecord,
    /** Local path of the verified file. */
    readonly path: string,
    private readonly temporary: boolean,
  ) {}

  /**
   * Fetches (or locates) the shard's data and checks it against the marker: CorruptShardError
   * when its bytes differ, ShardRowsMismatchError when its rows or frames do (one pass over the
   * frame column).
   */
  static async open(
    store: ObjectStore,
    record: CommitRecord,
    options: { tempDir?: string } = {},
  ): Promise<CommittedShardFile> {
    const digest = new ChecksumStream();
    if (store.filePath) {
      const path = store.filePath(committedObject(record));
      await pipeline(createReadStream(path), digest, async function* (source) {
        for await (const _ of source) void _;
      });
      verifyCommitted(record, digest.size, digest.sha256());
      const file = new CommittedShardFile(record, path, false);
      await file.checkRows();
      return file;
    }
    const path = join(options.tempDir ?? tmpdir(), `affectflow-read-${randomUUID()}.parquet`);
    const file = new CommittedShardFile(record, path, true);
    try {
      await pipeline(await store.getStream(committedObject(record)), digest, createWriteStream(path));
      verifyCommitted(record, digest.size, digest.sha256());
      await file.checkRows();
    } catch (err) {
      await file.close();
      throw err;
    }
    return file;
  }

  private async checkRows(): Promise<void> {
    let rows = 0;
    const frames: number[] = [];
    for await (const table of this.batches({ columns: ['frame'], batchSize: 8192 })) {
      rows += table.numRows;
      if (this.record.coverage) for (const frame of table.getChild('frame')!) frames.push(Number(frame));
    }
    checkShardRows(this.record, { rows, frames });
  }

  /** File-level key/value metadata (affectflow.shard_id, affectflow.backbone, ...). */
  metadata(): Promise<Record<string, string>> {
    return parquetFileMetadata(this.path);
  }

  /** Column batches of at most batchSize rows, decoding only `columns` (all when absent). */
  batches(options: { columns?: readonly string[]; batchSize?: number } = {}): AsyncIterable<Table> {
    return readParquetFileBatches(this.path, {
      batchSize: options.batchSize ?? 1024,
      ...(options.columns ? { columns: options.columns } : {}),
    });
  }

  async close(): Promise<void> {
    if (this.temporary) await rm(this.path, { force: true });
  }
}

/** A FixedSizeList<float32> column of a batch as row-major values. */
export interface FloatVectors {
  /** Float32 [rows, dim], row-major; null rows hold zeros. A view into the batch when it has one chunk. */
  readonly values: Float32Array;
  readonly dim: number;
  /** valid[i] is false where row i is null (no face). */
  readonly valid: readonly boolean[];
}

/** Reads a FixedSizeList<float32> column out of a batch without per-row objects. */
export function floatVectors(table: Table, column: string): FloatVectors {
  const vector = table.getChild(column);
  if (!vector) throw new Error(`shard reader: column ${column} was not read`);
  const dim = (vector.type as FixedSizeList).listSize;
  const valid: boolean[] = [];
  for (const data of vector.data) for (let i = 0; i < data.length; i++) valid.push(data.getValid(i));
  // Arrow JS applies slice offsets to a primitive child's values buffer itself.
  const flat = (data: (typeof vector.data)[number]): Float32Array =>
    (data.children[0]!.values as Float32Array).subarray(0, data.length * dim);
  const [only, ...more] = vector.data;
  if (only && more.length === 0) return { values: flat(only), dim, valid };
  const values = new Float32Array(table.numRows * dim);
  let row = 0;
  for (const data of vector.data) {
    values.set(flat(data), row * dim);
    row += data.length;
  }
  return { values, dim, valid };
}

/** One batch of an embedding shard: the Arrow columns read, and the shard it came from. */
export interface EmbeddingBatch {
  readonly shard: CommitRecord;
  readonly table: Table;
}

export interface EmbeddingReadOptions {
  /** Top-level columns to decode; all when absent. */
  readonly columns?: readonly string[];
  /** Rows per batch; 1024 by default. Memory is bounded by one batch plus one row group. */
  readonly batchSize?: number;
  readonly tempDir?: string;
}

/** Column batches of the given committed shards, shard by shard, in file order. */
export async function* embeddingBatches(
  store: ObjectStore,
  shards: Iterable<CommitRecord> | AsyncIterable<CommitRecord>,
  options: EmbeddingReadOptions = {},
): AsyncIterable<EmbeddingBatch> {
  for await (const shard of shards) {
    const file = await CommittedShardFile.open(
      store,
      shard,
      options.tempDir ? { tempDir: options.tempDir } : {},
    );
    try {
      for await (const table of file.batches(options)) yield { shard, table };
    } finally {
      await file.close();
    }
  }
}

/** One row of an embedding shard; fields of columns not read are absent. */
export interface EmbeddingRow extends Partial<FaceRowKey> {
  readonly shardKey: string;
  readonly dataset?: string;
  readonly split?: string;
  readonly backbone?: string;
  readonly backboneVersion?: string;
  readonly modelSha256?: string;
  /** Float32 [embeddingDim]; null for no-face rows. A view into the batch: copy to keep. */
  readonly embedding?: Float32Array | null;
  /** Float32 [scoresDim]; null for no-face rows. */
  readonly scores?: Float32Array | null;
}

const ROW_FIELDS: Readonly<Record<string, string>> = {
  dataset: 'dataset',
  split: 'split',
  video: 'video',
  frame: 'frame',
  face_index: 'faceIndex',
  track_id: 'trackId',
  no_face: 'noFace',
  det_score: 'detScore',
  backbone: 'backbone',
  backbone_version: 'backboneVersion',
  model_sha256: 'modelSha256',
};

/** The rows of the given committed shards, one at a time, decoding only `columns`. */
export async function* embeddingRows(
  store: ObjectStore,
  shards: Iterable<CommitRecord> | AsyncIterable<CommitRecord>,
  options: EmbeddingReadOptions = {},
): AsyncIterable<EmbeddingRow> {
  for await (const { shard, table } of embeddingBatches(store, shards, options)) {
    const scalars = Object.entries(ROW_FIELDS).flatMap(([column, field]) => {
      const vector = table.getChild(column);
      return vector ? [{ field, vector }] : [];
    });
    const vectors = (['embedding', 'scores', 'box'] as const).flatMap((column) =>
      table.getChild(column) ? [{ column, ...floatVectors(table, column) }] : [],
    );
    for (let i = 0; i < table.numRows; i++) {
      const row: Record<string, unknown> = { shardKey: shard.key };
      for (const { field, vector } of scalars) row[field] = vector.get(i) ?? null;
      for (const { column, values, dim, valid } of vectors) {
        const value = valid[i] ? values.subarray(i * dim, (i + 1) * dim) : null;
        row[column] = column === 'box' ? (value ? [value[0], value[1], value[2], value[3]] : null) : value;
      }
      yield row as unknown as EmbeddingRow;
    }
  }
}
