/**
 * Keys that cover every input that changes bytes (issue 13, findings 2 and 3): run ids hash every
 * nested setting and the store; each store's workers poll queues of their own; a face-setting
 * change gives new frames and embedding shards through the real activities; and the
 * preprocessing output is pinned to the version the embedding keys carry (golden tensors).
 */
import test from 'ava';
import { MockActivityEnvironment } from '@temporalio/testing';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { NativeConnection } from '@temporalio/worker';
import sharp from 'sharp';
import { createEmbedPoolActivities, createFramesPoolActivities } from '../activities/index.ts';
import { extractionWorkflowId } from '../cli/run.ts';
import * as configuration from '../config/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import * as preprocess from '../media/preprocess.ts';
import { Embedder } from '../models/embedder.ts';
import { getBackbone, TINY_BACKBONE } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import { createPoolWorker, installQuietRuntime, type WorkerRole } from '../workers/pools.ts';
import * as taskQueues from '../workflows/taskQueues.ts';
import type { ExtractionRunInput } from '../workflows/index.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import { prebuildGeneratedModels } from './helpers/workers.ts';

const RUN: ExtractionRunInput = {
  datasetPath: '/data/ds',
  backbones: [TINY_BACKBONE.name],
  shardFrames: 64,
  maxShardsInFlight: 8,
  embedBatchSize: 32,
  maxCropSide: 256,
  expr: { epochs: 10 },
  detector: { scoreThreshold: 0.6 },
};

test('run ids: inputs that differ only in a nested field give different runs; key order does not matter', (t) => {
  const store = 's3://bucket/prefix';
  const base = extractionWorkflowId(RUN, store);
  t.regex(base, /^extract-[0-9a-f]{16}$/);
  t.not(extractionWorkflowId({ ...RUN, expr: { epochs: 40 } }, store), base, 'expr.epochs');
  t.not(extractionWorkflowId({ ...RUN, detector: { scoreThreshold: 0.8 } }, store), base, 'detector');
  t.not(extractionWorkflowId({ ...RUN, windows: { EXPR: 5 } }, store), base, 'windows');
  t.not(extractionWorkflowId({ ...RUN, taskQueues: { embed: 'gpu' } }, store), base, 'taskQueues');
  t.not(extractionWorkflowId({ ...RUN, sampling: { every: 2 } }, store), base, 'sampling');
  const reordered = {
    detector: { scoreThreshold: 0.6 },
    expr: { epochs: 10 },
    ...Object.fromEntries(Object.entries(RUN).reverse()),
  } as ExtractionRunInput;
  t.is(extractionWorkflowId(reordered, store), base, 'the same inputs in another key order');
});

test('stores: two stores give different run ids and different task queues; one store named two ways does not', (t) => {
  const s3 = (uri: string, endpoint?: string) =>
    configuration.storeIdentity({ uri, s3Endpoint: endpoint, s3Region: 'us-east-1', s3ForcePathStyle: true });
  const a = s3('s3://bucket/a', 'http://127.0.0.1:8333');
  const b = s3('s3://bucket/b', 'http://127.0.0.1:8333');
  t.is(a.uri, 's3://bucket/a@http://127.0.0.1:8333');
  t.deepEqual(s3('s3://bucket/a/', 'http://127.0.0.1:8333/'), a, 'trailing slashes');
  t.notDeepEqual(s3('s3://bucket/a', 'http://127.0.0.1:9000'), a, 'another S3 server');
  const local = configuration.storeIdentity({
    uri: '/srv/store/',
    s3Endpoint: undefined,
    s3Region: 'x',
    s3ForcePathStyle: false,
  });
  t.is(local.uri, 'file:///srv/store');
  t.deepEqual(
    configuration.storeIdentity({
      uri: 'file:///srv/x/../store',
      s3Endpoint: undefined,
      s3Region: 'x',
      s3ForcePathStyle: false,
    }),
    local,
  );

  t.not(extractionWorkflowId(RUN, a.uri), extractionWorkflowId(RUN, b.uri));
  const qa = taskQueues.storeTaskQueues(a.tag);
  const qb = taskQueues.storeTaskQueues(b.tag);
  t.regex(a.tag, /^[0-9a-f]{12}$/);
  t.is(qa.frames, `affectflow-frames-${a.tag}`);
  for (const role of ['orchestrator', 'frames', 'embed', 'train'] as const) t.not(qa[role], qb[role]);
  const shown = configuration.describeConfig({
    ...configuration.loadConfig({ AFFECTFLOW_HOME: '/srv' }, '/'),
    store: {
      uri: 's3://bucket/a',
      s3Endpoint: 'http://127.0.0.1:8333',
      s3Region: 'x',
      s3ForcePathStyle: true,
    },
  });
  t.like(shown, { storeIdentity: a.uri, taskQueueSuffix: a.tag }, '`affectflow config` shows them');
});

