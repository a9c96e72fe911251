/**
 * Losing a worker: an embed worker process killed with SIGKILL in the middle of a shard; the
 * activity times out on its heartbeat, another worker process takes it over and resumes from the
 * checkpoint the last heartbeat named, and the run completes.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { defaultPayloadConverter } from '@temporalio/common';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore } from '../storage/objectStore.ts';
import type { EmbedCheckpoint } from '../activities/embed.ts';
import { projectRoot } from '../base/paths.ts';
import { ensureModelFile } from '../models/onnxRuntime.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

/**
 * Enough faces, one per batch, that the shard outlasts the heartbeat throttle (0.8 x the 2 s
 * heartbeat timeout) several times over: a heartbeat naming a checkpoint must reach the server
 * before the shard ends. The tiny backbone embeds about 850 faces/s here, so about 5.6 s.
 */
const FACES = 4800;

function embedWorkerProcess(env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'workers', 'embed.ts')], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return { child, stderr: () => stderr };
}

test('an embed worker killed mid-shard: another worker resumes from the heartbeat and the run completes', async (t) => {
  const config = testConfig('local', 'kill');
  const datasetPath = join(tempDir('kill-data'), 'ds');
  await generateSyntheticDataset(datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: 1,
    validationVideos: 0,
    framesPerVideo: FACES,
  });
  // The worker finds the generated backbone already built (building it takes seconds, longer than
  // the heartbeat timeout below), so the shard's time is embedding time.
  ensureModelFile(TINY_BACKBONE, join(config.stateDir, 'models'));
  const store = openStore(config.store);
  const queues = uniqueQueues('kill');
  const workers = await startTestWorkers(config, store, queues, {}, ['orchestrator', 'frames', 'train']);
  const env = {
    TEMPORAL_ADDRESS: testServices.temporalAddress(),
    AFFECTFLOW_STORE: config.store.uri,
    AFFECTFLOW_HOME: config.stateDir,
    AFFECTFLOW_TASK_QUEUE: queues.embed,
  };
  const processes = [embedWorkerProcess(env)];
  const first = processes[0]!;
  t.teardown(async () => {
    for (const p of processes) p.child.kill('SIGKILL');
    await workers.stop();
    store.close();
  });

  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: FACES,
    maxShardsInFlight: 1,
    embedBatchSize: 1,
    embedCheckpointSeconds: 0.3,
    maxCropSide: 96,
    // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
    faceSource: 'whole-frame',
    skipTraining: true,
    taskQueues: activityQueues(queues),
    heartbeatTimeoutSeconds: 2,
  };
  const runId = `test-kill-${queues.embed}`;
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId: runId,
    args: [input],
  });

  // Wait until the embed activity has reported a checkpoint, then kill its worker.
  const partition = workers.client.workflow.getHandle(`${runId}/partition-0`);
  let checkpointed = 0;
  for (let i = 0; i < 1200 && checkpointed === 0; i++) {
    const pending = (await partition.describe().catch(() => undefined))?.raw.pendingActivities ?? [];
    for (const activity of pending) {
      const payload = activity.heartbeatDetails?.payloads?.[0];
      if (activity.activityType?.name === 'embedShard' && payload) {
        checkpointed = defaultPayloadConverter.fromPayload<EmbedCheckpoint>(payload).facesDone;
      }
    }
    if (checkpointed === 0) await sleep(50);
  }
  t.true(checkpointed > 0, 'the embed activity reported a checkpoint');
  t.log(`killed the first embed worker after a checkpoint at face ${checkpointed} of ${FACES}`);
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.once('exit', resolve));

  const second = embedWorkerProcess(env);
  processes.push(second);
  const result = (await handle.result()) as ExtractionRunResult;
  t.is(result.status, 'completed');
  t.is(result.embeddingRows, FACES);
  const resumed = new RegExp(`resuming at face (\\d+) of ${FACES} from the last heartbeat`).exec(
    second.stderr(),
  );
  t.truthy(resumed, `second worker's log:\n${second.stderr()}`);
  t.true(Number(resumed![1]) >= checkpointed, `resumed at ${resumed![1]}, checkpoint seen ${checkpointed}`);
});
