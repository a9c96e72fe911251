/**
 * Datasets in object storage (issue 16), through the real CLI against the test SeaweedFS, with
 * external workers whose AFFECTFLOW_HOME holds no dataset: `affectflow run s3://bucket/prefix`
 * after `affectflow datasets push`. A dataset first run from disk and then from the store reuses
 * every committed shard (same dataset id, same shard ids); a dataset that only ever lived in the
 * store (photos, a frame folder, a video that cannot be read) runs to the end, manifested as the
 * same folder would be locally, and leaves the frames workers' scratch folder empty.
 */
import test from 'ava';
import { randomBytes, randomUUID } from 'node:crypto';
import {
  appendFileSync,
  copyFileSync,
  existsSync,
  readdirSync,
  readFileSync,
  rmSync,
  watch,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { storeIdentity, type AffectflowConfig } from '../config/index.ts';
import { buildManifest } from '../datasets/index.ts';
import { SCRATCH_FOLDER } from '../datasets/scratch.ts';
import { COPY_KEEP_SECONDS, S3DatasetSource } from '../datasets/sourceS3.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import { storeTaskQueues } from '../workflows/taskQueues.ts';
import { affectflow, cliHome } from './helpers/cli.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import { startTestWorkers, type TestWorkers } from './helpers/workers.ts';

const FACES = join(import.meta.dirname, 'fixtures', 'faces');

const RUN_FLAGS = [
  '--shard-frames',
  '8',
  '--face-source',
  'whole-frame',
  '--max-crop-side',
  '64',
  '--epochs',
  '3',
  '--hidden',
  '8',
  '--head-batch-size',
  '32',
  '--external-workers',
];

/** Workers of every pool on the store's own queues, in a state directory that holds no dataset. */
async function externalWorkers(
  t: { teardown(fn: () => Promise<void> | void): void },
  label: string,
): Promise<{
  config: AffectflowConfig;
  store: ObjectStore;
  workers: TestWorkers;
  env: Record<string, string>;
}> {
  const config = testConfig('s3', label);
  const store = openStore(config.store);
  const workers = await startTestWorkers(config, store, storeTaskQueues(storeIdentity(config.store).tag));
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  return {
    config,
    store,
    workers,
    env: { AFFECTFLOW_HOME: cliHome(`${label}-cli`), AFFECTFLOW_STORE: config.store.uri },
  };
}

async function keys(store: ObjectStore, prefix: string): Promise<string[]> {
  const out: string[] = [];
  for await (const o of store.list(prefix)) out.push(o.key);
  return out;
}

/**
 * What is left in a scratch folder once the frames workers' kept copies are removed (they keep a
 * copy no shard holds for COPY_KEEP_SECONDS): waits on the folder's own changes, at most a minute.
 */
async function scratchEmptied(dir: string): Promise<string[]> {
  const left = (): string[] => (existsSync(dir) ? readdirSync(dir) : []);
  if (left().length === 0) return [];
  await new Promise<void>((resolve) => {
    const watcher = watch(dir);
    const done = (): void => {
      clearTimeout(deadline);
      watcher.close();
      resolve();
    };
    const deadline = setTimeout(done, (COPY_KEEP_SECONDS + 50) * 1000);
    watcher.on('change', () => {
      if (left().length === 0) done();
    });
    watcher.on('error', done);
    // Removed between the first look and the watch: no change would come.
    if (left().length === 0) done();
  });
  return left();
}

const summaryOf = (stdout: string): string =>
  stdout.split('\n').find((l) => /^run: \d+ shards;/.test(l)) ?? stdout;

test('a dataset pushed after a run from disk reuses every committed shard when run from the store', async (t) => {
  const root = join(tempDir('s3ds-reuse'), 'sample');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    framesPerVideo: 16,
  });
  const { store, env, config } = await externalWorkers(t, 's3ds-reuse');
  const fromDisk = await affectflow(['run', root, ...RUN_FLAGS], env);
  t.is(fromDisk.code, 0, fromDisk.stderr);
  const shards = Number(/^run: (\d+) shards; 0 already committed/.exec(summaryOf(fromDisk.stdout))?.[1]);
  t.true(shards > 0, summaryOf(fromDisk.stdout));
  const framesBefore = await keys(store, 'frames/');

  const target = `s3://${testServices.s3Bucket()}/s3ds-${randomUUID()}/sample`;
  const push = await affectflow(['datasets', 'push', root, target], env);
  t.is(push.code, 0, push.stderr);
  rmSync(root, { recursive: true });

  const fromStore = await affectflow(['run', target, ...RUN_FLAGS], env);
  t.is(fromStore.code, 0, fromStore.stderr);
  t.true(
    summaryOf(fromStore.stdout).startsWith(`run: ${shards} shards; ${shards} already committed and skipped;`),
    summaryOf(fromStore.stdout),
  );
  t.deepEqual(await keys(store, 'frames/'), framesBefore, 'no frames shard written again');
  t.deepEqual(await scratchEmptied(join(config.stateDir, SCRATCH_FOLDER)), [], 'no scratch copy left behind');
});

