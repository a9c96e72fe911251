/**
 * Losing a worker: an embed worker process killed with SIGKILL in the middle of a shard; the
 * activity times out on its heartbeat, another worker process takes it over and resumes from the
 * checkpoint the last heartbeat named, and the run completes.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { setTimeout as pollInterval } from 'node:timers/promises';
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
 * Faces in the shard, one per batch, checkpointed after every batch. The first worker
 * (test/helpers/stallingEmbedWorker.ts) writes one checkpoint and then holds its next write, so
 * it is killed mid-shard on its own progress, however fast or slow this machine embeds.
 */
const FACES = 240;

function workerProcess(entry: string, env: NodeJS.ProcessEnv): { child: ChildProcess; stderr: () => string } {
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, entry)], {
    cwd: projectRoot,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  return { child, stderr: () => stderr };
}

/** Resolves with the first match of `pattern` in the child's stderr; rejects if it exits first. */
function stderrLine(
  p: { child: ChildProcess; stderr: () => string },
  pattern: RegExp,
): Promise<RegExpExecArray> {
  return new Promise((resolve, reject) => {
    const check = (): void => {
      const found = pattern.exec(p.stderr());
      if (!found) return;
      p.child.stderr!.off('data', check);
      p.child.off('exit', exited);
      resolve(found);
    };
    const exited = (code: number | null): void =>
      reject(new Error(`worker exited (${code}) before ${pattern}:\n${p.stderr()}`));
    p.child.stderr!.on('data', check);
    p.child.once('exit', exited);
    check();
  });
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
  // the heartbeat timeout below).
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
  const processes = [workerProcess(join('test', 'helpers', 'stallingEmbedWorker.ts'), env)];
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
    embedCheckpointSeconds: 0.001, // after every batch
    maxCropSide: 96,
    // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
    faceSource: 'whole-frame',
    skipTraining: true,
    taskQueues: activityQueues(queues),
    // How soon the killed worker's activity is retried; shorter timed out the frames activities on
    // a loaded machine, and a timed-out attempt's ffmpeg was left blocked on its pipe.
    heartbeatTimeoutSeconds: 10,
  };
  const runId = `test-kill-${queues.embed}`;
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId: runId,
    args: [input],
  });

  // The first worker holds its second checkpoint write; by then the heartbeat naming the first
  // one is on its way. Kill the worker once the server has it.
  await stderrLine(first, /stalled after checkpoint /);
  const partition = workers.client.workflow.getHandle(`${runId}/partition-0`);
  let checkpointed = 0;
  while (checkpointed === 0) {
    await pollInterval(100); // heartbeat details have no event to wait on: poll the server
    const pending = (await partition.describe()).raw.pendingActivities ?? [];
    for (const activity of pending) {
      const payload = activity.heartbeatDetails?.payloads?.[0];
      if (activity.activityType?.name === 'embedShard' && payload) {
        checkpointed = defaultPayloadConverter.fromPayload<EmbedCheckpoint>(payload).facesDone;
      }
    }
  }
  t.true(checkpointed > 0, 'the embed activity reported a checkpoint');
  t.log(`killed the first embed worker after a checkpoint at face ${checkpointed} of ${FACES}`);
  first.child.kill('SIGKILL');
  await new Promise((resolve) => first.child.once('exit', resolve));

  const second = workerProcess(join('workers', 'embed.ts'), env);
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
