/** Turning per-frame probabilities (row-major [n, k]) into labels. */

/** Index of the largest value per row (the first one on ties). */
export function argmaxRows(p: ArrayLike<number>, k: number): Int32Array {
  const n = p.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < k; c++) if (p[i * k + c]! > p[i * k + best]!) best = c;
    out[i] = best;
  }
  return out;
}

/** 0/1 per element: p >= threshold of its column. */
export function thresholdRows(p: ArrayLike<number>, thresholds: ArrayLike<number>): Uint8Array {
  const k = thresholds.length;
  const out = new Uint8Array(p.length);
  for (let i = 0; i < p.length; i++) out[i] = p[i]! >= thresholds[i % k]! ? 1 : 0;
  return out;
}
