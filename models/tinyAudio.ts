/**
 * Generates the `tiny_audio` ONNX graph (models/registry.ts TINY_AUDIO): a small real audio
 * backbone in the shape of wav2vec2 (raw 16 kHz waveform in, a hidden state per 20 ms step out)
 * whose states carry the synthetic world's labels, as the tiny face backbone's carry the drawn
 * faces'. Deterministic from the seed.
 *
 *   input [B, S] -> Unsqueeze -> [B, 1, S]
 *   bank = Conv(cos and sin filters, Hann window of 400 samples, stride 320)   [B, 2F, T]  fixed
 *   tones = Conv1x1(bank^2, pair sums)                                         [B, F, T]   energy at each synthetic tone
 *   power = Conv(x^2, 400-sample mean, stride 320)                             [B, 1, T]   loudness
 *   hidden = Transpose(Conv1x1(log(concat(tones, power) + eps)))               [B, T, D]   standardised, D = F + 1
 *
 * F tones are the synthetic sound's (datasets/syntheticAudio.ts): the eight expression tones, the
 * valence tone and the six mimicry tones, so D = 16. The last layer standardises each log energy
 * with its mean and standard deviation over steady clips the synthetic generator renders
 * (TINY_AUDIO_FIT), which makes the states comparable across features as a trained layer's are.
 * T = floor((S - 400) / 320) + 1, so inputs need at least 400 samples (25 ms).
 */
import {
  drawAudioClips,
  EXPRESSION_TONES,
  MIMICRY_TONES,
  SYNTHETIC_AUDIO_RATE,
  VALENCE_TONE,
} from '../datasets/syntheticAudio.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from './onnxGraph.ts';

/** Frame length and step of the filterbank, in samples (25 ms and 20 ms at 16 kHz, as wav2vec2's). */
export const TINY_AUDIO_FRAME = 400;
export const TINY_AUDIO_STEP = 320;

/** How the standardisation is fitted; a change here changes the weights, so bump TINY_AUDIO's version. */
export const TINY_AUDIO_FIT = Object.freeze({
  /** Steady clips rendered for the fit. */
  clips: 240,
  /** Seconds per clip. */
  seconds: 0.5,
  /** Added to every energy before the log (about -60 dB of a unit tone). */
  epsilon: 1e-6,
});

const TONES: readonly number[] = Object.freeze([...EXPRESSION_TONES, VALENCE_TONE, ...MIMICRY_TONES]);

/** Width of tiny_audio's hidden states: one log energy per synthetic tone, plus loudness. */
export const TINY_AUDIO_DIM = TONES.length + 1;

/** Cos and sin filters of each tone under a Hann window, [2F, 1, FRAME]; each pair's energy is 1 for a unit sine. */
function filterBank(): { bank: Float32Array; pairs: Float32Array } {
  const n = TINY_AUDIO_FRAME;
  const hann = Float64Array.from({ length: n }, (_, i) => 0.5 - 0.5 * Math.cos((2 * Math.PI * i) / n));
  const gain = hann.reduce((a, b) => a + b, 0) / 2;
  const bank = new Float32Array(TONES.length * 2 * n);
  TONES.forEach((hz, j) => {
    const w = (2 * Math.PI * hz) / SYNTHETIC_AUDIO_RATE;
    for (let i = 0; i < n; i++) {
      bank[2 * j * n + i] = (hann[i]! * Math.cos(w * i)) / gain;
      bank[(2 * j + 1) * n + i] = (hann[i]! * Math.sin(w * i)) / gain;
    }
  });
  const pairs = new Float32Array(TONES.length * TONES.length * 2);
  for (let j = 0; j < TONES.length; j++)
    pairs[j * TONES.length * 2 + 2 * j] = pairs[j * TONES.length * 2 + 2 * j + 1] = 1;
  return { bank, pairs };
}

