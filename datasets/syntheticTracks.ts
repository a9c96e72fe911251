/**
 * The synthetic datasets' face tracks: per-frame face states of a video (expression segments,
 * drifting valence/arousal and pose), the labels the annotation files carry for them, and how a
 * video's mimicry intensities set its expressions.
 */
import { gaussian } from '../base/random.ts';
import { EXPR_NOT_ANNOTATED, VA_NOT_ANNOTATED, AFFWILD2_ACTION_UNITS } from './labels.ts';
import { COMPOUND_PAIRS, EXPRESSION_FACES, type FaceState } from './syntheticFaces.ts';

/**
 * A track's expression segments when each class must fill a set share of the frames: frames per
 * class by largest remainder, cut into segments of 6-15 frames, in random order.
 */
function stratifiedSegments(
  rand: () => number,
  frames: number,
  weights: readonly number[],
): { cls: number; frames: number }[] {
  const total = weights.reduce((x, y) => x + y, 0);
  const exact = weights.map((w) => (frames * w) / total);
  const counts = exact.map(Math.floor);
  const byRemainder = exact.map((x, c) => [x - counts[c]!, c] as const).sort((a, b) => b[0] - a[0]);
  for (let k = 0; k < frames - counts.reduce((x, y) => x + y, 0); k++) counts[byRemainder[k]![1]]!++;
  const segments: { cls: number; frames: number }[] = [];
  counts.forEach((count, cls) => {
    for (let left = count; left > 0;) {
      const len = Math.min(left, 6 + Math.floor(rand() * 10));
      segments.push({ cls, frames: len });
      left -= len;
    }
  });
  for (let i = segments.length - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    [segments[i], segments[j]] = [segments[j]!, segments[i]!];
  }
  return segments;
}

/**
 * Per-frame face states of one face track: segments of one class, valence/arousal drifting around
 * the class mean (shifted by valenceShift). Classes are drawn uniformly, or with `shares` each
 * class fills its share of the frames (stratifiedSegments).
 */
export function faceTrack(
  rand: () => number,
  frames: number,
  options: {
    compound: boolean;
    noFaceShare: number;
    shares?: readonly number[];
    valenceShift?: number;
  },
): FaceState[] {
  const states: FaceState[] = [];
  let valenceDrift = 0;
  let arousalDrift = 0;
  let yaw = (rand() - 0.5) * 2;
  const segments = options.shares ? stratifiedSegments(rand, frames, options.shares) : undefined;
  const shift = options.valenceShift ?? 0;
  const pick = (): number =>
    Math.floor(rand() * (options.compound ? COMPOUND_PAIRS.length : EXPRESSION_FACES.length));
  for (let segment = 0; states.length < frames; segment++) {
    const planned = segments?.[segment];
    const cls = planned ? planned.cls : pick();
    const [e1, e2] = options.compound ? COMPOUND_PAIRS[cls]! : [cls, cls];
    const f1 = EXPRESSION_FACES[e1]!;
    const f2 = EXPRESSION_FACES[e2]!;
    const aus = new Uint8Array(AFFWILD2_ACTION_UNITS.length);
    for (const i of [...f1.aus, ...f2.aus]) aus[i] = 1;
    // Some action units switch independently of the expression, so AU heads must read them from the face.
    for (let i = 0; i < aus.length; i++) if (rand() < 0.05) aus[i] = 1 - aus[i]!;
    const len = planned ? planned.frames : 6 + Math.floor(rand() * 10);
    for (let i = 0; i < len && states.length < frames; i++) {
      valenceDrift = Math.max(-0.25, Math.min(0.25, valenceDrift + gaussian(rand) * 0.03));
      arousalDrift = Math.max(-0.25, Math.min(0.25, arousalDrift + gaussian(rand) * 0.03));
      yaw = Math.max(-1, Math.min(1, yaw + gaussian(rand) * 0.05));
      const round = (x: number): number => Math.round(Math.max(-1, Math.min(1, x)) * 1000) / 1000;
      states.push({
        expr: e1 === e2 ? cls : e1,
        ce: options.compound ? cls : -1,
        valence: round((f1.va[0] + f2.va[0]) / 2 + valenceDrift + shift),
        arousal: round((f1.va[1] + f2.va[1]) / 2 + arousalDrift),
        aus,
        lopsided: !options.compound && cls === 7,
        yaw,
        face: rand() >= options.noFaceShare,
      });
    }
  }
  return states;
}

export interface TrackLabels {
  expr: Int8Array;
  ce: Int8Array;
  va: Float64Array;
  au: Int8Array;
}

/** Labels of a track as annotation files carry them, with unannotated frames drawn per task. */
export function trackLabels(
  rand: () => number,
  states: readonly FaceState[],
  unannotatedShare: number,
): TrackLabels {
  const n = states.length;
  const width = AFFWILD2_ACTION_UNITS.length;
  const labels: TrackLabels = {
    expr: new Int8Array(n),
    ce: new Int8Array(n),
    va: new Float64Array(n * 2),
    au: new Int8Array(n * width),
  };
  states.forEach((s, i) => {
    labels.expr[i] = rand() < unannotatedShare ? EXPR_NOT_ANNOTATED : s.expr;
    labels.ce[i] = rand() < unannotatedShare ? -1 : s.ce;
    const va = rand() < unannotatedShare;
    labels.va[i * 2] = va ? VA_NOT_ANNOTATED : s.valence;
    labels.va[i * 2 + 1] = va ? VA_NOT_ANNOTATED : s.arousal;
    const au = rand() < unannotatedShare;
    for (let k = 0; k < width; k++) labels.au[i * width + k] = au ? -1 : s.aus[k]!;
  });
  return labels;
}

/**
 * Mimicry intensities -> the share of a video's frames each expression fills (Neutral, Anger, ...,
 * Other) and a valence shift over the whole video. Each intensity has its own visible sign, so
 * all six can be read back: Determination Anger, Empathic Pain Sadness, Joy Happiness, Excitement
 * Surprise, Amusement Other (the lopsided smile), Admiration a warmer mouth (valence) throughout.
 */
export function mimicry(emi: Float64Array): { shares: number[]; valenceShift: number } {
  const [admiration, amusement, determination, pain, excitement, joy] = Array.from(emi) as [
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  return {
    shares: [
      0.3,
      0.05 + determination,
      0.05,
      0.05,
      0.05 + joy,
      0.05 + pain,
      0.05 + excitement,
      0.05 + amusement,
    ],
    valenceShift: 0.6 * admiration - 0.3,
  };
}
