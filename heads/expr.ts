/**
 * EXPR head (SPEC §4): embedding -> Dense(128, relu) -> Dense(8, softmax), cross-entropy with class
 * weights max_count / count, Adam lr 1e-3, batch 256, 10 epochs, best epoch by validation macro F1.
 */
import {
  CPU_RUNTIME,
  trainMlp,
  type MlpConfig,
  type MlpPredictor,
  type TrainedMlp,
  type TrainingRuntime,
} from './mlp.ts';
import type { RowSet } from './rowset.ts';

export const EXPR_DEFAULTS: MlpConfig = Object.freeze({
  hidden: 128,
  epochs: 10,
  batchSize: 256,
  learningRate: 1e-3,
  seed: 1,
});

/** max_count / count per class; a class absent from training gets weight 0. */
export function classWeights(y: ArrayLike<number>, classes: number): Float32Array {
  const counts = new Float64Array(classes);
  for (let i = 0; i < y.length; i++) counts[y[i]!]!++;
  return classWeightsOfCounts(counts);
}

/** The same from the count of each class. */
export function classWeightsOfCounts(counts: ArrayLike<number>): Float32Array {
  const max = Math.max(...Array.from(counts));
  return Float32Array.from(counts, (c) => (c > 0 ? max / c : 0));
}

/** One-hot label columns float32 [n, classes] of class indices y [n]. */
export function oneHot(y: ArrayLike<number>, classes: number): Float32Array {
  const out = new Float32Array(y.length * classes);
  for (let i = 0; i < y.length; i++) out[i * classes + y[i]!] = 1;
  return out;
}

export interface TrainedExprHead extends TrainedMlp {
  readonly classWeights: Float32Array;
}

/**
 * Trains on a row set whose label columns are one-hot classes (class weights from their sums);
 * `validate` scores each epoch for best-epoch selection (NaN: keep the last).
 */
export async function trainExprHeadOnRows(
  train: RowSet,
  validate: (predictor: MlpPredictor) => Promise<number>,
  config: MlpConfig = EXPR_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedExprHead> {
  const classes = train.width - train.dim;
  const weights = classWeightsOfCounts(train.labelSums);
  const trained = await trainMlp(
    {
      rows: train,
      // Softmax targets: the class weight at the true class, 0 elsewhere.
      encode: (row, l, target, _weight, t) => {
        for (let k = 0; k < classes; k++) target[t + k] = row[l + k]! * weights[k]!;
      },
    },
    { output: 'softmax', outputs: classes },
    config,
    validate,
    runtime,
  );
  return { ...trained, classWeights: weights };
}
