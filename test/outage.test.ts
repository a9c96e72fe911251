/**
 * Finding 1 of issue 15: a one-minute object-store outage in the middle of a run fails no shard.
 * The store is a SeaweedFS of this test's own (own port and data folder, the suite's credentials),
 * so stopping it hurts no other test; it is stopped after the first frames shard commits, kept
 * down for 60 s while shards wait on retries, and started again on the same port and data.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { retryState, type RetryState } from '../cli/retrying.ts';
import { loadConfig } from '../config/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { DEV_BUCKET, startS3DevServer } from '../infra/devstack.ts';
import { freePorts, stopService } from '../infra/services.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testServices } from './helpers/env.ts';
import { activityQueues, aroundExtractFrames, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const OUTAGE_SECONDS = 60;

/** A SeaweedFS of this test's own that takes the suite's S3 credentials (from the environment). */
async function ownS3(
  stateDir: string,
): Promise<{ endpoint: string; start(): Promise<void>; stop(): Promise<void> }> {
  const [port, unused] = await freePorts(2);
  mkdirSync(join(stateDir, 's3'), { recursive: true, mode: 0o700 });
  writeFileSync(
    join(stateDir, 's3', 'credentials.json'),
    JSON.stringify({
      accessKeyId: process.env['AWS_ACCESS_KEY_ID'],
      secretAccessKey: process.env['AWS_SECRET_ACCESS_KEY'],
    }),
    { mode: 0o600 },
  );
  const options = { stateDir, temporalPort: unused!, temporalUiPort: unused!, s3Port: port!, ui: false };
  return {
    endpoint: `http://127.0.0.1:${port}`,
    start: async () => {
      await startS3DevServer(options);
    },
    stop: async () => {
      await stopService(join(stateDir, 's3'), 'seaweedfs');
    },
  };
}

test('a 60 s S3 outage mid-run: shards wait on retries (counted), then the run completes with no failed shard', async (t) => {
  const stateDir = tempDir('outage');
  const s3 = await ownS3(stateDir);
  await s3.start();
  t.teardown(() => s3.stop());
  const config = loadConfig(
    {
      TEMPORAL_ADDRESS: testServices.temporalAddress(),
      AFFECTFLOW_STORE: `s3://${DEV_BUCKET}/outage`,
      AFFECTFLOW_S3_ENDPOINT: s3.endpoint,
      AWS_REGION: 'us-east-1',
      AFFECTFLOW_HOME: stateDir,
    },
    stateDir,
  );
  const datasetPath = join(stateDir, 'ds');
  await generateSyntheticDataset(datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    framesPerVideo: 32,
  });
  const store = openStore(config.store);
  const queues = uniqueQueues('outage');
  let firstCommitted: () => void = () => {};
  const committed = new Promise<void>((resolve) => (firstCommitted = resolve));
  const workers = await startTestWorkers(config, store, queues, {
    frames: aroundExtractFrames(async (real, input) => {
      const result = await real(input);
      firstCommitted();
      return result;
    }),
  });
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: 8,
    maxShardsInFlight: 1,
    embedBatchSize: 8,
    maxCropSide: 64,
    faceSource: 'whole-frame',
    expr: { epochs: 2, batchSize: 32, hidden: 8 },
    taskQueues: activityQueues(queues),
  };
  const workflowId = `test-outage-${queues.frames}`;
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId,
    args: [input],
  });

  await committed;
  await s3.stop();
  const stoppedAt = Date.now();
  // Shards fail their attempts while the store is away and wait on retries: Temporal counts them.
  let seen: RetryState = { waiting: 0, worst: undefined };
  while (seen.waiting === 0) {
    seen = await retryState(workers.client, workflowId);
    if (seen.waiting === 0) await sleep(500);
  }
  t.regex(seen.worst ?? '', /^(extractFrames|embedShard|planShardPage) attempt \d+: /);
  await sleep(Math.max(0, OUTAGE_SECONDS * 1000 - (Date.now() - stoppedAt)));
  const during = await retryState(workers.client, workflowId);
  t.true(during.waiting >= 1, `a shard still waits on a retry after ${OUTAGE_SECONDS} s: ${during.worst}`);
  await s3.start();
  t.log(`store down for ${((Date.now() - stoppedAt) / 1000).toFixed(0)} s; retried most: ${during.worst}`);

  const result = (await handle.result()) as ExtractionRunResult;
  t.is(result.status, 'completed', JSON.stringify(result.failedShards));
  t.is(result.failedCount, 0);
  t.is(result.shards, 12);
  t.is(result.embeddingShardsWritten + result.embeddingShardsReused, 12);
  t.is(typeof result.scores['EXPR'], 'number');
});
