/**
 * Synthetic datasets in the real layouts (Aff-Wild2, C-EXPR-DB, Hume-Vidmimic2, generic) whose
 * labels can be learned from pixels: every frame shows a drawn face whose geometry follows its
 * labels. Action units drive the features (AU1/AU2 inner/outer brow raise, AU4 brow lowering, AU6
 * cheek marks, AU7 narrowed eyes, AU10 upper-lip line, AU12/AU15 mouth corners up/down, AU23 thin
 * lips, AU24 pressed (dark) lips, AU25 lips apart, AU26 jaw drop); valence bends the mouth and
 * arousal opens the eyes; each expression (and compound expression) has its own action units and
 * valence/arousal; a video's mimicry intensities set how often its expressions appear. The head
 * also drifts sideways (pose), which no label follows. Deterministic from the seed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { gaussian, seededRandom } from '../base/random.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import {
  EMI_HEADER,
  formatAuAnnotation,
  formatCeAnnotation,
  formatExprAnnotation,
  formatVaAnnotation,
} from './annotations.ts';
import { AFFWILD2_ACTION_UNITS, EXPR_NOT_ANNOTATED, VA_NOT_ANNOTATED } from './labels.ts';

/** Bumped when the same options would draw different files, so old datasets are regenerated. */
const GENERATOR_VERSION = 3;

export type SyntheticLayout = 'affwild2' | 'cexprdb' | 'hume' | 'generic';

