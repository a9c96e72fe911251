/**
 * The three limits a full-dataset run meets and the small tests never did: the manifest activity's
 * result at Aff-Wild2 size stays under Temporal's 2 MB payload limit; the manifest activity
 * heartbeats per video, so a manifest longer than the heartbeat timeout is not timed out; and the
 * run's history does not grow with wall time.
 */
import test from 'ava';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import protos from '@temporalio/proto';
import { createManifestActivities } from '../activities/manifest.ts';
import { AFFWILD2_SHAPE, writeScaleDataset } from '../bench/scaleDataset.ts';
import { runReportingScale } from '../bench/orchestrationScale.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { LocalDirStore, openStore } from '../storage/objectStore.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import type { ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import { overrideStore } from './helpers/storeOverride.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const PAYLOAD_LIMIT = 2 * 1024 * 1024;

/** Bytes of a value as Temporal sends it: the default payload converter's Payload, encoded. */
function payloadBytes(value: unknown): number {
  const payload = defaultPayloadConverter.toPayload(value);
  return protos.temporal.api.common.v1.Payload.encode(payload).finish().length;
}

test('manifestDataset at Aff-Wild2 size (550 videos, 2.9 M frames, 64-frame shards) returns a payload under 2 MB', async (t) => {
  // Minutes of work with no assertion in between: on a loaded machine (two busy processes per
  // core) more than ava's 10-minute inactivity limit, which this test's own limit replaces.
  t.timeout(30 * 60_000);
  // 16-pixel frames: the manifest probes (packet count) and hashes, it never decodes.
  const root = await writeScaleDataset(join(tmpdir(), 'affectflow-test-affwild2-shape'), {
    ...AFFWILD2_SHAPE,
    size: 16,
    labels: false,
  });
  const storeRoot = mkdtempSync(join(tmpdir(), 'affectflow-scale-limits-store-'));
  const store = new LocalDirStore(storeRoot);
  t.teardown(() => {
    store.close();
    rmSync(storeRoot, { recursive: true, force: true });
  });
  const activity = createManifestActivities({
    store,
    config: { stateDir: storeRoot },
    log: () => {},
  });
  const result = await activity.manifestDataset({ datasetPath: root, shardFrames: 64 });
  const bytes = payloadBytes(result);
  t.true(bytes < PAYLOAD_LIMIT, `manifestDataset result is ${bytes} bytes`);
  t.true(bytes < 10_000, `counts and keys only (${bytes} bytes)`);
  t.is(result.videos, 550);
  t.is(result.shards, 550 * Math.ceil(5_300 / 64));
  t.is(result.frames, 550 * 5_300);
});

test('manifestDataset heartbeats per video: a manifest longer than the heartbeat timeout completes in one attempt', async (t) => {
  const config = testConfig('local', 'manifest-heartbeat');
  const datasetPath = join(tempDir('manifest-heartbeat-data'), 'ds');
  await generateSyntheticDataset(datasetPath, { ...TINY_SYNTHETIC, trainVideos: 2, validationVideos: 1 });
  const real = openStore(config.store);
  // Each label object takes 3 s to store (a slow store, as a long video is slow to hash): three
  // videos with three tasks each is 27 s, almost three times the 10 s heartbeat timeout. (A
  // shorter timeout is missed on a loaded machine by an event loop that stalls.)
  const store = overrideStore(real, {
    async put(key, body) {
      if (key.includes('/labels/')) await sleep(3_000);
      return real.put(key, body);
    },
  });
  const queues = uniqueQueues('manifest-hb');
  const workers = await startTestWorkers(config, store, queues);
  t.teardown(async () => {
    await workers.stop();
    real.close();
  });
  const workflowId = `test-manifest-hb-${queues.frames}`;
  const result = (await workers.client.workflow.execute('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId,
    args: [
      {
        datasetPath,
        backbones: [TINY_BACKBONE.name],
        shardFrames: 48,
        maxShardsInFlight: 2,
        embedBatchSize: 16,
        maxCropSide: 96,
        faceSource: 'whole-frame',
        skipTraining: true,
        taskQueues: activityQueues(queues),
        heartbeatTimeoutSeconds: 10,
        maxAttempts: 2,
      },
    ],
  })) as ExtractionRunResult;
  t.is(result.shards, 3);
  const history = await workers.client.workflow.getHandle(workflowId).fetchHistory();
  const events = history.events ?? [];
  const scheduled = events.find(
    (e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'manifestDataset',
  );
  const id = scheduled?.eventId;
  const started = events.find((e) => e.activityTaskStartedEventAttributes?.scheduledEventId?.equals(id ?? 0));
  const completed = events.find((e) =>
    e.activityTaskCompletedEventAttributes?.scheduledEventId?.equals(id ?? 0),
  );
  t.is(started?.activityTaskStartedEventAttributes?.attempt, 1, 'manifestDataset ran once');
  const seconds = (Number(completed?.eventTime?.seconds ?? 0) - Number(started?.eventTime?.seconds ?? 0)) | 0;
  t.true(seconds >= 20, `manifestDataset ran ${seconds} s, twice the 10 s heartbeat timeout`);
});

test('the run history does not grow with wall time: a slow run sends as many signals as a fast one', async (t) => {
  const shape = {
    address: testServices.temporalAddress(),
    shards: 40,
    partitionShards: 20,
    pageShards: 20,
    window: 2,
    partitionsInFlight: 2,
  };
  const fast = await runReportingScale(shape);
  // Ten rounds of two 0.6 s activities per partition: 12 s a page, where the 5 s progress
  // signals of 00c7023 added about two signals per partition.
  const slow = await runReportingScale({ ...shape, activityDelayMs: 600 });
  t.is(slow.result.embeddingShardsWritten, 40);
  t.true(slow.seconds > 10, `slow run took ${slow.seconds.toFixed(1)} s`);
  t.is(slow.runSignals, fast.runSignals, 'signals to the run: one per page, whatever the time');
  t.is(slow.runSignals, 2);
  // Workflow tasks batch differently with timing; the signals and children do not.
  t.true(
    slow.runHistoryLength <= fast.runHistoryLength + 6,
    `run history ${slow.runHistoryLength} events slow, ${fast.runHistoryLength} fast`,
  );
});
