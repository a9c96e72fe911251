/**
 * The audio graphs bench/models/build.sh writes (wav2vec2-base-960h's architecture, random
 * weights): `<bench models>/<name>.onnx`, described by `<bench models>/audio/<name>.json` (kept out
 * of the folder's top level, where every .json is an image backbone descriptor). What the audio
 * benchmark (bench/audio.bench.ts) and bench/models/verify.ts share: reading those descriptions,
 * the windows to feed, and the bare session.run loop.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { seededRandom } from '../../base/random.ts';
import { openGraph } from '../../models/onnxRuntime.ts';
import { benchModelsDir } from './folder.ts';

/** One frame of the reference output build.py recorded with torch: the first 8 hidden values. */
export interface AudioCheckRow {
  readonly batch: number;
  readonly frame: number;
  readonly first: readonly number[];
}

/** An audio graph as build.py describes it. */
export interface AudioGraph {
  readonly name: string;
  readonly version: string;
  /** The model file (from the description's file:// source). */
  readonly path: string;
  readonly sha256: string;
  readonly sampleRate: number;
  /** float32 [batch, samples], 16 kHz mono. */
  readonly inputName: string;
  /** float32 [batch, frames, hiddenDim]. */
  readonly outputName: string;
  readonly hiddenDim: number;
  /** The conv feature encoder's kernels and strides, in samples then in steps. */
  readonly convKernels: readonly number[];
  readonly convStrides: readonly number[];
  /** torch's output on the check input (checkInput), for ONNX Runtime to match. */
  readonly check: {
    readonly samples: number;
    readonly frames: number;
    readonly rows: readonly AudioCheckRow[];
  };
}

/** A description under <bench models>/audio that is not what build.py writes. */
export class AudioGraphError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `bench audio graph ${file}: ${detail}; rebuild it with \`bash bench/models/build.sh --only bench_wav2vec2_base\``,
    );
    this.name = 'AudioGraphError';
  }
}

const POSITIVE_INT = (v: unknown): boolean => Number.isInteger(v) && (v as number) > 0;
const INT_LIST = (v: unknown): boolean => Array.isArray(v) && v.length > 0 && v.every(POSITIVE_INT);

function parseAudioGraph(raw: unknown, file: string): AudioGraph {
  const d = (raw ?? {}) as Record<string, unknown>;
  const expect = (field: string, ok: boolean, what: string, value: unknown): void => {
    if (!ok) throw new AudioGraphError(file, `${field}: expected ${what}, got ${JSON.stringify(value)}`);
  };
  for (const field of ['name', 'version', 'inputName', 'outputName'])
    expect(field, typeof d[field] === 'string' && d[field] !== '', 'a non-empty string', d[field]);
  expect('modality', d['modality'] === 'audio', '"audio"', d['modality']);
  for (const field of ['sampleRate', 'hiddenDim'])
    expect(field, POSITIVE_INT(d[field]), 'a positive integer', d[field]);
  for (const field of ['convKernels', 'convStrides'])
    expect(field, INT_LIST(d[field]), 'a list of positive integers', d[field]);
  expect(
    'convStrides',
    (d['convStrides'] as unknown[]).length === (d['convKernels'] as unknown[]).length,
    `${(d['convKernels'] as unknown[]).length} strides, one per kernel`,
    d['convStrides'],
  );
  const source = (d['source'] ?? {}) as Record<string, unknown>;
  const url = source['url'];
  expect('source.url', typeof url === 'string' && url.startsWith('file://'), 'a file:// URL', url);
  expect(
    'source.sha256',
    typeof source['sha256'] === 'string' && /^[0-9a-f]{64}$/.test(source['sha256']),
    '64 hex digits',
    source['sha256'],
  );
  const check = (d['check'] ?? {}) as Record<string, unknown>;
  expect('check.samples', POSITIVE_INT(check['samples']), 'a positive integer', check['samples']);
  expect('check.frames', POSITIVE_INT(check['frames']), 'a positive integer', check['frames']);
  const rows = check['rows'];
  expect(
    'check.rows',
    Array.isArray(rows) &&
      rows.length > 0 &&
      rows.every(
        (r: Record<string, unknown>) =>
          Number.isInteger(r['batch']) &&
          Number.isInteger(r['frame']) &&
          Array.isArray(r['first']) &&
          r['first'].every((x) => typeof x === 'number'),
      ),
    'a list of {batch, frame, first: numbers}',
    rows,
  );
  return {
    name: d['name'] as string,
    version: d['version'] as string,
    path: fileURLToPath(url as string),
    sha256: source['sha256'] as string,
    sampleRate: d['sampleRate'] as number,
    inputName: d['inputName'] as string,
    outputName: d['outputName'] as string,
    hiddenDim: d['hiddenDim'] as number,
    convKernels: d['convKernels'] as number[],
    convStrides: d['convStrides'] as number[],
    check: {
      samples: check['samples'] as number,
      frames: check['frames'] as number,
      rows: rows as AudioCheckRow[],
    },
  };
}

