/**
 * Parquet encoding through parquet-wasm (Rust's parquet crate compiled to WebAssembly) over
 * apache-arrow tables. Chosen over parquetjs-lite, which wrote 1280-d embedding rows at about
 * 380 rows/s on this machine, against 10,000-27,000 rows/s for parquet-wasm (issue 6 figures;
 * docs/STORE.md has the measurements behind the writer settings).
 */
import { openAsBlob, readFileSync } from 'node:fs';
import { Readable } from 'node:stream';
import { ReadableStream, type ReadableStreamDefaultController } from 'node:stream/web';
import { tableFromIPC, tableToIPC, Table, type RecordBatch, type Schema } from 'apache-arrow';
import * as parquet from 'parquet-wasm/esm';

// parquet-wasm's Node build is CommonJS inside a "type": "module" package, which plain Node (the
// compiled build) refuses to load; its ES module build loads everywhere, given its .wasm here.
parquet.initSync({
  module: readFileSync(new URL(import.meta.resolve('parquet-wasm/esm/parquet_wasm_bg.wasm'))),
});

/** Encodes an Arrow table as one Parquet file (snappy) with file-level key/value metadata. */
export function encodeParquet(table: Table, metadata: Record<string, string>): Uint8Array {
  const wasmTable = parquet.Table.fromIPCStream(tableToIPC(table, 'stream'));
  const properties = new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.SNAPPY)
    .setKeyValueMetadata(new Map(Object.entries(metadata)))
    .build();
  return parquet.writeParquet(wasmTable, properties);
}

/** Decodes a Parquet file, reading only `columns` when given. */
export function decodeParquet(bytes: Uint8Array, columns?: readonly string[]): Table {
  const wasmTable = parquet.readParquet(bytes, columns ? { columns: [...columns] } : undefined);
  return tableFromIPC(wasmTable.intoIPCStream());
}

export interface ParquetStreamOptions {
  /** File-level key/value metadata. */
  readonly metadata: Readonly<Record<string, string>>;
  /** Rows per row group: the unit the writer buffers in WebAssembly memory and flushes. */
  readonly rowGroupRows: number;
  /**
   * Top-level columns worth dictionary encoding and chunk statistics (keys, constant strings).
   * Every other column (dense float vectors) is written plain without statistics: dictionary
   * encoding of 1280-d float32 vectors costs two thirds of the write time and saves nothing.
   */
  readonly indexedColumns: readonly string[];
}

function streamProperties(options: ParquetStreamOptions): parquet.WriterProperties {
  let builder = new parquet.WriterPropertiesBuilder()
    .setCompression(parquet.Compression.SNAPPY)
    .setDictionaryEnabled(false)
    .setStatisticsEnabled(parquet.EnabledStatistics.None)
    .setMaxRowGroupSize(options.rowGroupRows)
    .setCreatedBy('affectflow (parquet-wasm)')
    .setKeyValueMetadata(new Map(Object.entries(options.metadata)));
  for (const column of options.indexedColumns) {
    builder = builder
      .setColumnDictionaryEnabled(column, true)
      .setColumnStatisticsEnabled(column, parquet.EnabledStatistics.Chunk);
  }
  return builder.build();
}

/**
 * Streams Arrow record batches of one schema into a Parquet byte stream, row group by row group,
 * handed to `consume` (which must read it to the end); at most one row group and one pending
 * batch are held in memory.
 */
export class ParquetStreamWriter {
  private controller: ReadableStreamDefaultController<parquet.RecordBatch> | undefined;
  private pulled: (() => void) | undefined;
  private done: Promise<void> | undefined;
  private failure: Error | undefined;
  private rows = 0;

  constructor(
    readonly schema: Schema,
    private readonly consume: (bytes: Readable) => Promise<void>,
    private readonly options: ParquetStreamOptions,
  ) {}