test('workers of one store poll only that store’s queues on the real server', async (t) => {
  installQuietRuntime();
  const configA = testConfig('s3', 'keys-queues-a');
  const configB = testConfig('s3', 'keys-queues-b');
  const store = openStore(configA.store);
  const connection = await NativeConnection.connect({ address: testServices.temporalAddress() });
  const role: WorkerRole = 'train';
  const pool = await createPoolWorker(role, { config: configA, connection, store, log: () => {} });
  const running = pool.worker.run();
  t.teardown(async () => {
    pool.worker.shutdown();
    await running;
    await pool.dispose();
    await connection.close();
    store.close();
  });
  const pollers = async (queue: string): Promise<number> => {
    const response = await connection.workflowService.describeTaskQueue({
      namespace: configA.temporalNamespace,
      taskQueue: { name: queue },
      taskQueueType: 2, // activity
    });
    return response.pollers?.length ?? 0;
  };
  const own = taskQueues.storeTaskQueues(configuration.storeIdentity(configA.store).tag)[role];
  const other = taskQueues.storeTaskQueues(configuration.storeIdentity(configB.store).tag)[role];
  let seen = 0;
  for (let i = 0; i < 300 && seen === 0; i++) {
    seen = await pollers(own);
    if (seen === 0) await new Promise((resolve) => setImmediate(resolve));
  }
  t.is(seen, 1, `store A's train worker polls ${own}`);
  t.is(await pollers(other), 0, `nobody polls store B's ${other}`);
  t.is(await pollers('affectflow-train'), 0, 'nobody polls the unsuffixed default queue');
});

test('a face-setting change gives new frames and embedding shards through the real activities', async (t) => {
  const config = testConfig('s3', 'keys-faces');
  const store = openStore(config.store);
  const datasetPath = join(tempDir('keys-faces-data'), 'ds');
  await generateSyntheticDataset(datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: 1,
    validationVideos: 1,
    framesPerVideo: 6,
  });
  prebuildGeneratedModels(config.stateDir);
  const embedder = new Embedder({
    provider: 'cpu',
    threads: 0,
    intraOpThreads: 1,
    interOpThreads: 1,
    runBatch: 8,
    modelCacheDir: join(config.stateDir, 'models'),
  });
  t.teardown(async () => {
    await embedder.close();
    store.close();
  });
  const deps = { store, config, embedder, log: () => {} };
  const frames = createFramesPoolActivities(deps);
  const embed = createEmbedPoolActivities(deps);
  const { manifestKey } = await frames.manifestDataset({ datasetPath, shardFrames: 6 });
  const backbones = [TINY_BACKBONE.name];
  const wholeFrame = { maxCropSide: 64, faceSource: 'whole-frame' } as const;
  const yunet = { maxCropSide: 64, faceSource: 'yunet' } as const;
  const plan = (settings: object) =>
    frames.planShardPage({ manifestKey, offset: 0, limit: 10, backbones, frames: settings } as Parameters<
      typeof frames.planShardPage
    >[0]);

  const first = await plan(wholeFrame);
  t.is(first.todo.length, 2);
  const shardId = first.todo[0]!.shardId;
  const extracted = await frames.extractFrames({ manifestKey, shardId, ...wholeFrame });
  const embedded = await embed.embedShard({
    manifestKey,
    shardId,
    framesKey: extracted.framesKey,
    backbone: TINY_BACKBONE.name,
    batchSize: 8,
  });
  t.false(embedded.reused);
  t.is((await plan(wholeFrame)).skipped, 1, 'the whole-frame shard is committed for whole-frame runs');

  for (const settings of [
    yunet,
    { ...yunet, detector: { scoreThreshold: 0.8 } },
    { ...wholeFrame, sampling: { every: 2 } },
    { ...wholeFrame, maxCropSide: 96 },
  ]) {
    const page = await plan(settings);
    t.is(page.skipped, 0, `${JSON.stringify(settings)}: nothing committed under these settings`);
    t.true(
      page.todo.some((s) => s.shardId === shardId),
      JSON.stringify(settings),
    );
  }

  const detected = await frames.extractFrames({ manifestKey, shardId, ...yunet });
  t.false(detected.reused, 'YuNet runs: the whole-frame rows are not reused');
  t.not(detected.framesKey, extracted.framesKey);
  const reembedded = await embed.embedShard({
    manifestKey,
    shardId,
    framesKey: detected.framesKey,
    backbone: TINY_BACKBONE.name,
    batchSize: 8,
  });
  t.false(reembedded.reused, 'the YuNet crops are embedded, not the whole-frame embeddings reused');
  t.not(reembedded.embeddingsKey, embedded.embeddingsKey);
  t.is((await plan(yunet)).skipped, 1, 'now committed for YuNet runs too');
  const thresholdPage = await plan({ ...yunet, detector: { scoreThreshold: 0.8 } });
  t.is(thresholdPage.skipped, 0, 'another detector threshold is another key');
  const downscalePage = await plan({ ...yunet, detector: { downscale: 'linear' } });
  t.is(
    downscalePage.skipped,
    0,
    "another detector downscale (the 'linear' one before 2026-12) is another key",
  );
  t.is((await plan(wholeFrame)).skipped, 1, 'the whole-frame shard stays valid');

  // A downloaded backbone never pulled with this store has no model sha256 to key with: planning
  // lists its shards, embedding fails them permanently, saying what to do.
  const unpulled = getBackbone('enet_b0_8_best_vgaf');
  const page = await frames.planShardPage({
    manifestKey,
    offset: 0,
    limit: 10,
    backbones: [unpulled.name],
    frames: wholeFrame,
  });
  t.is(page.todo.length, 2);
  // Planning heartbeats per shard checked: a page of commit lookups on a loaded machine or a slow
  // store must not outlast the heartbeat timeout in silence.
  const activityEnv = new MockActivityEnvironment();
  let beats = 0;
  activityEnv.on('heartbeat', () => beats++);
  await activityEnv.run((input: Parameters<typeof frames.planShardPage>[0]) => frames.planShardPage(input), {
    manifestKey,
    offset: 0,
    limit: 10,
    backbones: [TINY_BACKBONE.name],
    frames: wholeFrame,
  });
  t.is(beats, 2 + 2, 'one before and one after the manifest read, one per shard');
  const failure = await t.throwsAsync(
    embed.embedShard({
      manifestKey,
      shardId,
      framesKey: extracted.framesKey,
      backbone: unpulled.name,
      batchSize: 8,
    }),
    { instanceOf: ApplicationFailure },
  );
  t.is(failure.type, 'ModelChecksumUnknownError');
  t.true(failure.nonRetryable);
  t.is(
    failure.message,
    `backbone enet_b0_8_best_vgaf@1: no sha256 of its model file, neither in its descriptor nor in store ${store.uri} (registry/checksums/enet_b0_8_best_vgaf@1.sha256); run \`affectflow models pull enet_b0_8_best_vgaf\` with this store (AFFECTFLOW_STORE), then \`affectflow resume <run>\``,
  );
});