/** The audio graphs build.sh described in `dir`/audio, by name; none when it built none. */
export function benchAudioGraphs(dir = benchModelsDir()): AudioGraph[] {
  const audio = join(dir, 'audio');
  if (!existsSync(audio)) return [];
  return readdirSync(audio)
    .filter((f) => f.endsWith('.json'))
    .sort()
    .map((f) => {
      const file = join(audio, f);
      let raw: unknown;
      try {
        raw = JSON.parse(readFileSync(file, 'utf8'));
      } catch (err) {
        throw new AudioGraphError(file, `expected JSON, got ${(err as Error).message}`);
      }
      return parseAudioGraph(raw, file);
    });
}

/** Hidden-state frames for `samples` of input: the conv feature encoder's output length (no padding). */
export function framesFor(graph: Pick<AudioGraph, 'convKernels' | 'convStrides'>, samples: number): number {
  return graph.convKernels.reduce(
    (length, kernel, i) => Math.floor((length - kernel) / graph.convStrides[i]!) + 1,
    samples,
  );
}

/** build.py's check input: float32 [rows, samples], row r = 0.5 sin(2π 220 (r+1) i / 16000). */
export function checkInput(rows: number, samples: number): Float32Array {
  const out = new Float32Array(rows * samples);
  for (let r = 0; r < rows; r++)
    for (let i = 0; i < samples; i++)
      out[r * samples + i] = 0.5 * Math.sin((2 * Math.PI * 220 * (r + 1) * i) / 16000);
  return out;
}

/**
 * `count` windows of `samples` voice-like sound, float32 [count, samples], each normalised to zero
 * mean and unit variance as wav2vec2-base-960h's feature extractor does: a harmonic tone (100-250
 * Hz fundamental, gliding, five harmonics) with a syllable-rate envelope, plus noise. Seeded.
 */
export function voiceWindows(count: number, samples: number, sampleRate: number, seed = 1): Float32Array {
  const rand = seededRandom(seed);
  const out = new Float32Array(count * samples);
  for (let w = 0; w < count; w++) {
    const f0 = 100 + rand() * 150;
    const glide = (rand() - 0.5) * 40;
    const syllable = 3 + rand() * 3;
    const row = out.subarray(w * samples, (w + 1) * samples);
    let phase = 0;
    for (let i = 0; i < samples; i++) {
      const t = i / sampleRate;
      phase += (2 * Math.PI * (f0 + glide * t)) / sampleRate;
      let tone = 0;
      for (let h = 1; h <= 5; h++) tone += Math.sin(h * phase) / h;
      const envelope = 0.5 + 0.5 * Math.sin(2 * Math.PI * syllable * t);
      row[i] = envelope * tone + (rand() - 0.5) * 0.1;
    }
    let mean = 0;
    for (const x of row) mean += x / samples;
    let variance = 0;
    for (const x of row) variance += (x - mean) ** 2 / samples;
    const scale = 1 / Math.sqrt(variance + 1e-7);
    for (let i = 0; i < samples; i++) row[i] = (row[i]! - mean) * scale;
  }
  return out;
}

/** A bare loop's result: windows per second, and the output dims of its runs. */
export interface AudioBareRate {
  readonly perSecond: number;
  readonly dims: readonly number[];
}

/** One CPU session on an audio graph (models/onnxRuntime.ts), timing bare session.run loops. */
export interface AudioBareSession {
  /**
   * Windows per second of session.run on `windows` (float32 [batch, samples], prepared
   * beforehand, e.g. voiceWindows), timed for at least `seconds` and 3 runs after a warm-up run.
   */
  rate(windows: Float32Array, batch: number, seconds: number): Promise<AudioBareRate>;
  release(): Promise<void>;
}

/** Opens the session of the bare loop: ONNX Runtime's own ceiling for the graph. */
export async function openAudioBare(
  path: string,
  graph: Pick<AudioGraph, 'name' | 'inputName' | 'outputName'>,
  intraOpThreads: number,
): Promise<AudioBareSession> {
  const session = await openGraph(path, { provider: 'cpu', intraOpThreads, interOpThreads: 1 }, graph.name);
  return {
    async rate(windows, batch, minSeconds) {
      const feeds = { [graph.inputName]: { data: windows, dims: [batch, windows.length / batch] } };
      const outputs = [graph.outputName];
      const { dims } = (await session.run(feeds, outputs))[graph.outputName]!;
      const start = process.hrtime.bigint();
      let runs = 0;
      let seconds = 0;
      while (runs < 3 || seconds < minSeconds) {
        await session.run(feeds, outputs);
        runs++;
        seconds = Number(process.hrtime.bigint() - start) / 1e9;
      }
      return { perSecond: (runs * batch) / seconds, dims };
    },
    release: () => session.release(),
  };
}
