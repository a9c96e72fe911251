/**
 * How heads are fitted and scored: the challenge's protocol (the default) or the author's notebook
 * protocol, choice by choice (SPEC §9, docs/HEADS.md "Protocols"). Every choice is part of a run's
 * input and of the head keys, so heads trained under one are never reused under another.
 */

export interface HeadProtocol {
  /**
   * The splits the heads are fitted on: Train (scored on Validation), or Train + Validation
   * (TRAIN_VAL in the notebooks: the final heads for the test submission; the Validation scores
   * then are in-sample and every head keeps its last epoch).
   */
  readonly fitOn: 'Train' | 'Train+Validation';
  /**
   * The frames scored: every frame 1..frameCount of an evaluated video (the challenge), or only
   * frames with a face crop, with filling and the mean filter run up to the last face frame (the
   * notebooks; a video without any face is left out).
   */
  readonly scoredFrames: 'every-frame' | 'face-frames';
  /**
   * Best-epoch criterion: the challenge metric on Validation (EXPR macro F1, AU mean F1 at 0.5,
   * VA mean CCC, EMI mean Pearson), or the notebooks' (EXPR accuracy, VA and AU validation loss;
   * EMI keeps mean Pearson).
   */
  readonly bestEpoch: 'challenge-metric' | 'reference';
  /**
   * AU thresholds: searched per smoothing window on the smoothed outputs, or once on the raw
   * (window 0) outputs and kept for every window, as the notebooks do.
   */
  readonly auThresholds: 'per-window' | 'raw-once';
}

export const CHALLENGE_PROTOCOL: HeadProtocol = Object.freeze({
  fitOn: 'Train',
  scoredFrames: 'every-frame',
  bestEpoch: 'challenge-metric',
  auThresholds: 'per-window',
});

/** The author's notebook choices, all four. */
export const REFERENCE_PROTOCOL: HeadProtocol = Object.freeze({
  fitOn: 'Train',
  scoredFrames: 'face-frames',
  bestEpoch: 'reference',
  auThresholds: 'raw-once',
});

export const PROTOCOL_CHOICES = Object.freeze({
  fitOn: ['Train', 'Train+Validation'],
  scoredFrames: ['every-frame', 'face-frames'],
  bestEpoch: ['challenge-metric', 'reference'],
  auThresholds: ['per-window', 'raw-once'],
} as const satisfies { readonly [K in keyof HeadProtocol]: readonly HeadProtocol[K][] });

/** One line for reports and logs, e.g. "fit on Train; every-frame; best epoch challenge-metric; AU thresholds per-window". */
export function describeProtocol(p: HeadProtocol): string {
  return `fit on ${p.fitOn}; scored frames ${p.scoredFrames}; best epoch ${p.bestEpoch}; AU thresholds ${p.auThresholds}`;
}

/**
 * How one evaluated video's outputs are filled, smoothed and scored: the frame count the filling
 * and filter run over, and which frames count. undefined: the video is not scored.
 */
export function scoredSpan(
  protocol: HeadProtocol,
  frameCount: number,
  faceFrames: Int32Array,
): { readonly frameCount: number; readonly counts: (frame: number) => boolean } | undefined {
  if (protocol.scoredFrames === 'every-frame') return { frameCount, counts: () => true };
  if (faceFrames.length === 0) return undefined;
  const withFace = new Set(faceFrames);
  return { frameCount: faceFrames[faceFrames.length - 1]!, counts: (f) => withFace.has(f) };
}
