/**
 * Local spill files of the train activity: row sets (heads/rowset.ts) written once as raw float32
 * rows (native byte order, width floats a row) under the worker's state directory, read back chunk
 * by chunk with positional reads, and deleted when the activity ends. A training set scatters its
 * rows over `buckets` files by a seeded draw, so a chunk is a random sample of the whole split
 * rather than a run of consecutive frames of a few videos; a prediction set keeps write order.
 */
import { randomUUID } from 'node:crypto';
import { mkdir, open, readdir, rm, type FileHandle } from 'node:fs/promises';
import { join } from 'node:path';
import { seededRandom } from '../base/random.ts';
import {
  MomentsAccumulator,
  RowSetError,
  type RowSet,
  type RowSetLayout,
  type RowSetWriter,
} from '../heads/rowset.ts';

/** Staging per bucket before a write: with 32 buckets of 1288-float rows, 8 MB for a set. */
const STAGE_BYTES = 256 * 1024;

interface Bucket {
  readonly path: string;
  readonly handle: FileHandle;
  readonly stage: Float32Array;
  staged: number;
  rows: number;
}

const asBytes = (v: Float32Array, floats = v.length): Uint8Array =>
  new Uint8Array(v.buffer, v.byteOffset, floats * 4);

/** Writes a row set's rows to its bucket files; `finish` turns it into a readable RowSet. */
export class SpillWriter implements RowSetWriter {
  private readonly width: number;
  private readonly labelSums: Float64Array;
  private readonly acc: MomentsAccumulator | undefined;
  private readonly draw: () => number;
  private state: 'open' | 'finished' | 'closed' = 'open';

  private constructor(
    readonly name: string,
    readonly layout: RowSetLayout,
    private readonly buckets: Bucket[],
  ) {
    this.width = layout.dim + layout.labelWidth;
    this.labelSums = new Float64Array(layout.labelWidth);
    this.acc = layout.moments ? new MomentsAccumulator(layout.dim) : undefined;
    this.draw = seededRandom(layout.seed);
  }

  static async open(dir: string, name: string, layout: RowSetLayout): Promise<SpillWriter> {
    if (layout.buckets < 1 || layout.chunkRows < 1) {
      throw new RowSetError(
        name,
        `expected buckets and chunkRows >= 1, got ${layout.buckets} and ${layout.chunkRows}`,
      );
    }
    const width = layout.dim + layout.labelWidth;
    const stageRows = Math.max(1, Math.floor(STAGE_BYTES / (width * 4)));
    const buckets: Bucket[] = [];
    try {
      for (let b = 0; b < layout.buckets; b++) {
        const path = join(dir, `${name}.${b}.f32`);
        buckets.push({
          path,
          handle: await open(path, 'w+'),
          stage: new Float32Array(stageRows * width),
          staged: 0,
          rows: 0,
        });
      }
    } catch (err) {
      await Promise.all(buckets.map((b) => b.handle.close()));
      throw err;
    }
    return new SpillWriter(name, layout, buckets);
  }

  /** Rows written so far. */
  get rows(): number {
    return this.buckets.reduce((a, b) => a + b.rows, 0);
  }

  /** Floats staged in memory at most, whatever the number of rows: buckets x stage. */
  get stagedFloats(): number {
    return this.buckets.reduce((a, b) => a + b.stage.length, 0);
  }

  async append(embedding: Float32Array, labels?: ArrayLike<number>): Promise<void> {
    const { dim, labelWidth } = this.layout;
    if (this.state !== 'open') throw new RowSetError(this.name, `append after ${this.state}`);
    if (embedding.length !== dim || (labels?.length ?? 0) !== labelWidth) {
      throw new RowSetError(
        this.name,
        `expected ${dim} embedding and ${labelWidth} label values, got ${embedding.length} and ${labels?.length ?? 0}`,
      );
    }
    const bucket =
      this.buckets.length === 1
        ? this.buckets[0]!
        : this.buckets[Math.floor(this.draw() * this.buckets.length)]!;
    const o = bucket.staged * this.width;
    bucket.stage.set(embedding, o);
    for (let k = 0; k < labelWidth; k++) {
      bucket.stage[o + dim + k] = labels![k]!;
      this.labelSums[k]! += labels![k]!;
    }
    this.acc?.add(embedding);
    bucket.staged++;
    bucket.rows++;
    if ((bucket.staged + 1) * this.width > bucket.stage.length) await this.flush(bucket);
  }

