/**
 * Filling frames without a face and smoothing over time, per video, on probabilities (or
 * regression outputs) before argmax or threshold (SPEC §5).
 */

/** Reference half-widths d of the centred mean filter per task (SPEC §5); EMI is video-level. */
export const SMOOTHING_WINDOWS = Object.freeze({ EXPR: 50, VA: 50, AU: 5, CE: 0 } as const);

export class SmoothingInputError extends Error {
  constructor(detail: string) {
    super(`smoothing: ${detail}`);
    this.name = 'SmoothingInputError';
  }
}

/**
 * Every frame 1..frameCount of one video gets a prediction: frames before the first face frame
 * take the first prediction, frames after the last take the last, and a frame f between face
 * frames p < n gets (1 - w) pred_p + w pred_n with w = (f - p) / (n - p).
 *
 * frames: 1-based face frame numbers, strictly ascending; values: [frames.length, dims] row-major.
 * Returns float64 [frameCount, dims]. A video without any face frame takes `fallback` everywhere.
 */
export function fillGaps(
  frames: ArrayLike<number>,
  values: ArrayLike<number>,
  dims: number,
  frameCount: number,
  fallback?: ArrayLike<number>,
): Float64Array {
  const k = frames.length;
  if (values.length !== k * dims) {
    throw new SmoothingInputError(`expected ${k} x ${dims} = ${k * dims} values, got ${values.length}`);
  }
  const out = new Float64Array(frameCount * dims);
  if (k === 0) {
    if (!fallback || fallback.length !== dims) {
      throw new SmoothingInputError(
        `video without face frames: expected a fallback of ${dims} values, got ${fallback ? fallback.length : 'none'}`,
      );
    }
    for (let f = 0; f < frameCount; f++) for (let c = 0; c < dims; c++) out[f * dims + c] = fallback[c]!;
    return out;
  }
  for (let i = 0; i < k; i++) {
    const f = frames[i]!;
    if (!Number.isInteger(f) || f < 1 || f > frameCount || (i > 0 && f <= frames[i - 1]!)) {
      throw new SmoothingInputError(
        `face frame ${i}: expected strictly ascending frame numbers in 1..${frameCount}, got ${f}`,
      );
    }
  }
  const copyRow = (frame: number, row: number): void => {
    for (let c = 0; c < dims; c++) out[(frame - 1) * dims + c] = values[row * dims + c]!;
  };
  for (let f = 1; f <= frames[0]!; f++) copyRow(f, 0);
  for (let f = frames[k - 1]!; f <= frameCount; f++) copyRow(f, k - 1);
  for (let i = 0; i + 1 < k; i++) {
    const p = frames[i]!;
    const n = frames[i + 1]!;
    copyRow(p, i);
    for (let f = p + 1; f < n; f++) {
      const w = (f - p) / (n - p);
      for (let c = 0; c < dims; c++) {
        out[(f - 1) * dims + c] = (1 - w) * values[i * dims + c]! + w * values[(i + 1) * dims + c]!;
      }
    }
  }
  return out;
}

/**
 * Centred mean filter: row i becomes the mean of rows max(i - d, 0) .. min(i + d, last), truncated
 * at the edges without padding. values: [rows, dims] row-major. d = 0 returns a copy.
 */
export function meanFilter(values: ArrayLike<number>, dims: number, d: number): Float64Array {
  if (!Number.isInteger(d) || d < 0) throw new SmoothingInputError(`expected a window d >= 0, got ${d}`);
  const rows = values.length / dims;
  const out = new Float64Array(values.length);
  const prefix = new Float64Array((rows + 1) * dims);
  for (let r = 0; r < rows; r++) {
    for (let c = 0; c < dims; c++) prefix[(r + 1) * dims + c] = prefix[r * dims + c]! + values[r * dims + c]!;
  }
  for (let r = 0; r < rows; r++) {
    const lo = Math.max(r - d, 0);
    const hi = Math.min(r + d, rows - 1);
    const count = hi - lo + 1;
    if (d === 0) {
      for (let c = 0; c < dims; c++) out[r * dims + c] = values[r * dims + c]!;
      continue;
    }
    for (let c = 0; c < dims; c++) {
      out[r * dims + c] = (prefix[(hi + 1) * dims + c]! - prefix[lo * dims + c]!) / count;
    }
  }
  return out;
}

/** fillGaps then meanFilter: the per-video post-processing of SPEC §5. */
export function fillAndSmooth(
  frames: ArrayLike<number>,
  values: ArrayLike<number>,
  dims: number,
  frameCount: number,
  d: number,
  fallback?: ArrayLike<number>,
): Float64Array {
  return meanFilter(fillGaps(frames, values, dims, frameCount, fallback), dims, d);
}
