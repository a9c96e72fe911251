/**
 * What the five task heads take and give: one video's face rows and labels, the head settings, and
 * each task's result (scores per smoothing window, baselines, the trained head).
 */
import type { Split } from '../datasets/labels.ts';
import { AU_DEFAULTS } from './au.ts';
import { EMI_DEFAULTS, type EmiConfig, type EmiHead } from './emi.ts';
import { EXPR_DEFAULTS } from './expr.ts';
import type { LinearConfig, LinearHead } from './linear.ts';
import { CPU_RUNTIME, type MlpConfig, type MlpHead, type TrainingRuntime } from './mlp.ts';
import { CHALLENGE_PROTOCOL, type HeadProtocol } from './protocol.ts';
import type { ZeroShotExprResult } from './zeroShot.ts';
import { SMOOTHING_WINDOWS } from './smoothing.ts';
import { VA_DEFAULTS } from './va.ts';

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
  readonly emi: EmiConfig;
  /** Half-width d of the mean filter per per-frame task. */
  readonly windows: Readonly<Record<'EXPR' | 'VA' | 'AU' | 'CE', number>>;
  readonly runtime: TrainingRuntime;
  readonly streaming: StreamingSettings;
  /** How heads are fitted and scored (heads/protocol.ts): the challenge's unless a run asks. */
  readonly protocol: HeadProtocol;
}

export const DEFAULT_HEAD_SETTINGS: HeadSettings = Object.freeze({
  expr: EXPR_DEFAULTS,
  va: VA_DEFAULTS,
  au: AU_DEFAULTS,
  emi: EMI_DEFAULTS,
  windows: SMOOTHING_WINDOWS,
  runtime: CPU_RUNTIME,
  streaming: DEFAULT_STREAMING,
  protocol: CHALLENGE_PROTOCOL,
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
  /** The backbone's own logits mapped to Aff-Wild2 (heads/zeroShot.ts); absent without expression logits. */
  readonly zeroShot?: ZeroShotExprResult;
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
  readonly config: EmiConfig;
  readonly head: EmiHead;
}
