/** Benchmark contract: each bench/*.bench.ts module exports `benchmarks`. */
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
