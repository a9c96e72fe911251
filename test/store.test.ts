/** Object store and commit protocol against the real S3 server and a local directory. */
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { GetObjectCommand, PutObjectCommand } from '@aws-sdk/client-s3';
import {
  commitShard,
  findCommit,
  listCommitted,
  listUnreferenced,
  markerKey,
  readCommitted,
  CorruptShardError,
} from '../storage/commit.ts';
import { openStore, ObjectNotFoundError, InvalidKeyError, type ObjectStore } from '../storage/objectStore.ts';
import { rawS3Client, tempDir, testConfig, testServices } from './helpers/env.ts';

test('S3 round trip through @aws-sdk/client-s3 against the real S3 server', async (t) => {
  const client = rawS3Client();
  const key = `roundtrip/${randomUUID()}.bin`;
  const body = randomBytes(100_000);
  await client.send(new PutObjectCommand({ Bucket: testServices.s3Bucket(), Key: key, Body: body }));
  const out = await client.send(new GetObjectCommand({ Bucket: testServices.s3Bucket(), Key: key }));
  const back = Buffer.from(await out.Body!.transformToByteArray());
  t.true(back.equals(body));
  t.is(out.ContentLength, body.length);
  client.destroy();
});

const stores: Record<string, () => ObjectStore> = {
  s3: () => openStore(testConfig('s3', 'store').store),
  local: () => openStore(testConfig('local', 'store').store),
};

for (const [kind, open] of Object.entries(stores)) {
  test(`${kind} store: put, get, head, list in key order, delete`, async (t) => {
    const store = open();
    await store.put('a/b/2.txt', 'two');
    await store.put('a/b/1.txt', new Uint8Array([1, 2, 3]));
    await store.put('a/c.txt', 'c');
    await store.put('ab.txt', 'not under a/');
    t.deepEqual(Array.from(await store.get('a/b/1.txt')), [1, 2, 3]);
    t.deepEqual(await store.head('a/b/2.txt'), { key: 'a/b/2.txt', size: 3 });
    t.is(await store.head('a/missing'), undefined);
    const listed = [];
    for await (const o of store.list('a/')) listed.push(o.key);
    t.deepEqual(listed, ['a/b/1.txt', 'a/b/2.txt', 'a/c.txt']);
    await store.delete('a/c.txt');
    await t.throwsAsync(() => store.get('a/c.txt'), {
      instanceOf: ObjectNotFoundError,
      message: /a\/c\.txt not found/,
    });
    await t.throwsAsync(() => store.put('../escape', 'x'), { instanceOf: InvalidKeyError });
    store.close();
  });

  test(`${kind} store: a 20 MB file streams in (multipart on S3) and reads back identically`, async (t) => {
    const store = open();
    const path = join(tempDir('multipart'), 'big.bin');
    const data = randomBytes(20 * 1024 * 1024);
    writeFileSync(path, data);
    await store.putFile('big/file.bin', path);
    t.true(Buffer.from(await store.get('big/file.bin')).equals(data));
    store.close();
  });

  test(`${kind} store: putIfAbsent creates once, adoptFile moves a file in, getStream streams`, async (t) => {
    const store = open();
    const results = await Promise.all(
      Array.from({ length: 5 }, (_, i) => store.putIfAbsent('once/marker.json', `writer ${i}`)),
    );
    t.is(results.filter(Boolean).length, 1);
    const winner = results.indexOf(true);
    t.is(new TextDecoder().decode(await store.get('once/marker.json')), `writer ${winner}`);
    t.false(await store.putIfAbsent('once/marker.json', 'late'));

    const path = join(tempDir('adopt'), 'file.bin');
    const data = randomBytes(3 * 1024 * 1024);
    writeFileSync(path, data);
    await store.adoptFile('adopted/file.bin', path);
    t.false(existsSync(path));
    const chunks: Buffer[] = [];
    for await (const chunk of await store.getStream('adopted/file.bin')) chunks.push(chunk as Buffer);
    t.true(Buffer.concat(chunks).equals(data));
    await t.throwsAsync(() => store.getStream('adopted/missing.bin'), { instanceOf: ObjectNotFoundError });
    const listed = [];
    for await (const o of store.list('once/')) listed.push(o.key);
    t.deepEqual(listed, ['once/marker.json']);
    store.close();
  });

  test(`${kind} store: racing commits of one shard agree on the first and leave no stray object`, async (t) => {
    const store = open();
    const results = await Promise.all(
      Array.from({ length: 4 }, () =>
        commitShard(store, 'race/s.parquet', randomBytes(2048), 7, { shardId: 's' }),
      ),
    );
    t.is(results.filter((r) => r.created).length, 1);
    for (const r of results) t.deepEqual(r.record, results[0]!.record);
    t.deepEqual(await listUnreferenced(store, 'race/'), []);
    t.truthy(await readCommitted(store, 'race/s.parquet'));
    store.close();
  });

  test(`${kind} store: commits are idempotent, verified, and only markers make shards visible`, async (t) => {
    const store = open();
    const bytes = randomBytes(4096);
    const first = await commitShard(store, 'shards/x.parquet', bytes, 10, { shardId: 'x' });
    t.true(first.created);
    const again = await commitShard(store, 'shards/x.parquet', randomBytes(4096), 10, { shardId: 'x' });
    t.false(again.created);
    t.deepEqual(again.record, first.record);
    t.true(Buffer.from((await readCommitted(store, 'shards/x.parquet'))!.bytes).equals(bytes));
    // A data object without a marker (a crash between the two writes) is invisible.
    await store.put('shards/y.parquet', 'half-written');
    t.is(await findCommit(store, 'shards/y.parquet'), undefined);
    const visible = [];
    for await (const r of listCommitted(store, 'shards/')) visible.push(r.key);
    t.deepEqual(visible, ['shards/x.parquet']);
    // The bytes live in an object named by their checksum; data that disagrees with its marker is refused.
    t.is(first.record.object, `shards/x.${first.record.sha256.slice(0, 16)}.parquet`);
    await store.put(first.record.object!, randomBytes(4096));
    await t.throwsAsync(() => readCommitted(store, 'shards/x.parquet'), {
      instanceOf: CorruptShardError,
      message: /expected sha256/,
    });
    t.truthy(await store.head(markerKey('shards/x.parquet')));
    store.close();
  });
}
