/**
 * The command line as a user meets it: the CLI spawned as a process with TEMPORAL_ADDRESS,
 * AFFECTFLOW_STORE and AFFECTFLOW_S3_ENDPOINT pointing at the test stack (or at the dead port
 * 127.0.0.1:1). An extraction-only run on a dataset without labels exits 0 and prints where its
 * embeddings are and a read of them that sees committed data only; every user-facing error line
 * of docs/ERRORS.md is asserted verbatim with its exit code (ERROR_CASES: add a row per line).
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
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
import { tempDir, testConfig, testServices } from './helpers/env.ts';
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

interface ErrorCase {
  readonly title: string;
  readonly args: (c: CaseContext) => string[];
  readonly env?: (c: CaseContext) => Record<string, string | undefined>;
  readonly code: number;
  /** The last line of stderr, verbatim (docs/ERRORS.md). */
  readonly line: (c: CaseContext) => string;
}

interface CaseContext {
  readonly home: string;
  readonly dataset: string;
  readonly bucket: string;
  readonly s3: string;
  readonly temporal: string;
}

const s3Store = (c: CaseContext): Record<string, string> => ({
  AFFECTFLOW_STORE: `s3://${c.bucket}/cli-errors`,
});

/** A port nothing listens on (the dev server below never binds it). */
const DEV_PORT = 1;

/** A Python environment whose `temporal` exits at once, as a broken install would. */
function failingVenv(home: string): string {
  const venv = join(home, 'failing-venv');
  mkdirSync(join(venv, 'bin'), { recursive: true });
  writeFileSync(join(venv, 'bin', 'temporal'), '#!/bin/sh\necho "temporal: cannot start" >&2\nexit 1\n', {
    mode: 0o755,
  });
  return venv;
}

/** Every user-facing error line of docs/ERRORS.md: one row each. */
const ERROR_CASES: readonly ErrorCase[] = [
  {
    title: 'a dataset path that does not exist',
    args: (c) => ['run', join(c.dataset, 'missing')],
    code: 2,
    line: (c) =>
      `affectflow: dataset ${join(c.dataset, 'missing')} not found: expected a dataset folder (layouts in docs/DATASETS.md); check the path`,
  },
  {
    title: 'a dataset path that is a file',
    args: (c) => ['run', join(c.dataset, 'file.txt')],
    code: 2,
    line: (c) =>
      `affectflow: dataset ${join(c.dataset, 'file.txt')} is a file: expected a dataset folder (layouts in docs/DATASETS.md); pass the folder that holds it`,
  },
  {
    title: 'an S3 endpoint nobody listens on',
    args: (c) => ['run', c.dataset],
    env: (c) => ({ ...s3Store(c), AFFECTFLOW_S3_ENDPOINT: 'http://127.0.0.1:1' }),
    code: 2,
    line: (c) =>
      `affectflow: store s3://${c.bucket}/cli-errors: nothing answers at S3 endpoint http://127.0.0.1:1 (connect ECONNREFUSED 127.0.0.1:1): start it (\`affectflow stack start\` for the dev store) or set AFFECTFLOW_S3_ENDPOINT to a running one`,
  },
  {
    title: 'missing S3 credentials',
    args: (c) => ['run', c.dataset],
    env: (c) => ({ ...s3Store(c), AWS_ACCESS_KEY_ID: undefined, AWS_SECRET_ACCESS_KEY: undefined }),
    code: 2,
    line: (c) =>
      `affectflow: store s3://${c.bucket}/cli-errors: no S3 credentials found (CredentialsProviderError: Could not load credentials from any providers): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the dev stack's are in ${join(c.home, 's3', 'credentials.json')})`,
  },
  {
    title: 'a wrong S3 secret',
    args: (c) => ['run', c.dataset],
    env: (c) => ({ ...s3Store(c), AWS_SECRET_ACCESS_KEY: 'not-the-secret' }),
    code: 2,
    line: (c) =>
      `affectflow: store s3://${c.bucket}/cli-errors: S3 endpoint ${c.s3} rejected the credentials (SignatureDoesNotMatch: The request signature we calculated does not match the signature you provided. Check your key and signing method.): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
  },
  {
    title: 'an unknown S3 access key',
    args: (c) => ['run', c.dataset],
    env: (c) => ({ ...s3Store(c), AWS_ACCESS_KEY_ID: 'no-such-key' }),
    code: 2,
    line: (c) =>
      `affectflow: store s3://${c.bucket}/cli-errors: S3 endpoint ${c.s3} rejected the credentials (InvalidAccessKeyId: The access key ID you provided does not exist in our records.): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
  },
  {
    title: 'a bucket that does not exist',
    args: (c) => ['run', c.dataset],
    env: () => ({ AFFECTFLOW_STORE: 's3://no-such-bucket-affectflow/x' }),
    code: 2,
    line: (c) =>
      `affectflow: store s3://no-such-bucket-affectflow/x: the bucket does not exist at S3 endpoint ${c.s3}: create it, or set AFFECTFLOW_STORE to an existing bucket`,
  },
  {
    title: 'a Temporal address nobody listens on',
    args: () => ['status', 'extract-0000000000000000'],
    env: () => ({ TEMPORAL_ADDRESS: '127.0.0.1:1' }),
    code: 2,
    line: () =>
      'affectflow: Temporal at 127.0.0.1:1 (TEMPORAL_ADDRESS) does not answer (Failed to connect before the deadline): start it (`affectflow stack start` runs a local one), or unset TEMPORAL_ADDRESS to use the embedded dev server',
  },
  ...(['status', 'cancel', 'resume'] as const).map((verb): ErrorCase => ({
    title: `${verb} of an unknown run id`,
    args: () => [verb, 'extract-0000000000000000'],
    code: 2,
    line: (c) =>
      `affectflow: run extract-0000000000000000 not found on Temporal ${c.temporal} (namespace default): check the id that \`affectflow run\` printed`,
  })),
  {
    title: 'an unknown backbone',
    args: (c) => ['run', c.dataset, '--backbone', 'no-such-backbone'],
    code: 2,
    line: () =>
      'affectflow: backbone no-such-backbone: not in the registry; known: affectflow-tiny, affectflow-tiny-b, enet_b0_8_best_vgaf, enet_b0_8_best_afew, enet_b0_8_va_mtl, enet_b2_8, enet_b2_7, mbf_va_mtl, mobilevit_va_mtl: pass one of those to --backbone, or register yours with `affectflow backbones add DESCRIPTOR.json`',
  },
  {
    title: 'a malformed setting',
    args: () => ['config'],
    env: () => ({ AFFECTFLOW_S3_ENDPOINT: 'ftp://127.0.0.1:1' }),
    code: 2,
    line: () =>
      'affectflow: config AFFECTFLOW_S3_ENDPOINT (from environment AFFECTFLOW_S3_ENDPOINT): expected an http(s):// URL, got "ftp://127.0.0.1:1"',
  },
  {
    title: 'an unknown pool',
    args: () => ['worker', 'gpu'],
    code: 2,
    line: () => 'affectflow: unknown pool gpu: expected one of orchestrator, frames, embed, train',
  },
  {
    title: 'an embedded Temporal dev server that does not start',
    args: () => ['status', 'no-such-run'],
    env: (c) => ({
      TEMPORAL_ADDRESS: undefined,
      AFFECTFLOW_VENV: failingVenv(c.home),
      AFFECTFLOW_TEMPORAL_PORT: String(DEV_PORT),
    }),
    code: 2,
    line: (c) =>
      `affectflow: the local Temporal dev server on 127.0.0.1:${DEV_PORT} did not start (exited with code 1 before it was ready): see its log ${join(c.home, 'temporal', 'temporal.log')}; \`npm run bootstrap\` installs it, \`affectflow stack stop\` stops an earlier one`,
  },
  {
    // Any error without a line of its own; here a store folder below a plain file.
    title: 'an unexpected error (the catch-all line)',
    args: (c) => ['run', c.dataset],
    env: (c) => ({ AFFECTFLOW_STORE: join(c.dataset, 'file.txt', 'store') }),
    code: 1,
    line: (c) =>
      `affectflow: Error: ENOTDIR: not a directory, scandir '${join(c.dataset, 'file.txt', 'store', 'registry', 'backbones')}' (run again with --verbose for the stack trace)`,
  },
];

