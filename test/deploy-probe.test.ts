/**
 * The readiness probe the Kubernetes Deployments run (infra/deploy/probe.ts), run from source
 * against the real Temporal server with and without a worker polling, and for another store's
 * queue. The deploy files themselves are checked in deploy.test.ts.
 */
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import test from 'ava';
import { projectRoot } from '../base/paths.ts';
import { storeIdentity } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import { defaultTaskQueue } from '../workers/pools.ts';
import { testConfig, testServices } from './helpers/env.ts';
import { startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const DEPLOY = join(projectRoot, 'infra', 'deploy');

/** Runs the probe the Deployments run (from source), with the worker's environment. */
function runProbe(env: NodeJS.ProcessEnv, args: readonly string[]): Promise<{ code: number; line: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', join(DEPLOY, 'probe.ts'), ...args], {
      env: { PATH: process.env['PATH'], ...env },
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code: code ?? -1, line: stderr.trim() }));
  });
}

test('the readiness probe: ready once this host polls the queue, not before, and not for another store', async (t) => {
  const config = testConfig('local', 'deploy-probe');
  const env = { TEMPORAL_ADDRESS: testServices.temporalAddress(), AFFECTFLOW_STORE: config.store.uri };
  const framesQueue = defaultTaskQueue('frames', config);
  const before = await runProbe(env, [framesQueue, 'activity']);
  t.is(before.code, 1);
  t.regex(
    before.line,
    new RegExp(`^probe: no activity poller of host \\S+ on ${framesQueue} at .*pollers seen: none$`),
  );

  const store = openStore(config.store);
  const workers = await startTestWorkers(
    config,
    store,
    { ...uniqueQueues('deploy'), frames: framesQueue },
    {},
    ['frames'],
  );
  try {
    // The server registers a poller when its first poll arrives: probe until it does.
    let verdict = await runProbe(env, [framesQueue, 'activity']);
    for (const deadline = Date.now() + 60_000; verdict.code !== 0 && Date.now() < deadline;)
      verdict = await runProbe(env, [framesQueue, 'activity']);
    t.is(verdict.code, 0, verdict.line);
    t.regex(verdict.line, new RegExp(`^probe: \\d+@\\S+ polls ${framesQueue} \\(activity\\) on `));

    // The frames worker takes no workflow tasks, and the orchestrator's queue has no worker.
    const workflow = await runProbe(env, [framesQueue, 'workflow']);
    t.is(workflow.code, 1, workflow.line);
    const orchestrator = await runProbe(env, [defaultTaskQueue('orchestrator', config), 'workflow']);
    t.is(orchestrator.code, 1, orchestrator.line);

    // Manifests still naming another store's queues say so.
    const stale = await runProbe(env, ['affectflow-frames-000000000000', 'activity']);
    t.is(stale.code, 1);
    t.is(
      stale.line,
      `probe: task queue affectflow-frames-000000000000 is not one of store ${config.store.uri}'s (their names end in -${storeIdentity(config.store).tag}); put the taskQueueSuffix that \`affectflow config\` prints into the manifests`,
    );
    const usage = await runProbe(env, [framesQueue]);
    t.is(usage.code, 2);
  } finally {
    await workers.stop();
    store.close();
  }
});
