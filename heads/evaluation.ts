/**
 * What every task's evaluation shares: the first face of each frame, which frames are annotated,
 * frame outputs filled and smoothed per window, and the score at each reported window.
 */
import type { Split } from '../datasets/labels.ts';
import { CHALLENGE_PROTOCOL, scoredSpan, type HeadProtocol } from './protocol.ts';
import { argmaxRows } from './rows.ts';
import { fillAndSmooth } from './smoothing.ts';
import {
  REPORTED_WINDOWS,
  type LabelledVideo,
  type VideoFaces,
  type VideoLabelSet,
  type WindowScore,
} from './tasks.ts';

/** First face row of each frame: row indices and their frames. */
export function primaryRows(faces: VideoFaces): { rows: Int32Array; frames: Int32Array } {
  const rows: number[] = [];
  for (let i = 0; i < faces.frames.length; i++) {
    if (i === 0 || faces.frames[i] !== faces.frames[i - 1]) rows.push(i);
  }
  return { rows: Int32Array.from(rows), frames: Int32Array.from(rows, (r) => faces.frames[r]!) };
}

export function gatherRows(source: Float32Array, dim: number, rows: ArrayLike<number>): Float32Array {
  const out = new Float32Array(rows.length * dim);
  for (let i = 0; i < rows.length; i++)
    out.set(source.subarray(rows[i]! * dim, (rows[i]! + 1) * dim), i * dim);
  return out;
}

export type FrameTask = 'EXPR' | 'VA' | 'AU';

/** Primary-face scores of the videos in `split` whose frame is annotated for the task. */
export function frameSamples(
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

export const exprAnnotated = (l: VideoLabelSet, f: number): boolean => (l.EXPR?.[f - 1] ?? -1) >= 0;
export const vaAnnotated = (l: VideoLabelSet, f: number): boolean =>
  (l.VA?.[(f - 1) * 2] ?? -5) >= -1 && (l.VA?.[(f - 1) * 2 + 1] ?? -5) >= -1;
export const auAnnotated = (l: VideoLabelSet, f: number): boolean => {
  const v = l.AU;
  if (!v || f * 12 > v.length) return false;
  for (let j = 0; j < 12; j++) if (v[(f - 1) * 12 + j]! < 0) return false;
  return true;
};

/**
 * Per evaluated video: frame-level outputs [frameCount, dims] before smoothing (filled), from the
 * primary-face predictions; smoothing per window happens in `scoreWindows`.
 */
export interface VideoOutputs {
  readonly video: LabelledVideo;
  readonly frames: Int32Array;
  readonly values: Float32Array | Float64Array;
}

export function smoothed(
  v: VideoOutputs,
  dims: number,
  window: number,
  fallback: ArrayLike<number>,
): Float64Array {
  return fillAndSmooth(v.frames, v.values, dims, v.video.faces.frameCount, window, fallback);
}

/**
 * One evaluated video's outputs filled and smoothed with half-width `window` under the protocol,
 * and the 1-based frames that are scored (every frame, or those with a face: heads/protocol.ts).
 * values: float64 [span, dims]; empty (no frame scored) for a faceless video under face-frames.
 */
export function scoredOutputs(
  v: VideoOutputs,
  dims: number,
  window: number,
  fallback: ArrayLike<number>,
  protocol: HeadProtocol = CHALLENGE_PROTOCOL,
): { values: Float64Array; frames: number[] } {
  const span = scoredSpan(protocol, v.video.faces.frameCount, v.frames);
  if (!span) return { values: new Float64Array(0), frames: [] };
  const values = fillAndSmooth(v.frames, v.values, dims, span.frameCount, window, fallback);
  const frames: number[] = [];
  for (let f = 1; f <= span.frameCount; f++) if (span.counts(f)) frames.push(f);
  return { values, frames };
}

/** Truth and argmax decision of every annotated frame, after filling and smoothing with half-width d. */
export interface ClassDecisions {
  readonly truth: number[];
  readonly predicted: number[];
}

export function classDecisions(
  outputs: readonly VideoOutputs[],
  task: 'EXPR' | 'CE',
  classes: number,
  d: number,
  protocol: HeadProtocol = CHALLENGE_PROTOCOL,
): ClassDecisions {
  const uniform = new Array<number>(classes).fill(1 / classes);
  const truth: number[] = [];
  const predicted: number[] = [];
  for (const v of outputs) {
    const labels = v.video.labels[task]!;
    const scored = scoredOutputs(v, classes, d, uniform, protocol);
    const decided = argmaxRows(scored.values, classes);
    for (const f of scored.frames) {
      if (f > labels.length || labels[f - 1]! < 0) continue;
      truth.push(labels[f - 1]!);
      predicted.push(decided[f - 1]!);
    }
  }
  return { truth, predicted };
}

/** Valence and arousal truth and outputs of every annotated frame, after filling and smoothing with half-width d. */
export function vaDecisions(
  outputs: readonly VideoOutputs[],
  d: number,
  protocol: HeadProtocol = CHALLENGE_PROTOCOL,
): {
  truth: { valence: number[]; arousal: number[] };
  predicted: { valence: number[]; arousal: number[] };
} {
  const truth = { valence: [] as number[], arousal: [] as number[] };
  const predicted = { valence: [] as number[], arousal: [] as number[] };
  for (const v of outputs) {
    const labels = v.video.labels.VA!;
    const { values: s, frames } = scoredOutputs(v, 2, d, [0, 0], protocol);
    for (const f of frames) {
      if (f * 2 > labels.length || !vaAnnotated(v.video.labels, f)) continue;
      truth.valence.push(labels[(f - 1) * 2]!);
      truth.arousal.push(labels[(f - 1) * 2 + 1]!);
      predicted.valence.push(s[(f - 1) * 2]!);
      predicted.arousal.push(s[(f - 1) * 2 + 1]!);
    }
  }
  return { truth, predicted };
}

/**
 * AU truth (0/1) and probabilities [frames, 12] of every annotated frame, after filling (a video
 * without outputs: `prior`) and smoothing with half-width d.
 */
export function auDecisions(
  outputs: readonly VideoOutputs[],
  d: number,
  prior: ArrayLike<number>,
  protocol: HeadProtocol = CHALLENGE_PROTOCOL,
): { truth: Uint8Array; p: number[] } {
  const aus = 12;
  const truth: number[] = [];
  const p: number[] = [];
  for (const v of outputs) {
    const { values: s, frames } = scoredOutputs(v, aus, d, prior, protocol);
    for (const f of frames) {
      if (!auAnnotated(v.video.labels, f)) continue;
      for (let j = 0; j < aus; j++) {
        truth.push(v.video.labels.AU![(f - 1) * aus + j]!);
        p.push(s[(f - 1) * aus + j]!);
      }
    }
  }
  return { truth: Uint8Array.from(truth), p };
}

export function scoreWindows(
  window: number,
  score: (d: number) => number,
): { score: number; windowScores: WindowScore[]; bestWindow: WindowScore } {
  const windows = [...new Set([...REPORTED_WINDOWS, window])].sort((a, b) => a - b);
  const windowScores = windows.map((d) => ({ window: d, score: score(d) }));
  const bestWindow = windowScores.reduce((a, b) => (b.score > a.score ? b : a));
  return { score: windowScores.find((w) => w.window === window)!.score, windowScores, bestWindow };
}

export function videosOf(
  videos: readonly LabelledVideo[],
  task: keyof VideoLabelSet,
  split: Split,
): LabelledVideo[] {
  return videos.filter((v) => v.labels[task] && v.splits[task] === split);
}
