/**
 * Late fusion per task of a visual and an audio run's Validation outputs (heads/fusion.ts): the
 * visual weights searched on FUSION_GRID at the task's configured window, with the filling,
 * smoothing, protocol and metric of the task's own evaluation, then the fused score at those
 * weights. EXPR: one weight for the 8 class probabilities; VA, AU and EMI: one per dimension.
 */
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  EMI_DIMENSIONS,
  type Split,
} from '../datasets/labels.ts';
import { searchThresholds } from './au.ts';
import { NO_OUTPUTS } from './embeddingRows.ts';
import { auDecisions, classDecisions, vaDecisions, type VideoOutputs } from './evaluation.ts';
import {
  addCounts,
  FUSION_GRID,
  fuseFrames,
  fuseVideos,
  NO_COUNTS,
  searchWeights,
  type ModalityCounts,
  type VideoLevelOutputs,
  type WeightChoice,
} from './fusion.ts';
import { auF1, ccc, emiScore, macroF1 } from './metrics.ts';
import { thresholdRows } from './rows.ts';
import type { HeadSettings } from './tasks.ts';

export type FusedTask = 'EXPR' | 'VA' | 'AU' | 'EMI';

/** One task's fused result, next to its visual and audio results in the report. */
export interface FusedResult {
  readonly task: FusedTask;
  readonly metric: string;
  /** With the chosen weights, at the task's configured window (EMI: per video). */
  readonly score: number;
  /** The metric per weighted dimension (VA valence and arousal CCC, AU F1, EMI Pearson r); absent for EXPR. */
  readonly perDim?: readonly number[];
  /** What each weight applies to: EXPR one weight for all classes; VA, AU, EMI one per dimension. */
  readonly dims: readonly string[];
  /** Visual weight per entry of `dims`; the audio output gets 1 − w. */
  readonly weights: readonly number[];
  readonly grid: readonly number[];
  /** The split the weights were chosen on, and the split `score` is on (the same: see docs/HEADS.md). */
  readonly chosenOn: Split;
  readonly reportedOn: Split;
  /** Smoothing half-width; absent for EMI (video level). */
  readonly window?: number;
  /** Frames (EMI: videos) whose output came from both modalities or from one alone. */
  readonly counts: ModalityCounts;
  readonly evaluatedSamples: number;
  /** AU: the thresholds of the fused outputs. */
  readonly thresholds?: readonly number[];
}

/** Each video's outputs fused (matched by name); a video only one modality lists keeps that one. */
export function fuseVideoOutputs(
  visual: readonly VideoOutputs[],
  audio: readonly VideoOutputs[],
  weights: readonly number[],
  dims: number,
): { outputs: VideoOutputs[]; counts: ModalityCounts } {
  const audioOf = new Map(audio.map((a) => [a.video.faces.video, a]));
  const seen = new Set<string>();
  let counts = NO_COUNTS;
  const outputs: VideoOutputs[] = [];
  for (const v of visual) {
    const name = v.video.faces.video;
    seen.add(name);
    const fused = fuseFrames(v, audioOf.get(name) ?? NO_OUTPUTS, weights, dims);
    counts = addCounts(counts, fused.counts);
    outputs.push({ video: v.video, frames: fused.frames, values: fused.values });
  }
  for (const a of audio) {
    if (seen.has(a.video.faces.video)) continue;
    counts = addCounts(counts, { ...NO_COUNTS, audioOnly: a.frames.length });
    outputs.push(a);
  }
  return { outputs, counts };
}

const everyDim = (w: number, dims: number): number[] => new Array<number>(dims).fill(w);

function chosen(choice: WeightChoice, dims: number): number[] {
  return choice.weights.length === 1 ? everyDim(choice.weights[0]!, dims) : [...choice.weights];
}

const VALIDATION = { chosenOn: 'Validation', reportedOn: 'Validation', grid: FUSION_GRID } as const;

