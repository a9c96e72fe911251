/**
 * EMI head (SPEC §4): one vector per video, the concatenation of mean, std (population), min and
 * max over its frames of the backbone scores (10-d -> 40-d); by default Dense(6, sigmoid) on the
 * standardised vector, loss 1 - mean Pearson r over the videos of a batch; `head: 'reference'`
 * is the notebooks' Dense(64, relu) -> Dense(6, sigmoid) on the raw vector with a class-weighted
 * Pearson loss (heads/emiMlp.ts). The reference uses every 5th face.
 */
import { predictEmiMlp, trainEmiMlp, type EmiMlpHead } from './emiMlp.ts';
import { emiScore } from './metrics.ts';
import {
  predictLinear,
  trainLinear,
  type LinearConfig,
  type LinearHead,
  type LinearTrainingSet,
  type TrainedLinear,
} from './linear.ts';

export interface EmiConfig extends LinearConfig {
  /** Faces pooled: every frameStride-th. */
  readonly frameStride: number;
  /** 'linear' (absent): Dense(6) on standardised inputs; 'reference': Dense(hidden, relu) -> Dense(6) on raw inputs. */
  readonly head?: 'linear' | 'reference';
  /** Hidden units of the reference head (64). */
  readonly hidden?: number;
}

/**
 * The linear head with our optimiser settings (SPEC §4 names none): selectable with
 * `--emi-head linear`; it beats the reference head only where the intensities are linear in the
 * pooled scores (docs/HEADS.md, both measured).
 */
export const EMI_LINEAR: EmiConfig = Object.freeze({
  epochs: 100,
  batchSize: 64,
  learningRate: 1e-2,
  l2: 0,
  seed: 1,
  frameStride: 5,
  head: 'linear',
});

/** The notebooks' EMI head and optimiser (SPEC §9): Adam lr 1e-3, batch 512, L2 1/512, raw inputs. */
export const EMI_REFERENCE: EmiConfig = Object.freeze({
  ...EMI_LINEAR,
  batchSize: 512,
  learningRate: 1e-3,
  l2: 1 / 512,
  head: 'reference',
  hidden: 64,
});

/** The reference head is the default: as good or better on the synthetic data (docs/HEADS.md). */
export const EMI_DEFAULTS: EmiConfig = EMI_REFERENCE;

export type EmiHead = LinearHead | EmiMlpHead;

/** Intensities [n, outputs] of pooled rows x [n, inputDim]. */
export function predictEmi(head: EmiHead, x: ArrayLike<number>, n: number): Float64Array {
  return 'kind' in head ? predictEmiMlp(head, x, n) : predictLinear(head, x, n);
}

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
export function trainEmi(
  train: LinearTrainingSet,
  valid: LinearTrainingSet | undefined,
  config: EmiConfig = EMI_DEFAULTS,
  outputs = 6,
): Omit<TrainedLinear, 'head'> & { head: EmiHead } {
  if (config.head !== 'reference') return trainEmiHead(train, valid, config, outputs);
  return trainEmiMlp(train, outputs, { ...config, hidden: config.hidden ?? 64 }, (head) =>
    valid && valid.n > 1 ? emiScore(valid.target, predictEmiMlp(head, valid.x, valid.n), outputs).mean : NaN,
  );
}

/** The linear head; see trainEmi for either. */
export function trainEmiHead(
  train: LinearTrainingSet,
  valid: LinearTrainingSet | undefined,
  config: LinearConfig = EMI_LINEAR,
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
