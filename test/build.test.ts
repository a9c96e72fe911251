/**
 * Production runs what the build step made: the compiled JavaScript under build/ with node alone
 * (no tsx, no TypeScript), and the preprocessing kernel that `npm run build:kernel` compiled, which
 * media/kernels.ts only loads. The build tools are development dependencies.
 */
import test from 'ava';
import { spawn, spawnSync } from 'node:child_process';
import {
  copyFileSync,
  existsSync,
  mkdirSync,
  readFileSync,
  rmSync,
  utimesSync,
  writeFileSync,
} from 'node:fs';
import { join } from 'node:path';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { buildDir, projectRoot } from '../base/paths.ts';
import { KERNEL_FILE, KernelMissingError, readKernel } from '../media/kernels.ts';
import { tempDir, testServices } from './helpers/env.ts';
import { prebuildGeneratedModels } from './helpers/workers.ts';

interface Result {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
}

/** A module resolve hook that fails the process when it loads a TypeScript file or tsx. */
const NO_TYPESCRIPT_HOOK = `export async function resolve(specifier, context, next) {
  const found = await next(specifier, context);
  if (/\\.[cm]?ts$/.test(found.url) || found.url.includes('/node_modules/tsx/'))
    throw new Error('TypeScript loaded at run time: ' + found.url);
  return found;
}`;
const NO_TYPESCRIPT = `data:text/javascript,${encodeURIComponent(
  `import { register } from 'node:module'; register(${JSON.stringify(`data:text/javascript,${encodeURIComponent(NO_TYPESCRIPT_HOOK)}`)});`,
)}`;

/** Runs `node ARGS` with nothing preloaded (no tsx, no NODE_OPTIONS) but a hook refusing TypeScript. */
function plainNode(args: readonly string[], env: Readonly<Record<string, string>> = {}): Promise<Result> {
  const merged: NodeJS.ProcessEnv = { ...process.env, ...env };
  delete merged['NODE_OPTIONS'];
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', NO_TYPESCRIPT, ...args], {
      cwd: projectRoot,
      env: merged,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => (stdout += chunk));
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}

test.before('npm run build', () => {
  const built = spawnSync('npm', ['run', '--silent', 'build'], { cwd: projectRoot, encoding: 'utf8' });
  if (built.status !== 0)
    throw new Error(`npm run build exited ${built.status}: ${built.stdout}${built.stderr}`);
});

test('the hook that refuses TypeScript does refuse it', async (t) => {
  const run = await plainNode(['--input-type=module', '--eval', "await import('tsx/esm/api')"]);
  t.not(run.code, 0);
  t.regex(run.stderr, /TypeScript loaded at run time: .*\/node_modules\/tsx\//);
});

test('the compiled CLI starts with node alone and prints its help', async (t) => {
  const help = await plainNode([join(projectRoot, 'bin', 'affectflow.js'), '--help']);
  t.is(help.code, 0, help.stderr);
  t.regex(help.stdout, /^Usage: affectflow \[options\] \[command\]/);
  t.regex(help.stdout, /worker \[options\] <pool>/);
  t.is(help.stderr, '');
});

test('the package bin without a build says which command builds it', async (t) => {
  const copy = join(tempDir('build-bin'), 'bin');
  mkdirSync(copy);
  copyFileSync(join(projectRoot, 'bin', 'affectflow.js'), join(copy, 'affectflow.js'));
  const run = await plainNode([join(copy, 'affectflow.js'), '--help']);
  t.is(run.code, 2);
  t.is(
    run.stderr.trim(),
    `affectflow: ${join(copy, '..', 'build', 'cli', 'main.js')} is missing: the CLI runs compiled; run \`npm run build\` in ${join(copy, '..')}/ (infra/bootstrap.sh does) and try again`,
  );
});

test('a compiled run with node alone: frames, embedder threads with the prebuilt kernel, workflows bundled from build/', async (t) => {
  const home = tempDir('build-run');
  prebuildGeneratedModels(home);
  const dataset = join(tempDir('build-run-data'), 'videos');
  await generateSyntheticDataset(dataset, {
    ...TINY_SYNTHETIC,
    trainVideos: 0,
    validationVideos: 0,
    testVideos: 1,
    framesPerVideo: 8,
  });
  rmSync(join(dataset, 'affectflow-synthetic.json'));
  const run = await plainNode(
    [join(projectRoot, 'bin', 'affectflow.js'), 'run', dataset, '--shard-frames', '8'],
    {
      AFFECTFLOW_HOME: home,
      AFFECTFLOW_STORE: join(home, 'store'),
      TEMPORAL_ADDRESS: testServices.temporalAddress(),
      AWS_EC2_METADATA_DISABLED: 'true',
    },
  );
  t.is(run.code, 0, run.stderr);
  t.notRegex(run.stderr, /\.ts\b|tsx/, 'no TypeScript loaded');
  t.regex(run.stdout, /report: VA not trained: no VA labels in the dataset/);
});

test('the kernel is loaded, never compiled: a missing artefact names the build command', (t) => {
  t.true(existsSync(KERNEL_FILE));
  t.true(KERNEL_FILE.startsWith(buildDir));
  t.deepEqual([...readKernel().subarray(0, 4)], [0, 0x61, 0x73, 0x6d]); // "\0asm"
  const missing = join(tempDir('kernel-missing'), 'resample.wasm');
  const err = t.throws(() => readKernel(missing), { instanceOf: KernelMissingError });
  t.is(
    err?.message,
    `preprocessing kernel ${missing}: not built (expected the .wasm file); run \`npm run build\` (or \`npm run build:kernel\`; infra/bootstrap.sh runs it at install)`,
  );
  t.false(existsSync(missing), 'nothing built at load time');
});

test('a kernel older than its AssemblyScript source is refused, not run stale', (t) => {
  const stale = join(tempDir('kernel-stale'), 'resample.wasm');
  writeFileSync(stale, readFileSync(KERNEL_FILE));
  utimesSync(stale, new Date(0), new Date(0));
  const err = t.throws(() => readKernel(stale), { instanceOf: KernelMissingError });
  t.regex(err?.message ?? '', /: older than its source media\/kernels\/resample\.ts; run `npm run build`/);
});

test('build tools and unused packages are not production dependencies', (t) => {
  const pkg = JSON.parse(readFileSync(join(projectRoot, 'package.json'), 'utf8')) as {
    dependencies: Record<string, string>;
    devDependencies: Record<string, string>;
  };
  for (const name of ['assemblyscript', 'binaryen', 'tsx', 'typescript', 'protobufjs']) {
    t.false(name in pkg.dependencies, name);
  }
  t.true('assemblyscript' in pkg.devDependencies);
  t.true('tsx' in pkg.devDependencies);
  const lock = JSON.parse(readFileSync(join(projectRoot, 'package-lock.json'), 'utf8')) as {
    packages: Record<string, { dev?: boolean; dependencies?: Record<string, string> }>;
  };
  t.deepEqual(lock.packages['']?.dependencies, pkg.dependencies, 'lock matches package.json');
  for (const name of ['assemblyscript', 'binaryen', 'tsx'])
    t.true(lock.packages[`node_modules/${name}`]?.dev, name);
});