export function fuseExpr(
  visual: readonly VideoOutputs[],
  audio: readonly VideoOutputs[],
  settings: HeadSettings,
): FusedResult {
  const classes = AFFWILD2_EXPRESSIONS.length;
  const window = settings.windows.EXPR;
  const at = (weights: number[]) => {
    const fused = fuseVideoOutputs(visual, audio, weights, classes);
    const e = classDecisions(fused.outputs, 'EXPR', classes, window, settings.protocol);
    return { counts: fused.counts, score: macroF1(e.truth, e.predicted, classes), n: e.truth.length };
  };
  const choice = searchWeights(FUSION_GRID, (w) => [at(everyDim(w, classes)).score]);
  const final = at(chosen(choice, classes));
  return {
    task: 'EXPR',
    metric: 'macro F1 over 8 classes',
    score: final.score,
    dims: ['all classes'],
    weights: choice.weights,
    ...VALIDATION,
    window,
    counts: final.counts,
    evaluatedSamples: final.n,
  };
}

export function fuseVa(
  visual: readonly VideoOutputs[],
  audio: readonly VideoOutputs[],
  settings: HeadSettings,
): FusedResult {
  const window = settings.windows.VA;
  const at = (weights: number[]) => {
    const fused = fuseVideoOutputs(visual, audio, weights, 2);
    const e = vaDecisions(fused.outputs, window, settings.protocol);
    const perDim = [ccc(e.truth.valence, e.predicted.valence), ccc(e.truth.arousal, e.predicted.arousal)];
    return { counts: fused.counts, perDim, n: e.truth.valence.length };
  };
  const choice = searchWeights(FUSION_GRID, (w) => at(everyDim(w, 2)).perDim);
  const final = at(chosen(choice, 2));
  return {
    task: 'VA',
    metric: 'mean CCC of valence and arousal',
    score: (final.perDim[0]! + final.perDim[1]!) / 2,
    perDim: final.perDim,
    dims: ['valence', 'arousal'],
    weights: choice.weights,
    ...VALIDATION,
    window,
    counts: final.counts,
    evaluatedSamples: final.n,
  };
}

/** prior: the AU training prevalence, the fill of a video with no output in either modality. */
export function fuseAu(
  visual: readonly VideoOutputs[],
  audio: readonly VideoOutputs[],
  prior: readonly number[],
  settings: HeadSettings,
): FusedResult {
  const aus = AFFWILD2_ACTION_UNITS.length;
  const window = settings.windows.AU;
  const { protocol } = settings;
  const at = (weights: number[]) => {
    const fused = fuseVideoOutputs(visual, audio, weights, aus);
    const e = auDecisions(fused.outputs, window, prior, protocol);
    // As runAu: thresholds per window, or once on the unsmoothed outputs (heads/protocol.ts).
    const tuneOn = protocol.auThresholds === 'raw-once' ? auDecisions(fused.outputs, 0, prior, protocol) : e;
    const { thresholds } = searchThresholds(tuneOn.p, tuneOn.truth, aus);
    const f1 = auF1(e.truth, thresholdRows(e.p, thresholds), aus);
    return { counts: fused.counts, f1, thresholds, n: e.truth.length / aus };
  };
  const choice = searchWeights(FUSION_GRID, (w) => at(everyDim(w, aus)).f1.perAu);
  const final = at(chosen(choice, aus));
  return {
    task: 'AU',
    metric: 'mean F1 over 12 AUs',
    score: final.f1.mean,
    perDim: final.f1.perAu,
    dims: AFFWILD2_ACTION_UNITS,
    weights: choice.weights,
    ...VALIDATION,
    window,
    counts: final.counts,
    evaluatedSamples: final.n,
    thresholds: final.thresholds,
  };
}

export function fuseEmi(visual: VideoLevelOutputs, audio: VideoLevelOutputs): FusedResult {
  const dims = EMI_DIMENSIONS.length;
  const at = (weights: number[]) => {
    const fused = fuseVideos(visual, audio, weights, dims);
    return {
      counts: fused.counts,
      ...emiScore(fused.target, fused.values, dims),
      n: fused.target.length / dims,
    };
  };
  const choice = searchWeights(FUSION_GRID, (w) => at(everyDim(w, dims)).perDim);
  const final = at(chosen(choice, dims));
  return {
    task: 'EMI',
    metric: 'mean Pearson r over 6 emotions',
    score: final.mean,
    perDim: final.perDim,
    dims: EMI_DIMENSIONS,
    weights: choice.weights,
    ...VALIDATION,
    counts: final.counts,
    evaluatedSamples: final.n,
  };
}
