/**
 * Shot-cut test between consecutive decoded frames: colour histograms compared by total
 * variation distance. A cut ends every face track (media/tracking.ts), so an id never passes from
 * one person to another across a cut even when their boxes overlap.
 */

/** Bins per channel of a frame signature. */
const BINS = 16;
/** Every STRIDE-th pixel is counted: plenty for a histogram, a few hundred microseconds a frame. */
const STRIDE = 4;

/** Float32 [3 x 16]: the R, G and B histograms of a frame, each summing to 1. */
export type FrameSignature = Float32Array;

/** The colour histograms of a packed RGB frame (3 bytes per pixel). */
export function frameSignature(rgb: Uint8Array): FrameSignature {
  const counts = new Float32Array(3 * BINS);
  const pixels = Math.floor(rgb.length / 3);
  let n = 0;
  for (let p = 0; p < pixels; p += STRIDE) {
    const i = p * 3;
    counts[(rgb[i]! * BINS) >> 8]!++;
    counts[BINS + ((rgb[i + 1]! * BINS) >> 8)]!++;
    counts[2 * BINS + ((rgb[i + 2]! * BINS) >> 8)]!++;
    n++;
  }
  if (n > 0) for (let b = 0; b < counts.length; b++) counts[b]! /= n;
  return counts;
}

/**
 * How different two frames' colours are: the total variation distance of their histograms,
 * averaged over the channels; 0 for equal histograms, 1 for disjoint ones.
 */
export function sceneDistance(a: FrameSignature, b: FrameSignature): number {
  let sum = 0;
  for (let i = 0; i < a.length; i++) sum += Math.abs(a[i]! - b[i]!);
  return sum / 2 / 3;
}
