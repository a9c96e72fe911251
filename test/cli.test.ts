/**
 * The command line as a user meets it: the CLI spawned as a process with TEMPORAL_ADDRESS,
 * AFFECTFLOW_STORE and AFFECTFLOW_S3_ENDPOINT pointing at the test stack. An extraction-only run
 * on a dataset without labels exits 0 and prints where its embeddings are and a read of them that
 * sees committed data only; cancelled, failed, running and terminated runs give their exit codes
 * and status lines. Every error line of docs/ERRORS.md is asserted in cli-errors.test.ts.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFileSync, readFileSync, rmSync } from 'node:fs';
import { join } from 'node:path';
import { ApplicationFailure, TimeoutFailure } from '@temporalio/common';
import { WorkflowFailedError } from '@temporalio/client';
import type { RunReport } from '../activities/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { storeIdentity } from '../config/index.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { committedObject, listCommitted } from '../storage/commit.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput } from '../workflows/index.ts';
import { storeTaskQueues } from '../workflows/taskQueues.ts';
import { affectflow, cliHome, type CliResult } from './helpers/cli.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

/** A no-label Aff-Wild2-layout dataset (two Test videos), not marked as the synthetic sample. */
async function unlabelledDataset(label: string): Promise<string> {
  const root = join(tempDir(label), 'videos-only');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 0,
    validationVideos: 0,
    testVideos: 2,
    framesPerVideo: 12,
  });
  rmSync(join(root, 'affectflow-synthetic.json'));
  return root;
}

const TINY_WARNING = (dataset: string): string =>
  `affectflow: warning: backbone ${TINY_BACKBONE.name} is a small generated test network fitted to the synthetic sample, not an emotion model: its features and scores mean nothing on ${dataset}; for HSEmotion features run \`affectflow models pull enet_b0_8_best_vgaf\` and then \`affectflow run ${dataset} --backbone enet_b0_8_best_vgaf\` (\`affectflow backbones list\` shows the others)`;

