/**
 * A synthetic dataset in the Aff-Wild2 layout whose labels can be learned from pixels: every frame
 * shows a drawn face whose geometry (mouth curve and opening, brow height, eye opening) follows
 * its expression label. Deterministic from the seed. Used by the demo, tests and benchmarks.
 *
 * Layout written under root:
 *   videos/<name>.mp4
 *   annotations/EXPR_Recognition_Challenge/{Train_Set,Validation_Set}/<name>.txt
 *   affectflow-synthetic.json (the options, so an identical dataset is not written twice)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { encodeVideo } from '../media/ffmpeg.ts';
import { formatExprAnnotation } from './affwild2.ts';
import { EXPR_NOT_ANNOTATED } from './labels.ts';

export interface SyntheticOptions {
  readonly seed: number;
  readonly trainVideos: number;
  readonly validationVideos: number;
  readonly framesPerVideo: number;
  /** Square frame side in pixels (even, for yuv420p). */
  readonly size: number;
  readonly fps: number;
  /** Share of frames left unannotated (-1). */
  readonly unannotatedShare: number;
}

export const TINY_SYNTHETIC: SyntheticOptions = Object.freeze({
  seed: 7,
  trainVideos: 4,
  validationVideos: 2,
  framesPerVideo: 48,
  size: 96,
  fps: 25,
  unannotatedShare: 0.05,
});

/** mulberry32: small, fast, deterministic. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function gaussian(rand: () => number): number {
  return Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());
}

/** Face geometry per Aff-Wild2 expression class: mouth curve (+ smile), mouth open, brow raise, eye open, mouth shift. */
const GEOMETRY: readonly (readonly [number, number, number, number, number])[] = [
  [0, 0, 0, 1, 0], // Neutral
  [-0.4, 0, -1, 0.6, 0], // Anger
  [-0.8, 0.2, -0.5, 0.4, 0], // Disgust
  [-0.3, 0.6, 1, 1.4, 0], // Fear
  [1, 0.3, 0.2, 0.9, 0], // Happiness
  [-1, 0, 0.5, 0.7, 0], // Sadness
  [0, 1.2, 1.2, 1.5, 0], // Surprise
  [0.5, 0.1, 0, 1, 1], // Other: a lopsided mouth
];

type Rgb = readonly [number, number, number];

function fillEllipse(
  buf: Uint8Array,
  size: number,
  cx: number,
  cy: number,
  rx: number,
  ry: number,
  color: Rgb,
): void {
  if (rx <= 0 || ry <= 0) return;
  const y0 = Math.max(0, Math.floor(cy - ry));
  const y1 = Math.min(size - 1, Math.ceil(cy + ry));
  const x0 = Math.max(0, Math.floor(cx - rx));
  const x1 = Math.min(size - 1, Math.ceil(cx + rx));
  for (let y = y0; y <= y1; y++) {
    for (let x = x0; x <= x1; x++) {
      const dx = (x + 0.5 - cx) / rx;
      const dy = (y + 0.5 - cy) / ry;
      if (dx * dx + dy * dy <= 1) {
        const o = (y * size + x) * 3;
        buf[o] = color[0];
        buf[o + 1] = color[1];
        buf[o + 2] = color[2];
      }
    }
  }
}

interface FaceStyle {
  readonly background: Rgb;
  readonly skin: Rgb;
  readonly dx: number;
  readonly dy: number;
}

/** Draws one face; params = GEOMETRY row plus noise. */
export function drawFace(size: number, style: FaceStyle, params: readonly number[]): Uint8Array {
  const [curve = 0, open = 0, brow = 0, eye = 1, shift = 0] = params;
  const buf = new Uint8Array(size * size * 3);
  for (let i = 0; i < size * size; i++) buf.set(style.background, i * 3);
  const s = size;
  const cx = s / 2 + style.dx;
  const cy = s / 2 + style.dy;
  const dark: Rgb = [30, 20, 20];
  fillEllipse(buf, s, cx, cy, 0.32 * s, 0.42 * s, style.skin);
  for (const side of [-1, 1]) {
    const ex = cx + side * 0.13 * s;
    const ey = cy - 0.08 * s;
    fillEllipse(buf, s, ex, ey, 0.055 * s, Math.max(0.01, 0.045 * s * eye), [250, 250, 250]);
    fillEllipse(buf, s, ex, ey, 0.025 * s, Math.max(0.01, 0.03 * s * Math.min(eye, 1)), dark);
    const by = ey - 0.09 * s - brow * 0.05 * s;
    for (let t = -1; t <= 1; t += 0.1) fillEllipse(buf, s, ex + t * 0.06 * s, by, 0.018 * s, 0.018 * s, dark);
  }
  const mx = cx + shift * 0.08 * s;
  const my = cy + 0.2 * s;
  if (open > 0.05) fillEllipse(buf, s, mx, my, 0.08 * s, open * 0.06 * s, [90, 10, 20]);
  for (let t = -1; t <= 1; t += 0.05) {
    const lopsided = shift * t * 0.04 * s;
    const y = my - curve * (1 - t * t) * 0.06 * s + lopsided;
    fillEllipse(buf, s, mx + t * 0.12 * s, y, 0.018 * s, 0.018 * s, [150, 30, 40]);
  }
  return buf;
}