test('photos, a frame folder and a broken video that live only in the store run to the end; the scratch folder is left empty', async (t) => {
  const root = join(tempDir('s3ds-only'), 'mixed');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    layout: 'generic',
    frameFolders: true,
    trainVideos: 1,
    validationVideos: 1,
    framesPerVideo: 12,
  });
  copyFileSync(join(FACES, 'portrait-1.jpg'), join(root, 'anna.jpg'));
  writeFileSync(join(root, 'broken.mp4'), 'not a video at all');
  appendFileSync(join(root, 'videos.csv'), 'anna,anna.jpg,Test\nbroken,broken.mp4,Test\n');
  const local = (await buildManifest(root, { shardFrames: 8 })).manifest;
  const { store, env, config } = await externalWorkers(t, 's3ds-only');
  const target = `s3://${testServices.s3Bucket()}/s3ds-${randomUUID()}/mixed`;
  const push = await affectflow(['datasets', 'push', root, target], env);
  t.is(push.code, 0, push.stderr);
  rmSync(root, { recursive: true });

  const run = await affectflow(['run', target, ...RUN_FLAGS], env);
  t.is(run.code, 0, run.stderr);
  t.true(
    summaryOf(run.stdout).startsWith(`run: ${local.shards.length} shards; 0 already committed`),
    run.stdout,
  );
  // The store's manifest is the local folder's: same dataset id, version and shard ids.
  const stored = await keys(store, `datasets/${local.datasetId}/manifests/`);
  t.deepEqual(stored, [`datasets/${local.datasetId}/manifests/${local.version}.json`]);
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(stored[0]!))) as typeof local;
  t.is(manifest.root, target);
  t.deepEqual(
    manifest.shards.map((s) => s.shardId),
    local.shards.map((s) => s.shardId),
  );
  t.deepEqual(
    manifest.videos.map((v) => [v.name, v.source.kind, v.contentHash]),
    local.videos.map((v) => [v.name, v.source.kind, v.contentHash]),
  );
  t.deepEqual(manifest.findings, local.findings, 'the same findings, named the same');
  t.true(
    local.findings.some((f) => f.startsWith('error: video broken.mp4: cannot be probed, left out: ')),
    local.findings.join('\n'),
  );
  t.deepEqual(manifest.videos.map((v) => v.source.kind).sort(), ['frames', 'frames', 'image']);
  const frames = await keys(store, `frames/${local.datasetId}/`);
  t.is(frames.filter((k) => k.endsWith('.commit.json')).length, local.shards.length);
  t.deepEqual(await scratchEmptied(join(config.stateDir, SCRATCH_FOLDER)), [], 'no scratch copy left behind');
});

test('shards of one video share one download of it; a copy no shard holds is kept a while, then removed', async (t) => {
  const config = testConfig('s3', 's3ds-copies');
  const root = `s3://${testServices.s3Bucket()}/s3ds-${randomUUID()}/copies`;
  let gets = 0;
  /** The dataset's store, counting downloads. */
  const countingStore = (): ObjectStore => {
    const store = openStore({ ...config.store, uri: root });
    return new Proxy(store, {
      get(target, prop) {
        const value = Reflect.get(target, prop, target) as unknown;
        if (prop === 'getStream') gets++;
        return typeof value === 'function' ? (value as (...a: unknown[]) => unknown).bind(target) : value;
      },
    });
  };
  const videos = ['a', 'b', 'c', 'd'].map((name) => ({
    path: `videos/${name}.mp4`,
    bytes: randomBytes(200_000),
  }));
  const writer = openStore({ ...config.store, uri: root });
  t.teardown(() => writer.close());
  for (const v of videos) await writer.put(v.path, v.bytes);
  const [a, b, c, d] = videos as [
    (typeof videos)[0],
    (typeof videos)[0],
    (typeof videos)[0],
    (typeof videos)[0],
  ];

  const source = await S3DatasetSource.open(root, countingStore(), config.stateDir, false);
  const [first, second] = await Promise.all([source.localCopy(a.path), source.localCopy(a.path)]);
  t.is(first.path, second.path, 'two shards at once read one copy');
  t.is(gets, 1);
  t.deepEqual(readFileSync(first.path), a.bytes);
  await first.release();
  t.true(existsSync(first.path), 'still held by the other shard');
  await second.release();
  const next = await source.localCopy(a.path);
  t.is(next.path, first.path, 'the next shard of the video reads the kept copy');
  t.is(gets, 1);
  await next.release();
  // Past KEPT_IDLE copies no shard holds, the least recently used goes.
  for (const v of [b, c, d]) await (await source.localCopy(v.path)).release();
  t.is(gets, 4);
  t.false(existsSync(first.path), 'the oldest kept copy is removed');
  t.is(readdirSync(join(config.stateDir, SCRATCH_FOLDER)).length, 2, 'two copies kept');
  source.close();
  t.deepEqual(
    await scratchEmptied(join(config.stateDir, SCRATCH_FOLDER)),
    [],
    'close removes the kept copies',
  );

  const eager = await S3DatasetSource.open(root, countingStore(), config.stateDir, false, 0);
  const once = await eager.localCopy(a.path);
  await once.release();
  t.false(existsSync(once.path), 'kept for 0 s: removed on release');
  eager.close();
});
