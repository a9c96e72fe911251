/** The `affectflow` command spawned as a user runs it, against the test stack. */
import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../../base/paths.ts';
import { tempDir, testServices } from './env.ts';
import { prebuildGeneratedModels } from './workers.ts';

export interface CliResult {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * Runs `affectflow ARGS` with TEMPORAL_ADDRESS and AFFECTFLOW_S3_ENDPOINT at the test stack; env
 * values of undefined are removed from the environment; onLine sees each stdout line as it comes;
 * aborting `signal` kills the process (SIGKILL) and resolves with what it printed.
 */
export function affectflow(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  onLine?: (line: string) => void,
  signal?: AbortSignal,
): Promise<CliResult> {
  return startAffectflow(args, env, onLine, signal).done;
}

/** As affectflow(), with the process at hand (to signal it) while it runs. */
export function startAffectflow(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
  onLine?: (line: string) => void,
  signal?: AbortSignal,
): { readonly child: ChildProcess; readonly done: Promise<CliResult> } {
  const merged: NodeJS.ProcessEnv = {
    ...process.env,
    // Only the test stack and dead loopback ports: no AWS credential files or instance metadata.
    AWS_EC2_METADATA_DISABLED: 'true',
    AWS_SHARED_CREDENTIALS_FILE: join(projectRoot, 'no-such-aws-credentials'),
    AWS_CONFIG_FILE: join(projectRoot, 'no-such-aws-config'),
    TEMPORAL_ADDRESS: testServices.temporalAddress(),
    AFFECTFLOW_S3_ENDPOINT: testServices.s3Endpoint(),
    AWS_REGION: 'us-east-1',
  };
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) delete merged[key];
    else merged[key] = value;
  }
  const child = spawn(process.execPath, ['--import', 'tsx', join(projectRoot, 'cli', 'main.ts'), ...args], {
    cwd: projectRoot,
    env: merged,
    stdio: ['ignore', 'pipe', 'pipe'],
    ...(signal ? { signal, killSignal: 'SIGKILL' as const } : {}),
  });
  const done = new Promise<CliResult>((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    let pending = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      stdout += chunk;
      pending += chunk;
      const lines = pending.split('\n');
      pending = lines.pop()!;
      for (const line of lines) onLine?.(line);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', (err) => {
      if (!signal?.aborted) reject(err);
    });
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
  return { child, done };
}

/** A state directory for the CLI with the generated tiny backbones already built. */
export function cliHome(label: string): string {
  const home = tempDir(label);
  prebuildGeneratedModels(home);
  return home;
}
