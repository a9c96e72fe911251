/**
 * Which benchmarks `--only PREFIX` runs (bench/run.ts): those whose name starts with the prefix;
 * when none does, those with the longest name that the prefix starts with. So `embed.wav2vec2`
 * runs embed.wav2vec2_base alone, not also the (slow) image benchmark named embed, while
 * `embed.bench_enet_b0` still runs embed, which reports that backbone among others. No prefix:
 * all of them.
 */
export function selectBenchmarks(names: readonly string[], only: string | undefined): Set<string> {
  if (!only) return new Set(names);
  const under = names.filter((name) => name.startsWith(only));
  if (under.length > 0) return new Set(under);
  const above = names.filter((name) => only.startsWith(name));
  const longest = Math.max(0, ...above.map((name) => name.length));
  return new Set(above.filter((name) => name.length === longest));
}
