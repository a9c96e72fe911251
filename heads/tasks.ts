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
import { AU_DEFAULTS, searchThresholds, trainAuHeadOnRows } from './au.ts';
import { compoundProbabilities, maxOverFaces } from './ce.ts';
import { EMI_DEFAULTS, poolVideo, trainEmiHead } from './emi.ts';
import { EXPR_DEFAULTS, trainExprHeadOnRows } from './expr.ts';
import { predictLinear, type LinearConfig, type LinearHead } from './linear.ts';
import { auF1, confusionMatrix, emiScore, macroF1, perClassF1, vaScore } from './metrics.ts';
import {
  CPU_RUNTIME,
  openMlpPredictor,
  type MlpConfig,
  type MlpHead,
  type MlpPredictor,
  type TrainingRuntime,
} from './mlp.ts';
import type { OpenRowSet, RowSet, RowSetWriter } from './rowset.ts';
import { argmaxRows, thresholdRows } from './rows.ts';
import { fillAndSmooth, SMOOTHING_WINDOWS } from './smoothing.ts';
import { trainVaHead, VA_DEFAULTS } from './va.ts';

/** One video's face rows, sorted by frame then face index; the embeddings live in TaskRows. */
export interface VideoFaces {
  readonly video: string;
  readonly frameCount: number;
  /** 1-based frame of each row. */
  readonly frames: Int32Array;
  readonly faceIndex: Int32Array;
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

/** How the MLP heads' embedding rows are laid out for streaming. */
export interface StreamingSettings {
  /** Rows per chunk read back (a chunk of 1280-d rows is 5 KB x chunkRows). */
  readonly chunkRows: number;
  /** Files a training set's rows are scattered over, so each chunk samples the whole split. */
  readonly buckets: number;
}

export const DEFAULT_STREAMING: StreamingSettings = Object.freeze({ chunkRows: 4096, buckets: 32 });

export interface HeadSettings {
  readonly expr: MlpConfig;
  readonly va: LinearConfig;
  readonly au: MlpConfig;
  readonly emi: LinearConfig & { readonly frameStride: number };
  /** Half-width d of the mean filter per per-frame task. */
  readonly windows: Readonly<Record<'EXPR' | 'VA' | 'AU' | 'CE', number>>;
  readonly runtime: TrainingRuntime;
  readonly streaming: StreamingSettings;
}

export const DEFAULT_HEAD_SETTINGS: HeadSettings = Object.freeze({
  expr: EXPR_DEFAULTS,
  va: VA_DEFAULTS,
  au: AU_DEFAULTS,
  emi: EMI_DEFAULTS,
  windows: SMOOTHING_WINDOWS,
  runtime: CPU_RUNTIME,
  streaming: DEFAULT_STREAMING,
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

type FrameTask = 'EXPR' | 'VA' | 'AU';

/** Primary-face scores of the videos in `split` whose frame is annotated for the task. */
function frameSamples(
  videos: readonly LabelledVideo[],
  task: FrameTask,
  split: Split,
  annotated: (labels: VideoLabelSet, frame: number) => boolean,
): { x: Float32Array; n: number; dim: number; picks: { video: LabelledVideo; frame: number }[] } {
  const picks: { video: LabelledVideo; frame: number; row: number }[] = [];
  let dim = 0;
  for (const video of videos) {
    if (!video.labels[task] || video.splits[task] !== split) continue;
    const faces = video.faces;
    if (faces.frames.length > 0) dim = faces.scores.length / faces.frames.length;
    const { rows, frames } = primaryRows(faces);
    rows.forEach((row, i) => {
      if (annotated(video.labels, frames[i]!)) picks.push({ video, frame: frames[i]!, row });
    });
  }
  const x = new Float32Array(picks.length * dim);
  picks.forEach((p, i) => x.set(p.video.faces.scores.subarray(p.row * dim, (p.row + 1) * dim), i * dim));
  return { x, n: picks.length, dim, picks };
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

/** The tasks whose heads train on the embedding (the others use the scores held per video). */
export type EmbeddingTask = 'EXPR' | 'AU';

/** Rows of a prediction set and what each one is: the index of its video in the list, and its frame. */
export interface KeyedRows {
  readonly rows: RowSet;
  readonly video: Int32Array;
  readonly frame: Int32Array;
}

/** Primary-face embedding rows of one task, per split. */
export interface TaskRows {
  /** Annotated Train frames; label columns one-hot over the 8 classes (EXPR) or the 12 AUs as 0/1. */
  readonly train: RowSet;
  /** Every primary-face row of the task's labelled Validation videos. */
  readonly validation: KeyedRows;
  /** Every primary-face row of the task's Test videos. */
  readonly test: KeyedRows;
}

export type EmbeddingRows = Readonly<Record<EmbeddingTask, TaskRows>>;

/** The label columns of a training row, or undefined when the frame is not annotated. */
const TRAIN_LABELS: Readonly<
  Record<
    EmbeddingTask,
    { width: number; of(labels: VideoLabelSet, frame: number): ArrayLike<number> | undefined }
  >
> = {
  EXPR: {
    width: AFFWILD2_EXPRESSIONS.length,
    of(labels, frame) {
      if (!exprAnnotated(labels, frame)) return undefined;
      const row = new Float32Array(AFFWILD2_EXPRESSIONS.length);
      row[labels.EXPR![frame - 1]!] = 1;
      return row;
    },
  },
  AU: {
    width: AFFWILD2_ACTION_UNITS.length,
    of: (labels, frame) =>
      auAnnotated(labels, frame) ? labels.AU!.subarray((frame - 1) * 12, frame * 12) : undefined,
  },
};

interface KeyedWriter {
  readonly writer: RowSetWriter;
  readonly video: number[];
  readonly frame: number[];
}

/**
 * Sends each primary-face embedding row to the row sets of the tasks and splits it belongs to
 * (EXPR and AU: Train when annotated, with its labels; every row of a labelled Validation video;
 * every row of a Test video), as the rows arrive, in one pass. Only the keys of the prediction
 * rows (two int32 a row) stay in memory.
 */
export class EmbeddingRowRouter {
  private sets:
    Record<EmbeddingTask, { train: RowSetWriter; validation: KeyedWriter; test: KeyedWriter }> | undefined;

  /** videos: labels and splits, indexed as `add` names them. */
  constructor(
    private readonly videos: readonly Pick<LabelledVideo, 'labels' | 'splits'>[],
    private readonly streaming: StreamingSettings,
    private readonly seeds: Readonly<Record<EmbeddingTask, number>>,
    private readonly openSet: OpenRowSet,
  ) {}

  private async open(dim: number) {
    const keyed = async (name: string): Promise<KeyedWriter> => ({
      writer: await this.openSet(name, {
        dim,
        labelWidth: 0,
        chunkRows: this.streaming.chunkRows,
        buckets: 1,
        seed: 0,
        moments: false,
      }),
      video: [],
      frame: [],
    });
    const task = async (t: EmbeddingTask) => ({
      train: await this.openSet(`${t}-train`, {
        dim,
        labelWidth: TRAIN_LABELS[t].width,
        chunkRows: this.streaming.chunkRows,
        buckets: this.streaming.buckets,
        seed: this.seeds[t],
        moments: true,
      }),
      validation: await keyed(`${t}-validation`),
      test: await keyed(`${t}-test`),
    });
    return { EXPR: await task('EXPR'), AU: await task('AU') };
  }

  /** The embedding of the first face of `frame` of video `video` (index into the list). */
  async add(video: number, frame: number, embedding: Float32Array): Promise<void> {
    this.sets ??= await this.open(embedding.length);
    const { labels, splits } = this.videos[video]!;
    for (const task of ['EXPR', 'AU'] as const) {
      const sets = this.sets[task];
      const split = splits[task];
      let keyed: KeyedWriter | undefined;
      if (split === 'Train' && labels[task]) {
        const y = TRAIN_LABELS[task].of(labels, frame);
        if (y) await sets.train.append(embedding, y);
      } else if (split === 'Validation' && labels[task]) keyed = sets.validation;
      else if (split === 'Test') keyed = sets.test;
      if (!keyed) continue;
      await keyed.writer.append(embedding);
      keyed.video.push(video);
      keyed.frame.push(frame);
    }
  }

  async finish(): Promise<EmbeddingRows> {
    this.sets ??= await this.open(0);
    const keyed = async (k: KeyedWriter): Promise<KeyedRows> => ({
      rows: await k.writer.finish(),
      video: Int32Array.from(k.video),
      frame: Int32Array.from(k.frame),
    });
    const task = async (t: EmbeddingTask): Promise<TaskRows> => ({
      train: await this.sets![t].train.finish(),
      validation: await keyed(this.sets![t].validation),
      test: await keyed(this.sets![t].test),
    });
    return { EXPR: await task('EXPR'), AU: await task('AU') };
  }
}

/** One video's primary-face outputs: frames [rows] ascending, values [rows, k]. */
export interface FrameOutputs {
  readonly frames: Int32Array;
  readonly values: Float32Array | Float64Array;
}

const NO_OUTPUTS: FrameOutputs = Object.freeze({ frames: new Int32Array(0), values: new Float32Array(0) });

/** Outputs [set rows, k] of a keyed set regrouped per video index, sorted by frame. */
function outputsByVideo(keyed: KeyedRows, values: Float32Array, k: number): Map<number, FrameOutputs> {
  const positions = new Map<number, number[]>();
  keyed.video.forEach((v, i) => {
    let list = positions.get(v);
    if (!list) positions.set(v, (list = []));
    list.push(i);
  });
  const out = new Map<number, FrameOutputs>();
  for (const [video, list] of positions) {
    list.sort((a, b) => keyed.frame[a]! - keyed.frame[b]!);
    const rows = new Float32Array(list.length * k);
    list.forEach((p, i) => rows.set(values.subarray(p * k, (p + 1) * k), i * k));
    out.set(video, { frames: Int32Array.from(list, (p) => keyed.frame[p]!), values: rows });
  }
  return out;
}

/** A head's outputs on every row of a keyed set, per video index, streamed chunk by chunk. */
export async function predictKeyed(
  head: MlpHead,
  keyed: KeyedRows,
  runtime: TrainingRuntime,
): Promise<Map<number, FrameOutputs>> {
  const predictor = await openMlpPredictor(head, runtime);
  try {
    return outputsByVideo(keyed, await predictor.predictRows(keyed.rows), head.shape.outputs);
  } finally {
    await predictor.release();
  }
}

/** Outputs of the evaluated videos (every one, with or without face rows) from a keyed prediction. */
function evaluatedOutputs(
  videos: readonly LabelledVideo[],
  task: EmbeddingTask,
  byVideo: ReadonlyMap<number, FrameOutputs>,
): VideoOutputs[] {
  const out: VideoOutputs[] = [];
  videos.forEach((video, i) => {
    if (video.labels[task] && video.splits[task] === 'Validation') {
      out.push({ video, ...(byVideo.get(i) ?? NO_OUTPUTS) });
    }
  });
  return out;
}

/**
 * The per-epoch validation score of an MLP head on a keyed set: predictions of every row, scored
 * on the annotated ones by `score`.
 */
function keyedValidation(
  keyed: KeyedRows,
  score: (p: Float32Array) => number,
): (predictor: MlpPredictor) => Promise<number> {
  return async (predictor) => score(await predictor.predictRows(keyed.rows));
}

function videosOf(
  videos: readonly LabelledVideo[],
  task: keyof VideoLabelSet,
  split: Split,
): LabelledVideo[] {
  return videos.filter((v) => v.labels[task] && v.splits[task] === split);
}

/** Positions in a keyed set of the rows whose frame is annotated. */
function annotatedRows(
  videos: readonly LabelledVideo[],
  keyed: KeyedRows,
  annotated: (labels: VideoLabelSet, frame: number) => boolean,
): Int32Array {
  const out: number[] = [];
  keyed.video.forEach((v, i) => {
    if (annotated(videos[v]!.labels, keyed.frame[i]!)) out.push(i);
  });
  return Int32Array.from(out);
}

/** Rows `positions` of values [_, k]. */
function pickRows(values: Float32Array, positions: Int32Array, k: number): Float32Array {
  const out = new Float32Array(positions.length * k);
  positions.forEach((p, i) => out.set(values.subarray(p * k, (p + 1) * k), i * k));
  return out;
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
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): Promise<ExprResult | undefined> {
  const classes = AFFWILD2_EXPRESSIONS.length;
  const valid = rows.validation;
  const annotated = annotatedRows(videos, valid, exprAnnotated);
  if (rows.train.n === 0 || annotated.length === 0) return undefined;
  const truth = Int32Array.from(
    annotated,
    (i) => videos[valid.video[i]!]!.labels.EXPR![valid.frame[i]! - 1]!,
  );
  const trained = await trainExprHeadOnRows(
    rows.train,
    keyedValidation(valid, (p) =>
      macroF1(truth, argmaxRows(pickRows(p, annotated, classes), classes), classes),
    ),
    settings.expr,
    settings.runtime,
  );
  const outputs = evaluatedOutputs(videos, 'EXPR', await predictKeyed(trained.head, valid, settings.runtime));
  const evaluate = (d: number): ClassDecisions => classDecisions(outputs, 'EXPR', classes, d);
  const window = settings.windows.EXPR;
  const { score, windowScores, bestWindow } = scoreWindows(window, (d) => {
    const { truth, predicted } = evaluate(d);
    return macroF1(truth, predicted, classes);
  });
  const atWindow = evaluate(window);
  return {
    task: 'EXPR',
    metric: 'macro F1 over 8 classes',
    score,
    window,
    windowScores,
    bestWindow,
    majorityBaseline: majorityMacroF1(atWindow.truth, Array.from(rows.train.labelSums), classes),
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
): VaResult | undefined {
  const train = frameSamples(videos, 'VA', 'Train', vaAnnotated);
  const valid = frameSamples(videos, 'VA', 'Validation', vaAnnotated);
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
    { x: train.x, n: train.n, dim: train.dim, target: target(train) },
    { x: valid.x, n: valid.n, dim: valid.dim, target: target(valid) },
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

/** AU on the embedding rows of `rows`; videos indexed as the rows' keys name them. */
export async function runAu(
  videos: readonly LabelledVideo[],
  rows: TaskRows,
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
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
  const trained = await trainAuHeadOnRows(
    rows.train,
    keyedValidation(valid, (p) => auF1(truth, thresholdRows(pickRows(p, annotated, aus), half), aus).mean),
    settings.au,
    settings.runtime,
  );
  const outputs = evaluatedOutputs(videos, 'AU', await predictKeyed(trained.head, valid, settings.runtime));
  const prior = Array.from(rows.train.labelSums, (v) => v / rows.train.n);
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
 * AU 0/1 with the tuned thresholds, CE class. Returns rows per frame 1..frameCount. The MLP heads'
 * outputs come from `predictKeyed` on the task's Test rows (absent: the video has no face row).
 */
export function predictVideo(
  faces: VideoFaces,
  heads: {
    readonly expr?: { readonly result: ExprResult; readonly outputs: FrameOutputs | undefined };
    readonly va?: VaResult;
    readonly au?: { readonly result: AuResult; readonly outputs: FrameOutputs | undefined };
    readonly ce?: { readonly scoreLabels: readonly string[] };
  },
  settings: HeadSettings = DEFAULT_HEAD_SETTINGS,
): { EXPR?: Int32Array; VA?: Float64Array; AU?: Uint8Array; CE?: Int32Array } {
  const video: LabelledVideo = { faces, labels: {}, splits: {} };
  const out: { EXPR?: Int32Array; VA?: Float64Array; AU?: Uint8Array; CE?: Int32Array } = {};
  if (heads.expr) {
    const { result, outputs } = heads.expr;
    const c = result.classes.length;
    const filled = smoothed(
      { video, ...(outputs ?? NO_OUTPUTS) },
      c,
      result.window,
      new Array<number>(c).fill(1 / c),
    );
    out.EXPR = argmaxRows(filled, c);
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
    const { result, outputs } = heads.au;
    const filled = smoothed(
      { video, ...(outputs ?? NO_OUTPUTS) },
      result.thresholds.length,
      result.window,
      result.trainPrevalence,
    );
    out.AU = thresholdRows(filled, result.thresholds);
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

/** A task the run did not train or evaluate, and why: one line for the report and the command line. */
export interface SkippedTask {
  readonly task: keyof VideoLabelSet;
  readonly reason: string;
}

const FRAME_TASKS: Readonly<
  Record<FrameTask, { annotated: (l: VideoLabelSet, f: number) => boolean; width: number; missing: string }>
> = {
  EXPR: { annotated: exprAnnotated, width: 1, missing: '-1' },
  VA: { annotated: vaAnnotated, width: 2, missing: '-5' },
  AU: { annotated: auAnnotated, width: 12, missing: '-1' },
};

/** Whether any frame of a video's labels for `task` is annotated (with a face or not). */
function anyAnnotated(video: LabelledVideo, task: FrameTask): boolean {
  const { annotated, width } = FRAME_TASKS[task];
  const frames = (video.labels[task]?.length ?? 0) / width;
  for (let f = 1; f <= frames; f++) if (annotated(video.labels, f)) return true;
  return false;
}

/**
 * Why `task` got no head: the first unmet condition of the ones its run function checks (labels
 * at all; for EXPR, VA and AU labelled Train and Validation videos, annotated frames, annotated
 * frames with a face; for CE annotated frames with a face; for EMI two labelled videos with a face
 * per split). Called for a task whose run function returned undefined.
 */
export function untrainedReason(task: keyof VideoLabelSet, videos: readonly LabelledVideo[]): string {
  const labelled = videos.filter((v) => v.labels[task]);
  if (labelled.length === 0) return `no ${task} labels in the dataset`;
  if (task === 'CE') {
    const annotated = labelled.some((v) => v.labels.CE!.some((c) => c >= 0));
    return annotated ? 'no annotated CE frame has a face' : 'every CE label is -1 (not annotated)';
  }
  if (task === 'EMI') {
    const withFace = (split: Split): number =>
      videosOf(videos, 'EMI', split).filter((v) => v.faces.frames.length > 0).length;
    return `expected at least 2 EMI-labelled videos with a face in Train and in Validation, got ${withFace('Train')} and ${withFace('Validation')}`;
  }
  const { annotated, missing } = FRAME_TASKS[task];
  const minimum = task === 'VA' ? 2 : 1;
  for (const split of ['Train', 'Validation'] as const) {
    const inSplit = videosOf(videos, task, split);
    if (inSplit.length === 0) return `no ${task}-labelled videos in ${split}`;
    if (!inSplit.some((v) => anyAnnotated(v, task)))
      return `every ${split} ${task} label is ${missing} (not annotated)`;
    const withFace = inSplit.reduce(
      (n, v) => n + Array.from(primaryRows(v.faces).frames).filter((f) => annotated(v.labels, f)).length,
      0,
    );
    if (withFace < minimum)
      return minimum === 1
        ? `no annotated ${split} ${task} frame has a face`
        : `expected at least ${minimum} annotated ${split} ${task} frames with a face, got ${withFace}`;
  }
  return `too few annotated ${task} frames with a face in Train and Validation`;
}