/**
 * sha256 of the float32 tensors that preprocessing makes of three fixed crops (a JPEG portrait, a
 * generated 83x61 PNG and a generated 17x23 PNG, upsampled) for each preprocessing variant in use,
 * recorded with the version they belong to. A change of the output without a bump of
 * PREPROCESS_VERSION (media/preprocess.ts) fails here: bump it, then record the new hashes.
 */
const GOLDEN = {
  version: 'pil-bilinear-lut/1',
  tensors: {
    'enet_b0_8_best_vgaf (224, ImageNet)': '035616f346c139aa58286eaf5454395a488cc126c1669e9fc2736ac536a33c3f',
    'enet_b2_8 (260, ImageNet)': '346c818d495b0e027da22dbb5751cdef1bf1b8e3f8251b24b8bd80c2217f801e',
    'mbf_va_mtl (112, 0.5/0.5)': 'd9d05018c64ab829526da9a6d1a3c75c924645193e2373925ce1ac5f0599dabb',
    'affectflow-tiny (64, ImageNet)': 'bd9c5c3d1d979233bdad3322212f0ae912c1dee1957eb0b6ffd44483da50f1cf',
  },
} as const;

async function generatedPng(width: number, height: number, seed: number): Promise<Uint8Array> {
  const rgb = new Uint8Array(width * height * 3);
  let a = seed;
  for (let i = 0; i < rgb.length; i++) {
    a = (a * 1103515245 + 12345) >>> 0;
    rgb[i] = i % 3 === 0 ? (i * 7) & 0xff : (a >>> 24) & 0xff;
  }
  const png = await sharp(rgb, { raw: { width, height, channels: 3 } })
    .png()
    .toBuffer();
  return new Uint8Array(png.buffer, png.byteOffset, png.length);
}

test('golden tensors: the preprocessing output is the one recorded for PREPROCESS_VERSION', async (t) => {
  const crops = [
    new Uint8Array(readFileSync(join(import.meta.dirname, 'fixtures', 'faces', 'portrait-1.jpg'))),
    await generatedPng(83, 61, 5),
    await generatedPng(17, 23, 9),
  ];
  const seen: Record<string, string> = {};
  for (const name of ['enet_b0_8_best_vgaf', 'enet_b2_8', 'mbf_va_mtl', TINY_BACKBONE.name]) {
    const descriptor = getBackbone(name);
    const tensor = await preprocess.preprocessCrops(crops, descriptor);
    const label = Object.keys(GOLDEN.tensors).find((k) => k.startsWith(`${name} `))!;
    seen[label] = createHash('sha256')
      .update(new Uint8Array(tensor.buffer, tensor.byteOffset, tensor.byteLength))
      .digest('hex');
  }
  t.log(JSON.stringify(seen, null, 2));
  t.is(
    preprocess.PREPROCESS_VERSION,
    GOLDEN.version,
    'the recorded tensors belong to another preprocessing version',
  );
  t.deepEqual(
    seen,
    GOLDEN.tensors,
    'the preprocessing output changed: bump PREPROCESS_VERSION in media/preprocess.ts and record the new hashes here',
  );
});
