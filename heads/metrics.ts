/** Challenge metrics (SPEC §6). Only annotated frames are passed in. */

export class MetricInputError extends Error {
  constructor(detail: string) {
    super(`metric: ${detail}`);
    this.name = 'MetricInputError';
  }
}

/**
 * Macro F1 over classes 0..classes-1, as sklearn's f1_score(average="macro", labels=range(classes)):
 * a class with no true and no predicted sample scores 0.
 */
export function macroF1(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number {
  if (truth.length !== predicted.length) {
    throw new MetricInputError(
      `expected equal lengths, got ${truth.length} truths and ${predicted.length} predictions`,
    );
  }
  if (truth.length === 0) throw new MetricInputError('expected at least one sample, got none');
  const tp = new Float64Array(classes);
  const fp = new Float64Array(classes);
  const fn = new Float64Array(classes);
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < classes) || !(Number.isInteger(p) && p >= 0 && p < classes)) {
      throw new MetricInputError(
        `sample ${i}: expected class indices in 0..${classes - 1}, got truth ${t}, prediction ${p}`,
      );
    }
    if (t === p) tp[t]!++;
    else {
      fp[p]!++;
      fn[t]!++;
    }
  }
  let sum = 0;
  for (let c = 0; c < classes; c++) {
    const denominator = 2 * tp[c]! + fp[c]! + fn[c]!;
    sum += denominator === 0 ? 0 : (2 * tp[c]!) / denominator;
  }
  return sum / classes;
}
