/**
 * AU head (SPEC §4): embedding -> Dense(128, relu) -> Dense(12, sigmoid), binary cross-entropy
 * weighted per AU (w0 = N / (2 neg), w1 = N / (2 pos)), batch 512, 5 epochs; per-AU threshold
 * chosen on validation from 0.1..0.9 to maximise that AU's F1.
 */
import { auF1, binaryF1 } from './metrics.ts';
import { CPU_RUNTIME, trainMlp, type MlpConfig, type TrainedMlp, type TrainingRuntime } from './mlp.ts';
import { thresholdRows } from './rows.ts';

export const AU_DEFAULTS: MlpConfig = Object.freeze({
  hidden: 128,
  epochs: 5,
  batchSize: 512,
  learningRate: 1e-3,
  seed: 1,
});

/** The candidate thresholds 0.1, 0.2, ..., 0.9. */
export const AU_THRESHOLDS = Object.freeze(Array.from({ length: 9 }, (_, i) => (i + 1) / 10));

/** Rows with 0/1 labels per AU: x float32 [n, dim], y [n, aus]. */
export interface MultiLabelSamples {
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly n: number;
  readonly dim: number;
  readonly aus: number;
}

/** Per AU: w0 = N / (2 neg), w1 = N / (2 pos); an AU with no negatives (positives) gets w0 (w1) = 0. */
export function auClassWeights(
  y: Uint8Array,
  n: number,
  aus: number,
): { w0: Float32Array; w1: Float32Array } {
  const pos = new Float64Array(aus);
  for (let i = 0; i < n; i++) for (let j = 0; j < aus; j++) pos[j]! += y[i * aus + j]!;
  return {
    w0: Float32Array.from(pos, (p) => (n - p > 0 ? n / (2 * (n - p)) : 0)),
    w1: Float32Array.from(pos, (p) => (p > 0 ? n / (2 * p) : 0)),
  };
}

/** Training-graph feeds of the weighted BCE: target = w1 y, weight = w0 (1 - y) + w1 y. */
export function weightedBceFeeds(
  y: Uint8Array,
  w0: Float32Array,
  w1: Float32Array,
): { target: Float32Array; weight: Float32Array } {
  const aus = w0.length;
  const target = new Float32Array(y.length);
  const weight = new Float32Array(y.length);
  for (let i = 0; i < y.length; i++) {
    const j = i % aus;
    target[i] = y[i] ? w1[j]! : 0;
    weight[i] = y[i] ? w1[j]! : w0[j]!;
  }
  return { target, weight };
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

/** Trains the head; the best epoch by mean F1 at threshold 0.5 on `valid` (last epoch without it). */
export async function trainAuHead(
  train: MultiLabelSamples,
  valid: MultiLabelSamples | undefined,
  config: MlpConfig = AU_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedAuHead> {
  const { w0, w1 } = auClassWeights(train.y, train.n, train.aus);
  const half = new Array<number>(train.aus).fill(0.5);
  const trained = await trainMlp(
    { x: train.x, n: train.n, dim: train.dim, ...weightedBceFeeds(train.y, w0, w1) },
    { output: 'sigmoid', outputs: train.aus },
    config,
    async (predictor) =>
      valid && valid.n > 0
        ? auF1(valid.y, thresholdRows(await predictor.predict(valid.x, valid.n), half), valid.aus).mean
        : NaN,
    runtime,
  );
  return { ...trained, w0, w1 };
}
