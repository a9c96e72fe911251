/**
 * The notebooks' validation losses, for their best-epoch criterion (heads/protocol.ts bestEpoch
 * 'reference'): Keras evaluates the training loss on the validation rows batch by batch and
 * averages the batch losses weighted by their sizes.
 */
import { correlationLoss } from './linear.ts';

/** Keras' clipping of probabilities inside binary cross-entropy. */
const EPSILON = 1e-7;

/**
 * VA: 1 - (CCC_V + CCC_A) / 2 per consecutive batch of `batchSize` rows, averaged weighted by
 * batch size. truth, predicted: [n, 2].
 */
export function referenceVaLoss(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  n: number,
  batchSize: number,
): number {
  let sum = 0;
  for (let start = 0; start < n; start += batchSize) {
    const m = Math.min(batchSize, n - start);
    const slice = (a: ArrayLike<number>) => Float64Array.from({ length: m * 2 }, (_, i) => a[start * 2 + i]!);
    sum += correlationLoss('ccc', slice(predicted), slice(truth), m, 2).loss * m;
  }
  return sum / Math.max(n, 1);
}

/**
 * AU: the training loss, binary cross-entropy weighted per AU (w1 where present, w0 where absent),
 * averaged over rows and AUs. truth: 0/1 [n, aus]; p: probabilities [n, aus].
 */
export function referenceAuLoss(
  truth: ArrayLike<number>,
  p: ArrayLike<number>,
  aus: number,
  weights: { readonly w0: ArrayLike<number>; readonly w1: ArrayLike<number> },
): number {
  let sum = 0;
  for (let i = 0; i < truth.length; i++) {
    const q = Math.min(1 - EPSILON, Math.max(EPSILON, p[i]!));
    const j = i % aus;
    sum -= truth[i]! > 0 ? weights.w1[j]! * Math.log(q) : weights.w0[j]! * Math.log(1 - q);
  }
  return sum / Math.max(truth.length, 1);
}
