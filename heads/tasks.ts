/**
 * Training and evaluation of the five task heads on in-memory face rows grouped by video (the train
 * activity reads them from the store). Per-frame tasks use the first face of each frame for EXPR,
 * VA and AU and every face for CE; every frame 1..frameCount of an evaluated video gets a
 * prediction (filled and smoothed as SPEC §5) before the metric looks at its annotated frames.
 */
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
} from '../datasets/labels.ts';
import { AU_DEFAULTS, searchThresholds, trainAuHead } from './au.ts';
import { compoundProbabilities, maxOverFaces } from './ce.ts';
import { EMI_DEFAULTS, poolVideo, trainEmiHead } from './emi.ts';
import { EXPR_DEFAULTS, trainExprHead } from './expr.ts';
import { predictLinear, type LinearConfig, type LinearHead } from './linear.ts';
import { auF1, confusionMatrix, emiScore, macroF1, perClassF1, vaScore } from './metrics.ts';
import { CPU_RUNTIME, openMlpPredictor, type MlpConfig, type MlpHead, type TrainingRuntime } from './mlp.ts';
import { argmaxRows, thresholdRows } from './rows.ts';
import { fillAndSmooth, SMOOTHING_WINDOWS } from './smoothing.ts';
import { trainVaHead, VA_DEFAULTS } from './va.ts';

export type Split = 'Train' | 'Validation' | 'Test';

/** One video's face rows, sorted by frame then face index. */
export interface VideoFaces {
  readonly video: string;
  readonly frameCount: number;
  /** 1-based frame of each row. */
  readonly frames: Int32Array;
  readonly faceIndex: Int32Array;
  /** float32 [rows, embeddingDim]. */
  readonly embedding: Float32Array;
  /** float32 [rows, scoresDim]. */
  readonly scores: Float32Array;
}

/** Labels as stored (datasets/labels.ts encodeLabels), per frame (index 0 = frame 1) or per video (EMI). */
export interface VideoLabelSet {
  readonly EXPR?: Int8Array;
  /** [frames * 2]: valence, arousal; < -1 = not annotated. */
  readonly VA?: Float64Array;
  /** [frames * 12]; -1 = not annotated. */
  readonly AU?: Int8Array;
  readonly CE?: Int8Array;
  /** [6] intensities. */
  readonly EMI?: Float64Array;
}

export interface LabelledVideo {
  readonly faces: VideoFaces;
  readonly labels: VideoLabelSet;
  /** Split per task (Aff-Wild2 partitions differ between tasks). */
  readonly splits: Readonly<Partial<Record<keyof VideoLabelSet, Split>>>;
}

export interface HeadSettings {
  readonly expr: MlpConfig;
  readonly va: LinearConfig;
  readonly au: MlpConfig;
  readonly emi: LinearConfig & { readonly frameStride: number };
  /** Half-width d of the mean filter per per-frame task. */
  readonly windows: Readonly<Record<'EXPR' | 'VA' | 'AU' | 'CE', number>>;
  readonly runtime: TrainingRuntime;
}

export const DEFAULT_HEAD_SETTINGS: HeadSettings = Object.freeze({
  expr: EXPR_DEFAULTS,
  va: VA_DEFAULTS,
  au: AU_DEFAULTS,
  emi: EMI_DEFAULTS,
  windows: SMOOTHING_WINDOWS,
  runtime: CPU_RUNTIME,
});

/** The windows every report scores, to plot score versus smoothing window. */
export const REPORTED_WINDOWS = Object.freeze([0, 1, 2, 3, 5, 10, 25, 50, 100]);

export interface WindowScore {
  readonly window: number;
  readonly score: number;
}

interface Trained {
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validScore: number }[];
  readonly trainSamples: number;
  readonly validationSamples: number;
  readonly trainSeconds: number;
}

export interface ExprResult extends Trained {
  readonly task: 'EXPR';
  readonly metric: 'macro F1 over 8 classes';
  /** At the configured window. */
  readonly score: number;
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  /** The best of windowScores: chosen on the data it is scored on, so optimistic; for choosing d. */
  readonly bestWindow: WindowScore;
  /** Macro F1 of always predicting the most frequent training class: the chance level. */
  readonly majorityBaseline: number;
  readonly classes: readonly string[];
  readonly confusion: readonly (readonly number[])[];
  readonly perClassF1: readonly number[];
  readonly config: MlpConfig;
  readonly classWeights: readonly number[];
  readonly head: MlpHead;
  readonly provider: string;
}