/** One label per frame: segments of one expression, a few frames unannotated. */
function labelSequence(rand: () => number, frames: number, unannotatedShare: number): Int8Array {
  const labels = new Int8Array(frames);
  let f = 0;
  while (f < frames) {
    const cls = Math.floor(rand() * GEOMETRY.length);
    const len = 6 + Math.floor(rand() * 10);
    for (let i = 0; i < len && f < frames; i++, f++) labels[f] = cls;
  }
  for (let i = 0; i < frames; i++) if (rand() < unannotatedShare) labels[i] = EXPR_NOT_ANNOTATED;
  return labels;
}

export interface SyntheticVideo {
  readonly name: string;
  readonly split: 'Train_Set' | 'Validation_Set';
  readonly path: string;
  readonly expr: Int8Array;
}

/**
 * Writes the dataset under root unless the same options were written there before.
 * Returns the videos and whether anything was written.
 */
export async function generateSyntheticDataset(
  root: string,
  options: SyntheticOptions = TINY_SYNTHETIC,
): Promise<{ videos: SyntheticVideo[]; written: boolean }> {
  const stampPath = join(root, 'affectflow-synthetic.json');
  const stamp = JSON.stringify(options);
  const rand = seededRandom(options.seed);
  const videos: SyntheticVideo[] = [];
  const plan: { video: SyntheticVideo; style: FaceStyle; noise: number[][] }[] = [];
  const total = options.trainVideos + options.validationVideos;
  for (let v = 0; v < total; v++) {
    const split = v < options.trainVideos ? 'Train_Set' : 'Validation_Set';
    const name = `synth-${String(v + 1).padStart(3, '0')}`;
    const expr = labelSequence(rand, options.framesPerVideo, options.unannotatedShare);
    const tone = 150 + Math.floor(rand() * 80);
    const style: FaceStyle = {
      background: [Math.floor(rand() * 120), Math.floor(rand() * 120), Math.floor(rand() * 120)],
      skin: [tone, Math.floor(tone * 0.8), Math.floor(tone * 0.65)],
      dx: (rand() - 0.5) * 0.08 * options.size,
      dy: (rand() - 0.5) * 0.08 * options.size,
    };
    const noise = Array.from({ length: options.framesPerVideo }, () =>
      Array.from({ length: 5 }, () => gaussian(rand) * 0.1),
    );
    const video = { name, split, path: join(root, 'videos', `${name}.mp4`), expr } as const;
    videos.push(video);
    plan.push({ video, style, noise });
  }
  if (existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp) return { videos, written: false };

  mkdirSync(join(root, 'videos'), { recursive: true });
  for (const { video, style, noise } of plan) {
    const frames = Array.from(video.expr, (label, i) => {
      // Unannotated frames still show a face; their expression is the previous segment's.
      const cls = label >= 0 ? label : nearestLabel(video.expr, i);
      const geometry = GEOMETRY[cls] ?? GEOMETRY[0]!;
      return drawFace(
        options.size,
        style,
        geometry.map((g, k) => g + (noise[i]?.[k] ?? 0)),
      );
    });
    await encodeVideo(video.path, options.size, options.size, options.fps, frames);
    const dir = join(root, 'annotations', 'EXPR_Recognition_Challenge', video.split);
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `${video.name}.txt`), formatExprAnnotation(video.expr));
  }
  writeFileSync(stampPath, stamp);
  return { videos, written: true };
}

function nearestLabel(labels: Int8Array, i: number): number {
  for (let d = 1; d < labels.length; d++) {
    const before = labels[i - d];
    if (before !== undefined && before >= 0) return before;
    const after = labels[i + d];
    if (after !== undefined && after >= 0) return after;
  }
  return 0;
}
