/**
 * Late fusion of a visual and an audio head (the author's ABAW-6 notebooks): per frame, or per
 * video for EMI, the fused output of dimension d is w_d · visual + (1 − w_d) · audio; where only
 * one modality has outputs for a video (no face in it, or no audio) that one is used. The
 * visual weights are chosen on a grid (FUSION_GRID) by the score they give on the split the heads
 * are scored on (docs/HEADS.md, "Late fusion").
 */
import type { FrameOutputs } from './embeddingRows.ts';
import { fillGaps } from './smoothing.ts';

/** The visual weights searched: 0, 0.1, …, 1 (the audio weight is 1 − w). */
export const FUSION_GRID: readonly number[] = Object.freeze(Array.from({ length: 11 }, (_, i) => i / 10));

/** How many fused outputs (frames, or EMI videos) had an output of both modalities, or of one alone. */
export interface ModalityCounts {
  readonly both: number;
  readonly visualOnly: number;
  readonly audioOnly: number;
}

export function addCounts(a: ModalityCounts, b: ModalityCounts): ModalityCounts {
  return {
    both: a.both + b.both,
    visualOnly: a.visualOnly + b.visualOnly,
    audioOnly: a.audioOnly + b.audioOnly,
  };
}

export const NO_COUNTS: ModalityCounts = Object.freeze({ both: 0, visualOnly: 0, audioOnly: 0 });

/**
 * One video's fused frame outputs at the union of both modalities' frames (ascending): each
 * modality's outputs filled over its own gaps first (heads/smoothing.ts fillGaps: linear between
 * its frames, its first and last held), then weights[d] · visual + (1 − weights[d]) · audio per
 * dimension d. A modality without any output in the video leaves the other one as it is. Filling
 * before blending makes w = 1 give exactly the visual outputs and w = 0 the audio ones after the
 * evaluation's own filling, so the search can always fall back to the better modality.
 * Each input's frames are ascending and its values [its frames, dims]; values float64 [frames, dims].
 */
export function fuseFrames(
  visual: FrameOutputs,
  audio: FrameOutputs,
  weights: ArrayLike<number>,
  dims: number,
): FrameOutputs & { readonly counts: ModalityCounts } {
  const seenBy = new Map<number, number>();
  for (const f of visual.frames) seenBy.set(f, 1);
  for (const f of audio.frames) seenBy.set(f, (seenBy.get(f) ?? 0) | 2);
  const frames = Int32Array.from([...seenBy.keys()].sort((a, b) => a - b));
  const counts = { both: 0, visualOnly: 0, audioOnly: 0 };
  for (const who of seenBy.values()) {
    if (who === 3) counts.both++;
    else if (who === 1) counts.visualOnly++;
    else counts.audioOnly++;
  }
  if (audio.frames.length === 0 || visual.frames.length === 0) {
    const only = audio.frames.length === 0 ? visual : audio;
    return { frames: only.frames, values: Float64Array.from(only.values), counts };
  }
  const span = frames[frames.length - 1]!;
  const v = fillGaps(visual.frames, visual.values, dims, span);
  const a = fillGaps(audio.frames, audio.values, dims, span);
  const values = new Float64Array(frames.length * dims);
  frames.forEach((f, i) => {
    for (let d = 0; d < dims; d++) {
      const w = weights[d]!;
      values[i * dims + d] = w * v[(f - 1) * dims + d]! + (1 - w) * a[(f - 1) * dims + d]!;
    }
  });
  return { frames, values, counts };
}

/** A weight search's outcome: the chosen visual weight per dimension and the score it gave. */
export interface WeightChoice {
  /** Visual weight per dimension (one entry when one weight serves every dimension). */
  readonly weights: readonly number[];
  /** The score (per dimension, or the single one) at the chosen weights. */
  readonly scores: readonly number[];
  /** Every grid weight's score, or per-dimension scores, as searched. */
  readonly searched: readonly { readonly weight: number; readonly scores: readonly number[] }[];
}

/**
 * Per dimension, the first weight of `grid` with the highest score. `score(w)` gives every
 * dimension's score with w applied to all of them, which is each dimension's own search as long as
 * dimensions are scored independently (VA's CCC per dimension, EMI's Pearson r per emotion, AU's
 * F1 per AU with its own threshold). A task scored across its dimensions (EXPR's macro F1 over
 * classes) returns one score: one weight then serves every dimension.
 */
export function searchWeights(
  grid: readonly number[],
  score: (weight: number) => readonly number[],
): WeightChoice {
  if (grid.length === 0) throw new Error('fusion weight search: expected at least one grid weight, got none');
  const searched = grid.map((weight) => ({ weight, scores: score(weight) }));
  const dims = searched[0]!.scores.length;
  const weights: number[] = [];
  const scores: number[] = [];
  for (let d = 0; d < dims; d++) {
    let best = searched[0]!;
    // NaN (a score that could not be computed) never wins over a number.
    for (const s of searched) if (s.scores[d]! > best.scores[d]! || Number.isNaN(best.scores[d]!)) best = s;
    weights.push(best.weight);
    scores.push(best.scores[d]!);
  }
  return { weights, scores, searched };
}

/** One video's outputs per modality, by name; EMI: one row per video. */
export interface VideoLevelOutputs {
  /** Video names, one per row of `values`. */
  readonly videos: readonly string[];
  /** float64 [videos, dims]. */
  readonly values: ArrayLike<number>;
  /** The labels of each row's video, float64 [videos, dims]. */
  readonly target: ArrayLike<number>;
}

/**
 * Video-level fusion (EMI): the union of both modalities' videos (visual order first), each row
 * w_d · visual + (1 − w_d) · audio, or the one modality that has the video; with the targets.
 */
export function fuseVideos(
  visual: VideoLevelOutputs,
  audio: VideoLevelOutputs,
  weights: ArrayLike<number>,
  dims: number,
): { values: Float64Array; target: Float64Array; counts: ModalityCounts } {
  const audioRow = new Map(audio.videos.map((name, i) => [name, i]));
  const visualNames = new Set(visual.videos);
  const values: number[] = [];
  const target: number[] = [];
  let [both, visualOnly, audioOnly] = [0, 0, 0];
  visual.videos.forEach((name, i) => {
    const j = audioRow.get(name);
    for (let d = 0; d < dims; d++) {
      const v = visual.values[i * dims + d]!;
      values.push(j === undefined ? v : weights[d]! * v + (1 - weights[d]!) * audio.values[j * dims + d]!);
      target.push(visual.target[i * dims + d]!);
    }
    if (j === undefined) visualOnly++;
    else both++;
  });
  audio.videos.forEach((name, j) => {
    if (visualNames.has(name)) return;
    for (let d = 0; d < dims; d++) {
      values.push(audio.values[j * dims + d]!);
      target.push(audio.target[j * dims + d]!);
    }
    audioOnly++;
  });
  return {
    values: Float64Array.from(values),
    target: Float64Array.from(target),
    counts: { both, visualOnly, audioOnly },
  };
}
