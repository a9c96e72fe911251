/**
 * Row sets: float32 rows (an embedding, then the sample's label columns) that the MLP heads read
 * back in chunks of at most `chunkRows` rows, so training and prediction hold a chunk at a time,
 * never a whole split. The train activity spills its sets to local files
 * (activities/trainSpill.ts); `memoryRowSet` wraps rows already in memory (unit tests, small
 * callers) behind the same interface.
 */

/** Population moments of the embedding columns, float64 [dim] each. */
export interface ColumnMoments {
  readonly mean: Float64Array;
  readonly variance: Float64Array;
}

export interface RowSet {
  readonly n: number;
  /** Embedding columns: the first `dim` floats of each row. */
  readonly dim: number;
  /** Floats per row: dim embedding values, then width - dim label columns. */
  readonly width: number;
  /** Rows per chunk, in storage order; none holds more than chunkRows. */
  readonly chunks: readonly number[];
  readonly chunkRows: number;
  /** Per label column, the sum over every row (for 0/1 or one-hot labels: the positives per column). */
  readonly labelSums: Float64Array;
  /** Moments of the embedding columns when the writer kept them (training sets). */
  readonly moments: ColumnMoments | undefined;
  /**
   * Chunk c as float32 [rows, width]: a view into `scratch` (at least chunkRows * width floats),
   * or into the set's own memory. The view is valid until `scratch` is reused.
   */
  read(c: number, scratch: Float32Array): Promise<Float32Array>;
  /** Frees what the set holds (a spilled set's files). */
  close(): Promise<void>;
}

/** How a writer lays out and reads back a set. */
export interface RowSetLayout {
  /** Embedding floats per row. */
  readonly dim: number;
  /** Label floats after the embedding. */
  readonly labelWidth: number;
  /** Rows per chunk read back. */
  readonly chunkRows: number;
  /** Files (or parts) the rows are scattered over by a seeded draw; 1 keeps write order. */
  readonly buckets: number;
  /** Seed of the bucket draw. */
  readonly seed: number;
  /** Keep the embedding moments while writing (training sets). */
  readonly moments: boolean;
}

/** Writes rows once; finish() turns them into a readable set. */
export interface RowSetWriter {
  /** Appends one row: `embedding` (dim floats) and `labels` (labelWidth floats). */
  append(embedding: Float32Array, labels?: ArrayLike<number>): Promise<void>;
  finish(): Promise<RowSet>;
}

export type OpenRowSet = (name: string, layout: RowSetLayout) => Promise<RowSetWriter>;

export class RowSetError extends Error {
  constructor(
    readonly set: string,
    detail: string,
  ) {
    super(`row set ${set}: ${detail}`);
    this.name = 'RowSetError';
  }
}

/**
 * Streaming moments of the first `dim` columns, shifted by the first row so a large mean does not
 * cancel the variance: mean = k + s / n, variance = q / n - (s / n)^2 with s, q sums of x - k, (x - k)^2.
 */
export class MomentsAccumulator {
  private readonly shift: Float64Array;
  private readonly sum: Float64Array;
  private readonly squares: Float64Array;
  private rows = 0;

  constructor(readonly dim: number) {
    this.shift = new Float64Array(dim);
    this.sum = new Float64Array(dim);
    this.squares = new Float64Array(dim);
  }

  /** Adds the row that starts at values[offset]. */
  add(values: ArrayLike<number>, offset = 0): void {
    const { dim, shift, sum, squares } = this;
    if (this.rows++ === 0) for (let j = 0; j < dim; j++) shift[j] = values[offset + j]!;
    for (let j = 0; j < dim; j++) {
      const v = values[offset + j]! - shift[j]!;
      sum[j]! += v;
      squares[j]! += v * v;
    }
  }

  moments(): ColumnMoments {
    const n = Math.max(this.rows, 1);
    const mean = new Float64Array(this.dim);
    const variance = new Float64Array(this.dim);
    for (let j = 0; j < this.dim; j++) {
      const m = this.sum[j]! / n;
      mean[j] = this.shift[j]! + m;
      variance[j] = Math.max(this.squares[j]! / n - m * m, 0);
    }
    return { mean, variance };
  }
}

/** The set's moments, streamed over its chunks when the writer did not keep them. */
export async function rowSetMoments(set: RowSet): Promise<ColumnMoments> {
  if (set.moments) return set.moments;
  const acc = new MomentsAccumulator(set.dim);
  const scratch = new Float32Array(set.chunkRows * set.width);
  for (let c = 0; c < set.chunks.length; c++) {
    const rows = await set.read(c, scratch);
    for (let o = 0; o < rows.length; o += set.width) acc.add(rows, o);
  }
  return acc.moments();
}

export interface MemoryRowSetOptions {
  /** Rows per chunk; all rows in one chunk (a full shuffle per epoch) by default. */
  readonly chunkRows?: number;
  /** Label columns [n, labels] appended to each row (copied in); none by default. */
  readonly labels?: Float32Array;
  readonly labelWidth?: number;
  readonly name?: string;
}

/** Rows x float32 [n, dim] (and optional label columns) in memory, read in chunks of consecutive rows. */
export function memoryRowSet(
  x: Float32Array,
  n: number,
  dim: number,
  options: MemoryRowSetOptions = {},
): RowSet {
  const name = options.name ?? 'memory';
  const labelWidth = options.labelWidth ?? 0;
  if (x.length !== n * dim) throw new RowSetError(name, `expected x [${n}, ${dim}], got ${x.length} values`);
  if ((options.labels?.length ?? 0) !== n * labelWidth) {
    throw new RowSetError(
      name,
      `expected labels [${n}, ${labelWidth}], got ${options.labels?.length ?? 0} values`,
    );
  }
  const width = dim + labelWidth;
  let rows = x;
  if (labelWidth > 0) {
    rows = new Float32Array(n * width);
    for (let i = 0; i < n; i++) {
      rows.set(x.subarray(i * dim, (i + 1) * dim), i * width);
      rows.set(options.labels!.subarray(i * labelWidth, (i + 1) * labelWidth), i * width + dim);
    }
  }
  const labelSums = new Float64Array(labelWidth);
  const acc = new MomentsAccumulator(dim);
  for (let i = 0; i < n; i++) {
    acc.add(rows, i * width);
    for (let k = 0; k < labelWidth; k++) labelSums[k]! += rows[i * width + dim + k]!;
  }
  const chunkRows = Math.max(1, options.chunkRows ?? n);
  const chunks = Array.from({ length: Math.ceil(n / chunkRows) }, (_, c) =>
    Math.min(chunkRows, n - c * chunkRows),
  );
  return {
    n,
    dim,
    width,
    chunks,
    chunkRows,
    labelSums,
    moments: acc.moments(),
    read(c) {
      if (c < 0 || c >= chunks.length) {
        return Promise.reject(new RowSetError(name, `expected a chunk in 0..${chunks.length - 1}, got ${c}`));
      }
      return Promise.resolve(rows.subarray(c * chunkRows * width, (c * chunkRows + chunks[c]!) * width));
    },
    close: () => Promise.resolve(),
  };
}
