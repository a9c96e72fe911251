import { seededRandom } from '../base/random.ts';
import { COMPOUND_PAIRS, drawFace, styleOf } from './syntheticFaces.ts';
import { faceTrack } from './syntheticTracks.ts';

/** Faces drawn in memory by the same drawing code as the dataset files, with what they show. */
export interface DrawnFaces {
  readonly count: number;
  /** Side S of each square face. */
  readonly size: number;
  /** Packed RGB uint8 [count, S, S, 3]. */
  readonly rgb: Uint8Array;
  /**
   * Aff-Wild2 expression indices [count, 2]: twice the same index for a basic expression, the two
   * basics of a compound expression (C-EXPR-DB faces).
   */
  readonly basics: Uint8Array;
  /** Valence and arousal [count, 2], each in [-1, 1]. */
  readonly va: Float32Array;
}

/**
 * Draws `count` faces of side `size`: face tracks as the videos hold them (a new style, pose and
 * expression segments every 8 faces), compound tracks with probability `compoundShare`. Used to
 * fit the generated backbones' score layers (models/tinyBackbone.ts). Deterministic from the seed.
 */
export function drawFaces(seed: number, count: number, size: number, compoundShare: number): DrawnFaces {
  const rand = seededRandom(seed);
  const rgb = new Uint8Array(count * size * size * 3);
  const basics = new Uint8Array(count * 2);
  const va = new Float32Array(count * 2);
  const perTrack = 8;
  for (let i = 0; i < count;) {
    const compound = rand() < compoundShare;
    // Every third frame of a track: neighbours share a segment and look almost alike.
    const track = faceTrack(rand, perTrack * 3, { compound, noFaceShare: 0 });
    const style = styleOf(rand, size);
    for (let f = 0; f < track.length && i < count; f += 3, i++) {
      const state = track[f]!;
      drawFace(rgb.subarray(i * size * size * 3, (i + 1) * size * size * 3), size, 0, size, style, state);
      const [a, b] = compound ? COMPOUND_PAIRS[state.ce]! : [state.expr, state.expr];
      basics[i * 2] = a;
      basics[i * 2 + 1] = b;
      va[i * 2] = state.valence;
      va[i * 2 + 1] = state.arousal;
    }
  }
  return { count, size, rgb, basics, va };
}
