/**
 * AU head (SPEC §4): embedding -> Dense(128, relu) -> Dense(12, sigmoid), binary cross-entropy
 * weighted per AU (w0 = N / (2 neg), w1 = N / (2 pos)), batch 512, 5 epochs; per-AU threshold
 * chosen on validation from 0.1..0.9 to maximise that AU's F1.
 */
import { binaryF1 } from './metrics.ts';
import {
  CPU_RUNTIME,
  trainMlp,
  type MlpConfig,
  type MlpPredictor,
  type TrainedMlp,
  type TrainingRuntime,
} from './mlp.ts';
import type { RowSet } from './rowset.ts';

export const AU_DEFAULTS: MlpConfig = Object.freeze({
  hidden: 128,
  epochs: 5,
  batchSize: 512,
  learningRate: 1e-3,
  seed: 1,
});

/** The candidate thresholds 0.1, 0.2, ..., 0.9. */
export const AU_THRESHOLDS = Object.freeze(Array.from({ length: 9 }, (_, i) => (i + 1) / 10));

/** Per AU: w0 = N / (2 neg), w1 = N / (2 pos); an AU with no negatives (positives) gets w0 (w1) = 0. */
export function auClassWeights(
  y: Uint8Array,
  n: number,
  aus: number,
): { w0: Float32Array; w1: Float32Array } {
  const pos = new Float64Array(aus);
  for (let i = 0; i < n; i++) for (let j = 0; j < aus; j++) pos[j]! += y[i * aus + j]!;
  return auClassWeightsOfPositives(pos, n);
}

/** The same from the positives per AU among n rows. */
export function auClassWeightsOfPositives(
  pos: ArrayLike<number>,
  n: number,
): { w0: Float32Array; w1: Float32Array } {
  return {
    w0: Float32Array.from(pos, (p) => (n - p > 0 ? n / (2 * (n - p)) : 0)),
    w1: Float32Array.from(pos, (p) => (p > 0 ? n / (2 * p) : 0)),
  };
}

/**
 * Per AU, the threshold from AU_THRESHOLDS that maximises its F1 on (probabilities [n, aus],
 * truth [n, aus]); the lowest such threshold on ties.
 */
export function searchThresholds(
  p: ArrayLike<number>,
  truth: Uint8Array,
  aus: number,
): { thresholds: number[]; f1: number[] } {
  const n = truth.length / aus;
  const thresholds: number[] = [];
  const f1: number[] = [];
  const t = new Uint8Array(n);
  const q = new Uint8Array(n);
  for (let j = 0; j < aus; j++) {
    for (let i = 0; i < n; i++) t[i] = truth[i * aus + j]!;
    let best = { threshold: 0.5, f1: -1 };
    for (const threshold of AU_THRESHOLDS) {
      for (let i = 0; i < n; i++) q[i] = p[i * aus + j]! >= threshold ? 1 : 0;
      const f = binaryF1(t, q);
      if (f > best.f1) best = { threshold, f1: f };
    }
    thresholds.push(best.threshold);
    f1.push(best.f1);
  }
  return { thresholds, f1 };
}

export interface TrainedAuHead extends TrainedMlp {
  readonly w0: Float32Array;
  readonly w1: Float32Array;
}

/**
 * Trains on a row set whose label columns are the 0/1 AUs (weights from their sums), as the
 * training graph's weighted BCE wants them: target = w1 y, weight = w0 (1 - y) + w1 y; `validate`
 * scores each epoch for best-epoch selection (NaN: keep the last).
 */
export async function trainAuHeadOnRows(
  train: RowSet,
  validate: (predictor: MlpPredictor) => Promise<number>,
  config: MlpConfig = AU_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedAuHead> {
  const aus = train.width - train.dim;
  const { w0, w1 } = auClassWeightsOfPositives(train.labelSums, train.n);
  const trained = await trainMlp(
    {
      rows: train,
      encode: (row, l, target, weight, t) => {
        for (let j = 0; j < aus; j++) {
          const present = row[l + j]! > 0;
          target[t + j] = present ? w1[j]! : 0;
          weight[t + j] = present ? w1[j]! : w0[j]!;
        }
      },
    },
    { output: 'sigmoid', outputs: aus },
    config,
    validate,
    runtime,
  );
  return { ...trained, w0, w1 };
}
