/** Test-split predictions of the trained heads, per video, filled and smoothed as in evaluation. */
import { COMPOUND_EXPRESSIONS } from '../datasets/labels.ts';
import { compoundProbabilities, maxOverFaces } from './ce.ts';
import { NO_OUTPUTS, type FrameOutputs } from './embeddingRows.ts';
import { poolVideo, predictEmi } from './emi.ts';
import { gatherRows, primaryRows, smoothed } from './evaluation.ts';
import { predictLinear } from './linear.ts';
import { argmaxRows, thresholdRows } from './rows.ts';
import {
  DEFAULT_HEAD_SETTINGS,
  type AuResult,
  type EmiResult,
  type ExprResult,
  type HeadSettings,
  type LabelledVideo,
  type VaResult,
  type VideoFaces,
} from './tasks.ts';

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
  return predictEmi(emi.head, pooled, 1);
}