  /** The encoder starts with the first batch: parquet-wasm cannot stream a file without one. */
  private start(): ReadableStreamDefaultController<parquet.RecordBatch> {
    let controller: ReadableStreamDefaultController<parquet.RecordBatch> | undefined;
    const input = new ReadableStream<parquet.RecordBatch>(
      {
        start: (c) => {
          controller = c;
        },
        pull: () => {
          this.pulled?.();
          this.pulled = undefined;
        },
      },
      { highWaterMark: 1 },
    );
    this.done = parquet
      .transformParquetStream(input as unknown as globalThis.ReadableStream, streamProperties(this.options))
      .then((bytes) => this.consume(Readable.fromWeb(bytes as unknown as ReadableStream<Uint8Array>)))
      .catch((err: unknown) => {
        this.failure = err instanceof Error ? err : new Error(`parquet writer: ${String(err)}`);
        this.pulled?.();
        throw err;
      });
    // Failures surface through write() and close(); this only keeps the rejection handled.
    this.done.catch(() => undefined);
    this.controller = controller!;
    return this.controller;
  }

  /** Appends one non-empty batch; resolves once the encoder has taken it (back-pressure). */
  async write(batch: RecordBatch): Promise<void> {
    if (batch.schema !== this.schema && describe(batch.schema) !== describe(this.schema)) {
      throw new Error(
        `parquet writer: expected batches of schema ${describe(this.schema)}, got ${describe(batch.schema)}`,
      );
    }
    if (batch.numRows === 0) return;
    const controller = this.controller ?? this.start();
    while (this.failure === undefined && (controller.desiredSize ?? 0) <= 0) {
      await new Promise<void>((resolve) => (this.pulled = resolve));
    }
    if (this.failure !== undefined) throw this.failure;
    const wasmTable = parquet.Table.fromIPCStream(tableToIPC(new Table([batch]), 'stream'));
    for (const wasmBatch of wasmTable.recordBatches()) controller.enqueue(wasmBatch);
    wasmTable.free();
    this.rows += batch.numRows;
  }

  /** Writes the footer and resolves once `consume` has every byte. */
  async close(): Promise<{ rows: number }> {
    if (!this.controller) {
      const wasmTable = parquet.Table.fromIPCStream(tableToIPC(new Table(this.schema), 'stream'));
      await this.consume(Readable.from([parquet.writeParquet(wasmTable, streamProperties(this.options))]));
      return { rows: 0 };
    }
    this.controller.close();
    await this.done;
    return { rows: this.rows };
  }

  /** Stops the encoder; `consume` sees an error and the partial output must be discarded. */
  abort(reason: Error): void {
    try {
      this.controller?.error(reason);
    } catch {
      // already closed or errored
    }
  }
}

const describe = (schema: Schema): string =>
  schema.fields.map((f) => `${f.name}: ${String(f.type)}${f.nullable ? '?' : ''}`).join(', ');

export interface ParquetBatchOptions {
  /** Top-level columns to read; all when absent. */
  readonly columns?: readonly string[];
  /** Rows per yielded batch (the last may be shorter). */
  readonly batchSize: number;
}

/**
 * Streams a Parquet file on local disk as Arrow tables of at most `batchSize` rows, reading only
 * the footer and the requested columns' chunks from the file.
 */
export async function* readParquetFileBatches(
  path: string,
  options: ParquetBatchOptions,
): AsyncIterable<Table> {
  const file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  try {
    const stream = await file.stream({
      batchSize: options.batchSize,
      ...(options.columns ? { columns: [...options.columns] } : {}),
    });
    for await (const batch of stream as unknown as AsyncIterable<parquet.RecordBatch>) {
      yield tableFromIPC(batch.intoIPCStream());
    }
  } finally {
    file.free();
  }
}

/** The file-level key/value metadata of a Parquet file on local disk (reads the footer only). */
export async function parquetFileMetadata(path: string): Promise<Record<string, string>> {
  const file = await parquet.ParquetFile.fromFile(await openAsBlob(path));
  try {
    return Object.fromEntries(file.metadata().fileMetadata().keyValueMetadata() as Map<string, string>);
  } finally {
    file.free();
  }
}
