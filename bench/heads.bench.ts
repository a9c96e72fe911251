/**
 * Head training throughput. The EXPR MLP (1280 -> 128 -> 8, batch 256) trains the way the train
 * activity does it: 120,000 committed 1280-d rows (written by bench/headsDataset.ts in a child
 * process) are read from a LocalDirStore in one pass into spill files, then streamed chunk by
 * chunk for 2 epochs, on ONNX Runtime with the default one graph thread and with one thread per
 * core. Samples per second count the batch loop (chunk reads, standardisation, graph runs with
 * the in-graph Adam step), not the first pass; the first pass has its own rows/s figure, and the
 * peak resident set covers both. The VA linear head (10 -> 2, batch 1024) trains on scores held
 * in memory, as the activity does.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { readFaceRows } from '../activities/faceRows.ts';
import { SpillDirectory } from '../activities/trainSpill.ts';
import { seededRandom } from '../base/random.ts';
import { EXPR_DEFAULTS, trainExprHeadOnRows } from '../heads/expr.ts';
import { CPU_RUNTIME } from '../heads/mlp.ts';
import { DEFAULT_HEAD_SETTINGS, type HeadSettings } from '../heads/tasks.ts';
import { trainVaHead, VA_DEFAULTS } from '../heads/va.ts';
import { projectRoot } from '../base/paths.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { peakRss, type Benchmark } from './harness.ts';
import { BENCH_DIM, BENCH_PREFIX, benchVideos } from './headsDataset.ts';

const EXPR_EPOCHS = 2;
const VA_ROWS = 200_000;
const VA_EPOCHS = 3;

export const benchmarks: Benchmark[] = [
  {
    name: 'heads',
    async run() {
      const root = mkdtempSync(join(tmpdir(), 'affectflow-bench-heads-'));
      try {
        execFileSync(
          process.execPath,
          ['--import', 'tsx', join(projectRoot, 'bench', 'headsDataset.ts'), join(root, 'store')],
          {
            cwd: projectRoot,
            stdio: ['ignore', 'ignore', 'inherit'],
          },
        );
        const store = new LocalDirStore(join(root, 'store'));
        const { manifest, expr, trainRows } = benchVideos();
        const labelled = manifest.videos.map((video, v) => ({
          labels: { EXPR: expr[v]! },
          splits: { EXPR: video.split },
        }));
        const config = { ...EXPR_DEFAULTS, epochs: EXPR_EPOCHS };
        const settings: HeadSettings = { ...DEFAULT_HEAD_SETTINGS, expr: config };
        const spill = await SpillDirectory.create(join(root, 'state'));
        try {
          const streamed = await peakRss(async () => {
            const read = await readFaceRows(
              store,
              manifest,
              manifest.shards.map((s) => `${BENCH_PREFIX}${s.shardId}.parquet`),
              labelled,
              settings,
              spill,
            );
            const trained = await trainExprHeadOnRows(
              read.embeddings.EXPR.train,
              () => Promise.resolve(NaN),
              config,
            );
            return { read, trained };
          });
          const { read, trained } = streamed.result;
          const train = read.embeddings.EXPR.train;
          if (train.n !== trainRows)
            throw new Error(`heads bench: expected ${trainRows} training rows, got ${train.n}`);
          const allCores = await trainExprHeadOnRows(train, () => Promise.resolve(NaN), config, {
            ...CPU_RUNTIME,
            intraOpThreads: 0,
          });

          const rand = seededRandom(21);
          const scores = Float32Array.from({ length: VA_ROWS * 10 }, () => rand() * 4 - 2);
          const va = Float32Array.from({ length: VA_ROWS * 2 }, (_, i) =>
            Math.tanh(0.3 * scores[(i >> 1) * 10 + (i & 1)]!),
          );
          const vaHead = trainVaHead({ x: scores, n: VA_ROWS, dim: 10, target: va }, undefined, {
            ...VA_DEFAULTS,
            epochs: VA_EPOCHS,
          });
          const samples = train.n * EXPR_EPOCHS;
          const perSecond = (n: number, seconds: number) => ({ value: n / seconds, unit: 'samples/s' });
          return {
            'heads.expr_mlp.samples_per_s': perSecond(samples, trained.trainSeconds),
            'heads.expr_mlp.samples_per_cpu_s': {
              value: samples / trained.trainCpuSeconds,
              unit: 'samples/CPU-s',
            },
            'heads.expr_mlp.all_cores.samples_per_s': perSecond(samples, allCores.trainSeconds),
            'heads.expr_mlp.read_rows_per_s': { value: read.rows / read.seconds, unit: 'rows/s' },
            'heads.expr_mlp.peak_rss_mb': { value: streamed.peakMb, unit: 'MB' },
            'heads.expr_mlp.train_rows_mb': { value: (train.n * BENCH_DIM * 4) / 2 ** 20, unit: 'MB' },
            'heads.va_linear.samples_per_s': perSecond(VA_ROWS * VA_EPOCHS, vaHead.trainSeconds),
          };
        } finally {
          await spill.dispose();
        }
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  },
];
