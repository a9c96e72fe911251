/**
 * The synthetic datasets' sound: each frame's labels have an audible sign, so an audio model can
 * carry them as the drawn faces carry them to a face backbone. A sum of steady sine tones:
 *
 * - expression: one tone per Aff-Wild2 class (EXPRESSION_TONES); a compound expression sounds both
 *   of its basics at half level each;
 * - arousal: the loudness of the expression tone, 0.08 x 2^arousal (0.04 at -1 to 0.16 at +1);
 * - valence: the level of VALENCE_TONE, 0.04 x 4^valence (0.01 at -1 to 0.16 at +1);
 *   exponential, so log energies (what an audio model's features are) follow the labels linearly;
 * - mimicry (Hume-Vidmimic2): one tone per intensity (MIMICRY_TONES, in the EMI column order) at
 *   0.08 x the intensity, steady over the video;
 * - a little white noise (standard deviation 0.005), seeded per video.
 *
 * Levels glide between frames (5 ms time constant) so frame edges do not click. Two faces in one
 * video (Aff-Wild2 pairs) are mixed at half level each. Deterministic from the seed.
 */
import { gaussian, seededRandom } from '../base/random.ts';
import { COMPOUND_PAIRS, type FaceState } from './syntheticFaces.ts';

/** Sample rate of the generated sound (the rate audio backbones take, so no resampling is needed). */
export const SYNTHETIC_AUDIO_RATE = 16_000;

/** Tone (Hz) of each Aff-Wild2 expression: Neutral, Anger, Disgust, Fear, Happiness, Sadness, Surprise, Other. */
export const EXPRESSION_TONES: readonly number[] = Object.freeze([
  300, 500, 700, 900, 1100, 1300, 1500, 1700,
]);

/** Tone (Hz) whose level follows valence. */
export const VALENCE_TONE = 2100;

/** Tone (Hz) of each mimicry intensity, in EMI column order (Admiration ... Joy). */
export const MIMICRY_TONES: readonly number[] = Object.freeze([2500, 2900, 3300, 3700, 4100, 4500]);

/** What the sound of one frame of one face follows. */
export interface AudioFrameState {
  /** The two basic expressions sounded (the same one twice for a basic expression). */
  readonly basics: readonly [number, number];
  readonly valence: number;
  readonly arousal: number;
}

/** The audible state of a drawn face: its expression (both basics of a compound), valence, arousal. */
export function audioStateOf(state: FaceState): AudioFrameState {
  const basics = state.ce >= 0 ? COMPOUND_PAIRS[state.ce]! : ([state.expr, state.expr] as const);
  return { basics, valence: state.valence, arousal: state.arousal };
}

const GLIDE_SECONDS = 0.005;
const NOISE = 0.005;

/**
 * Float32 mono samples at `sampleRate` for `frames` frames at `fps`: the sum of every track's
 * tones (tracks[k][f] is face k in frame f), plus the mimicry tones when `emi` is given.
 */
export function renderSyntheticAudio(
  tracks: readonly (readonly AudioFrameState[])[],
  frames: number,
  fps: number,
  options: { readonly seed: number; readonly emi?: ArrayLike<number>; readonly sampleRate?: number },
): Float32Array {
  const rate = options.sampleRate ?? SYNTHETIC_AUDIO_RATE;
  const samples = Math.round((frames / fps) * rate);
  const out = new Float32Array(samples);
  const rand = seededRandom(options.seed);
  const tones = [...EXPRESSION_TONES, VALENCE_TONE, ...MIMICRY_TONES];
  const step = tones.map((hz) => (2 * Math.PI * hz) / rate);
  const level = new Float64Array(tones.length);
  const target = new Float64Array(tones.length);
  const glide = 1 - Math.exp(-1 / (GLIDE_SECONDS * rate));
  const mix = 1 / Math.max(1, tracks.length);
  const valenceIndex = EXPRESSION_TONES.length;
  let frame = -1;
  for (let n = 0; n < samples; n++) {
    const f = Math.min(frames - 1, Math.floor((n * fps) / rate));
    if (f !== frame) {
      frame = f;
      target.fill(0);
      for (const track of tracks) {
        const state = track[f]!;
        const loud = 0.08 * 2 ** state.arousal * mix;
        target[state.basics[0]]! += loud / 2;
        target[state.basics[1]]! += loud / 2;
        target[valenceIndex]! += 0.04 * 4 ** state.valence * mix;
      }
      if (options.emi)
        for (let k = 0; k < MIMICRY_TONES.length; k++)
          target[valenceIndex + 1 + k] = 0.08 * (options.emi[k] ?? 0);
      if (n === 0) level.set(target);
    }
    let s = NOISE * gaussian(rand);
    for (let j = 0; j < tones.length; j++) {
      level[j]! += (target[j]! - level[j]!) * glide;
      if (level[j]! > 1e-6) s += level[j]! * Math.sin(step[j]! * n);
    }
    out[n] = s;
  }
  return out;
}

/** One steady clip for fitting an audio model: its sound and what it sounds. */
export interface SyntheticAudioClip {
  readonly samples: Float32Array;
  readonly state: AudioFrameState;
  readonly emi: Float64Array;
}

/**
 * `count` clips of `seconds` each, every one a single steady state: a uniform expression (a third
 * of them compound), valence and arousal uniform in [-1, 1], mimicry intensities uniform in [0, 1].
 */
export function drawAudioClips(seed: number, count: number, seconds: number): SyntheticAudioClip[] {
  const rand = seededRandom(seed);
  const fps = 25;
  const frames = Math.max(1, Math.round(seconds * fps));
  return Array.from({ length: count }, (_, i) => {
    const compound = rand() < 1 / 3;
    const pair = COMPOUND_PAIRS[Math.floor(rand() * COMPOUND_PAIRS.length)]!;
    const basic = Math.floor(rand() * EXPRESSION_TONES.length);
    const state: AudioFrameState = {
      basics: compound ? pair : [basic, basic],
      valence: rand() * 2 - 1,
      arousal: rand() * 2 - 1,
    };
    const emi = Float64Array.from({ length: MIMICRY_TONES.length }, () => rand());
    const samples = renderSyntheticAudio([Array.from({ length: frames }, () => state)], frames, fps, {
      seed: seed * 7919 + i,
      emi,
    });
    return { samples, state, emi };
  });
}
