/**
 * Training and evaluation of the five task heads. Per-frame tasks use the first face of each frame
 * for EXPR, VA and AU and every face for CE; every frame 1..frameCount of an evaluated video gets a
 * prediction (filled and smoothed as SPEC §5) before the metric looks at its annotated frames.
 *
 * Memory: the face keys and scores (8 or 10 floats a face) are held per video; the embeddings
 * are not. The EXPR and AU heads read theirs from row sets (heads/rowset.ts) that
 * EmbeddingRowRouter fills in one pass over the face rows, and stream them chunk by chunk.
 */
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
  type Split,
} from '../datasets/labels.ts';
import { auClassWeightsOfPositives, searchThresholds, trainAuHeadOnRows } from './au.ts';
import { compoundProbabilities, maxOverFaces } from './ce.ts';
import {
  annotatedRows,
  evaluatedOutputs,
  keyedValidation,
  pickRows,
  predictKeyed,
  type TaskRows,
} from './embeddingRows.ts';
import { poolVideo, predictEmi, trainEmi } from './emi.ts';
import {
  auAnnotated,
  auDecisions,
  classDecisions,
  exprAnnotated,
  frameSamples,
  gatherRows,
  primaryRows,
  scoreWindows,
  vaAnnotated,
  vaDecisions,
  videosOf,
  type ClassDecisions,
  type VideoOutputs,
} from './evaluation.ts';
import { trainExprHeadOnRows } from './expr.ts';
import type { VideoLevelOutputs } from './fusion.ts';
import { predictLinear } from './linear.ts';
import { auF1, confusionMatrix, emiScore, macroF1, perClassF1, vaScore } from './metrics.ts';
import { argmaxRows, thresholdRows } from './rows.ts';
import type { HeadProtocol } from './protocol.ts';
import {
  DEFAULT_HEAD_SETTINGS,
  type AuResult,
  type CeResult,
  type EmiResult,
  type ExprResult,
  type HeadSettings,
  type LabelledVideo,
  type VaResult,
} from './tasks.ts';
import { referenceAuLoss, referenceVaLoss } from './referenceLosses.ts';
import { trainVaHead, vaMeanCcc } from './va.ts';
import { zeroShotExpr } from './zeroShot.ts';

function accuracy(truth: ArrayLike<number>, predicted: ArrayLike<number>): number {
  let hits = 0;
  for (let i = 0; i < truth.length; i++) if (truth[i] === predicted[i]) hits++;
  return hits / Math.max(truth.length, 1);
}

/** Train samples, with the Validation ones appended when the protocol fits on both. */
function fitted<T extends { x: Float32Array; n: number; dim: number; picks: unknown[] }>(
  protocol: HeadProtocol,
  train: T,
  valid: T,
): T {
  if (protocol.fitOn === 'Train') return train;
  const x = new Float32Array(train.x.length + valid.x.length);
  x.set(train.x);
  x.set(valid.x, train.x.length);
  return { ...train, x, n: train.n + valid.n, picks: [...train.picks, ...valid.picks] };
}

/** Macro F1 on truth of always predicting the class with the largest count (first on a tie). */
function majorityMacroF1(truth: readonly number[], counts: readonly number[], classes: number): number {
  const majority = counts.indexOf(Math.max(...counts));
  return macroF1(truth, new Array<number>(truth.length).fill(majority), classes);
}

