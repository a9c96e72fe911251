/**
 * Audio embedding throughput (docs/MODELS.md), on wav2vec2-base-960h's architecture as
 * bench/models/build.sh builds it (random weights; bench/models/audioGraphs.ts):
 *
 * - embed.wav2vec2_base.bare.b<N>.per_s: windows per second of a bare session.run loop on batches
 *   of N windows of 1.0 s of 16 kHz voice-like sound, normalised beforehand, one CPU session with
 *   intra-op threads = cores (models/onnxRuntime.ts): ONNX Runtime's own ceiling for the graph;
 * - embed.wav2vec2_base.bare.per_s: the best of those batches, and .bare.batch which one it was.
 *
 * Skipped, with a line saying how to build it, when build.sh has not built the graph. Each figure
 * is the best of REPEATS runs (other load on a shared machine only ever slows a run down).
 */
import { existsSync } from 'node:fs';
import { availableParallelism } from 'node:os';
import type { Benchmark, Figure } from './harness.ts';
import { benchAudioGraphs, openAudioBare, voiceWindows } from './models/audioGraphs.ts';
import { benchModelsDir } from './models/folder.ts';

const GRAPH = 'bench_wav2vec2_base';
const FIGURES = 'embed.wav2vec2_base';
const WINDOW_SECONDS = 1;
const BATCHES = [1, 8, 16] as const;
const REPEATS = 2;

export const benchmarks: Benchmark[] = [
  {
    name: FIGURES,
    async run() {
      const graph = benchAudioGraphs().find((g) => g.name === GRAPH);
      if (!graph || !existsSync(graph.path)) {
        process.stderr.write(
          `bench: ${FIGURES} skipped: no ${GRAPH} graph in ${benchModelsDir()} (build it with \`bash bench/models/build.sh --only ${GRAPH}\`, about 2 minutes after a 4-minute torch install)\n`,
        );
        return {};
      }
      const samples = WINDOW_SECONDS * graph.sampleRate;
      const figures: Record<string, Figure> = {};
      let best = { perSecond: 0, batch: 0 };
      const session = await openAudioBare(graph.path, graph, availableParallelism());
      try {
        for (const batch of BATCHES) {
          const windows = voiceWindows(batch, samples, graph.sampleRate);
          let top = 0;
          for (let i = 0; i < REPEATS; i++)
            top = Math.max(top, (await session.rate(windows, batch, 3)).perSecond);
          process.stderr.write(`bench: ${FIGURES} bare batch ${batch}: ${top.toFixed(2)} windows/s\n`);
          figures[`${FIGURES}.bare.b${batch}.per_s`] = { value: top, unit: 'windows/s' };
          if (top > best.perSecond) best = { perSecond: top, batch };
        }
      } finally {
        await session.release();
      }
      figures[`${FIGURES}.bare.per_s`] = { value: best.perSecond, unit: 'windows/s' };
      figures[`${FIGURES}.bare.batch`] = { value: best.batch, unit: 'windows' };
      return figures;
    },
  },
];
