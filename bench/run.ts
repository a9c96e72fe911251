/**
 * `npm run bench [-- --only PREFIX]`: runs the benchmarks in bench/*.bench.ts, prints a table and
 * writes bench/results/latest.json as {"machine": {...}, "figures": {name: {value, unit}}}.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { projectRoot } from '../infra/paths.ts';
import { writeResults, type Benchmark, type Figure } from './harness.ts';

const { values } = parseArgs({ options: { only: { type: 'string' }, module: { type: 'string' } } });
const only = values.only;
const benchDir = join(projectRoot, 'bench');

/** Runs one module's benchmarks in this process; returns their figures. */
async function runModule(file: string): Promise<Record<string, Figure>> {
  const figures: Record<string, Figure> = {};
  const module = (await import(pathToFileURL(join(benchDir, file)).href)) as { benchmarks: Benchmark[] };
  for (const benchmark of module.benchmarks) {
    if (only && !benchmark.name.startsWith(only) && !only.startsWith(benchmark.name)) continue;
    process.stderr.write(`bench: ${benchmark.name} ...\n`);
    const result = await benchmark.run();
    for (const [name, figure] of Object.entries(result)) {
      if (only && !name.startsWith(only) && !benchmark.name.startsWith(only)) continue;
      figures[name] = figure;
    }
  }
  return figures;
}

if (values.module) {
  // Child mode: one module, figures as JSON on the last line of stdout.
  console.log(JSON.stringify(await runModule(values.module)));
  process.exit(0);
}

// Each module runs in a fresh process, so no benchmark inherits another's heap, JIT state or
// resident memory (peak RSS figures would otherwise include what earlier benchmarks left).
const figures: Record<string, Figure> = {};
for (const file of readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort()) {
  const args = [
    '--import',
    'tsx',
    join(benchDir, 'run.ts'),
    '--module',
    file,
    ...(only ? ['--only', only] : []),
  ];
  const child = spawnSync(process.execPath, args, {
    cwd: projectRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
    encoding: 'utf8',
  });
  if (child.status !== 0) throw new Error(`bench: ${file} failed (exit ${child.status})`);
  Object.assign(figures, JSON.parse(child.stdout.trim().split('\n').pop() ?? '{}') as Record<string, Figure>);
}

writeResults('latest.json', figures);