/** EXPR on the embedding rows of `rows`; videos indexed as the rows' keys name them. */
export async function runExpr(
  videos: readonly LabelledVideo[],
  rows: TaskRows,
  scoreLabels: readonly string[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
  /** Sees the Validation outputs before filling (late fusion, heads/fusionRuns.ts). */
  observe?: (outputs: readonly VideoOutputs[]) => void,
): Promise<ExprResult | undefined> {
  const classes = AFFWILD2_EXPRESSIONS.length;
  const valid = rows.validation;
  const annotated = annotatedRows(videos, valid, exprAnnotated);
  if (rows.train.n === 0 || annotated.length === 0) return undefined;
  const truth = Int32Array.from(
    annotated,
    (i) => videos[valid.video[i]!]!.labels.EXPR![valid.frame[i]! - 1]!,
  );
  const { protocol } = settings;
  const trained = await trainExprHeadOnRows(
    rows.train,
    keyedValidation(valid, (p) => {
      if (protocol.fitOn !== 'Train') return NaN;
      const decided = argmaxRows(pickRows(p, annotated, classes), classes);
      return protocol.bestEpoch === 'reference' ? accuracy(truth, decided) : macroF1(truth, decided, classes);
    }),
    settings.expr,
    settings.runtime,
  );
  const outputs = evaluatedOutputs(videos, 'EXPR', await predictKeyed(trained.head, valid, settings.runtime));
  observe?.(outputs);
  const evaluate = (d: number): ClassDecisions => classDecisions(outputs, 'EXPR', classes, d, protocol);
  const window = settings.windows.EXPR;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const { truth, predicted } = evaluate(d);
    return macroF1(truth, predicted, classes);
  });
  const atWindow = evaluate(window);
  const zeroShot = zeroShotExpr(videos, scoreLabels, window, protocol);
  return {
    task: 'EXPR',
    metric: 'macro F1 over 8 classes',
    score,
    window,
    windowScores,
    bestWindow,
    majorityBaseline: majorityMacroF1(atWindow.truth, Array.from(rows.train.labelSums), classes),
    ...(zeroShot ? { zeroShot } : {}),
    trainSamples: rows.train.n,
    validationSamples: atWindow.truth.length,
    bestEpoch: trained.bestEpoch,
    history: trained.history,
    trainSeconds: trained.trainSeconds,
    classes: AFFWILD2_EXPRESSIONS,
    confusion: confusionMatrix(atWindow.truth, atWindow.predicted, classes),
    perClassF1: perClassF1(atWindow.truth, atWindow.predicted, classes),
    config: settings.expr,
    classWeights: Array.from(trained.classWeights),
    head: trained.head,
    provider: trained.provider,
  };
}

const DENSITY_BINS = 20;

function density(truth: readonly number[], predicted: readonly number[]): number[][] {
  const grid = Array.from({ length: DENSITY_BINS }, () => new Array<number>(DENSITY_BINS).fill(0));
  const bin = (v: number): number =>
    Math.min(DENSITY_BINS - 1, Math.max(0, Math.floor(((v + 1) / 2) * DENSITY_BINS)));
  truth.forEach((t, i) => grid[bin(t)]![bin(predicted[i]!)]!++);
  return grid;
}

export function runVa(
  videos: readonly LabelledVideo[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
  /** Sees the Validation outputs before filling (late fusion, heads/fusionRuns.ts). */
  observe?: (outputs: readonly VideoOutputs[]) => void,
): VaResult | undefined {
  const { protocol } = settings;
  const valid = frameSamples(videos, 'VA', 'Validation', vaAnnotated);
  const train = fitted(protocol, frameSamples(videos, 'VA', 'Train', vaAnnotated), valid);
  if (train.n < 2 || valid.n < 2) return undefined;
  const target = (s: typeof train): Float64Array => {
    const out = new Float64Array(s.n * 2);
    s.picks.forEach((p, i) => {
      out[i * 2] = p.video.labels.VA![(p.frame - 1) * 2]!;
      out[i * 2 + 1] = p.video.labels.VA![(p.frame - 1) * 2 + 1]!;
    });
    return out;
  };
  const validTarget = target(valid);
  const trained = trainVaHead(
    { x: train.x, n: train.n, dim: train.dim, target: target(train) },
    { x: valid.x, n: valid.n, dim: valid.dim, target: validTarget },
    settings.va,
    (head) => {
      if (protocol.fitOn !== 'Train') return NaN;
      const predicted = predictLinear(head, valid.x, valid.n);
      return protocol.bestEpoch === 'reference'
        ? -referenceVaLoss(validTarget, predicted, valid.n, settings.va.batchSize)
        : vaMeanCcc(validTarget, predicted);
    },
  );
  const outputs: VideoOutputs[] = videosOf(videos, 'VA', 'Validation').map((video) => {
    const { rows, frames } = primaryRows(video.faces);
    const x = gatherRows(video.faces.scores, train.dim, rows);
    return { video, frames, values: predictLinear(trained.head, x, rows.length) };
  });
  observe?.(outputs);
  const evaluate = (d: number) => vaDecisions(outputs, d, protocol);
  const window = settings.windows.VA;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const e = evaluate(d);
    return vaScore(e.truth, e.predicted).mean;
  });
  const atWindow = evaluate(window);
  const va = vaScore(atWindow.truth, atWindow.predicted);
  return {
    task: 'VA',
    metric: 'mean CCC of valence and arousal',
    score,
    valence: va.valence,
    arousal: va.arousal,
    window,
    windowScores,
    bestWindow,
    chance: 0,
    trainSamples: train.n,
    validationSamples: atWindow.truth.valence.length,
    bestEpoch: trained.bestEpoch,
    history: trained.history,
    trainSeconds: trained.trainSeconds,
    density: {
      bins: DENSITY_BINS,
      valence: density(atWindow.truth.valence, atWindow.predicted.valence),
      arousal: density(atWindow.truth.arousal, atWindow.predicted.arousal),
    },
    config: settings.va,
    head: trained.head,
  };
}

