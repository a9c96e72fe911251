/**
 * Commit protocol for shards. A shard has a logical key (content-addressed by dataset, shard id,
 * backbone and configuration: storage/keys.ts). Its bytes go to a data object named by their own
 * checksum, `<key minus .parquet>.<sha256[0:16]>.parquet`, written atomically (one PUT, a multipart
 * upload that is invisible until it completes, or a temporary file renamed into place). The
 * marker `<key>.commit.json`, holding the data object's key, size, sha256 and row count, is
 * written last and only when absent (a conditional PUT; link() locally). Only a marker makes a
 * shard visible, so a crash at any moment leaves either no shard or a complete one; committing
 * again returns the first commit unchanged, and racing writers agree on one winner. A shard of
 * frames also records its coverage (which frames of its range it holds, which are missing and
 * why), and readers refuse rows that disagree with their marker (checkShardRows).
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
import { sha256Hex } from '../base/hashing.ts';
import type { ObjectStore } from './objectStore.ts';

export interface CommitRecord {
  /** The shard's logical key; the marker lives at markerKey(key). */
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly rows: number;
  readonly committedAt: string;
  /** Small descriptive fields (shard id, split, backbone, config hash): never data. */
  readonly meta: Readonly<Record<string, string | number>>;
  /** The data object holding the bytes; absent in markers written before it existed (then `key`). */
  readonly object?: string;
  /** Which frames of its range the shard holds (frames and embedding shards); absent in older markers. */
  readonly coverage?: FrameCoverage;
}

/**
 * The frames of a shard's range, all accounted for: each frame the sampling keeps is decoded (it
 * has rows) or lies in a damaged range, covered by evidence that the source itself lacks it.
 */
export interface FrameCoverage {
  /** The shard's 1-based inclusive frame range. */
  readonly first: number;
  readonly last: number;
  /** Frames of the range the sampling keeps. */
  readonly expected: number;
  /** Of those, frames with rows (decoded, or read from a frame folder). */
  readonly decoded: number;
  /**
   * 1-based inclusive ranges holding the kept frames that have no rows; each range spans
   * consecutive kept frames, so no decoded frame falls inside one. Empty when nothing is missing.
   */
  readonly damaged: readonly (readonly [number, number])[];
  /** Why the damaged frames count as accounted for; present when `damaged` is not empty. */
  readonly evidence?: string;
}

export class CorruptShardError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`shard ${key}: committed data does not match its marker: expected ${expected}, got ${got}`);
    this.name = 'CorruptShardError';
  }
}

export const markerKey = (dataKey: string): string => `${dataKey}.commit.json`;

/** A committed shard whose rows disagree with its marker: the marker is wrong, no retry mends it. */
export class ShardRowsMismatchError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(
      `shard ${key}: rows disagree with its commit marker: expected ${expected}, got ${got}; delete ${markerKey(key)} so the next run writes the shard again`,
    );
    this.name = 'ShardRowsMismatchError';
  }
}

/**
 * Checks rows read from a committed shard against its marker: the row count, and with a
 * coverage the frames: inside the range and outside every damaged range, as many distinct
 * frames as decoded, and the kept frames not decoded covered by damaged ranges.
 */
export function checkShardRows(
  record: CommitRecord,
  observed: { readonly rows: number; readonly frames: Iterable<number> },
): void {
  const fail = (expected: string, got: string): never => {
    throw new ShardRowsMismatchError(record.key, expected, got);
  };
  if (observed.rows !== record.rows) fail(`${record.rows} rows`, `${observed.rows}`);
  const coverage = record.coverage;
  if (!coverage) return;
  const { first, last, expected, decoded, damaged } = coverage;
  if (decoded > expected || (decoded < expected && damaged.length === 0))
    fail(
      `${expected} frames decoded or covered by damage evidence`,
      `${decoded} decoded and ${damaged.length === 0 ? 'none' : 'damaged ranges'} covered`,
    );
  const distinct = new Set<number>();
  for (const frame of observed.frames) {
    if (frame < first || frame > last) fail(`frames in ${first}..${last}`, `frame ${frame}`);
    if (damaged.some(([a, b]) => frame >= a && frame <= b))
      fail(
        `no rows in the damaged frames ${damaged.map(([a, b]) => `${a}-${b}`).join(', ')}`,
        `frame ${frame}`,
      );
    distinct.add(frame);
  }
  if (distinct.size !== decoded) fail(`${decoded} decoded frames`, `${distinct.size}`);
}

const MARKER_SUFFIX = '.commit.json';

/** Passes bytes through unchanged, counting them and computing their sha256 on the way. */
export class ChecksumStream extends Transform {
  private readonly hash = createHash('sha256');
  /** Bytes seen so far. */
  size = 0;

  override _transform(chunk: Buffer, _encoding: BufferEncoding, callback: TransformCallback): void {
    this.hash.update(chunk);
    this.size += chunk.byteLength;
    callback(null, chunk);
  }

