/**
 * The test command: starts a real Temporal dev server (in memory, headless) and a real S3 server
 * (SeaweedFS) on free loopback ports in a temporary directory, runs the ava suite against them,
 * and always stops both, also when tests fail or the run is interrupted.
 */
import { spawn } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, relative } from 'node:path';
import { startDevStack, type DevStack } from '../infra/devstack.ts';
import { freePorts } from '../infra/services.ts';
import { projectRoot } from '../base/paths.ts';

const stateDir = mkdtempSync(join(tmpdir(), 'affectflow-test-'));
let stack: DevStack | undefined;
let cleaning: Promise<void> | undefined;

function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    await stack?.stop();
    rmSync(stateDir, { recursive: true, force: true });
  })();
  return cleaning;
}

/**
 * After a failed run, the services' logs (the suite's stack and the stacks tests start of their
 * own) outlive the state folder: they are copied to .affectflow/test-logs/<time>/.
 */
function keepServiceLogs(): void {
  const kept = join(projectRoot, '.affectflow', 'test-logs', new Date().toISOString().replace(/[:.]/g, '-'));
  let count = 0;
  for (const entry of readdirSync(stateDir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile() || !entry.name.endsWith('.log')) continue;
    const from = join(entry.parentPath, entry.name);
    if (relative(stateDir, from).split('/').includes('data')) continue; // a store's own journals
    const to = join(kept, relative(stateDir, from));
    mkdirSync(dirname(to), { recursive: true });
    copyFileSync(from, to);
    count++;
  }
  if (count > 0) console.log(`test stack: ${count} service logs kept in ${kept}`);
}

for (const signal of ['SIGINT', 'SIGTERM'] as const) {
  process.once(signal, () => {
    void cleanup().finally(() => process.exit(130));
  });
}
// Output piped into a reader that quits early (`| head`): stop the services, not just this process.
process.stdout.on('error', (err: NodeJS.ErrnoException) => {
  if (err.code !== 'EPIPE') throw err;
  void cleanup().finally(() => process.exit(1));
});

let code = 1;
try {
  const [temporalPort, temporalUiPort, s3Port] = await freePorts(3);
  const started = Date.now();
  stack = await startDevStack({
    stateDir,
    temporalPort: temporalPort!,
    temporalUiPort: temporalUiPort!,
    s3Port: s3Port!,
    ui: false,
    ephemeral: true,
  });
  const { endpoints } = stack;
  console.log(
    `test stack: temporal ${endpoints.temporalAddress}, s3 ${endpoints.s3Endpoint} (ready in ${((Date.now() - started) / 1000).toFixed(1)} s)`,
  );
  const env = {
    ...process.env,
    AFFECTFLOW_TEST_TEMPORAL_ADDRESS: endpoints.temporalAddress,
    AFFECTFLOW_TEST_S3_ENDPOINT: endpoints.s3Endpoint,
    AFFECTFLOW_TEST_S3_BUCKET: endpoints.s3Bucket,
    AWS_ACCESS_KEY_ID: endpoints.s3Credentials.accessKeyId,
    AWS_SECRET_ACCESS_KEY: endpoints.s3Credentials.secretAccessKey,
    AWS_REGION: 'us-east-1',
    AFFECTFLOW_TEST_STATE: stateDir,
  };
  const ava = spawn(join(projectRoot, 'node_modules', '.bin', 'ava'), process.argv.slice(2), {
    cwd: projectRoot,
    env,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let output = '';
  ava.stdout.setEncoding('utf8').on('data', (chunk: string) => {
    output += chunk;
    process.stdout.write(chunk);
  });
  code = await new Promise<number>((resolve) => ava.on('close', (c) => resolve(c ?? 1)));
  const count = (pattern: RegExp): number => Number(pattern.exec(output)?.[1] ?? 0);
  const passed = output.split('\n').filter((line) => /^\s+✔/.test(line)).length;
  const failed =
    count(/(\d+) tests? failed/) + count(/(\d+) uncaught exceptions?/) + count(/(\d+) unhandled rejections?/);
  console.log(`\nava: ${passed} passed, ${failed} failed`);
  if (passed === 0) code = code || 1;
  if (code !== 0 || failed > 0) keepServiceLogs();
} catch (err) {
  console.error(`test stack: ${(err as Error).message}`);
} finally {
  await cleanup();
}
process.exit(code);
