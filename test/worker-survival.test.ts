/**
 * Build item 3 of issue 15: a worker process told to stop (SIGTERM) in the middle of an activity
 * lets it finish within the grace period, then exits 0; nothing is redone. A process whose pools
 * cannot start (the store unreachable) is left holding nothing, so it ends. (Losing Temporal and
 * getting it back is in test/cli-reconnect.test.ts; SIGKILL losing nothing committed in
 * test/kill.test.ts.)
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { startAffectflow } from './helpers/cli.ts';
import { projectRoot } from '../base/paths.ts';
import { freePorts } from '../infra/services.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

test('SIGTERM during extractFrames: the worker process finishes it, exits 0, and no attempt is repeated', async (t) => {
  const config = testConfig('local', 'sigterm');
  const datasetPath = join(tempDir('sigterm-data'), 'ds');
  await generateSyntheticDataset(datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: 1,
    validationVideos: 1,
    framesPerVideo: 300,
  });
  const store = openStore(config.store);
  const queues = uniqueQueues('sigterm');
  const workers = await startTestWorkers(config, store, queues, {}, ['orchestrator', 'embed']);
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const framesWorker = startAffectflow(['worker', 'frames', '--task-queue', queues.frames], {
    AFFECTFLOW_HOME: config.stateDir,
    AFFECTFLOW_STORE: config.store.uri,
    AFFECTFLOW_S3_ENDPOINT: undefined,
  });
  t.teardown(() => {
    if (framesWorker.child.exitCode === null) framesWorker.child.kill('SIGKILL');
  });
  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: 300,
    maxShardsInFlight: 1,
    embedBatchSize: 16,
    maxCropSide: 64,
    faceSource: 'whole-frame',
    taskQueues: activityQueues(queues),
    skipTraining: true,
  };
  const workflowId = `test-sigterm-${queues.frames}`;
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId,
    args: [input],
  });

  // Mid-activity: extractFrames has heartbeated its first frames.
  const partition = workers.client.workflow.getHandle(`${workflowId}/partition-0`);
  for (;;) {
    const pending = await partition
      .describe()
      .then((d) => d.raw.pendingActivities ?? [])
      .catch(() => []);
    if (pending.some((a) => a.activityType?.name === 'extractFrames' && a.heartbeatDetails)) break;
    await sleep(100);
  }
  const signalledAt = Date.now();
  framesWorker.child.kill('SIGTERM');
  const ended = await framesWorker.done;
  t.is(ended.code, 0, ended.stderr);
  t.regex(
    ended.stderr,
    /affectflow frames worker: SIGTERM: stopped polling; letting in-flight tasks finish \(up to 60 s, AFFECTFLOW_SHUTDOWN_GRACE_SECONDS\)\naffectflow frames worker: stopped\n/,
  );

  // Another frames worker takes the rest.
  const more = await startTestWorkers(config, store, queues, {}, ['frames']);
  t.teardown(() => more.stop());
  const result = (await handle.result()) as ExtractionRunResult;
  t.is(result.status, 'completed');
  t.is(result.failedCount, 0);
  t.is(result.shards, 2);

  const events = (await partition.fetchHistory()).events ?? [];
  const started = events.filter((e) => e.activityTaskStartedEventAttributes);
  t.deepEqual(
    started.map((e) => e.activityTaskStartedEventAttributes!.attempt),
    started.map(() => 1),
    'no activity attempt was repeated',
  );
  const framesScheduled = new Set(
    events
      .filter((e) => e.activityTaskScheduledEventAttributes?.activityType?.name === 'extractFrames')
      .map((e) => String(e.eventId)),
  );
  const firstFrames = events.find((e) =>
    framesScheduled.has(String(e.activityTaskCompletedEventAttributes?.scheduledEventId)),
  );
  const completedAt = Number(String(firstFrames?.eventTime?.seconds ?? 0)) * 1000;
  t.true(completedAt >= signalledAt - 1000, 'the drained extractFrames was still running at SIGTERM');
});

test('pools that cannot start because the store is unreachable release what they made: the process ends', async (t) => {
  const [closed] = await freePorts(1);
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(projectRoot, 'test/helpers/poolSetGivesUp.ts')],
    {
      cwd: projectRoot,
      env: {
        ...process.env,
        TEMPORAL_ADDRESS: testServices.temporalAddress(),
        AFFECTFLOW_STORE: 's3://affectflow/gives-up',
        AFFECTFLOW_S3_ENDPOINT: `http://127.0.0.1:${closed}`,
        AFFECTFLOW_HOME: tempDir('gives-up'),
      },
      stdio: ['ignore', 'pipe', 'inherit'],
      // Bounds a process that never ends (the failure this test is about; the Temporal runtime
      // handles SIGTERM itself, so only SIGKILL ends it); it normally ends in seconds.
      timeout: 180_000,
      killSignal: 'SIGKILL',
    },
  );
  let out = '';
  child.stdout.setEncoding('utf8').on('data', (chunk: string) => (out += chunk));
  const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) =>
    child.once('exit', (c, s) => resolve([c, s])),
  );
  t.is(signal, null, `the process had to be killed; it printed: ${out}`);
  t.is(code, 0);
  t.regex(out, new RegExp(`^gave up: .*ECONNREFUSED 127\\.0\\.0\\.1:${closed}`, 'm'));
});
