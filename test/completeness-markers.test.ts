/**
 * Completeness is part of the commit (issue 13): readers and the embed stage refuse a shard whose
 * rows disagree with its marker (markers that lie about their rows, on the real S3 server). The
 * decoding side (a SIGKILLed decoder, a cut file, a decoder that exits non-zero) is in
 * test/completeness.test.ts.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { createEmbedActivities } from '../activities/embed.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { Embedder } from '../models/embedder.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { commitShard, listCommitted, type CommitRecord, type FrameCoverage } from '../storage/commit.ts';
import { openStore } from '../storage/objectStore.ts';
import { embeddingRows, readFramesShard } from '../storage/shardReader.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { encodeFramesShard, noFaceRow, type FrameRow } from '../storage/shards.ts';
import { testConfig } from './helpers/env.ts';
import { range } from './helpers/range.ts';

test.serial('readers and the embed stage refuse a shard whose rows disagree with its marker', async (t) => {
  const config = testConfig('s3', 'complete-mismatch');
  const store = openStore(config.store);
  const embedder = new Embedder({
    provider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: join(config.stateDir, 'models'),
    threads: 0,
    runBatch: 0,
  });
  t.teardown(async () => {
    await embedder.close();
    store.close();
  });
  const row = (frame: number): FrameRow => noFaceRow('v', frame);
  // Ten frames stored, a marker that claims twelve (the short-shard bug's marker, in miniature).
  const dataset = `mismatch-${randomUUID().slice(0, 8)}`;
  const framesKey = `frames/${dataset}/cfg/s.parquet`;
  // Frames 1..10 stored under `key`, committed with the given coverage.
  const commitTenFrames = (key: string, coverage: FrameCoverage) =>
    commitShard(
      store,
      key,
      encodeFramesShard(range(1, 10).map(row), { 'affectflow.kind': 'frames' }),
      10,
      { shardId: 's', frames: 10 },
      coverage,
    );
  await commitTenFrames(framesKey, { first: 1, last: 12, expected: 12, decoded: 12, damaged: [] });
  const framesError = await t.throwsAsync(readFramesShard(store, framesKey));
  t.is(framesError.name, 'ShardRowsMismatchError');
  t.is(
    framesError.message,
    `shard ${framesKey}: rows disagree with its commit marker: expected 12 decoded frames, got 10; delete ${framesKey}.commit.json so the next run writes the shard again`,
  );

  // The embed stage reads the frames shard and refuses it: permanent, nothing embedded.
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId: dataset,
    version: 'test',
    root: config.stateDir,
    shardFrames: 12,
    videos: [],
    shards: [{ shardId: 's', video: 'v', split: 'Train', firstFrame: 1, lastFrame: 12 }],
    findings: [],
  };
  await store.put('manifest-mismatch.json', JSON.stringify(manifest));
  const embed = createEmbedActivities({
    store,
    embedder,
    config: { stateDir: config.stateDir },
    log: () => {},
  });
  const embedError = await t.throwsAsync(
    embed.embedShard({
      manifestKey: 'manifest-mismatch.json',
      shardId: 's',
      framesKey,
      backbone: TINY_BACKBONE.name,
      batchSize: 8,
    }),
  );
  t.is((embedError as Error & { type?: string }).type, 'ShardRowsMismatchError');
  t.is(embedError.message, framesError.message);
  const embeddings: CommitRecord[] = [];
  for await (const r of listCommitted(store, `embeddings/${dataset}/`)) embeddings.push(r);
  t.deepEqual(embeddings, []);

  // A marker with fewer decoded frames than expected and no damage to cover the rest.
  const shortKey = `frames/mismatch-${randomUUID().slice(0, 8)}/cfg/short.parquet`;
  await commitTenFrames(shortKey, { first: 1, last: 12, expected: 12, decoded: 10, damaged: [] });
  await t.throwsAsync(readFramesShard(store, shortKey), {
    name: 'ShardRowsMismatchError',
    message: `shard ${shortKey}: rows disagree with its commit marker: expected 12 frames decoded or covered by damage evidence, got 10 decoded and none covered; delete ${shortKey}.commit.json so the next run writes the shard again`,
  });

  // An embedding shard whose marker counts more rows than its file holds.
  const key = `embeddings/mismatch/${randomUUID().slice(0, 8)}/s.parquet`;
  const writer = EmbeddingShardWriter.open(
    store,
    key,
    {
      dataset: 'mismatch',
      split: 'Train',
      backbone: 'b',
      backboneVersion: '1',
      modelSha256: 'x',
      embeddingDim: 4,
      scoresDim: 2,
    },
    { shardId: 's', configHash: 'c', backbone: '{}', preprocessing: 'none' },
  );
  await writer.append(range(1, 10).map(row), new Float32Array(40), new Float32Array(20));
  const { record } = await writer.commit();
  const lying = { ...record, rows: 12 };
  const readAll = async (shard: CommitRecord): Promise<number[]> => {
    const frames: number[] = [];
    for await (const r of embeddingRows(store, [shard], { columns: ['frame'] })) frames.push(r.frame!);
    return frames;
  };
  t.deepEqual(await readAll(record), range(1, 10));
  await t.throwsAsync(readAll(lying), {
    name: 'ShardRowsMismatchError',
    message: `shard ${key}: rows disagree with its commit marker: expected 12 rows, got 10; delete ${key}.commit.json so the next run writes the shard again`,
  });
});
