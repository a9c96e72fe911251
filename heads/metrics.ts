/**
 * Challenge metrics (SPEC §6). Only annotated frames are passed in; every value must be finite.
 * Each metric matches its scikit-learn / scipy counterpart to 1e-9 (test/metrics.test.ts); the one
 * deliberate difference: a correlation over a constant series is 0 here where scipy gives NaN.
 */

export class MetricInputError extends Error {
  constructor(detail: string) {
    super(`metric: ${detail}`);
    this.name = 'MetricInputError';
  }
}

function sameLength(what: string, truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
  if (truth.length !== predicted.length) {
    throw new MetricInputError(
      `${what}expected equal lengths, got ${truth.length} truths and ${predicted.length} predictions`,
    );
  }
  if (truth.length === 0) throw new MetricInputError(`${what}expected at least one sample, got none`);
}

function finite(what: string, truth: ArrayLike<number>, predicted: ArrayLike<number>): void {
  for (let i = 0; i < truth.length; i++) {
    if (!Number.isFinite(truth[i]) || !Number.isFinite(predicted[i])) {
      throw new MetricInputError(
        `${what}sample ${i}: expected finite values, got truth ${truth[i]}, prediction ${predicted[i]}`,
      );
    }
  }
}

/** Confusion counts: row = true class, column = predicted class. */
export function confusionMatrix(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: number,
): number[][] {
  sameLength('', truth, predicted);
  const matrix = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    if (!(Number.isInteger(t) && t >= 0 && t < classes) || !(Number.isInteger(p) && p >= 0 && p < classes)) {
      throw new MetricInputError(
        `sample ${i}: expected class indices in 0..${classes - 1}, got truth ${t}, prediction ${p}`,
      );
    }
    matrix[t]![p]!++;
  }
  return matrix;
}

/**
 * F1 of every class 0..classes-1, as sklearn's f1_score(average=None, labels=range(classes),
 * zero_division=0): a class with no true and no predicted sample scores 0.
 */
export function perClassF1(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  classes: number,
): number[] {
  const matrix = confusionMatrix(truth, predicted, classes);
  return matrix.map((row, c) => {
    const tp = row[c]!;
    const fn = row.reduce((a, b) => a + b, 0) - tp;
    let fp = 0;
    for (let r = 0; r < classes; r++) if (r !== c) fp += matrix[r]![c]!;
    const denominator = 2 * tp + fp + fn;
    return denominator === 0 ? 0 : (2 * tp) / denominator;
  });
}

/** Macro F1 over classes 0..classes-1 (sklearn f1_score average="macro"): EXPR (8), CE (7). */
export function macroF1(truth: ArrayLike<number>, predicted: ArrayLike<number>, classes: number): number {
  return perClassF1(truth, predicted, classes).reduce((a, b) => a + b, 0) / classes;
}

/** Binary F1 of 0/1 labels (sklearn f1_score, zero_division=0). */
export function binaryF1(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  sameLength('', truth, predicted);
  let tp = 0;
  let fp = 0;
  let fn = 0;
  for (let i = 0; i < truth.length; i++) {
    const t = truth[i]!;
    const p = predicted[i]!;
    if ((t !== 0 && t !== 1) || (p !== 0 && p !== 1)) {
      throw new MetricInputError(`sample ${i}: expected 0 or 1, got truth ${t}, prediction ${p}`);
    }
    if (t === 1 && p === 1) tp++;
    else if (p === 1) fp++;
    else if (t === 1) fn++;
  }
  const denominator = 2 * tp + fp + fn;
  return denominator === 0 ? 0 : (2 * tp) / denominator;
}

function column(values: ArrayLike<number>, width: number, c: number): Float64Array {
  const n = values.length / width;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = values[i * width + c]!;
  return out;
}

/**
 * AU metric: truth and predicted are 0/1, row-major [n, aus]. Returns the F1 per AU and their mean.
 */
export function auF1(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  aus = 12,
): { perAu: number[]; mean: number } {
  sameLength('AU: ', truth, predicted);
  if (truth.length % aus !== 0) {
    throw new MetricInputError(`AU: expected a multiple of ${aus} values, got ${truth.length}`);
  }
  const perAu = Array.from({ length: aus }, (_, c) => {
    try {
      return binaryF1(column(truth, aus, c), column(predicted, aus, c));
    } catch (err) {
      throw new MetricInputError(`AU ${c}: ${(err as Error).message.replace(/^metric: /, '')}`);
    }
  });
  return { perAu, mean: perAu.reduce((a, b) => a + b, 0) / aus };
}

function mean(x: ArrayLike<number>): number {
  let s = 0;
  for (let i = 0; i < x.length; i++) s += x[i]!;
  return s / x.length;
}

/** Population moments of two equal-length series, two-pass for accuracy. */
function moments(x: ArrayLike<number>, y: ArrayLike<number>) {
  const mx = mean(x);
  const my = mean(y);
  let vx = 0;
  let vy = 0;
  let cov = 0;
  for (let i = 0; i < x.length; i++) {
    const dx = x[i]! - mx;
    const dy = y[i]! - my;
    vx += dx * dx;
    vy += dy * dy;
    cov += dx * dy;
  }
  const n = x.length;
  return { mx, my, vx: vx / n, vy: vy / n, cov: cov / n };
}

/**
 * Concordance correlation coefficient with population moments:
 * 2 cov(x, y) / (var(x) + var(y) + (mean(x) - mean(y))^2). Two identical constants score 0.
 */
export function ccc(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  sameLength('CCC: ', truth, predicted);
  finite('CCC: ', truth, predicted);
  const m = moments(truth, predicted);
  const denominator = m.vx + m.vy + (m.mx - m.my) ** 2;
  return denominator === 0 ? 0 : (2 * m.cov) / denominator;
}

/** VA metric: CCC of valence and of arousal, and their mean (the challenge score). */
export function vaScore(
  truth: { valence: ArrayLike<number>; arousal: ArrayLike<number> },
  predicted: { valence: ArrayLike<number>; arousal: ArrayLike<number> },
): { valence: number; arousal: number; mean: number } {
  const valence = ccc(truth.valence, predicted.valence);
  const arousal = ccc(truth.arousal, predicted.arousal);
  return { valence, arousal, mean: (valence + arousal) / 2 };
}

/** Pearson r (scipy.stats.pearsonr); a constant series gives 0 (scipy: NaN with a warning). */
export function pearson(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  sameLength('Pearson: ', truth, predicted);
  finite('Pearson: ', truth, predicted);
  const m = moments(truth, predicted);
  if (m.vx === 0 || m.vy === 0) return 0;
  const r = m.cov / Math.sqrt(m.vx * m.vy);
  return Math.max(-1, Math.min(1, r));
}

/**
 * EMI metric: truth and predicted are row-major [videos, dims] intensities; Pearson r across
 * videos per dimension and their mean.
 */
export function emiScore(
  truth: ArrayLike<number>,
  predicted: ArrayLike<number>,
  dims = 6,
): { perDim: number[]; mean: number } {
  sameLength('EMI: ', truth, predicted);
  if (truth.length % dims !== 0) {
    throw new MetricInputError(`EMI: expected a multiple of ${dims} values, got ${truth.length}`);
  }
  const perDim = Array.from({ length: dims }, (_, c) => {
    try {
      return pearson(column(truth, dims, c), column(predicted, dims, c));
    } catch (err) {
      throw new MetricInputError(`EMI dimension ${c}: ${(err as Error).message.replace(/^metric: /, '')}`);
    }
  });
  return { perDim, mean: perDim.reduce((a, b) => a + b, 0) / dims };
}