export interface VaResult extends Trained {
  readonly task: 'VA';
  readonly metric: 'mean CCC of valence and arousal';
  readonly score: number;
  readonly valence: number;
  readonly arousal: number;
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  /** The best of windowScores: chosen on the data it is scored on, so optimistic; for choosing d. */
  readonly bestWindow: WindowScore;
  /** A constant prediction scores CCC 0. */
  readonly chance: 0;
  /** 2-D histograms of (true, predicted) over [-1, 1]^2, bins x bins, row = true bin. */
  readonly density: { readonly bins: number; readonly valence: number[][]; readonly arousal: number[][] };
  readonly config: LinearConfig;
  readonly head: LinearHead;
}

export interface AuResult extends Trained {
  readonly task: 'AU';
  readonly metric: 'mean F1 over 12 AUs';
  /** With the per-AU thresholds chosen on validation at the configured window. */
  readonly score: number;
  readonly scoreAtHalf: number;
  readonly thresholds: readonly number[];
  readonly perAuF1: readonly number[];
  readonly aus: readonly string[];
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  /** The best of windowScores: chosen on the data it is scored on, so optimistic; for choosing d. */
  readonly bestWindow: WindowScore;
  /** Mean F1 of predicting every AU present. */
  readonly allPresentBaseline: number;
  /** Share of training frames with each AU: the fill for a video without faces. */
  readonly trainPrevalence: readonly number[];
  readonly config: MlpConfig;
  readonly head: MlpHead;
  readonly provider: string;
}

export interface CeResult {
  readonly task: 'CE';
  readonly metric: 'macro F1 over 7 classes';
  readonly score: number;
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  /** The best of windowScores: chosen on the data it is scored on, so optimistic; for choosing d. */
  readonly bestWindow: WindowScore;
  readonly majorityBaseline: number;
  /** Zero-shot: evaluated on every labelled video whatever its split. */
  readonly evaluatedSamples: number;
  readonly videos: number;
  readonly classes: readonly string[];
  readonly confusion: readonly (readonly number[])[];
  readonly perClassF1: readonly number[];
}

export interface EmiResult extends Trained {
  readonly task: 'EMI';
  readonly metric: 'mean Pearson r over 6 emotions';
  readonly score: number;
  readonly perDim: readonly number[];
  readonly dims: readonly string[];
  readonly chance: 0;
  readonly config: LinearConfig & { readonly frameStride: number };
  readonly head: LinearHead;
}

/** First face row of each frame: row indices and their frames. */
export function primaryRows(faces: VideoFaces): { rows: Int32Array; frames: Int32Array } {
  const rows: number[] = [];
  for (let i = 0; i < faces.frames.length; i++) {
    if (i === 0 || faces.frames[i] !== faces.frames[i - 1]) rows.push(i);
  }
  return { rows: Int32Array.from(rows), frames: Int32Array.from(rows, (r) => faces.frames[r]!) };
}

function gatherRows(source: Float32Array, dim: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++)
    out.set(source.subarray(rows[i]! * dim, (rows[i]! + 1) * dim), i * dim);
  return out;
}

