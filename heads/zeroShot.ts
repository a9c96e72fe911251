/**
 * Zero-shot EXPR (SPEC §9): no head, the backbone's own AffectNet logits through the map
 * [5,0,2,3,4,6,7,1] (Aff-Wild2 class i takes AffectNet logit map[i]; Other takes Contempt), softmax
 * over the expression logits (valence/arousal excluded), then filling, smoothing and argmax as for
 * the trained head: the baseline row of every EXPR report.
 */
import { AFFECTNET_EXPRESSIONS, AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import { classDecisions, primaryRows, scoreWindows, videosOf, type VideoOutputs } from './evaluation.ts';
import { macroF1 } from './metrics.ts';
import { CHALLENGE_PROTOCOL, type HeadProtocol } from './protocol.ts';
import type { LabelledVideo, WindowScore } from './tasks.ts';

/** AffectNet logit index of each Aff-Wild2 class, in AFFWILD2_EXPRESSIONS order. */
export const AFFECTNET_TO_AFFWILD2 = Object.freeze([5, 0, 2, 3, 4, 6, 7, 1] as const);

export interface ZeroShotExprResult {
  readonly metric: 'macro F1 over 8 classes';
  readonly mapping: readonly number[];
  readonly score: number;
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  readonly bestWindow: WindowScore;
}

/**
 * Aff-Wild2 probabilities [n, 8] from scores [n, scoreLabels.length]; a class whose AffectNet
 * logit the backbone lacks (Contempt, for Other, in 7-class files) gets probability 0. undefined
 * when the scores name no AffectNet expression.
 */
export function zeroShotProbabilities(
  scores: ArrayLike<number>,
  n: number,
  scoreLabels: readonly string[],
): Float64Array | undefined {
  const k = scoreLabels.length;
  const source = AFFECTNET_TO_AFFWILD2.map((a) => scoreLabels.indexOf(AFFECTNET_EXPRESSIONS[a]));
  const logits = scoreLabels.flatMap((label, i) =>
    (AFFECTNET_EXPRESSIONS as readonly string[]).includes(label) ? [i] : [],
  );
  if (logits.length === 0) return undefined;
  const classes = AFFWILD2_EXPRESSIONS.length;
  const out = new Float64Array(n * classes);
  for (let i = 0; i < n; i++) {
    let max = -Infinity;
    for (const c of logits) max = Math.max(max, scores[i * k + c]!);
    let z = 0;
    for (const c of logits) z += Math.exp(scores[i * k + c]! - max);
    source.forEach((c, j) => {
      out[i * classes + j] = c < 0 ? 0 : Math.exp(scores[i * k + c]! - max) / z;
    });
  }
  return out;
}

/** The zero-shot macro F1 on the Validation EXPR videos at each reported window. */
export function zeroShotExpr(
  videos: readonly LabelledVideo[],
  scoreLabels: readonly string[],
  window: number,
  protocol: HeadProtocol = CHALLENGE_PROTOCOL,
): ZeroShotExprResult | undefined {
  const classes = AFFWILD2_EXPRESSIONS.length;
  const outputs: VideoOutputs[] = [];
  for (const video of videosOf(videos, 'EXPR', 'Validation')) {
    const { rows, frames } = primaryRows(video.faces);
    const k = scoreLabels.length;
    const first = new Float32Array(rows.length * k);
    rows.forEach((r, i) => first.set(video.faces.scores.subarray(r * k, (r + 1) * k), i * k));
    const values = zeroShotProbabilities(first, rows.length, scoreLabels);
    if (!values) return undefined;
    outputs.push({ video, frames, values });
  }
  if (outputs.length === 0 || outputs.every((o) => !o.video.labels.EXPR)) return undefined;
  const scored = scoreWindows(window, (d) => {
    const e = classDecisions(outputs, 'EXPR', classes, d, protocol);
    return macroF1(e.truth, e.predicted, classes);
  });
  return { metric: 'macro F1 over 8 classes', mapping: AFFECTNET_TO_AFFWILD2, window, ...scored };
}