  private async flush(bucket: Bucket): Promise<void> {
    const bytes = asBytes(bucket.stage, bucket.staged * this.width);
    let written = 0;
    while (written < bytes.length) {
      const { bytesWritten } = await bucket.handle.write(bytes, written, bytes.length - written, null);
      written += bytesWritten;
    }
    bucket.staged = 0;
  }

  /** Writes what is staged and returns the set; its close() deletes the files. */
  async finish(): Promise<RowSet> {
    if (this.state !== 'open') throw new RowSetError(this.name, `finish after ${this.state}`);
    for (const bucket of this.buckets) await this.flush(bucket);
    this.state = 'finished';
    const { dim, chunkRows } = this.layout;
    const width = this.width;
    const index: { bucket: Bucket; first: number; rows: number }[] = [];
    for (const bucket of this.buckets) {
      for (let first = 0; first < bucket.rows; first += chunkRows) {
        index.push({ bucket, first, rows: Math.min(chunkRows, bucket.rows - first) });
      }
    }
    const name = this.name;
    return {
      n: this.rows,
      dim,
      width,
      chunks: index.map((c) => c.rows),
      chunkRows,
      labelSums: this.labelSums,
      moments: this.acc?.moments(),
      read: async (c, scratch) => {
        const chunk = index[c];
        if (!chunk) throw new RowSetError(name, `expected a chunk in 0..${index.length - 1}, got ${c}`);
        const floats = chunk.rows * width;
        if (scratch.length < floats) {
          throw new RowSetError(name, `expected a scratch buffer of ${floats} floats, got ${scratch.length}`);
        }
        const bytes = asBytes(scratch, floats);
        const position = chunk.first * width * 4;
        let read = 0;
        while (read < bytes.length) {
          const { bytesRead } = await chunk.bucket.handle.read(
            bytes,
            read,
            bytes.length - read,
            position + read,
          );
          if (bytesRead === 0) {
            throw new RowSetError(
              name,
              `${chunk.bucket.path}: expected ${bytes.length} bytes at offset ${position}, got ${read}`,
            );
          }
          read += bytesRead;
        }
        return scratch.subarray(0, floats);
      },
      close: () => this.close(),
    };
  }

  /** Closes and deletes the files (also of an unfinished writer). */
  async close(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closed';
    for (const bucket of this.buckets) {
      await bucket.handle.close();
      await rm(bucket.path, { force: true });
    }
  }
}

/** Whether a process with this id runs (a reused id counts as running: its folder is kept). */
function running(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code !== 'ESRCH';
  }
}

/**
 * One activity's spill folder, `<stateDir>/train-spill/<pid>-<uuid>`: every writer opened through
 * it is closed, and the folder removed, by dispose(). Creating one also removes the folders of
 * processes that no longer run (a worker killed mid-training), which no dispose() will.
 */
export class SpillDirectory {
  private readonly writers: SpillWriter[] = [];

  private constructor(readonly path: string) {}

  static async create(stateDir: string): Promise<SpillDirectory> {
    const root = join(stateDir, 'train-spill');
    await mkdir(root, { recursive: true });
    for (const name of await readdir(root)) {
      const pid = Number(/^(\d+)-/.exec(name)?.[1]);
      if (Number.isInteger(pid) && pid !== process.pid && !running(pid)) {
        await rm(join(root, name), { recursive: true, force: true });
      }
    }
    const path = join(root, `${process.pid}-${randomUUID()}`);
    await mkdir(path);
    return new SpillDirectory(path);
  }

  async writer(name: string, layout: RowSetLayout): Promise<SpillWriter> {
    const writer = await SpillWriter.open(this.path, name, layout);
    this.writers.push(writer);
    return writer;
  }

  async dispose(): Promise<void> {
    for (const writer of this.writers) await writer.close();
    await rm(this.path, { recursive: true, force: true });
  }
}
