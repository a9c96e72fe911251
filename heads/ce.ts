/**
 * CE zero-shot (SPEC §4), nothing trained: softmax over the backbone's AffectNet expression logits
 * (valence/arousal columns excluded); each compound class is the mean of two basic probabilities;
 * the per-class maximum over the faces of a frame; argmax after filling and smoothing.
 */
import { AFFECTNET_EXPRESSIONS } from '../datasets/labels.ts';

/** The two AffectNet basic expressions averaged into each compound class, in C-EXPR-DB class order. */
export const COMPOUND_BASICS: readonly (readonly [string, string])[] = Object.freeze([
  ['Fear', 'Surprise'],
  ['Happiness', 'Surprise'],
  ['Sadness', 'Surprise'],
  ['Disgust', 'Surprise'],
  ['Anger', 'Surprise'],
  ['Sadness', 'Fear'],
  ['Sadness', 'Anger'],
] as const);

export class CompoundScoresError extends Error {
  constructor(detail: string) {
    super(`CE: ${detail}`);
    this.name = 'CompoundScoresError';
  }
}

const EXPRESSION_LOGITS: ReadonlySet<string> = new Set(AFFECTNET_EXPRESSIONS);

/**
 * Compound probabilities [n, 7] from scores [n, scoreLabels.length] (logits named by scoreLabels,
 * e.g. the 8 AffectNet classes plus Valence and Arousal).
 */
export function compoundProbabilities(
  scores: ArrayLike<number>,
  n: number,
  scoreLabels: readonly string[],
): Float64Array {
  const k = scoreLabels.length;
  if (scores.length !== n * k)
    throw new CompoundScoresError(`expected ${n} x ${k} scores, got ${scores.length}`);
  const logitColumns = scoreLabels.flatMap((label, i) => (EXPRESSION_LOGITS.has(label) ? [i] : []));
  const column = (name: string): number => {
    const i = scoreLabels.indexOf(name);
    if (i < 0)
      throw new CompoundScoresError(`expected a score column '${name}', got [${scoreLabels.join(', ')}]`);
    return i;
  };
  const pairs = COMPOUND_BASICS.map(([a, b]) => [column(a), column(b)] as const);
  const out = new Float64Array(n * pairs.length);
  const p = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (const c of logitColumns) max = Math.max(max, scores[i * k + c]!);
    let z = 0;
    for (const c of logitColumns) z += p[c] = Math.exp(scores[i * k + c]! - max);
    pairs.forEach(([a, b], j) => (out[i * pairs.length + j] = (p[a]! + p[b]!) / (2 * z)));
  }
  return out;
}

/**
 * Per-class maximum over faces: rows [n, k] with their frame numbers (ascending, faces of a frame
 * adjacent) -> one row per distinct frame, with the frame numbers.
 */
export function maxOverFaces(
  frames: ArrayLike<number>,
  rows: ArrayLike<number>,
  k: number,
): { frames: number[]; rows: Float64Array } {
  const outFrames: number[] = [];
  const out: number[] = [];
  for (let i = 0; i < frames.length; i++) {
    const f = frames[i]!;
    if (outFrames.length === 0 || outFrames[outFrames.length - 1] !== f) {
      outFrames.push(f);
      for (let c = 0; c < k; c++) out.push(rows[i * k + c]!);
    } else {
      const base = out.length - k;
      for (let c = 0; c < k; c++) out[base + c] = Math.max(out[base + c]!, rows[i * k + c]!);
    }
  }
  return { frames: outFrames, rows: Float64Array.from(out) };
}