test('a dataset without labels is an extraction-only run: exit 0, embeddings, skipped tasks and a read that sees committed rows only', async (t) => {
  const home = cliHome('cli-nolabel');
  const store = join(home, 'store');
  const dataset = await unlabelledDataset('cli-nolabel-data');
  const run = await affectflow(['run', dataset, '--shard-frames', '8'], {
    AFFECTFLOW_HOME: home,
    AFFECTFLOW_STORE: store,
  });
  t.is(run.code, 0, run.stderr);
  t.is(run.stderr.trim().split('\n')[0], TINY_WARNING(dataset));
  t.notRegex(run.stderr, /\n\s+at /, 'no stack trace');
  const lines = run.stdout.split('\n');
  t.true(
    lines.some((l) => l.includes(`; store file://${store}`)),
    run.stdout,
  );
  for (const task of ['VA', 'EXPR', 'AU', 'CE', 'EMI'])
    t.true(lines.includes(`report: ${task} not trained: no ${task} labels in the dataset`), run.stdout);

  const where = lines.find((l) => l.startsWith('embeddings: affectflow-tiny@3: '));
  const match = /^embeddings: affectflow-tiny@3: (\d+) committed shards, (\d+) rows under (.+)$/.exec(
    where ?? '',
  );
  t.truthy(match, run.stdout);
  const prefix = match![3]!.slice(`${store}/`.length);
  t.regex(prefix, /^embeddings\/[^/]+\/affectflow-tiny@3\/[0-9a-f]+\/$/);
  const report = lines.find((l) => l.startsWith('report: HTML '))!.slice('report: HTML '.length);
  t.true(readFileSync(report, 'utf8').includes('data-table="skipped"'));
  const json = JSON.parse(readFileSync(report.replace(/report\.html$/, 'report.json'), 'utf8')) as RunReport;
  t.deepEqual(
    json.skipped?.map((s) => s.task),
    ['VA', 'EXPR', 'AU', 'CE', 'EMI'],
  );
  t.deepEqual(json.tasks, {});

  // The committed shards, as their markers say; then an orphan object beside one of them.
  const objects = openStore({
    uri: store,
    s3Endpoint: undefined,
    s3Region: 'us-east-1',
    s3ForcePathStyle: false,
  });
  t.teardown(() => objects.close());
  const records = [];
  for await (const record of listCommitted(objects, prefix)) records.push(record);
  const committedRows = records.reduce((n, r) => n + r.rows, 0);
  t.is(records.length, Number(match![1]));
  t.is(committedRows, Number(match![2]));
  t.true(committedRows > 0);
  const first = records[0]!;
  const orphan = first.key.replace(/\.parquet$/, '.0123456789abcdef.parquet');
  copyFileSync(join(store, committedObject(first)), join(store, orphan));

  const read = lines.find((l) => l.startsWith('embeddings: read them '));
  const command = read!.slice(read!.indexOf('): ') + 3);
  const out = await new Promise<CliResult>((resolve) => {
    const child = spawn('bash', ['-c', command], { stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (c: string) => (stdout += c));
    child.stderr.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  t.is(out.code, 0, out.stderr);
  t.regex(out.stdout, new RegExp(`^${committedRows} rows: dataset, split, video, frame, `));
});

test('a run that ends cancelled exits 1 with one line, and status of it says so', async (t) => {
  const home = cliHome('cli-cancel');
  const dataset = await unlabelledDataset('cli-cancel-data');
  const env = { AFFECTFLOW_HOME: home, AFFECTFLOW_STORE: join(home, 'store') };
  const config = testConfig('local', 'cli-cancel-client');
  const workers = await startTestWorkers(config, openStore(config.store), uniqueQueues('cli-cancel'), {}, []);
  t.teardown(() => workers.stop());
  let workflowId = '';
  const run = await affectflow(['run', dataset, '--shard-frames', '4', '--window', '1'], env, (line) => {
    const started = /^run: workflow (\S+) /.exec(line);
    if (started) {
      workflowId = started[1]!;
      void workers.client.workflow.getHandle(workflowId).cancel();
    }
  });
  t.is(run.code, 1, run.stdout);
  t.is(
    run.stderr.trim().split('\n').at(-1),
    `affectflow: run ${workflowId} was cancelled; resume it with \`affectflow resume ${workflowId}\``,
  );
  const status = await affectflow(['status', workflowId], env);
  t.is(status.code, 1, status.stderr);
  t.regex(status.stdout, new RegExp(`^run ${workflowId}: CANCELLED \\(run `));
  t.true(status.stdout.includes(`\nrun ${workflowId} was cancelled\n`), status.stdout);

  // Resumed with another store configuration, its activities would reach that store's workers.
  const otherStore = join(home, 'other-store');
  const elsewhere = await affectflow(['resume', workflowId], { ...env, AFFECTFLOW_STORE: otherStore });
  t.is(elsewhere.code, 2, elsewhere.stdout);
  const ownQueues = storeTaskQueues(storeIdentity({ ...config.store, uri: env.AFFECTFLOW_STORE }).tag);
  t.is(
    elsewhere.stderr.trim().split('\n').at(-1),
    `affectflow: run ${workflowId} was started with another store (its task queue ${ownQueues.frames}); this configuration's store is file://${otherStore}: set AFFECTFLOW_STORE (and AFFECTFLOW_S3_ENDPOINT) as they were for that run`,
  );
});

test('status of a failed run prints its cause and its first failed shards, exit 1', async (t) => {
  const config = testConfig('local', 'cli-failed');
  const store = openStore(config.store);
  const queues = uniqueQueues('cli-failed');
  const workers = await startTestWorkers(
    config,
    store,
    queues,
    {
      frames: (a) => ({
        ...a,
        extractFrames: () => {
          throw ApplicationFailure.nonRetryable('video synth-t01.mp4: planted decode failure', 'VideoError');
        },
      }),
      train: (a) => ({
        ...a,
        trainAndEvaluate: () => {
          throw ApplicationFailure.nonRetryable('labels x.json: planted failure', 'LabelFileError');
        },
      }),
    },
    ['orchestrator', 'frames', 'train'],
  );
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const dataset = await unlabelledDataset('cli-failed-data');
  const workflowId = `test-cli-failed-${queues.frames}`;
  const input: ExtractionRunInput = {
    datasetPath: dataset,
    backbones: [TINY_BACKBONE.name],
    shardFrames: 6,
    maxShardsInFlight: 2,
    embedBatchSize: 8,
    maxCropSide: 64,
    taskQueues: activityQueues(queues),
    maxAttempts: 1,
  };
  await t.throwsAsync(
    workers.client.workflow.execute('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId,
      args: [input],
    }),
    { instanceOf: WorkflowFailedError },
  );
  const status = await affectflow(['status', workflowId], { AFFECTFLOW_HOME: tempDir('cli-failed-home') });
  t.is(status.code, 1, status.stderr);
  const lines = status.stdout.trim().split('\n');
  t.regex(lines[0]!, new RegExp(`^run ${workflowId}: FAILED \\(run `));
  t.true(
    lines.includes(
      `run ${workflowId} failed in trainAndEvaluate: LabelFileError: labels x.json: planted failure`,
    ),
    status.stdout,
  );
  t.true(lines.includes('failed shards (the first 4):'), status.stdout);
  t.is(
    lines.filter((l) =>
      /^ {2}shard [0-9a-f-]+ \(frames\): .*video synth-t01\.mp4: planted decode failure/.test(l),
    ).length,
    4,
    status.stdout,
  );
  t.is(lines.at(-1), `resume: \`affectflow resume ${workflowId}\` redoes only what is missing`);

  // Resumed, it fails the same way (the planted activities still serve its queues): exit 1, one line.
  const resumed = await affectflow(['resume', workflowId], {
    AFFECTFLOW_HOME: cliHome('cli-failed-resume'),
  });
  t.is(resumed.code, 1, resumed.stdout);
  t.is(
    resumed.stderr.trim().split('\n').at(-1),
    `affectflow: run ${workflowId} failed in trainAndEvaluate: LabelFileError: labels x.json: planted failure; details: \`affectflow status ${workflowId}\`; after fixing the cause, \`affectflow resume ${workflowId}\` redoes only what is missing`,
  );
});

test('resume of a running run is a usage error; status of a terminated run names the reason', async (t) => {
  const config = testConfig('local', 'cli-running');
  const workers = await startTestWorkers(
    config,
    openStore(config.store),
    uniqueQueues('cli-running'),
    {},
    [],
  );
  t.teardown(() => workers.stop());
  // No worker serves this queue: the run stays RUNNING until terminated.
  const workflowId = `test-cli-running-${uniqueQueues('cli-running').frames}`;
  const handle = await workers.client.workflow.start('extractionRun', {
    taskQueue: `${workflowId}-unserved`,
    workflowId,
    args: [{}],
  });
  const env = { AFFECTFLOW_HOME: tempDir('cli-running-home') };
  const resume = await affectflow(['resume', workflowId], env);
  t.is(resume.code, 2, resume.stdout);
  t.is(
    resume.stderr.trim().split('\n').at(-1),
    `affectflow: run ${workflowId} is still running: nothing to resume; follow it with \`affectflow status ${workflowId}\``,
  );
  await handle.terminate('planted by the test');
  const status = await affectflow(['status', workflowId], env);
  t.is(status.code, 1, status.stderr);
  t.true(
    status.stdout.split('\n').includes(`run ${workflowId} was terminated (planted by the test)`),
    status.stdout,
  );

  // A run that times out (the CLI sets no timeout; one started elsewhere may): status names it.
  const timedOutId = `${workflowId}-timeout`;
  const timing = await workers.client.workflow.start('extractionRun', {
    taskQueue: `${workflowId}-unserved`,
    workflowId: timedOutId,
    args: [{}],
    workflowExecutionTimeout: '1s',
  });
  const ended = await t.throwsAsync(timing.result(), { instanceOf: WorkflowFailedError });
  const timeout = ended.cause as TimeoutFailure;
  t.true(timeout instanceof TimeoutFailure);
  const timedOut = await affectflow(['status', timedOutId], env);
  t.is(timedOut.code, 1, timedOut.stderr);
  t.true(
    timedOut.stdout.split('\n').includes(`run ${timedOutId} timed out (${timeout.timeoutType})`),
    timedOut.stdout,
  );
});
