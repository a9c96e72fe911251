/**
 * The model cache verifies what it loads (issue 13, finding 7): a cached model file that no longer
 * matches its record, or is no ONNX at all, is fetched again (published models, from a local HTTP
 * server the test starts) or rebuilt (generated models) once; when that does not help, the load
 * fails permanently with one line naming the file, what was wrong and the command that fixes it,
 * and an embed shard fails after one attempt. The YuNet detector's check says as much.
 */
import test from 'ava';
import { copyFileSync, mkdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import sharp from 'sharp';
import type { EmbedShardInput, EmbedShardResult } from '../activities/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { Embedder } from '../models/embedder.ts';
import { ensureModelFile } from '../models/onnxRuntime.ts';
import { pullBackbone } from '../models/pull.ts';
import { registerBackbone, TINY_BACKBONE_B } from '../models/registry.ts';
import { openYuNet, YUNET_MODEL_PATH, YUNET_SHA256 } from '../models/yunet.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import {
  classifierModel,
  SERVED_FEATURES,
  servedDescriptor,
  sha256Of,
  startModelServer,
  type Served,
} from './helpers/modelServer.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const RUNTIME = { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 } as const;

/** Cuts a file to half its length; returns the bytes it had and the bytes it has now. */
function cutInHalf(path: string): { intact: Buffer; cut: Buffer } {
  const intact = readFileSync(path);
  truncateSync(path, Math.floor(intact.length / 2));
  return { intact, cut: readFileSync(path) };
}

function crops(count: number): Promise<Buffer[]> {
  return Promise.all(
    Array.from({ length: count }, (_, i) =>
      sharp({ create: { width: 30 + i, height: 40, channels: 3, background: { r: 40 * i, g: 90, b: 200 } } })
        .png()
        .toBuffer(),
    ),
  );
}

test('a cut-down cached file of a pulled model is fetched again once from where it was pulled, and loads', async (t) => {
  const files = new Map<string, Served>([['/good.onnx', { body: classifierModel(21) }]]);
  const server = await startModelServer(files);
  const store = openStore(testConfig('s3', 'cache-refetch').store);
  t.teardown(async () => {
    store.close();
    await server.close();
  });
  const d = servedDescriptor(server.base, { name: 'served-refetch' });
  const cacheDir = join(tempDir('cache-refetch'), 'models');
  const pulled = await pullBackbone(d, { cacheDir, store });
  const { intact, cut } = cutInHalf(pulled.path);
  t.is(server.requests.length, 1);

  const logs: string[] = [];
  const embedder = new Embedder({
    ...RUNTIME,
    modelCacheDir: cacheDir,
    threads: 2,
    runBatch: 2,
    log: (line) => logs.push(line),
  });
  t.teardown(() => embedder.close());
  const source = await embedder.source(d);
  t.is(source.modelSha256, sha256Of(intact));
  t.true(readFileSync(pulled.path).equals(intact), 'the cache holds the whole file again');
  t.deepEqual(
    server.requests.map((r) => r.path),
    ['/good.onnx', '/good.onnx'],
    'the pull, then one fetch for both threads',
  );
  t.deepEqual(logs, [
    `backbone served-refetch@1: model file ${pulled.path}: expected sha256 ${sha256Of(intact)}, got ${sha256Of(cut)}; fetching it again from ${server.base}/good.onnx`,
  ]);
  const rows = await embedder.embed(d, await crops(3));
  t.is(rows.embedding.length, 3 * SERVED_FEATURES);
  t.true(rows.embedding.every(Number.isFinite));
  t.is(rows.scores.length, 3 * 8);
});

test('a cut-down cached file of a generated model is rebuilt once, with or without its record', async (t) => {
  const cacheDir = join(tempDir('cache-rebuild'), 'models');
  const path = ensureModelFile(TINY_BACKBONE_B, cacheDir);
  const { intact, cut } = cutInHalf(path);
  // As test/helpers/workers.ts does: the model file copied into a cache without anything beside it.
  const bareCache = join(tempDir('cache-rebuild-bare'), 'models');
  mkdirSync(bareCache, { recursive: true });
  const barePath = join(bareCache, 'affectflow-tiny-b@3.onnx');
  copyFileSync(path, barePath);

  for (const [threads, dir, file, problem] of [
    [1, cacheDir, path, `expected sha256 ${sha256Of(intact)}, got ${sha256Of(cut)}`],
    [
      0,
      bareCache,
      barePath,
      'not a valid ONNX file (onnxruntime: Failed to load model because protobuf parsing failed.)',
    ],
  ] as const) {
    const logs: string[] = [];
    const embedder = new Embedder({
      ...RUNTIME,
      modelCacheDir: dir,
      threads,
      runBatch: 2,
      log: (l) => logs.push(l),
    });
    try {
      const source = await embedder.source(TINY_BACKBONE_B);
      t.is(source.modelSha256, sha256Of(intact), `${threads} threads`);
      t.true(readFileSync(file).equals(intact), `${threads} threads: rebuilt bit for bit`);
      t.deepEqual(logs, [`backbone affectflow-tiny-b@3: model file ${file}: ${problem}; rebuilding it`]);
      const rows = await embedder.embed(TINY_BACKBONE_B, await crops(2));
      t.is(rows.embedding.length, 2 * TINY_BACKBONE_B.embeddingDim);
    } finally {
      await embedder.close();
    }
  }
});