/** AU on the embedding rows of `rows`; videos indexed as the rows' keys name them. */
export async function runAu(
  videos: readonly LabelledVideo[],
  rows: TaskRows,
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
  /** Sees the Validation outputs before filling (late fusion, heads/fusionRuns.ts). */
  observe?: (outputs: readonly VideoOutputs[]) => void,
): Promise<AuResult | undefined> {
  const aus = AFFWILD2_ACTION_UNITS.length;
  const valid = rows.validation;
  const annotated = annotatedRows(videos, valid, auAnnotated);
  if (rows.train.n === 0 || annotated.length === 0) return undefined;
  const truth = new Uint8Array(annotated.length * aus);
  annotated.forEach((p, i) => {
    const frame = valid.frame[p]!;
    truth.set(videos[valid.video[p]!]!.labels.AU!.subarray((frame - 1) * aus, frame * aus), i * aus);
  });
  const half = new Array<number>(aus).fill(0.5);
  const { protocol } = settings;
  const weights = auClassWeightsOfPositives(rows.train.labelSums, rows.train.n);
  const trained = await trainAuHeadOnRows(
    rows.train,
    keyedValidation(valid, (p) => {
      if (protocol.fitOn !== 'Train') return NaN;
      const picked = pickRows(p, annotated, aus);
      return protocol.bestEpoch === 'reference'
        ? -referenceAuLoss(truth, picked, aus, weights)
        : auF1(truth, thresholdRows(picked, half), aus).mean;
    }),
    settings.au,
    settings.runtime,
  );
  const outputs = evaluatedOutputs(videos, 'AU', await predictKeyed(trained.head, valid, settings.runtime));
  observe?.(outputs);
  const prior = Array.from(rows.train.labelSums, (v) => v / rows.train.n);
  const evaluate = (d: number) => auDecisions(outputs, d, prior, protocol);
  // Raw-once: the thresholds of the unsmoothed outputs serve every window (heads/protocol.ts).
  const raw = protocol.auThresholds === 'raw-once' ? evaluate(0) : undefined;
  const rawSearch = raw ? searchThresholds(raw.p, raw.truth, aus) : undefined;
  const tuned = (d: number) => {
    const e = evaluate(d);
    const search = rawSearch ?? searchThresholds(e.p, e.truth, aus);
    return { e, search, f1: auF1(e.truth, thresholdRows(e.p, search.thresholds), aus) };
  };
  const window = settings.windows.AU;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => tuned(d).f1.mean);
  const atWindow = tuned(window);
  return {
    task: 'AU',
    metric: 'mean F1 over 12 AUs',
    score,
    scoreAtHalf: auF1(atWindow.e.truth, thresholdRows(atWindow.e.p, half), aus).mean,
    thresholds: atWindow.search.thresholds,
    perAuF1: atWindow.f1.perAu,
    aus: AFFWILD2_ACTION_UNITS,
    window,
    windowScores,
    bestWindow,
    allPresentBaseline: auF1(atWindow.e.truth, new Uint8Array(atWindow.e.truth.length).fill(1), aus).mean,
    trainPrevalence: prior,
    trainSamples: rows.train.n,
    validationSamples: atWindow.e.truth.length / aus,
    bestEpoch: trained.bestEpoch,
    history: trained.history,
    trainSeconds: trained.trainSeconds,
    config: settings.au,
    head: trained.head,
    provider: trained.provider,
  };
}