  /** Hex sha256 of every byte seen; call once, after the stream has ended. */
  sha256(): string {
    return this.hash.digest('hex');
  }
}

/** The data object for a shard's bytes: beside the logical key, named by their checksum. */
export function dataObjectKey(dataKey: string, sha256: string): string {
  const digest = sha256.slice(0, 16);
  return dataKey.endsWith('.parquet')
    ? `${dataKey.slice(0, -'.parquet'.length)}.${digest}.parquet`
    : `${dataKey}.${digest}`;
}

/** The object that holds a committed shard's bytes. */
export const committedObject = (record: CommitRecord): string => record.object ?? record.key;

function parseRecord(bytes: Uint8Array): CommitRecord {
  return JSON.parse(new TextDecoder().decode(bytes)) as CommitRecord;
}

export async function findCommit(store: ObjectStore, dataKey: string): Promise<CommitRecord | undefined> {
  if (!(await store.head(markerKey(dataKey)))) return undefined;
  return parseRecord(await store.get(markerKey(dataKey)));
}

/** What a writer knows about the bytes it has stored under `object`. */
export interface StoredData {
  readonly object: string;
  readonly size: number;
  readonly sha256: string;
  readonly rows: number;
}

/**
 * The commit point: creates the marker for data already stored under `data.object`. When another
 * writer committed first, its record wins, this writer's object is deleted (unless it is the
 * same object, i.e. the same bytes) and `created` is false.
 */
export async function commitStored(
  store: ObjectStore,
  dataKey: string,
  data: StoredData,
  meta: Record<string, string | number>,
  coverage?: FrameCoverage,
): Promise<{ record: CommitRecord; created: boolean }> {
  const record: CommitRecord = {
    key: dataKey,
    size: data.size,
    sha256: data.sha256,
    rows: data.rows,
    committedAt: new Date().toISOString(),
    meta,
    object: data.object,
    ...(coverage ? { coverage } : {}),
  };
  if (await store.putIfAbsent(markerKey(dataKey), JSON.stringify(record, null, 1))) {
    return { record, created: true };
  }
  const winner = await findCommit(store, dataKey);
  if (!winner) throw new Error(`shard ${dataKey}: marker exists but cannot be read`);
  if (committedObject(winner) !== data.object) await store.delete(data.object);
  return { record: winner, created: false };
}

/**
 * Writes and commits one shard from bytes in memory. When a commit already exists it is
 * returned unchanged and `created` is false: the same shard written twice is stored once.
 * Large shards stream through EmbeddingShardWriter (storage/shardWriter.ts) instead.
 */
export async function commitShard(
  store: ObjectStore,
  dataKey: string,
  bytes: Uint8Array,
  rows: number,
  meta: Record<string, string | number>,
  coverage?: FrameCoverage,
): Promise<{ record: CommitRecord; created: boolean }> {
  const existing = await findCommit(store, dataKey);
  if (existing) return { record: existing, created: false };
  const sha256 = sha256Hex(bytes);
  const object = dataObjectKey(dataKey, sha256);
  await store.put(object, bytes);
  return commitStored(store, dataKey, { object, size: bytes.byteLength, sha256, rows }, meta, coverage);
}

/** Checks bytes read for a record against its size and checksum. */
export function verifyCommitted(record: CommitRecord, size: number, sha256: string): void {
  if (size !== record.size) throw new CorruptShardError(record.key, `${record.size} bytes`, `${size} bytes`);
  if (sha256 !== record.sha256)
    throw new CorruptShardError(record.key, `sha256 ${record.sha256}`, `sha256 ${sha256}`);
}

/** Reads a committed shard and checks it against its marker. */
export async function readCommitted(
  store: ObjectStore,
  dataKey: string,
): Promise<{ bytes: Uint8Array; record: CommitRecord } | undefined> {
  const record = await findCommit(store, dataKey);
  if (!record) return undefined;
  const bytes = await store.get(committedObject(record));
  verifyCommitted(record, bytes.byteLength, sha256Hex(bytes));
  return { bytes, record };
}

/** The committed shards under a prefix, in key order. */
export async function* listCommitted(store: ObjectStore, prefix: string): AsyncIterable<CommitRecord> {
  for await (const object of store.list(prefix)) {
    if (!object.key.endsWith(MARKER_SUFFIX)) continue;
    yield parseRecord(await store.get(object.key));
  }
}

/**
 * Data objects under a prefix that no marker names: left by a writer killed between upload and
 * commit, or by one that lost a commit race. Invisible to readers; safe to delete once no writer
 * of those shards is running.
 */
export async function listUnreferenced(store: ObjectStore, prefix: string): Promise<string[]> {
  const referenced = new Set<string>();
  const data: string[] = [];
  for await (const object of store.list(prefix)) {
    if (object.key.endsWith(MARKER_SUFFIX))
      referenced.add(committedObject(parseRecord(await store.get(object.key))));
    else data.push(object.key);
  }
  return data.filter((key) => !referenced.has(key));
}
