/**
 * `npm run bench [-- --only PREFIX]`: runs the benchmarks in bench/*.bench.ts, prints a table and
 * merges the figures into bench/results/latest.json ({"machine": {...}, "figures": {name: {value,
 * unit, date}}}): a run of some benchmarks replaces their figures and keeps the others' with their
 * own dates. PREFIX runs the benchmarks whose name starts with it, else those with the longest
 * name it starts with (bench/select.ts: `--only embed.wav2vec2` runs embed.wav2vec2_base, not the
 * image benchmark embed). A PREFIX that matches no benchmark is an error.
 */
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { projectRoot } from '../base/paths.ts';
import { mergeResults, type Benchmark, type Figure } from './harness.ts';
import { selectBenchmarks } from './select.ts';

const { values } = parseArgs({ options: { only: { type: 'string' }, module: { type: 'string' } } });
const only = values.only;
const benchDir = join(projectRoot, 'bench');

async function benchmarksOf(file: string): Promise<Benchmark[]> {
  const module = (await import(pathToFileURL(join(benchDir, file)).href)) as { benchmarks: Benchmark[] };
  return module.benchmarks;
}

/** Runs one module's benchmarks in this process; returns their figures. */
async function runModule(file: string): Promise<Record<string, Figure>> {
  const figures: Record<string, Figure> = {};
  const benchmarks = await benchmarksOf(file);
  // The parent chose this module by the same rule over every module's names, and a module it
  // chose holds the benchmarks the rule picks over all of them.
  const chosen = selectBenchmarks(
    benchmarks.map((b) => b.name),
    only,
  );
  for (const benchmark of benchmarks) {
    if (!chosen.has(benchmark.name)) continue;
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
const modules = new Map<string, Benchmark[]>();
for (const file of readdirSync(benchDir)
  .filter((f) => f.endsWith('.bench.ts'))
  .sort())
  modules.set(file, await benchmarksOf(file));
const selected = selectBenchmarks(
  [...modules.values()].flat().map((b) => b.name),
  only,
);
const chosen = [...modules]
  .filter(([, benchmarks]) => benchmarks.some((b) => selected.has(b.name)))
  .map(([file]) => file);
if (chosen.length === 0) {
  const names = [...modules.values()].flat().map((b) => b.name);
  console.error(`bench: --only ${only} matches no benchmark; they are: ${names.join(', ')}`);
  process.exit(2);
}
const figures: Record<string, Figure> = {};
for (const file of chosen) {
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

mergeResults('latest.json', figures);
