/**
 * Every user-facing error line of docs/ERRORS.md, asserted verbatim with its exit code, through the
 * CLI spawned as a process with TEMPORAL_ADDRESS, AFFECTFLOW_STORE and AFFECTFLOW_S3_ENDPOINT
 * pointing at the test stack (or at the dead port 127.0.0.1:1): ERROR_CASES, a row per line, and
 * USAGE_CASES for commander's own usage errors (exit 2, first line). The runs behind the other
 * exit codes are in cli.test.ts.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { affectflow } from './helpers/cli.ts';
import { tempDir, testServices } from './helpers/env.ts';

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
    // The suite's own Temporal server holds the port the embedded one is told to use.
    title: 'an embedded Temporal dev server whose port another Temporal server holds',
    args: () => ['status', 'no-such-run'],
    env: (c) => ({ TEMPORAL_ADDRESS: undefined, AFFECTFLOW_TEMPORAL_PORT: c.temporal.split(':')[1] }),
    code: 2,
    line: (c) =>
      `affectflow: the local Temporal dev server cannot start on ${c.temporal}: another process listens there (a Temporal server started elsewhere?): set TEMPORAL_ADDRESS=${c.temporal} to use it, or AFFECTFLOW_TEMPORAL_PORT to a free port for the embedded one`,
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
