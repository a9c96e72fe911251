/**
 * CommittedShardFile opens a shard in place wherever the store keeps objects as local files (the
 * store says so through `filePath`), not only when it is a LocalDirStore (issue 18: no downcast);
 * a store without local files gets a verified temporary copy that close() removes.
 */
import test from 'ava';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { committedObject } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { LocalDirStore, type ObjectStore } from '../storage/objectStore.ts';
import { CommittedShardFile } from '../storage/shardReader.ts';
import { writeEmbeddingShard } from './helpers/embeddingShards.ts';
import { tempDir } from './helpers/env.ts';
import { shardFixture } from './helpers/storeFixtures.ts';

const METHODS = [
  'put',
  'putFile',
  'adoptFile',
  'putIfAbsent',
  'get',
  'getStream',
  'head',
  'list',
  'delete',
  'close',
] as const;

/** Another ObjectStore over the same directory (a wrapper, as tests and tools build them), not a LocalDirStore. */
function view(local: LocalDirStore, withFiles: boolean): ObjectStore {
  const store: Record<string, unknown> = { uri: `view+${local.uri}` };
  for (const m of METHODS) store[m] = local[m].bind(local);
  if (withFiles) store['filePath'] = local.filePath.bind(local);
  return store as unknown as ObjectStore;
}

async function committedFixture(label: string) {
  const dir = tempDir(label);
  const local = new LocalDirStore(join(dir, 'store'));
  const f = shardFixture('reader-1', 40, 16);
  const key = storeKeys.embeddingShard(f.identity.dataset, 'fixture@1', 'cfg', f.shardId);
  const file = {
    shardId: f.shardId,
    configHash: 'cfg',
    backbone: '{"name":"fixture"}',
    preprocessing: 'none',
  };
  const record = await writeEmbeddingShard(local, key, { ...f, file }, { tempDir: dir });
  return { local, record, rows: f.rows.length, dir };
}

test('a store with local files that is not a LocalDirStore is read in place', async (t) => {
  const { local, record, rows } = await committedFixture('reader-in-place');
  const file = await CommittedShardFile.open(view(local, true), record);
  t.is(file.path, local.filePath(committedObject(record)));
  t.is(record.rows, rows);
  await file.close();
  t.true(existsSync(file.path), 'closing a file read in place removed the store object');
});

test('a store without local files is read through a verified temporary copy', async (t) => {
  const { local, record, dir } = await committedFixture('reader-copy');
  const file = await CommittedShardFile.open(view(local, false), record, { tempDir: dir });
  t.not(file.path, local.filePath(committedObject(record)));
  t.true(file.path.startsWith(dir));
  t.true(existsSync(file.path));
  await file.close();
  t.false(existsSync(file.path));
});
