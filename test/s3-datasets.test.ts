/**
 * Datasets in object storage (issue 16), through the real CLI against the test SeaweedFS, with
 * external workers whose AFFECTFLOW_HOME holds no dataset: `affectflow run s3://bucket/prefix`
 * after `affectflow datasets push`. A dataset first run from disk and then from the store reuses
 * every committed shard (same dataset id, same shard ids); a dataset that only ever lived in the
 * store (photos, a frame folder, a video that cannot be read) runs to the end, manifested as the
 * same folder would be locally, and leaves the frames workers' scratch folder empty.
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { appendFileSync, copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { storeIdentity, type AffectflowConfig } from '../config/index.ts';
import { buildManifest } from '../datasets/index.ts';
import { SCRATCH_FOLDER } from '../datasets/scratch.ts';
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
  t.false(
    existsSync(join(config.stateDir, SCRATCH_FOLDER)) &&
      readdirSync(join(config.stateDir, SCRATCH_FOLDER)).length > 0,
  );
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
  const scratch = join(config.stateDir, SCRATCH_FOLDER);
  t.deepEqual(existsSync(scratch) ? readdirSync(scratch) : [], [], 'no scratch copy left behind');
});