test('when the source keeps serving a bad file, embedShard fails the shard at once with one line naming file, fault and fix', async (t) => {
  const good = classifierModel(22);
  const files = new Map<string, Served>([['/good.onnx', { body: good }]]);
  const server = await startModelServer(files);
  const config = testConfig('s3', 'cache-bad');
  const store = openStore(config.store);
  const d = servedDescriptor(server.base, { name: 'served-bad' });
  await registerBackbone(store, JSON.parse(JSON.stringify(d)), 'test');
  const pulled = await pullBackbone(d, { cacheDir: join(config.stateDir, 'models'), store });
  const { intact, cut } = cutInHalf(pulled.path);
  const served = good.subarray(0, Math.floor(good.length / 2));
  files.set('/good.onnx', { body: served });

  const datasetPath = join(tempDir('cache-bad-data'), 'ds');
  await generateSyntheticDataset(datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: 1,
    validationVideos: 1,
    framesPerVideo: 16,
  });
  const queues = uniqueQueues('cache-bad');
  const attempts: string[] = [];
  const workers = await startTestWorkers(config, store, queues, {
    embed: <A extends object>(activities: A): A => {
      const real = (
        activities as unknown as { embedShard: (i: EmbedShardInput) => Promise<EmbedShardResult> }
      ).embedShard;
      return {
        ...activities,
        embedShard: (input: EmbedShardInput) => {
          attempts.push(input.shardId);
          return real(input);
        },
      };
    },
  });
  t.teardown(async () => {
    await workers.stop();
    store.close();
    await server.close();
  });
  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [d.name],
    shardFrames: 16,
    maxShardsInFlight: 2,
    embedBatchSize: 8,
    maxCropSide: 96,
    taskQueues: activityQueues(queues),
    maxAttempts: 3,
    heartbeatTimeoutSeconds: 30,
    skipTraining: true,
  };
  const result = (await workers.client.workflow.execute('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId: `test-cache-bad-${queues.embed}`,
    args: [input],
    workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
  })) as ExtractionRunResult;

  const message =
    `backbone served-bad@1: model file ${pulled.path}: expected sha256 ${sha256Of(intact)}, got ${sha256Of(cut)}; ` +
    `fetched it again from ${server.base}/good.onnx: expected sha256 ${sha256Of(good)}, got ${sha256Of(served)}; ` +
    "run `affectflow models pull served-bad` on this embed worker's machine (same AFFECTFLOW_HOME), then `affectflow resume <run>`";
  t.is(result.status, 'completed_with_failures');
  t.is(result.shards, 2);
  t.is(result.failedCount, 2);
  for (const failure of result.failedShards) {
    t.is(failure.stage, 'embed');
    t.is(failure.error, `ModelFileError: ${message}`);
  }
  t.is(attempts.length, 2, `one attempt per shard, not ${input.maxAttempts}: ${attempts.join(', ')}`);
  t.deepEqual(new Set(attempts).size, 2);
  t.is(server.requests.length, 2, 'the pull, then one fetch again for the whole worker');
  t.true(readFileSync(pulled.sourcePath).equals(good), 'the file as pulled is kept');
});

test('a damaged YuNet file names itself, the fault and how to restore it', async (t) => {
  const path = join(tempDir('yunet-cut'), 'face_detection_yunet.onnx');
  const bytes = readFileSync(YUNET_MODEL_PATH);
  const cut = bytes.subarray(0, Math.floor(bytes.length / 2));
  writeFileSync(path, cut);
  const error = await t.throwsAsync(openYuNet(RUNTIME, undefined, path), { name: 'DetectorModelError' });
  t.is(
    error.message,
    `face detector ${path}: expected sha256 ${YUNET_SHA256}, got ${sha256Of(cut)}; the YuNet model ships with affectflow as models/assets/face_detection_yunet.onnx: restore it with \`git checkout -- models/assets/face_detection_yunet.onnx\` in the affectflow checkout`,
  );
  const missing = join(tempDir('yunet-missing'), 'face_detection_yunet.onnx');
  const absent = await t.throwsAsync(openYuNet(RUNTIME, undefined, missing), { name: 'DetectorModelError' });
  t.is(
    absent.message,
    `face detector ${missing}: cannot read it (ENOENT: no such file or directory, open '${missing}'); the YuNet model ships with affectflow as models/assets/face_detection_yunet.onnx: restore it with \`git checkout -- models/assets/face_detection_yunet.onnx\` in the affectflow checkout`,
  );
});
