/**
 * Synthetic datasets in the real layouts (Aff-Wild2, C-EXPR-DB, Hume-Vidmimic2, generic) whose
 * labels can be learned from pixels: every frame shows a drawn face whose geometry follows its
 * labels. Action units drive the features (AU1/AU2 inner/outer brow raise, AU4 brow lowering, AU6
 * cheek marks, AU7 narrowed eyes, AU10 upper-lip line, AU12/AU15 mouth corners up/down, AU23 thin
 * lips, AU24 pressed (dark) lips, AU25 lips apart, AU26 jaw drop); valence bends the mouth and
 * arousal opens the eyes; each expression (and compound expression) has its own action units and
 * valence/arousal; a video's mimicry intensities set how often its expressions appear. The head
 * also drifts sideways (pose), which no label follows. Videos carry a sound track in which the same
 * labels are audible (datasets/syntheticAudio.ts) unless `audio: false`. Deterministic from the seed.
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { seededRandom } from '../base/random.ts';
import { muxAudio } from '../media/audio.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import {
  EMI_HEADER,
  formatCeAnnotation,
  formatAuAnnotation,
  formatExprAnnotation,
  formatVaAnnotation,
} from './annotations.ts';
import { AFFWILD2_ACTION_UNITS } from './labels.ts';
import { audioStateOf, renderSyntheticAudio, SYNTHETIC_AUDIO_RATE } from './syntheticAudio.ts';
import { drawFace, styleOf } from './syntheticFaces.ts';
import { writeMalformed } from './syntheticMalformed.ts';
import { faceTrack, mimicry, trackLabels, type TrackLabels } from './syntheticTracks.ts';

/** Bumped when the same options would draw different files, so old datasets are regenerated. */
const GENERATOR_VERSION = 4;

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
  /**
   * Give each video an AAC sound track in which every frame's expression, valence, arousal and the
   * video's mimicry intensities are audible (datasets/syntheticAudio.ts). Default true; false
   * writes video-only files (the no-audio finding).
   */
  readonly audio?: boolean;
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
        if (options.audio ?? true) {
          // Seeded per video, apart from `rand`, so the sound changes no label or face.
          const sound = renderSyntheticAudio(
            tracks.map((track) => track.map(audioStateOf)),
            frames,
            options.fps,
            { seed: options.seed * 10_007 + v, ...(emi ? { emi } : {}) },
          );
          await muxAudio(join(root, videoPath), sound, SYNTHETIC_AUDIO_RATE);
        }
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
