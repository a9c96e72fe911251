/**
 * EMI head (SPEC §4): one vector per video, the concatenation of mean, std (population), min and
 * max over its frames of the backbone scores (10-d -> 40-d); Dense(6, sigmoid) on the standardised
 * vector; loss 1 - mean Pearson r over the videos of a batch. The reference uses every 5th face.
 */
import { emiScore } from './metrics.ts';
import {
  predictLinear,
  trainLinear,
  type LinearConfig,
  type LinearHead,
  type LinearTrainingSet,
  type TrainedLinear,
} from './linear.ts';

/** SPEC §4 names no optimiser settings for EMI; these are ours (docs/HEADS.md). */
export const EMI_DEFAULTS: LinearConfig & { readonly frameStride: number } = Object.freeze({
  epochs: 100,
  batchSize: 64,
  learningRate: 1e-2,
  l2: 0,
  seed: 1,
  frameStride: 5,
});

/**
 * Pools one video's face rows: scores [rows, k] -> [4k] = mean | std (population) | min | max,
 * over every `stride`-th row starting at the first.
 */
export function poolVideo(scores: ArrayLike<number>, rows: number, k: number, stride = 1): Float64Array {
  if (rows === 0) throw new Error('EMI pooling: expected at least one face row, got none');
  const out = new Float64Array(4 * k);
  const used = Math.ceil(rows / stride);
  for (let c = 0; c < k; c++) {
    let sum = 0;
    let min = Infinity;
    let max = -Infinity;
    for (let i = 0; i < rows; i += stride) {
      const v = scores[i * k + c]!;
      sum += v;
      min = Math.min(min, v);
      max = Math.max(max, v);
    }
    const mean = sum / used;
    let variance = 0;
    for (let i = 0; i < rows; i += stride) variance += (scores[i * k + c]! - mean) ** 2;
    out[c] = mean;
    out[k + c] = Math.sqrt(variance / used);
    out[2 * k + c] = min;
    out[3 * k + c] = max;
  }
  return out;
}

/** Pooled videos: x [videos, 4k] (poolVideo); target [videos, 6] intensities in [0, 1]. */
export function trainEmiHead(
  train: LinearTrainingSet,
  valid: LinearTrainingSet | undefined,
  config: LinearConfig = EMI_DEFAULTS,
  outputs = 6,
): TrainedLinear {
  return trainLinear(
    train,
    outputs,
    'sigmoid',
    'pearson',
    config,
    (head: LinearHead) =>
      valid && valid.n > 1
        ? emiScore(valid.target, predictLinear(head, valid.x, valid.n), outputs).mean
        : NaN,
    true,
  );
}
