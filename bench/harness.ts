/** Benchmark contract: each bench/*.bench.ts module exports `benchmarks`. */
import { mkdirSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../infra/paths.ts';

export interface Figure {
  readonly value: number;
  readonly unit: string;
}

export interface Benchmark {
  /** Prefix shared by every figure it reports, e.g. "store"; `--only` matches against it and the figure names. */
  readonly name: string;
  run(): Promise<Record<string, Figure>>;
}

/** Wall time of fn in seconds, and its result. */
export async function timed<T>(fn: () => Promise<T>): Promise<{ seconds: number; result: T }> {
  const start = process.hrtime.bigint();
  const result = await fn();
  return { seconds: Number(process.hrtime.bigint() - start) / 1e9, result };
}

/** Samples the resident set size while fn runs; returns the peak in MB. */
export async function peakRss<T>(fn: () => Promise<T>): Promise<{ peakMb: number; result: T }> {
  let peak = process.memoryUsage.rss();
  const timer = setInterval(() => (peak = Math.max(peak, process.memoryUsage.rss())), 20);
  try {
    const result = await fn();
    peak = Math.max(peak, process.memoryUsage.rss());
    return { peakMb: peak / 1024 / 1024, result };
  } finally {
    clearInterval(timer);
  }
}

/**
 * Writes figures as bench/results/<file> ({"machine": {...}, "figures": {name: {value, unit}}},
 * the bench format) and prints them as a table.
 */
export function writeResults(
  file: string,
  figures: Record<string, Figure>,
  extra: Record<string, unknown> = {},
): void {
  const machine = {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    platform: `${platform()} ${release()}`,
    node: process.version,
    date: new Date().toISOString(),
    ...extra,
  };
  const out = join(projectRoot, 'bench', 'results');
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, file), JSON.stringify({ machine, figures }, null, 2));
  const width = Math.max(6, ...Object.keys(figures).map((n) => n.length));
  console.log(`${'figure'.padEnd(width)}  ${'value'.padStart(12)}  unit`);
  for (const [name, f] of Object.entries(figures)) {
    const value = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(2);
    console.log(`${name.padEnd(width)}  ${value.padStart(12)}  ${f.unit}`);
  }
  console.log(
    `\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; written to bench/results/${file}`,
  );
}
