/**
 * Commit protocol for shards. A shard has a logical key (content-addressed by dataset, shard id,
 * backbone and configuration: storage/keys.ts). Its bytes go to a data object named by their own
 * checksum, `<key minus .parquet>.<sha256[0:16]>.parquet`, written atomically (one PUT, a multipart
 * upload that is invisible until it completes, or a temporary file renamed into place). The
 * marker `<key>.commit.json`, holding the data object's key, size, sha256 and row count, is
 * written last and only when absent (a conditional PUT; link() locally). Only a marker makes a
 * shard visible, so a crash at any moment leaves either no shard or a complete one; committing
 * again returns the first commit unchanged, and racing writers agree on one winner.
 */
import { createHash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';
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
const MARKER_SUFFIX = '.commit.json';

export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

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
): Promise<{ record: CommitRecord; created: boolean }> {
  const record: CommitRecord = {
    key: dataKey,
    size: data.size,
    sha256: data.sha256,
    rows: data.rows,
    committedAt: new Date().toISOString(),
    meta,
    object: data.object,
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
): Promise<{ record: CommitRecord; created: boolean }> {
  const existing = await findCommit(store, dataKey);
  if (existing) return { record: existing, created: false };
  const sha256 = sha256Hex(bytes);
  const object = dataObjectKey(dataKey, sha256);
  await store.put(object, bytes);
  return commitStored(store, dataKey, { object, size: bytes.byteLength, sha256, rows }, meta);
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