/** Zero-shot CE over every labelled video; scoreLabels names the backbone's score columns. */
export function runCe(
  videos: readonly LabelledVideo[],
  scoreLabels: readonly string[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): CeResult | undefined {
  const classes = COMPOUND_EXPRESSIONS.length;
  const labelled = videos.filter((v) => v.labels.CE);
  if (labelled.length === 0) return undefined;
  const outputs: VideoOutputs[] = labelled.map((video) => {
    const probabilities = compoundProbabilities(video.faces.scores, video.faces.frames.length, scoreLabels);
    const merged = maxOverFaces(video.faces.frames, probabilities, classes);
    return { video, frames: Int32Array.from(merged.frames), values: merged.rows };
  });
  const evaluate = (d: number): ClassDecisions =>
    classDecisions(outputs, 'CE', classes, d, settings.protocol);
  const window = settings.windows.CE;
  const atWindow = evaluate(window);
  if (atWindow.truth.length === 0) return undefined;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const e = evaluate(d);
    return macroF1(e.truth, e.predicted, classes);
  });
  const counts = new Array<number>(classes).fill(0);
  atWindow.truth.forEach((c) => counts[c]!++);
  return {
    task: 'CE',
    metric: 'macro F1 over 7 classes',
    score,
    window,
    windowScores,
    bestWindow,
    majorityBaseline: majorityMacroF1(atWindow.truth, counts, classes),
    evaluatedSamples: atWindow.truth.length,
    videos: labelled.length,
    classes: COMPOUND_EXPRESSIONS,
    confusion: confusionMatrix(atWindow.truth, atWindow.predicted, classes),
    perClassF1: perClassF1(atWindow.truth, atWindow.predicted, classes),
  };
}

/** Pooled score vectors [videos, 4 k] of the videos with EMI labels in `split`. */
function pooledVideos(videos: readonly LabelledVideo[], split: Split, stride: number) {
  const chosen = videosOf(videos, 'EMI', split).filter((v) => v.faces.frames.length > 0);
  const names = chosen.map((v) => v.faces.video);
  const x: number[] = [];
  const target: number[] = [];
  let dim = 0;
  for (const v of chosen) {
    const { rows } = primaryRows(v.faces);
    const k = v.faces.scores.length / v.faces.frames.length;
    const pooled = poolVideo(gatherRows(v.faces.scores, k, rows), rows.length, k, stride);
    dim = pooled.length;
    x.push(...pooled);
    target.push(...v.labels.EMI!);
  }
  return { x, n: chosen.length, dim, target, names };
}

export function runEmi(
  videos: readonly LabelledVideo[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
  /** Sees the Validation videos' predictions (late fusion, heads/fusionRuns.ts). */
  observe?: (outputs: VideoLevelOutputs) => void,
): EmiResult | undefined {
  const valid = pooledVideos(videos, 'Validation', settings.emi.frameStride);
  const trainOnly = pooledVideos(videos, 'Train', settings.emi.frameStride);
  const both = settings.protocol.fitOn !== 'Train';
  const train = both
    ? {
        ...trainOnly,
        x: [...trainOnly.x, ...valid.x],
        n: trainOnly.n + valid.n,
        target: [...trainOnly.target, ...valid.target],
      }
    : trainOnly;
  if (train.n < 2 || valid.n < 2) return undefined;
  const trained = trainEmi(train, both ? undefined : valid, settings.emi, EMI_DIMENSIONS.length);
  const predicted = predictEmi(trained.head, valid.x, valid.n);
  observe?.({ videos: valid.names, values: predicted, target: valid.target });
  const scored = emiScore(valid.target, predicted, EMI_DIMENSIONS.length);
  return {
    task: 'EMI',
    metric: 'mean Pearson r over 6 emotions',
    score: scored.mean,
    perDim: scored.perDim,
    dims: EMI_DIMENSIONS,
    chance: 0,
    trainSamples: train.n,
    validationSamples: valid.n,
    bestEpoch: trained.bestEpoch,
    history: trained.history,
    trainSeconds: trained.trainSeconds,
    config: settings.emi,
    head: trained.head,
  };
}
