/**
 * VA head (SPEC §4): the backbone's scores (10-d for multi-task backbones, 8-d otherwise), not the
 * embedding, -> Dense(2, tanh) with L2 1/1024 on the kernel; loss 1 - (CCC_V + CCC_A) / 2;
 * batch 1024, 5 epochs. Inputs are used as they are (no standardisation), as in the reference.
 */
import { vaScore } from './metrics.ts';
import {
  predictLinear,
  trainLinear,
  type LinearConfig,
  type LinearHead,
  type LinearTrainingSet,
  type TrainedLinear,
} from './linear.ts';

export const VA_DEFAULTS: LinearConfig = Object.freeze({
  epochs: 5,
  batchSize: 1024,
  learningRate: 1e-3,
  l2: 1 / 1024,
  seed: 1,
});

/** Mean CCC of predictions [n, 2] against truth [n, 2]. */
export function vaMeanCcc(truth: ArrayLike<number>, pred: ArrayLike<number>): number {
  const col = (a: ArrayLike<number>, c: number): number[] =>
    Array.from({ length: a.length / 2 }, (_, i) => a[i * 2 + c]!);
  return vaScore(
    { valence: col(truth, 0), arousal: col(truth, 1) },
    { valence: col(pred, 0), arousal: col(pred, 1) },
  ).mean;
}

/**
 * x: the backbone's scores [n, dim]; target [n, 2] (valence, arousal) in [-1, 1]; `validate`
 * scores each epoch (higher is better; NaN keeps the last epoch), mean CCC on `valid` by default.
 */
export function trainVaHead(
  train: LinearTrainingSet,
  valid: LinearTrainingSet | undefined,
  config: LinearConfig = VA_DEFAULTS,
  validate: (head: LinearHead) => number = (head) =>
    valid && valid.n > 1 ? vaMeanCcc(valid.target, predictLinear(head, valid.x, valid.n)) : NaN,
): TrainedLinear {
  return trainLinear(train, 2, 'tanh', 'ccc', config, validate, false);
}