/** The graph's log energies before standardisation, [T, D] per step, computed as the graph does. */
function logEnergies(samples: Float32Array, bank: Float32Array): Float64Array[] {
  const n = TINY_AUDIO_FRAME;
  const steps = Math.floor((samples.length - n) / TINY_AUDIO_STEP) + 1;
  const out: Float64Array[] = [];
  for (let t = 0; t < steps; t++) {
    const x = samples.subarray(t * TINY_AUDIO_STEP, t * TINY_AUDIO_STEP + n);
    const row = new Float64Array(TINY_AUDIO_DIM);
    for (let j = 0; j < TONES.length; j++) {
      let c = 0;
      let s = 0;
      for (let i = 0; i < n; i++) {
        c += bank[2 * j * n + i]! * x[i]!;
        s += bank[(2 * j + 1) * n + i]! * x[i]!;
      }
      row[j] = Math.log(c * c + s * s + TINY_AUDIO_FIT.epsilon);
    }
    let power = 0;
    for (let i = 0; i < n; i++) power += x[i]! * x[i]!;
    row[TONES.length] = Math.log(power / n + TINY_AUDIO_FIT.epsilon);
    out.push(row);
  }
  return out;
}

/**
 * The tiny audio backbone: input `waveform` float32 [B, S] (16 kHz mono, S >= 400), output
 * `hidden_states` float32 [B, T, 16]. Takes well under a second on one core.
 */
export function buildTinyAudioModel(seed = 1): Uint8Array {
  const { bank, pairs } = filterBank();
  const d = TINY_AUDIO_DIM;
  const mean = new Float64Array(d);
  const square = new Float64Array(d);
  let count = 0;
  for (const clip of drawAudioClips(seed, TINY_AUDIO_FIT.clips, TINY_AUDIO_FIT.seconds)) {
    for (const row of logEnergies(clip.samples, bank)) {
      for (let k = 0; k < d; k++) {
        mean[k]! += row[k]!;
        square[k]! += row[k]! ** 2;
      }
      count++;
    }
  }
  const scaleWeight = new Float32Array(d * d);
  const scaleBias = new Float32Array(d);
  for (let k = 0; k < d; k++) {
    const m = mean[k]! / count;
    const sd = Math.sqrt(Math.max(square[k]! / count - m * m, 1e-12));
    scaleWeight[k * d + k] = 1 / sd;
    scaleBias[k] = -m / sd;
  }
  const f = TONES.length;
  return encodeModel({
    name: 'affectflow-tiny-audio',
    input: [floatValueInfo('waveform', ['B', 'S'])],
    output: [floatValueInfo('hidden_states', ['B', 'T', d])],
    initializer: [
      floatTensor('bank', [2 * f, 1, TINY_AUDIO_FRAME], bank),
      floatTensor('pairs', [f, 2 * f, 1], pairs),
      floatTensor(
        'mean',
        [1, 1, TINY_AUDIO_FRAME],
        new Float32Array(TINY_AUDIO_FRAME).fill(1 / TINY_AUDIO_FRAME),
      ),
      floatTensor('epsilon', [1], Float32Array.of(TINY_AUDIO_FIT.epsilon)),
      floatTensor('scale.weight', [d, d, 1], scaleWeight),
      floatTensor('scale.bias', [d], scaleBias),
    ],
    node: [
      node('Unsqueeze', ['waveform'], ['x'], { axes: [1] }),
      node('Conv', ['x', 'bank'], ['bank.out'], {
        kernel_shape: [TINY_AUDIO_FRAME],
        strides: [TINY_AUDIO_STEP],
      }),
      node('Mul', ['bank.out', 'bank.out'], ['bank.squared']),
      node('Conv', ['bank.squared', 'pairs'], ['tones'], { kernel_shape: [1] }),
      node('Mul', ['x', 'x'], ['x.squared']),
      node('Conv', ['x.squared', 'mean'], ['power'], {
        kernel_shape: [TINY_AUDIO_FRAME],
        strides: [TINY_AUDIO_STEP],
      }),
      node('Concat', ['tones', 'power'], ['energies'], { axis: 1 }),
      node('Add', ['energies', 'epsilon'], ['energies.floor']),
      node('Log', ['energies.floor'], ['log.energies']),
      node('Conv', ['log.energies', 'scale.weight', 'scale.bias'], ['states'], { kernel_shape: [1] }),
      node('Transpose', ['states'], ['hidden_states'], { perm: [0, 2, 1] }),
    ],
  });
}
