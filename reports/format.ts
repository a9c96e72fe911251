/** How the reports write numbers. */

/** Three decimals; 'n/a' for a missing or non-finite value. */
export const f3 = (v: number | undefined): string =>
  v === undefined || !Number.isFinite(v) ? 'n/a' : v.toFixed(3);

/** The best smoothing window and its score, as `d (score)`. */
export const bestOf = (w: { window: number; score: number } | undefined): string =>
  w ? `${w.window} (${f3(w.score)})` : '—';
