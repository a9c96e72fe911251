/** Benchmark contract: each bench/*.bench.ts module exports `benchmarks`. */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, platform, release, totalmem } from 'node:os';
import { join } from 'node:path';
import { projectRoot } from '../base/paths.ts';

export interface Figure {
  readonly value: number;
  readonly unit: string;
  /** When the figure was measured (ISO 8601); set when results are written. */
  readonly date?: string;
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

interface Machine {
  readonly cpu: string;
  readonly cores: number;
  readonly memoryGb: number;
  readonly [fact: string]: unknown;
}

function machineFacts(extra: Record<string, unknown>): Machine {
  return {
    cpu: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memoryGb: Math.round(totalmem() / 1024 ** 3),
    platform: `${platform()} ${release()}`,
    node: process.version,
    date: new Date().toISOString(),
    ...extra,
  };
}

const resultsDir = (): string => join(projectRoot, 'bench', 'results');

/**
 * Merges figures into bench/results/<file>: each new figure replaces the one of its name, dated
 * now; figures of benchmarks that did not run stay, with their own dates. Prints the new ones.
 */
export function mergeResults(file: string, figures: Record<string, Figure>): void {
  const path = join(resultsDir(), file);
  const earlier = existsSync(path)
    ? (JSON.parse(readFileSync(path, 'utf8')) as { figures?: Record<string, Figure> }).figures
    : undefined;
  const date = new Date().toISOString();
  const dated = Object.fromEntries(Object.entries(figures).map(([name, f]) => [name, { ...f, date }]));
  writeResults(file, { ...earlier, ...dated }, {}, Object.keys(figures));
}

/**
 * Writes figures as bench/results/<file> ({"machine": {...}, "figures": {name: {value, unit}}},
 * the bench format) and prints them as a table.
 */
export function writeResults(
  file: string,
  figures: Record<string, Figure>,
  extra: Record<string, unknown> = {},
  shown: readonly string[] = Object.keys(figures),
): void {
  const machine = machineFacts(extra);
  const out = resultsDir();
  mkdirSync(out, { recursive: true });
  writeFileSync(join(out, file), JSON.stringify({ machine, figures }, null, 2));
  const width = Math.max(6, ...shown.map((n) => n.length));
  console.log(`${'figure'.padEnd(width)}  ${'value'.padStart(12)}  unit`);
  for (const name of shown) {
    const f = figures[name]!;
    const value = Number.isInteger(f.value) ? String(f.value) : f.value.toFixed(2);
    console.log(`${name.padEnd(width)}  ${value.padStart(12)}  ${f.unit}`);
  }
  console.log(
    `\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.memoryGb} GB; written to bench/results/${file}`,
  );
}
