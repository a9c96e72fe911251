/**
 * Head training throughput on generated rows held in memory (no store I/O): the EXPR MLP
 * (1280 -> 128 -> 8, batch 256) on ONNX Runtime with the default one graph thread and with one
 * thread per core, and the VA linear head (10 -> 2, batch 1024). Samples per second count the
 * batch loop only (graph runs with the in-graph Adam step, batch assembly), not validation; the
 * per-CPU-second figure divides by this process's CPU time instead of wall time, which is what the
 * head would reach with the cores to itself.
 */
import { seededRandom } from '../datasets/synthetic.ts';
import { EXPR_DEFAULTS, trainExprHead } from '../heads/expr.ts';
import { CPU_RUNTIME } from '../heads/mlp.ts';
import { trainVaHead, VA_DEFAULTS } from '../heads/va.ts';
import type { Benchmark } from './harness.ts';

const EXPR_ROWS = 30_000;
const EXPR_DIM = 1280;
const EXPR_EPOCHS = 2;
const VA_ROWS = 200_000;
const VA_EPOCHS = 3;

export const benchmarks: Benchmark[] = [
  {
    name: 'heads',
    async run() {
      const rand = seededRandom(21);
      const x = Float32Array.from({ length: EXPR_ROWS * EXPR_DIM }, () => rand() * 2 - 1);
      const y = Int32Array.from(
        { length: EXPR_ROWS },
        (_, i) => (x[i * EXPR_DIM]! > 0 ? 1 : 0) + (i % 4) * 2,
      );
      const rows = { x, y, n: EXPR_ROWS, dim: EXPR_DIM };
      const config = { ...EXPR_DEFAULTS, epochs: EXPR_EPOCHS };
      const oneThread = await trainExprHead(rows, undefined, 8, config, CPU_RUNTIME);
      const allCores = await trainExprHead(rows, undefined, 8, config, { ...CPU_RUNTIME, intraOpThreads: 0 });

      const scores = Float32Array.from({ length: VA_ROWS * 10 }, () => rand() * 4 - 2);
      const va = Float32Array.from({ length: VA_ROWS * 2 }, (_, i) =>
        Math.tanh(0.3 * scores[(i >> 1) * 10 + (i & 1)]!),
      );
      const vaHead = trainVaHead({ scores, n: VA_ROWS, dim: 10, target: va }, undefined, {
        ...VA_DEFAULTS,
        epochs: VA_EPOCHS,
      });
      const perSecond = (samples: number, seconds: number) => ({
        value: samples / seconds,
        unit: 'samples/s',
      });
      return {
        'heads.expr_mlp.samples_per_s': perSecond(EXPR_ROWS * EXPR_EPOCHS, oneThread.trainSeconds),
        'heads.expr_mlp.samples_per_cpu_s': {
          value: (EXPR_ROWS * EXPR_EPOCHS) / oneThread.trainCpuSeconds,
          unit: 'samples/CPU-s',
        },
        'heads.expr_mlp.all_cores.samples_per_s': perSecond(EXPR_ROWS * EXPR_EPOCHS, allCores.trainSeconds),
        'heads.va_linear.samples_per_s': perSecond(VA_ROWS * VA_EPOCHS, vaHead.trainSeconds),
      };
    },
  },
];
