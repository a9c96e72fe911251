/**
 * Finding 2 of issue 15 and its build items 2 and 3: the CLI following a run and the worker
 * processes serving it outlive a restart of Temporal (a dev server of this test's own: own port
 * and SQLite file, so the suite's server is untouched); Ctrl-C detaches from a run without
 * cancelling it.
 */
import test from 'ava';
import { join } from 'node:path';
import { storeIdentity } from '../config/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { startTemporalDevServer } from '../infra/devstack.ts';
import { freePorts, stopService } from '../infra/services.ts';
import { openStore } from '../storage/objectStore.ts';
import { storeTaskQueues } from '../workflows/taskQueues.ts';
import { affectflow, cliHome, startAffectflow, type CliResult } from './helpers/cli.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { startTestWorkers } from './helpers/workers.ts';

const RUN_FLAGS = ['--shard-frames', '8', '--window', '1', '--epochs', '2', '--external-workers'];

async function dataset(label: string): Promise<string> {
  const root = join(tempDir(label), 'ds');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    framesPerVideo: 32,
  });
  return root;
}

/**
 * A progress line of the extraction stage (`run: stage    extract | shards ...`): the run is past
 * its manifest with shards in flight. Partitions report per page, so on a quiet machine a small
 * run can go from 0 shards done to all of them in one line; the outage starts here rather than
 * after the first shard done.
 */
const extracting = (line: string): boolean => /^run: stage\s+extract \|/.test(line);

