/**
 * Commit protocol for shards: the data object is written first, then a small marker object
 * `<dataKey>.commit.json` holding its size and sha256. Only a marker makes a shard visible, so a
 * crash at any moment leaves either no shard or a complete one; committing again is a no-op.
 */
import { createHash } from 'node:crypto';
import type { ObjectStore } from './objectStore.ts';

export interface CommitRecord {
  readonly key: string;
  readonly size: number;
  readonly sha256: string;
  readonly rows: number;
  readonly committedAt: string;
  /** Small descriptive fields (shard id, backbone, config hash): never data. */
  readonly meta: Readonly<Record<string, string | number>>;
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

export async function findCommit(store: ObjectStore, dataKey: string): Promise<CommitRecord | undefined> {
  if (!(await store.head(markerKey(dataKey)))) return undefined;
  return JSON.parse(new TextDecoder().decode(await store.get(markerKey(dataKey)))) as CommitRecord;
}

/**
 * Writes and commits one shard. When a commit already exists it is returned unchanged and
 * `created` is false: the same shard written twice is stored once.
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
  await store.put(dataKey, bytes);
  const record: CommitRecord = {
    key: dataKey,
    size: bytes.byteLength,
    sha256: sha256Hex(bytes),
    rows,
    committedAt: new Date().toISOString(),
    meta,
  };
  await store.put(markerKey(dataKey), JSON.stringify(record, null, 1));
  return { record, created: true };
}

/** Reads a committed shard and checks it against its marker. */
export async function readCommitted(
  store: ObjectStore,
  dataKey: string,
): Promise<{ bytes: Uint8Array; record: CommitRecord } | undefined> {
  const record = await findCommit(store, dataKey);
  if (!record) return undefined;
  const bytes = await store.get(dataKey);
  if (bytes.byteLength !== record.size)
    throw new CorruptShardError(dataKey, `${record.size} bytes`, `${bytes.byteLength} bytes`);
  const digest = sha256Hex(bytes);
  if (digest !== record.sha256)
    throw new CorruptShardError(dataKey, `sha256 ${record.sha256}`, `sha256 ${digest}`);
  return { bytes, record };
}

/** The committed shards under a prefix, in key order. */
export async function* listCommitted(store: ObjectStore, prefix: string): AsyncIterable<CommitRecord> {
  for await (const object of store.list(prefix)) {
    if (!object.key.endsWith(MARKER_SUFFIX)) continue;
    yield JSON.parse(new TextDecoder().decode(await store.get(object.key))) as CommitRecord;
  }
}
