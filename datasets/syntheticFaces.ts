/**
 * How the synthetic datasets draw a face: what each expression shows (action units, mean valence
 * and arousal), a video's style, and the face itself drawn from its state (see datasets/synthetic.ts).
 */
import { AFFWILD2_ACTION_UNITS } from './labels.ts';

const AU = Object.fromEntries(AFFWILD2_ACTION_UNITS.map((name, i) => [name, i])) as Record<
  (typeof AFFWILD2_ACTION_UNITS)[number],
  number
>;

/** Per Aff-Wild2 expression: active action units and mean valence/arousal. */
export const EXPRESSION_FACES: readonly {
  readonly aus: readonly number[];
  readonly va: readonly [number, number];
}[] = [
  { aus: [], va: [0, 0] }, // Neutral
  { aus: [AU.AU4, AU.AU7, AU.AU23, AU.AU24], va: [-0.6, 0.6] }, // Anger
  { aus: [AU.AU4, AU.AU10, AU.AU15], va: [-0.6, 0.2] }, // Disgust
  { aus: [AU.AU1, AU.AU2, AU.AU4, AU.AU7, AU.AU25], va: [-0.5, 0.7] }, // Fear
  { aus: [AU.AU6, AU.AU12, AU.AU25], va: [0.7, 0.4] }, // Happiness
  { aus: [AU.AU1, AU.AU4, AU.AU15], va: [-0.6, -0.4] }, // Sadness
  { aus: [AU.AU1, AU.AU2, AU.AU25, AU.AU26], va: [0.2, 0.8] }, // Surprise
  { aus: [AU.AU10], va: [0, -0.2] }, // Other (drawn with a lopsided mouth)
];

/** Compound classes (COMPOUND_EXPRESSIONS order) as pairs of Aff-Wild2 expressions. */
export const COMPOUND_PAIRS: readonly (readonly [number, number])[] = [
  [3, 6], // Fearfully Surprised
  [4, 6], // Happily Surprised
  [5, 6], // Sadly Surprised
  [2, 6], // Disgustedly Surprised
  [1, 6], // Angrily Surprised
  [5, 3], // Sadly Fearful
  [5, 1], // Sadly Angry
];

/** What one face in one frame shows; the labels are derived from it. */
export interface FaceState {
  readonly expr: number;
  readonly ce: number;
  readonly valence: number;
  readonly arousal: number;
  readonly aus: Uint8Array;
  readonly lopsided: boolean;
  readonly yaw: number;
  readonly face: boolean;
}

type Rgb = readonly [number, number, number];

export interface FaceStyle {
  readonly background: Rgb;
  readonly skin: Rgb;
  readonly dx: number;
  readonly dy: number;
}

function fillEllipse(
  buf: Uint8Array,
  width: number,
  height: number,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  color: Rgb,
): void {
  if (rx <= 0 || ry <= 0) return;
  const y0 = Math.max(0, Math.floor(cy - ry));
  const y1 = Math.min(height - 1, Math.ceil(cy + ry));
  const x0 = Math.max(0, Math.floor(cx - rx));
  const x1 = Math.min(width - 1, Math.ceil(cx + rx));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = (x + 0.5 - cx) / rx;
      const dy = (y + 0.5 - cy) / ry;
      if (dx * dx + dy * dy <= 1) {
        const o = (y * width + x) * 3;
        buf[o] = color[0];
        buf[o + 1] = color[1];
        buf[o + 2] = color[2];
      }
    }
  }
}

/** Draws one face into buf (packed RGB, bufWidth wide) in the square at offsetX of side s. */
export function drawFace(
  buf: Uint8Array,
  bufWidth: number,
  offsetX: number,
  s: number,
  style: FaceStyle,
  state: FaceState,
): void {
  const rowStart = offsetX * 3;
  for (let x = 0; x < s; x++) buf.set(style.background, rowStart + x * 3);
  for (let y = 1; y < s; y++) buf.copyWithin((y * bufWidth + offsetX) * 3, rowStart, rowStart + s * 3);
  if (!state.face) return;
  const a = state.aus;
  const dot = (cx: number, cy: number, r: number, color: Rgb): void =>
    fillEllipse(buf, bufWidth, s, offsetX + cx, cy, r, r, color);
  const ellipse = (cx: number, cy: number, rx: number, ry: number, color: Rgb): void =>
    fillEllipse(buf, bufWidth, s, offsetX + cx, cy, rx, ry, color);
  const cx = s / 2 + style.dx + state.yaw * 0.025 * s;
  const cy = s / 2 + style.dy;
  const dark: Rgb = [30, 20, 20];
  ellipse(cx, cy, 0.32 * s, 0.42 * s, style.skin);
  const eyeOpen = Math.max(0.15, 1 + 0.35 * state.arousal - 0.45 * a[AU.AU7]! + 0.2 * a[AU.AU2]!);
  for (const side of [-1, 1]) {
    const ex = cx + side * 0.13 * s;
    const ey = cy - 0.08 * s;
    ellipse(ex, ey, 0.055 * s, 0.045 * s * eyeOpen, [250, 250, 250]);
    ellipse(ex, ey, 0.025 * s, 0.03 * s * Math.min(eyeOpen, 1), dark);
    // Brow: inner end (towards the nose) raised by AU1, outer end by AU2, all lowered by AU4.
    const base = ey - 0.1 * s + a[AU.AU4]! * 0.035 * s;
    for (let t = -1; t <= 1; t += 0.1) {
      const inner = (1 - side * t) / 2;
      const lift = (a[AU.AU1]! * inner + a[AU.AU2]! * (1 - inner)) * 0.05 * s;
      dot(ex + t * 0.06 * s, base - lift, (a[AU.AU4] ? 0.024 : 0.017) * s, dark);
    }
    if (a[AU.AU6]) ellipse(cx + side * 0.19 * s, cy + 0.08 * s, 0.045 * s, 0.03 * s, [235, 110, 120]);
  }
  const mx = cx + (state.lopsided ? 0.07 * s : 0);
  const my = cy + 0.2 * s + a[AU.AU26]! * 0.03 * s;
  const open = 0.35 * a[AU.AU25]! + 0.8 * a[AU.AU26]! + 0.2 * Math.max(state.arousal, 0);
  if (open > 0.05) ellipse(mx, my, 0.08 * s, open * 0.06 * s, [90, 10, 20]);
  const curve = 0.9 * a[AU.AU12]! - 0.8 * a[AU.AU15]! + 0.5 * state.valence;
  const lip: Rgb = a[AU.AU24] ? [90, 15, 25] : [160, 35, 45];
  const lipR = (a[AU.AU23] ? 0.011 : 0.019) * s;
  for (let t = -1; t <= 1; t += 0.05) {
    const tilt = state.lopsided ? t * 0.04 * s : 0;
    dot(mx + t * 0.12 * s, my - curve * t * t * 0.06 * s + curve * 0.02 * s + tilt, lipR, lip);
  }
  if (a[AU.AU10])
    for (let t = -0.6; t <= 0.6; t += 0.1) dot(mx + t * 0.1 * s, my - 0.07 * s, 0.01 * s, [120, 60, 60]);
}

export function styleOf(rand: () => number, size: number): FaceStyle {
  const tone = 150 + Math.floor(rand() * 80);
  return {
    background: [Math.floor(rand() * 120), Math.floor(rand() * 120), Math.floor(rand() * 120)],
    skin: [tone, Math.floor(tone * 0.8), Math.floor(tone * 0.65)],
    dx: (rand() - 0.5) * 0.08 * size,
    dy: (rand() - 0.5) * 0.08 * size,
  };
}