function concat(parts: readonly Float32Array[]): Float32Array {
  const out = new Float32Array(parts.reduce((a, p) => a + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

type FrameTask = 'EXPR' | 'VA' | 'AU';

/** Primary-face rows of the videos in `split` whose frame is annotated for the task. */
function frameSamples(
  videos: readonly LabelledVideo[],
  task: FrameTask,
  split: Split,
  source: 'embedding' | 'scores',
  annotated: (labels: VideoLabelSet, frame: number) => boolean,
): { x: Float32Array; n: number; dim: number; picks: { video: LabelledVideo; frame: number }[] } {
  const parts: Float32Array[] = [];
  const picks: { video: LabelledVideo; frame: number }[] = [];
  let dim = 0;
  for (const video of videos) {
    if (!video.labels[task] || video.splits[task] !== split) continue;
    const faces = video.faces;
    const { rows, frames } = primaryRows(faces);
    const width = source === 'embedding' ? faces.embedding.length : faces.scores.length;
    dim = faces.frames.length > 0 ? width / faces.frames.length : dim;
    const keep = Array.from(rows).filter((_, i) => annotated(video.labels, frames[i]!));
    if (keep.length === 0) continue;
    parts.push(gatherRows(source === 'embedding' ? faces.embedding : faces.scores, dim, keep));
    for (const r of keep) picks.push({ video, frame: faces.frames[r]! });
  }
  return { x: concat(parts), n: picks.length, dim, picks };
}

const exprAnnotated = (l: VideoLabelSet, f: number): boolean => (l.EXPR?.[f - 1] ?? -1) >= 0;
const vaAnnotated = (l: VideoLabelSet, f: number): boolean =>
  (l.VA?.[(f - 1) * 2] ?? -5) >= -1 && (l.VA?.[(f - 1) * 2 + 1] ?? -5) >= -1;
const auAnnotated = (l: VideoLabelSet, f: number): boolean => {
  const v = l.AU;
  if (!v || f * 12 > v.length) return false;
  for (let j = 0; j < 12; j++) if (v[(f - 1) * 12 + j]! < 0) return false;
  return true;
};

/**
 * Per evaluated video: frame-level outputs [frameCount, dims] before smoothing (filled), from the
 * primary-face predictions; smoothing per window happens in `scoreWindows`.
 */
interface VideoOutputs {
  readonly video: LabelledVideo;
  readonly frames: Int32Array;
  readonly values: Float32Array | Float64Array;
}

function smoothed(v: VideoOutputs, dims: number, window: number, fallback: ArrayLike<number>): Float64Array {
  return fillAndSmooth(v.frames, v.values, dims, v.video.faces.frameCount, window, fallback);
}

/** Truth and argmax decision of every annotated frame, after filling and smoothing with half-width d. */
interface ClassDecisions {
  readonly truth: number[];
  readonly predicted: number[];
}

function classDecisions(
  outputs: readonly VideoOutputs[],
  task: 'EXPR' | 'CE',
  classes: number,
  d: number,
): ClassDecisions {
  const uniform = new Array<number>(classes).fill(1 / classes);
  const truth: number[] = [];
  const predicted: number[] = [];
  for (const v of outputs) {
    const labels = v.video.labels[task]!;
    const decided = argmaxRows(smoothed(v, classes, d, uniform), classes);
    for (let f = 0; f < v.video.faces.frameCount && f < labels.length; f++) {
      if (labels[f]! < 0) continue;
      truth.push(labels[f]!);
      predicted.push(decided[f]!);
    }
  }
  return { truth, predicted };
}

function scoreWindows(
  window: number,
  score: (d: number) => number,
): { score: number; windowScores: WindowScore[]; bestWindow: WindowScore } {
  const windows = [...new Set([...REPORTED_WINDOWS, window])].sort((a, b) => a - b);
  const windowScores = windows.map((d) => ({ window: d, score: score(d) }));
  const bestWindow = windowScores.reduce((a, b) => (b.score > a.score ? b : a));
  return { score: windowScores.find((w) => w.window === window)!.score, windowScores, bestWindow };
}

async function mlpOutputs(
  head: MlpHead,
  runtime: TrainingRuntime,
  videos: readonly LabelledVideo[],
): Promise<VideoOutputs[]> {
  const predictor = await openMlpPredictor(head, runtime);
  try {
    const out: VideoOutputs[] = [];
    for (const video of videos) {
      const { rows, frames } = primaryRows(video.faces);
      const x = gatherRows(video.faces.embedding, head.shape.inputDim, rows);
      out.push({ video, frames, values: await predictor.predict(x, rows.length) });
    }
    return out;
  } finally {
    await predictor.release();
  }
}

function videosOf(
  videos: readonly LabelledVideo[],
  task: keyof VideoLabelSet,
  split: Split,
): LabelledVideo[] {
  return videos.filter((v) => v.labels[task] && v.splits[task] === split);
}

export async function runExpr(
  videos: readonly LabelledVideo[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): Promise<ExprResult | undefined> {
  const classes = AFFWILD2_EXPRESSIONS.length;
  const train = frameSamples(videos, 'EXPR', 'Train', 'embedding', exprAnnotated);
  const valid = frameSamples(videos, 'EXPR', 'Validation', 'embedding', exprAnnotated);
  if (train.n === 0 || valid.n === 0) return undefined;
  const label = (p: { video: LabelledVideo; frame: number }): number => p.video.labels.EXPR![p.frame - 1]!;
  const trainY = Int32Array.from(train.picks, label);
  const trained = await trainExprHead(
    { x: train.x, y: trainY, n: train.n, dim: train.dim },
    { x: valid.x, y: Int32Array.from(valid.picks, label), n: valid.n, dim: valid.dim },
    classes,
    settings.expr,
    settings.runtime,
  );
  const outputs = await mlpOutputs(trained.head, settings.runtime, videosOf(videos, 'EXPR', 'Validation'));
  const evaluate = (d: number): ClassDecisions => classDecisions(outputs, 'EXPR', classes, d);
  const window = settings.windows.EXPR;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const { truth, predicted } = evaluate(d);
    return macroF1(truth, predicted, classes);
  });
  const atWindow = evaluate(window);
  const counts = new Array<number>(classes).fill(0);
  trainY.forEach((c) => counts[c]!++);
  const majority = counts.indexOf(Math.max(...counts));
  return {
    task: 'EXPR',
    metric: 'macro F1 over 8 classes',
    score,
    window,
    windowScores,
    bestWindow,
    majorityBaseline: macroF1(
      atWindow.truth,
      new Array<number>(atWindow.truth.length).fill(majority),
      classes,
    ),
    trainSamples: train.n,
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
): VaResult | undefined {
  const train = frameSamples(videos, 'VA', 'Train', 'scores', vaAnnotated);
  const valid = frameSamples(videos, 'VA', 'Validation', 'scores', vaAnnotated);
  if (train.n < 2 || valid.n < 2) return undefined;
  const target = (s: typeof train): Float64Array => {
    const out = new Float64Array(s.n * 2);
    s.picks.forEach((p, i) => {
      out[i * 2] = p.video.labels.VA![(p.frame - 1) * 2]!;
      out[i * 2 + 1] = p.video.labels.VA![(p.frame - 1) * 2 + 1]!;
    });
    return out;
  };
  const trained = trainVaHead(
    { scores: train.x, n: train.n, dim: train.dim, target: target(train) },
    { scores: valid.x, n: valid.n, dim: valid.dim, target: target(valid) },
    settings.va,
  );
  const outputs: VideoOutputs[] = videosOf(videos, 'VA', 'Validation').map((video) => {
    const { rows, frames } = primaryRows(video.faces);
    const x = gatherRows(video.faces.scores, train.dim, rows);
    return { video, frames, values: predictLinear(trained.head, x, rows.length) };
  });
  const evaluate = (d: number) => {
    const truth = { valence: [] as number[], arousal: [] as number[] };
    const predicted = { valence: [] as number[], arousal: [] as number[] };
    for (const v of outputs) {
      const labels = v.video.labels.VA!;
      const s = smoothed(v, 2, d, [0, 0]);
      for (let f = 1; f <= v.video.faces.frameCount && f * 2 <= labels.length; f++) {
        if (!vaAnnotated(v.video.labels, f)) continue;
        truth.valence.push(labels[(f - 1) * 2]!);
        truth.arousal.push(labels[(f - 1) * 2 + 1]!);
        predicted.valence.push(s[(f - 1) * 2]!);
        predicted.arousal.push(s[(f - 1) * 2 + 1]!);
      }
    }
    return { truth, predicted };
  };
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

export async function runAu(
  videos: readonly LabelledVideo[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): Promise<AuResult | undefined> {
  const aus = AFFWILD2_ACTION_UNITS.length;
  const train = frameSamples(videos, 'AU', 'Train', 'embedding', auAnnotated);
  const valid = frameSamples(videos, 'AU', 'Validation', 'embedding', auAnnotated);
  if (train.n === 0 || valid.n === 0) return undefined;
  const labels = (s: typeof train): Uint8Array => {
    const out = new Uint8Array(s.n * aus);
    s.picks.forEach((p, i) =>
      out.set(p.video.labels.AU!.subarray((p.frame - 1) * aus, p.frame * aus), i * aus),
    );
    return out;
  };
  const trainY = labels(train);
  const trained = await trainAuHead(
    { x: train.x, y: trainY, n: train.n, dim: train.dim, aus },
    { x: valid.x, y: labels(valid), n: valid.n, dim: valid.dim, aus },
    settings.au,
    settings.runtime,
  );
  const outputs = await mlpOutputs(trained.head, settings.runtime, videosOf(videos, 'AU', 'Validation'));
  const prior = new Array<number>(aus).fill(0);
  trainY.forEach((v, i) => (prior[i % aus]! += v / train.n));
  const evaluate = (d: number): { truth: Uint8Array; p: number[] } => {
    const truth: number[] = [];
    const p: number[] = [];
    for (const v of outputs) {
      const s = smoothed(v, aus, d, prior);
      for (let f = 1; f <= v.video.faces.frameCount; f++) {
        if (!auAnnotated(v.video.labels, f)) continue;
        for (let j = 0; j < aus; j++) {
          truth.push(v.video.labels.AU![(f - 1) * aus + j]!);
          p.push(s[(f - 1) * aus + j]!);
        }
      }
    }
    return { truth: Uint8Array.from(truth), p };
  };
  const tuned = (d: number) => {
    const e = evaluate(d);
    const search = searchThresholds(e.p, e.truth, aus);
    return { e, search, f1: auF1(e.truth, thresholdRows(e.p, search.thresholds), aus) };
  };
  const window = settings.windows.AU;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => tuned(d).f1.mean);
  const atWindow = tuned(window);
  const half = new Array<number>(aus).fill(0.5);
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
    trainSamples: train.n,
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
  const evaluate = (d: number): ClassDecisions => classDecisions(outputs, 'CE', classes, d);
  const window = settings.windows.CE;
  const atWindow = evaluate(window);
  if (atWindow.truth.length === 0) return undefined;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const e = evaluate(d);
    return macroF1(e.truth, e.predicted, classes);
  });
  const counts = new Array<number>(classes).fill(0);
  atWindow.truth.forEach((c) => counts[c]!++);
  const majority = counts.indexOf(Math.max(...counts));
  return {
    task: 'CE',
    metric: 'macro F1 over 7 classes',
    score,
    window,
    windowScores,
    bestWindow,
    majorityBaseline: macroF1(
      atWindow.truth,
      new Array<number>(atWindow.truth.length).fill(majority),
      classes,
    ),
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
  return { x, n: chosen.length, dim, target };
}

export function runEmi(
  videos: readonly LabelledVideo[],
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): EmiResult | undefined {
  const train = pooledVideos(videos, 'Train', settings.emi.frameStride);
  const valid = pooledVideos(videos, 'Validation', settings.emi.frameStride);
  if (train.n < 2 || valid.n < 2) return undefined;
  const trained = trainEmiHead(train, valid, settings.emi, EMI_DIMENSIONS.length);
  const scored = emiScore(valid.target, predictLinear(trained.head, valid.x, valid.n), EMI_DIMENSIONS.length);
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

/**
 * Per-frame predictions of a video for the test split, filled and smoothed: EXPR class, VA pair,
 * AU 0/1 with the tuned thresholds, CE class. Returns rows per frame 1..frameCount.
 */
export async function predictVideo(
  faces: VideoFaces,
  heads: {
    readonly expr?: ExprResult;
    readonly va?: VaResult;
    readonly au?: AuResult;
    readonly ce?: { readonly scoreLabels: readonly string[] };
  },
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): Promise<{ EXPR?: Int32Array; VA?: Float64Array; AU?: Uint8Array; CE?: Int32Array }> {
  const video: LabelledVideo = { faces, labels: {}, splits: {} };
  const out: { EXPR?: Int32Array; VA?: Float64Array; AU?: Uint8Array; CE?: Int32Array } = {};
  if (heads.expr) {
    const [v] = await mlpOutputs(heads.expr.head, settings.runtime, [video]);
    const c = heads.expr.classes.length;
    out.EXPR = argmaxRows(smoothed(v!, c, heads.expr.window, new Array<number>(c).fill(1 / c)), c);
  }
  if (heads.va) {
    const { rows, frames } = primaryRows(faces);
    const x = gatherRows(faces.scores, heads.va.head.inputDim, rows);
    out.VA = smoothed(
      { video, frames, values: predictLinear(heads.va.head, x, rows.length) },
      2,
      heads.va.window,
      [0, 0],
    );
  }
  if (heads.au) {
    const [v] = await mlpOutputs(heads.au.head, settings.runtime, [video]);
    const k = heads.au.thresholds.length;
    out.AU = thresholdRows(smoothed(v!, k, heads.au.window, heads.au.trainPrevalence), heads.au.thresholds);
  }
  if (heads.ce) {
    const k = COMPOUND_EXPRESSIONS.length;
    const probabilities = compoundProbabilities(faces.scores, faces.frames.length, heads.ce.scoreLabels);
    const merged = maxOverFaces(faces.frames, probabilities, k);
    out.CE = argmaxRows(
      smoothed(
        { video, frames: Int32Array.from(merged.frames), values: merged.rows },
        k,
        settings.windows.CE,
        new Array<number>(k).fill(1 / k),
      ),
      k,
    );
  }
  return out;
}

/** EMI intensities [6] of one video from its pooled primary-face scores. */
export function predictEmiVideo(faces: VideoFaces, emi: EmiResult): Float64Array {
  const { rows } = primaryRows(faces);
  const k = faces.scores.length / Math.max(faces.frames.length, 1);
  const pooled = poolVideo(gatherRows(faces.scores, k, rows), rows.length, k, emi.config.frameStride);
  return predictLinear(emi.head, pooled, 1);
}