const USAGE_CASES: readonly { title: string; args: string[]; first: string }[] = [
  {
    title: 'an unknown option',
    args: ['run', '.', '--no-such-flag'],
    first: "error: unknown option '--no-such-flag'",
  },
  { title: 'an unknown command', args: ['frobnicate'], first: "error: unknown command 'frobnicate'" },
  {
    title: 'a missing argument',
    args: ['status'],
    first: "error: missing required argument 'run'",
  },
  {
    title: 'a malformed option value',
    args: ['run', '.', '--window', '0'],
    first: "error: option '--window <n>' argument '0' is invalid. expected a positive integer, got 0",
  },
  {
    title: 'an unknown --faces choice',
    args: ['run', '.', '--faces', 'aligned'],
    first:
      "error: option '--faces <choice>' argument 'aligned' is invalid. expected one of auto, cropped, cropped_aligned, video, got aligned",
  },
];

function caseContext(label: string): CaseContext {
  const home = tempDir(label);
  const dataset = tempDir(`${label}-data`);
  writeFileSync(join(dataset, 'file.txt'), 'not a dataset\n');
  mkdirSync(join(dataset, 'videos'));
  return {
    home,
    dataset,
    bucket: testServices.s3Bucket(),
    s3: testServices.s3Endpoint(),
    temporal: testServices.temporalAddress(),
  };
}

for (const c of ERROR_CASES) {
  test.serial(`error line and exit code ${c.code}: ${c.title}`, async (t) => {
    const context = caseContext('cli-error');
    const result = await affectflow(c.args(context), {
      AFFECTFLOW_HOME: context.home,
      AFFECTFLOW_STORE: join(context.home, 'store'),
      ...c.env?.(context),
    });
    t.is(result.code, c.code, result.stderr);
    t.is(result.stderr.trim().split('\n').at(-1), c.line(context));
    t.notRegex(result.stderr, /\n\s+at /, 'no stack trace without --verbose');
  });
}

test.serial('--verbose adds the stack trace after the same line', async (t) => {
  const context = caseContext('cli-verbose');
  const result = await affectflow(['--verbose', 'status', 'extract-0000000000000000'], {
    AFFECTFLOW_HOME: context.home,
  });
  t.is(result.code, 2);
  const lines = result.stderr.trim().split('\n');
  t.is(lines[0], ERROR_CASES.find((e) => e.title === 'status of an unknown run id')!.line(context));
  t.regex(lines[1]!, /^UsageError: run extract-0000000000000000 not found/);
  t.true(lines.some((l) => /^\s+at /.test(l)));
});

for (const c of USAGE_CASES) {
  test.serial(`usage error exit code 2: ${c.title}`, async (t) => {
    const context = caseContext('cli-usage');
    const result = await affectflow(c.args, { AFFECTFLOW_HOME: context.home });
    t.is(result.code, 2, result.stderr);
    t.is(result.stderr.split('\n')[0], c.first);
  });
}