test('Temporal restarts while `run` follows: the CLI says it reconnects, the worker processes carry on, exit 0 with the result', async (t) => {
  const home = cliHome('reconnect');
  const temporalState = tempDir('reconnect-temporal');
  const [port, uiPort, unused] = await freePorts(3);
  const address = `127.0.0.1:${port}`;
  const temporal = {
    start: () =>
      startTemporalDevServer({
        stateDir: temporalState,
        temporalPort: port!,
        temporalUiPort: uiPort!,
        s3Port: unused!,
        ui: false,
      }),
    stop: () => stopService(join(temporalState, 'temporal'), 'temporal'),
  };
  await temporal.start();
  t.teardown(() => temporal.stop());
  const env = { AFFECTFLOW_HOME: home, AFFECTFLOW_STORE: join(home, 'store'), TEMPORAL_ADDRESS: address };
  const workers = (['orchestrator', 'frames', 'embed', 'train'] as const).map((pool) =>
    startAffectflow(['worker', pool], env),
  );
  t.teardown(() => {
    for (const w of workers) if (w.child.exitCode === null) w.child.kill('SIGKILL');
  });

  let outage: Promise<void> | undefined;
  let restarted: Promise<unknown> | undefined;
  const run = await affectflow(['run', await dataset('reconnect-data'), ...RUN_FLAGS], env, (line) => {
    if (!outage && extracting(line)) outage = temporal.stop().then(() => {});
    // Away long enough for the CLI to retry three times and the workers' pollers to fail.
    if (!restarted && line.includes(`run: lost Temporal at ${address}, reconnecting (attempt 3)`))
      restarted = outage!.then(() => temporal.start());
  });
  t.truthy(restarted, run.stdout);
  await restarted;
  t.is(run.code, 0, `${run.stdout}\n${run.stderr}`);
  const lines = run.stdout.split('\n');
  t.true(
    lines.some((l) => l.startsWith(`run: lost Temporal at ${address}, reconnecting (attempt 1)… (`)),
    run.stdout,
  );
  t.true(
    lines.some((l) =>
      /^run: reconnected to Temporal at 127\.0\.0\.1:\d+; following run extract-[0-9a-f]{16} again$/.test(l),
    ),
    run.stdout,
  );
  t.true(
    lines.some((l) => /^run: 12 shards; 0 already committed and skipped;/.test(l)),
    run.stdout,
  );
  t.false(run.stdout.includes('completed with failures'), run.stdout);
  t.notRegex(run.stderr, /\n\s+at /, 'no stack trace');

  // The worker processes outlived the restart (they served the run's end) and stop cleanly.
  for (const w of workers) t.is(w.child.exitCode, null, 'a worker process ended during the outage');
  for (const w of workers) w.child.kill('SIGTERM');
  const ended: CliResult[] = await Promise.all(workers.map((w) => w.done));
  for (const e of ended) {
    t.is(e.code, 0, e.stderr);
    t.regex(e.stderr, /worker: SIGTERM: stopped polling; letting in-flight tasks finish \(up to 60 s/);
  }
});

test('Ctrl-C while `run` follows detaches with the command to follow again; the run goes on and status shows it', async (t) => {
  const home = cliHome('detach');
  const env = { AFFECTFLOW_HOME: home, AFFECTFLOW_STORE: join(home, 'store') };
  // Workers of this store's queues, in the test process: the run goes on without the CLI.
  const config = testConfig('local', 'detach-workers');
  const store = openStore({ ...config.store, uri: env.AFFECTFLOW_STORE });
  const workers = await startTestWorkers(
    { ...config, store: { ...config.store, uri: env.AFFECTFLOW_STORE } },
    store,
    storeTaskQueues(storeIdentity({ ...config.store, uri: env.AFFECTFLOW_STORE }).tag),
  );
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  let workflowId = '';
  const cli = startAffectflow(['run', await dataset('detach-data'), ...RUN_FLAGS], env, (line) => {
    const started = /^run: workflow (\S+) /.exec(line);
    if (started) workflowId = started[1]!;
    if (workflowId && line.startsWith('run: stage')) cli.child.kill('SIGINT');
  });
  const run = await cli.done;
  t.is(run.code, 130, `${run.stdout}\n${run.stderr}`);
  t.is(
    run.stdout.trim().split('\n').at(-1),
    `run: detached from run ${workflowId} (not cancelled; it goes on with its workers); follow it again with \`affectflow status ${workflowId}\``,
  );
  t.is(run.stderr.trim(), '');

  const status = await affectflow(['status', workflowId], env);
  t.regex(status.stdout, new RegExp(`^run ${workflowId}: (RUNNING|COMPLETED) \\(run `), status.stderr);
  const result = (await workers.client.workflow.getHandle(workflowId).result()) as { status: string };
  t.is(result.status, 'completed');
});

test('Temporal away longer than the retry budget: `run` gives up following with one line, exit 1', async (t) => {
  const home = cliHome('lost');
  const temporalState = tempDir('lost-temporal');
  const [port, uiPort, unused] = await freePorts(3);
  const address = `127.0.0.1:${port}`;
  await startTemporalDevServer({
    stateDir: temporalState,
    temporalPort: port!,
    temporalUiPort: uiPort!,
    s3Port: unused!,
    ui: false,
    ephemeral: true,
  });
  const stop = (): Promise<boolean> => stopService(join(temporalState, 'temporal'), 'temporal');
  t.teardown(stop);
  const env = {
    AFFECTFLOW_HOME: home,
    AFFECTFLOW_STORE: join(home, 'store'),
    TEMPORAL_ADDRESS: address,
    AFFECTFLOW_RETRY_BUDGET_SECONDS: '3',
  };
  let workflowId = '';
  // No workers: the run waits; Temporal goes away as soon as the CLI follows it.
  const run = await affectflow(['run', await dataset('lost-data'), ...RUN_FLAGS], env, (line) => {
    const started = /^run: workflow (\S+) /.exec(line);
    if (started) {
      workflowId = started[1]!;
      void stop();
    }
  });
  t.is(run.code, 1, run.stdout);
  t.regex(
    run.stderr.trim(),
    new RegExp(
      `^affectflow: lost Temporal at ${address.replaceAll('.', '\\.')} for \\d+ s \\([^\\n]+\\), longer than the retry budget \\(AFFECTFLOW_RETRY_BUDGET_SECONDS\\): run ${workflowId} was not cancelled and goes on once Temporal and its workers are back; follow it then with \`affectflow status ${workflowId}\`$`,
    ),
  );
  t.true(run.stdout.includes(`run: lost Temporal at ${address}, reconnecting (attempt 1)… (`), run.stdout);
});