export interface SyntheticOptions {
  readonly seed: number;
  readonly trainVideos: number;
  readonly validationVideos: number;
  /** Frames per video; with namesOnly, the mean (each video draws 0.5x..1.5x). */
  readonly framesPerVideo: number;
  /** Square face side in pixels (even, for yuv420p); pair videos are twice as wide. */
  readonly size: number;
  readonly fps: number;
  /** Share of frames left unannotated (-1 EXPR/CE/AU rows, -5 VA), drawn per task. */
  readonly unannotatedShare: number;
  /** Default affwild2. */
  readonly layout?: SyntheticLayout;
  /** Videos without labels (Aff-Wild2: named in the test-set lists). Default 0. */
  readonly testVideos?: number;
  /** Aff-Wild2: videos holding two faces, annotated as <video>_left and <video>_right (Train). Default 0. */
  readonly pairs?: number;
  /** Also write per-frame face images (Aff-Wild2 cropped/, Hume face_images/, generic frames/). Default false. */
  readonly frameFolders?: boolean;
  /** Share of frames without a face: nothing drawn in videos, no image in frame folders. Default 0. */
  readonly noFaceShare?: number;
  /** Aff-Wild2: add a few malformed files for the error paths (see docs/DATASETS.md). Default false. */
  readonly malformed?: boolean;
  /**
   * Aff-Wild2: no pixels, for the manifest benchmark: cropped_aligned/<name>/ holds one real image
   * (00001.jpg) and empty files for the other frames with a face; no videos; all label files.
   */
  readonly namesOnly?: boolean;
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

/** About the size of Aff-Wild2 (550 names, about 2.9 million frames), names and label files only. */
export const AFFWILD2_SIZED_SYNTHETIC: SyntheticOptions = Object.freeze({
  seed: 11,
  trainVideos: 350,
  validationVideos: 70,
  testVideos: 110,
  pairs: 10,
  framesPerVideo: 5300,
  size: 96,
  fps: 30,
  unannotatedShare: 0.05,
  noFaceShare: 0.03,
  namesOnly: true,
});

const AU = Object.fromEntries(AFFWILD2_ACTION_UNITS.map((name, i) => [name, i])) as Record<
  (typeof AFFWILD2_ACTION_UNITS)[number],
  number
>;

/** Per Aff-Wild2 expression: active action units and mean valence/arousal. */
const EXPRESSION_FACES: readonly {
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
const COMPOUND_PAIRS: readonly (readonly [number, number])[] = [
  [3, 6], // Fearfully Surprised
  [4, 6], // Happily Surprised
  [5, 6], // Sadly Surprised
  [2, 6], // Disgustedly Surprised
  [1, 6], // Angrily Surprised
  [5, 3], // Sadly Fearful
  [5, 1], // Sadly Angry
];

/** What one face in one frame shows; the labels are derived from it. */
interface FaceState {
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

interface FaceStyle {
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
function drawFace(
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
function faceTrack(
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

interface TrackLabels {
  expr: Int8Array;
  ce: Int8Array;
  va: Float64Array;
  au: Int8Array;
}

/** Labels of a track as annotation files carry them, with unannotated frames drawn per task. */
function trackLabels(
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

export interface SyntheticVideo {
  /** The manifest name (for pairs: <video>_left / <video>_right). */
  readonly name: string;
  readonly split: 'Train_Set' | 'Validation_Set' | 'Test_Set';
  /** Absolute path of the video file, or of the frame folder when only images are written. */
  readonly path: string;
  readonly frames: number;
  /** Per-frame labels as written (absent for test videos and with namesOnly). */
  readonly expr: Int8Array;
  readonly va?: Float64Array;
  readonly au?: Int8Array;
  readonly ce?: Int8Array;
  /** Hume-Vidmimic2: the six intensities. */
  readonly emi?: Float64Array;
  /** Frames (1-based) without a face. */
  readonly noFace?: readonly number[];
}

function styleOf(rand: () => number, size: number): FaceStyle {
  const tone = 150 + Math.floor(rand() * 80);
  return {
    background: [Math.floor(rand() * 120), Math.floor(rand() * 120), Math.floor(rand() * 120)],
    skin: [tone, Math.floor(tone * 0.8), Math.floor(tone * 0.65)],
    dx: (rand() - 0.5) * 0.08 * size,
    dy: (rand() - 0.5) * 0.08 * size,
  };
}

/**
 * Mimicry intensities -> the share of a video's frames each expression fills (Neutral, Anger, ...,
 * Other) and a valence shift over the whole video. Each intensity has its own visible sign, so
 * all six can be read back: Determination Anger, Empathic Pain Sadness, Joy Happiness, Excitement
 * Surprise, Amusement Other (the lopsided smile), Admiration a warmer mouth (valence) throughout.
 */
function mimicry(emi: Float64Array): { shares: number[]; valenceShift: number } {
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

const pad5 = (n: number): string => String(n).padStart(5, '0');

async function writeFrameImages(
  dir: string,
  frames: readonly Uint8Array[],
  width: number,
  height: number,
  present: (f: number) => boolean,
): Promise<void> {
  mkdirSync(dir, { recursive: true });
  for (let i = 0; i < frames.length; i++) {
    if (!present(i)) continue;
    const jpeg = await sharp(frames[i], { raw: { width, height, channels: 3 } })
      .jpeg({ quality: 92 })
      .toBuffer();
    writeFileSync(join(dir, `${pad5(i + 1)}.jpg`), jpeg);
  }
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
  const stamp = JSON.stringify({ generator: GENERATOR_VERSION, ...options });
  const rand = seededRandom(options.seed);
  const layout = options.layout ?? 'affwild2';
  const exists = existsSync(stampPath) && readFileSync(stampPath, 'utf8') === stamp;
  const write = !exists;
  const videos: SyntheticVideo[] = [];
  const s = options.size;
  const noFaceShare = options.noFaceShare ?? 0;
  const testVideos = options.testVideos ?? 0;
  const total = options.trainVideos + options.validationVideos + testVideos;
  const splitOf = (v: number): SyntheticVideo['split'] =>
    v < options.trainVideos
      ? 'Train_Set'
      : v < options.trainVideos + options.validationVideos
        ? 'Validation_Set'
        : 'Test_Set';
  const files: { path: string; text: string }[] = [];
  const put = (path: string, text: string): void => {
    if (!write) return;
    mkdirSync(join(root, path, '..'), { recursive: true });
    writeFileSync(join(root, path), text);
  };
  const humeRows: Record<'Train_Set' | 'Validation_Set', string[]> = { Train_Set: [], Validation_Set: [] };
  const videosCsv: string[] = ['name,path,split'];
  const labelsCsv: string[] = [`video,frame,expr,valence,arousal,${AFFWILD2_ACTION_UNITS.join(',')}`];
  const testNames: string[] = [];
  const splitName = { Train_Set: 'Train', Validation_Set: 'Validation', Test_Set: 'Test' } as const;

  const writeAnnotations = (name: string, split: SyntheticVideo['split'], labels: TrackLabels): void => {
    if (split === 'Test_Set') return;
    put(`annotations/VA_Estimation_Challenge/${split}/${name}.txt`, formatVaAnnotation(labels.va));
    put(`annotations/EXPR_Recognition_Challenge/${split}/${name}.txt`, formatExprAnnotation(labels.expr));
    put(`annotations/AU_Detection_Challenge/${split}/${name}.txt`, formatAuAnnotation(labels.au));
  };

  const entries = total + (layout === 'affwild2' ? (options.pairs ?? 0) : 0);
  for (let v = 0; v < entries; v++) {
    const pair = v >= total;
    const split = pair ? 'Train_Set' : splitOf(v);
    const base =
      layout === 'hume'
        ? pad5(v + 1)
        : options.namesOnly
          ? pair
            ? `video${v - total + 1}`
            : `${v + 1}-30-1280x720`
          : pair
            ? `pair-${String(v - total + 1).padStart(3, '0')}`
            : split === 'Test_Set'
              ? `synth-t${String(v - options.trainVideos - options.validationVideos + 1).padStart(2, '0')}`
              : `synth-${String(v + 1).padStart(3, '0')}`;
    const frames = options.namesOnly
      ? Math.round(options.framesPerVideo * (0.5 + rand()))
      : options.framesPerVideo;
    const emi =
      layout === 'hume'
        ? Float64Array.from({ length: 6 }, () => Math.round(rand() * 1000) / 1000)
        : undefined;
    const faces = pair ? 2 : 1;
    const tracks = Array.from({ length: faces }, () =>
      faceTrack(rand, frames, {
        compound: layout === 'cexprdb',
        noFaceShare,
        ...(emi ? mimicry(emi) : {}),
      }),
    );
    const labels = tracks.map((t) => trackLabels(rand, t, options.unannotatedShare));
    const styles = tracks.map(() => styleOf(rand, s));
    const names = pair ? [`${base}_left`, `${base}_right`] : [base];
    const ext = '.mp4';
    const videoPath = `videos/${base}${ext}`;
    const folderOf = (name: string): string =>
      options.namesOnly
        ? `cropped_aligned/${name}`
        : layout === 'hume'
          ? `face_images/${name}`
          : layout === 'generic'
            ? `frames/${name}`
            : `cropped/${name}`;
    const folders = options.frameFolders || options.namesOnly;

    if (write && !options.namesOnly) {
      const width = s * faces;
      const rendered = Array.from({ length: frames }, (_, f) => {
        const buf = new Uint8Array(width * s * 3);
        tracks.forEach((track, k) => drawFace(buf, width, k * s, s, styles[k]!, track[f]!));
        return buf;
      });
      if (!(layout === 'hume' && options.frameFolders)) {
        mkdirSync(join(root, 'videos'), { recursive: true });
        await encodeVideo(join(root, videoPath), width, s, options.fps, rendered);
      }
      if (folders) {
        for (let k = 0; k < faces; k++) {
          const crops = rendered.map((buf) => {
            const crop = new Uint8Array(s * s * 3);
            for (let y = 0; y < s; y++)
              crop.set(buf.subarray((y * width + k * s) * 3, (y * width + k * s + s) * 3), y * s * 3);
            return crop;
          });
          await writeFrameImages(join(root, folderOf(names[k]!)), crops, s, s, (f) => tracks[k]![f]!.face);
        }
      }
    } else if (write && options.namesOnly) {
      for (let k = 0; k < faces; k++) {
        const dir = join(root, folderOf(names[k]!));
        mkdirSync(dir, { recursive: true });
        const face = new Uint8Array(s * s * 3);
        drawFace(face, s, 0, s, styles[k]!, { ...tracks[k]![0]!, face: true });
        writeFileSync(
          join(dir, '00001.jpg'),
          await sharp(face, { raw: { width: s, height: s, channels: 3 } })
            .jpeg()
            .toBuffer(),
        );
        for (let f = 1; f < frames; f++)
          if (tracks[k]![f]!.face) writeFileSync(join(dir, `${pad5(f + 1)}.jpg`), '');
      }
    }

    names.forEach((name, k) => {
      const l = labels[k]!;
      if (split === 'Test_Set') testNames.push(name);
      if (layout === 'affwild2') writeAnnotations(name, split, l);
      if (layout === 'cexprdb' && split !== 'Test_Set')
        put(`annotations/${name}.txt`, formatCeAnnotation(l.ce));
      if (layout === 'hume' && split !== 'Test_Set')
        humeRows[split].push(`${name},${Array.from(emi!).join(',')}`);
      if (layout === 'generic') {
        videosCsv.push(`${name},${folders ? folderOf(name) : videoPath},${splitName[split]}`);
        if (split !== 'Test_Set' && write)
          for (let f = 0; f < frames; f++)
            labelsCsv.push(
              `${name},${f + 1},${l.expr[f]},${l.va[f * 2]},${l.va[f * 2 + 1]},${Array.from(l.au.subarray(f * 12, f * 12 + 12)).join(',')}`,
            );
      }
      const noFace = tracks[k]!.flatMap((st, f) => (st.face ? [] : [f + 1]));
      const labelled = split !== 'Test_Set' && !options.namesOnly;
      videos.push({
        name,
        split,
        path: join(
          root,
          folders && (options.namesOnly || (layout === 'hume' && options.frameFolders))
            ? folderOf(name)
            : videoPath,
        ),
        frames,
        expr: labelled && layout !== 'cexprdb' && layout !== 'hume' ? l.expr : new Int8Array(0),
        ...(labelled && (layout === 'affwild2' || layout === 'generic') ? { va: l.va, au: l.au } : {}),
        ...(labelled && layout === 'cexprdb' ? { ce: l.ce } : {}),
        ...(emi ? { emi } : {}),
        ...(noFace.length ? { noFace } : {}),
      });
    });
  }

  if (layout === 'affwild2' && testNames.length) {
    for (const list of [
      'Valence_Arousal_Estimation_Challenge_test_set_release.txt',
      'Expression_Recognition_Challenge_test_set_release.txt',
      'Action_Unit_Detection_Challenge_test_set_release.txt',
    ])
      put(`names_of_videos_in_each_test_set/${list}`, `${testNames.join('\n')}\n`);
  }
  if (layout === 'hume') {
    put('train_split.csv', `${EMI_HEADER}\n${humeRows.Train_Set.map((r) => `${r}\n`).join('')}`);
    put('valid_split.csv', `${EMI_HEADER}\n${humeRows.Validation_Set.map((r) => `${r}\n`).join('')}`);
  }
  if (layout === 'generic') {
    put('videos.csv', `${videosCsv.join('\n')}\n`);
    put('labels.csv', `${labelsCsv.join('\n')}\n`);
  }
  if (layout === 'affwild2' && options.malformed && write) await writeMalformed(root, options, files);
  for (const f of files) put(f.path, f.text);
  if (write) writeFileSync(stampPath, stamp);
  return { videos, written: write };
}

/**
 * The error paths, each in a video of its own so the clean videos stay clean:
 * bad-value (EXPR line 5 holds 9), bad-columns (VA line 4 has 3 values), bad-number (AU line 3
 * holds "x"), off-by-one (EXPR has one line more than the video: a warning), off-by-five (five
 * more: an error), broken (a video file ffprobe cannot read), dup (videos/dup.mp4 and
 * videos/extra/dup.mp4), and a test-set list naming "../outside".
 */
async function writeMalformed(
  root: string,
  options: SyntheticOptions,
  files: { path: string; text: string }[],
): Promise<void> {
  const s = options.size;
  const frames = 12;
  const rand = seededRandom(options.seed + 1);
  const style = styleOf(rand, s);
  const track = faceTrack(rand, frames, { compound: false, noFaceShare: 0 });
  const labels = trackLabels(rand, track, 0);
  const rendered = track.map((st) => {
    const buf = new Uint8Array(s * s * 3);
    drawFace(buf, s, 0, s, style, st);
    return buf;
  });
  const ann = (task: string): string => `annotations/${task}/Train_Set`;
  for (const name of ['bad-value', 'bad-columns', 'bad-number', 'off-by-one', 'off-by-five', 'dup']) {
    await encodeVideo(join(root, 'videos', `${name}.mp4`), s, s, options.fps, rendered);
  }
  mkdirSync(join(root, 'videos', 'extra'), { recursive: true });
  await encodeVideo(join(root, 'videos', 'extra', 'dup.mp4'), s, s, options.fps, rendered);
  writeFileSync(join(root, 'videos', 'broken.mp4'), 'this is not a video\n');
  const expr = formatExprAnnotation(labels.expr).split('\n');
  files.push(
    {
      path: `${ann('EXPR_Recognition_Challenge')}/bad-value.txt`,
      text: [...expr.slice(0, 4), '9', ...expr.slice(5)].join('\n'),
    },
    {
      path: `${ann('VA_Estimation_Challenge')}/bad-columns.txt`,
      text: formatVaAnnotation(labels.va).replace(/^((?:[^\n]*\n){3})([^\n]*)/, '$1$2,0.1'),
    },
    {
      path: `${ann('AU_Detection_Challenge')}/bad-number.txt`,
      text: formatAuAnnotation(labels.au).replace(/^((?:[^\n]*\n){2})([^,\n]*)/, '$1x'),
    },
    {
      path: `${ann('EXPR_Recognition_Challenge')}/off-by-one.txt`,
      text: formatExprAnnotation([...labels.expr, 0]),
    },
    {
      path: `${ann('EXPR_Recognition_Challenge')}/off-by-five.txt`,
      text: formatExprAnnotation([...labels.expr, 0, 0, 0, 0, 0]),
    },
    { path: `${ann('EXPR_Recognition_Challenge')}/broken.txt`, text: formatExprAnnotation(labels.expr) },
    { path: 'names_of_videos_in_each_test_set/Malformed_test_set_release.txt', text: '../outside\n' },
  );
}
