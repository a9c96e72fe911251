/**
 * Head training throughput: the EXPR MLP (1280 -> 128 -> 8, batch 256) on ONNX Runtime and the VA
 * linear head (10 -> 2, batch 1024), on generated rows held in memory (no store I/O).
 */
import { seededRandom } from '../datasets/synthetic.ts';
import { trainExprHead } from '../heads/expr.ts';
import { trainVaHead, VA_DEFAULTS } from '../heads/va.ts';
import type { Benchmark } from './harness.ts';

const EXPR_ROWS = 40_000;
const EXPR_DIM = 1280;
const VA_ROWS = 200_000;

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
      const expr = await trainExprHead({ x, y, n: EXPR_ROWS, dim: EXPR_DIM }, undefined, 8, {
        hidden: 128,
        epochs: 3,
        batchSize: 256,
        learningRate: 1e-3,
        seed: 1,
      });
      const scores = Float32Array.from({ length: VA_ROWS * 10 }, () => rand() * 4 - 2);
      const va = Float32Array.from({ length: VA_ROWS * 2 }, (_, i) =>
        Math.tanh(0.3 * scores[(i >> 1) * 10 + (i & 1)]!),
      );
      const vaHead = trainVaHead({ scores, n: VA_ROWS, dim: 10, target: va }, undefined, {
        ...VA_DEFAULTS,
        epochs: 3,
      });
      return {
        'heads.expr_mlp.samples_per_s': { value: (EXPR_ROWS * 3) / expr.trainSeconds, unit: 'samples/s' },
        'heads.va_linear.samples_per_s': { value: (VA_ROWS * 3) / vaHead.trainSeconds, unit: 'samples/s' },
      };
    },
  },
];
