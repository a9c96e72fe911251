/**
 * Streams one embedding shard into the store without holding it in memory: rows go to Parquet
 * row group by row group into a temporary local file (hashed on the way), which then becomes the
 * shard's data object (a multipart upload on S3, a rename in the local store) before the commit
 * marker is created (storage/commit.ts).
 */
import { randomUUID } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pipeline } from 'node:stream/promises';
import {
  ChecksumStream,
  commitStored,
  dataObjectKey,
  findCommit,
  type CommitRecord,
  type FrameCoverage,
} from './commit.ts';
import type { ObjectStore } from './objectStore.ts';
import { ParquetStreamWriter } from './parquet.ts';
import {
  EMBEDDING_INDEXED_COLUMNS,
  embeddingColumns,
  embeddingFileMetadata,
  embeddingSchema,
  recordBatchOf,
  type EmbeddingFileMetadata,
  type EmbeddingIdentity,
  type FaceRowKey,
} from './shards.ts';

export interface ShardWriterOptions {
  /** Rows per Parquet row group (and per encoded batch); 1024 by default (5 MB at 1280-d). */
  readonly rowGroupRows?: number;
  /** Where the temporary file lives until upload; the OS temporary directory by default. */
  readonly tempDir?: string;
}

export class ShardWriterError extends Error {
  constructor(
    readonly key: string,
    message: string,
  ) {
    super(`shard writer ${key}: ${message}`);
    this.name = 'ShardWriterError';
  }
}

/**
 * One embedding shard being written: append() rows in order, then commit() once. The file
 * carries embeddingSchema(identity) and embeddingFileMetadata(identity, file).
 */
export class EmbeddingShardWriter {
  private readonly writer: ParquetStreamWriter;
  private readonly digest = new ChecksumStream();
  private readonly rowGroupRows: number;
  private state: 'open' | 'committed' | 'aborted' = 'open';
  private pendingRows: FaceRowKey[] = [];
  private readonly pendingEmbeddings: Float32Array;
  private readonly pendingScores: Float32Array;

  private constructor(
    private readonly store: ObjectStore,
    /** The shard's logical key (storeKeys.embeddingShard). */
    readonly key: string,
    readonly identity: EmbeddingIdentity,
    readonly file: EmbeddingFileMetadata,
    private readonly tempPath: string,
    options: ShardWriterOptions,
  ) {
    this.rowGroupRows = options.rowGroupRows ?? 1024;
    this.pendingEmbeddings = new Float32Array(this.rowGroupRows * identity.embeddingDim);
    this.pendingScores = new Float32Array(this.rowGroupRows * identity.scoresDim);
    const toFile = (bytes: NodeJS.ReadableStream): Promise<void> =>
      pipeline(bytes, this.digest, createWriteStream(tempPath));
    this.writer = new ParquetStreamWriter(embeddingSchema(identity), toFile, {
      metadata: embeddingFileMetadata(identity, file),
      rowGroupRows: this.rowGroupRows,
      indexedColumns: EMBEDDING_INDEXED_COLUMNS,
    });
  }

  static open(
    store: ObjectStore,
    key: string,
    identity: EmbeddingIdentity,
    file: EmbeddingFileMetadata,
    options: ShardWriterOptions = {},
  ): EmbeddingShardWriter {
    const tempPath = join(options.tempDir ?? tmpdir(), `affectflow-shard-${randomUUID()}.parquet`);
    return new EmbeddingShardWriter(store, key, identity, file, tempPath, options);
  }

  /**
   * Appends rows in file order. embeddings: float32 [rows, embeddingDim], scores float32
   * [rows, scoresDim], row-major; no-face rows' slices are ignored (stored as null). Rows are
   * gathered into whole row groups before encoding: a row group spread over several batches
   * encodes about three times slower in parquet-wasm's stream writer.
   */
  async append(rows: readonly FaceRowKey[], embeddings: Float32Array, scores: Float32Array): Promise<void> {
    if (this.state !== 'open') throw new ShardWriterError(this.key, `append after ${this.state}`);
    const { embeddingDim: d, scoresDim: k } = this.identity;
    if (embeddings.length !== rows.length * d || scores.length !== rows.length * k) {
      throw new ShardWriterError(
        this.key,
        `expected ${rows.length} x ${d} embedding and ${rows.length} x ${k} score values, got ${embeddings.length} and ${scores.length}`,
      );
    }
    let start = 0;
    while (start < rows.length) {
      const pending = this.pendingRows.length;
      if (pending === 0 && rows.length - start >= this.rowGroupRows) {
        const end = start + this.rowGroupRows;
        await this.encode(
          rows.slice(start, end),
          embeddings.subarray(start * d, end * d),
          scores.subarray(start * k, end * k),
        );
        start = end;
        continue;
      }
      const take = Math.min(this.rowGroupRows - pending, rows.length - start);
      this.pendingEmbeddings.set(embeddings.subarray(start * d, (start + take) * d), pending * d);
      this.pendingScores.set(scores.subarray(start * k, (start + take) * k), pending * k);
      for (let i = start; i < start + take; i++) this.pendingRows.push(rows[i]!);
      start += take;
      if (this.pendingRows.length === this.rowGroupRows) await this.flushPending();
    }
  }

  private async flushPending(): Promise<void> {
    const n = this.pendingRows.length;
    if (n === 0) return;
    const { embeddingDim: d, scoresDim: k } = this.identity;
    await this.encode(
      this.pendingRows,
      this.pendingEmbeddings.subarray(0, n * d),
      this.pendingScores.subarray(0, n * k),
    );
    this.pendingRows = [];
  }

  private async encode(
    rows: readonly FaceRowKey[],
    embeddings: Float32Array,
    scores: Float32Array,
  ): Promise<void> {
    await this.writer.write(
      recordBatchOf(this.writer.schema, embeddingColumns(this.identity, rows, embeddings, scores)),
    );
  }

  /**
   * Finishes the file and commits it under `key`. When the shard is already committed (an
   * earlier run, or a racing writer) that commit is returned and `created` is false.
   * Marker meta always holds shardId, dataset, split and configHash; `coverage` is the frames
   * shard's, so readers can check the rows' frames against it.
   */
  async commit(
    meta: Record<string, string | number> = {},
    coverage?: FrameCoverage,
  ): Promise<{ record: CommitRecord; created: boolean }> {
    if (this.state !== 'open') throw new ShardWriterError(this.key, `commit after ${this.state}`);
    try {
      await this.flushPending();
      const { rows } = await this.writer.close();
      this.state = 'committed';
      const existing = await findCommit(this.store, this.key);
      if (existing) return { record: existing, created: false };
      const sha256 = this.digest.sha256();
      const object = dataObjectKey(this.key, sha256);
      await this.store.adoptFile(object, this.tempPath);
      return await commitStored(
        this.store,
        this.key,
        { object, size: this.digest.size, sha256, rows },
        {
          ...meta,
          shardId: this.file.shardId,
          dataset: this.identity.dataset,
          split: this.identity.split,
          configHash: this.file.configHash,
        },
        coverage,
      );
    } catch (err) {
      this.state = 'aborted';
      throw err;
    } finally {
      await rm(this.tempPath, { force: true });
    }
  }

  /** Drops what was written; nothing reaches the store. */
  async abort(): Promise<void> {
    if (this.state !== 'open') return;
    this.state = 'aborted';
    this.writer.abort(new ShardWriterError(this.key, 'aborted'));
    await rm(this.tempPath, { force: true });
  }
}
