/**
 * EXPR head (SPEC §4): embedding -> Dense(128, relu) -> Dense(8, softmax), cross-entropy with class
 * weights max_count / count, Adam lr 1e-3, batch 256, 10 epochs, best epoch by validation macro F1.
 */
import { macroF1 } from './metrics.ts';
import { CPU_RUNTIME, trainMlp, type MlpConfig, type TrainedMlp, type TrainingRuntime } from './mlp.ts';
import { argmaxRows } from './rows.ts';

export const EXPR_DEFAULTS: MlpConfig = Object.freeze({
  hidden: 128,
  epochs: 10,
  batchSize: 256,
  learningRate: 1e-3,
  seed: 1,
});

/** Rows with one class label each: x float32 [n, dim], y class indices [n]. */
export interface ClassSamples {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly dim: number;
}

/** max_count / count per class; a class absent from training gets weight 0. */
export function classWeights(y: ArrayLike<number>, classes: number): Float32Array {
  const counts = new Float64Array(classes);
  for (let i = 0; i < y.length; i++) counts[y[i]!]!++;
  const max = Math.max(...counts);
  return Float32Array.from(counts, (c) => (c > 0 ? max / c : 0));
}

/** Softmax-head targets: the class weight at the true class, 0 elsewhere; float32 [n, classes]. */
export function weightedOneHot(y: ArrayLike<number>, weights: Float32Array): Float32Array {
  const classes = weights.length;
  const target = new Float32Array(y.length * classes);
  for (let i = 0; i < y.length; i++) target[i * classes + y[i]!] = weights[y[i]!]!;
  return target;
}

export interface TrainedExprHead extends TrainedMlp {
  readonly classWeights: Float32Array;
}

/** Trains the head; the best epoch is chosen by frame-level macro F1 on `valid` (last epoch without it). */
export async function trainExprHead(
  train: ClassSamples,
  valid: ClassSamples | undefined,
  classes: number,
  config: MlpConfig = EXPR_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedExprHead> {
  const weights = classWeights(train.y, classes);
  const trained = await trainMlp(
    { x: train.x, n: train.n, dim: train.dim, target: weightedOneHot(train.y, weights) },
    { output: 'softmax', outputs: classes },
    config,
    async (predictor) =>
      valid && valid.n > 0
        ? macroF1(valid.y, argmaxRows(await predictor.predict(valid.x, valid.n), classes), classes)
        : NaN,
    runtime,
  );
  return { ...trained, classWeights: weights };
}
