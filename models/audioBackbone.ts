/**
 * Audio backbones on a worker: their model file (the generated tiny_audio built into the model
 * cache; a file:// graph read where it lies) and a session that turns windows of 16 kHz sound into
 * pooled embeddings, through models/onnxRuntime.ts (the one module that owns ONNX Runtime).
 */
import { existsSync, mkdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { sha256Hex } from '../base/hashing.ts';
import { storeModelFile } from './modelFiles.ts';
import { invalidOnnx, openGraph, type ExecutionProvider, type GraphSession } from './onnxRuntime.ts';
import { backboneId, cachedModelName, type AudioBackboneDescriptor } from './registry.ts';
import { buildTinyAudioModel } from './tinyAudio.ts';

/** An audio backbone's model file that is missing, unreadable or not what its descriptor says; permanent. */
export class AudioModelError extends Error {
  constructor(
    readonly backbone: string,
    detail: string,
  ) {
    super(`audio backbone ${backbone}: ${detail}`);
    this.name = 'AudioModelError';
  }
}

const hashed = new Map<string, string>();

/** sha256 of a file, once per process and file version (path, size, modification time). */
function fileSha256(path: string): string {
  const { size, mtimeMs } = statSync(path);
  const version = `${path}:${size}:${mtimeMs}`;
  let sha = hashed.get(version);
  if (!sha) hashed.set(version, (sha = sha256Hex(readFileSync(path))));
  return sha;
}

/**
 * The model file of an audio backbone on this machine and its sha256: tiny_audio is built into
 * `<cacheDir>/<name@version>.onnx` on first use; a file:// source is used where it lies.
 */
export function audioModelFile(
  descriptor: AudioBackboneDescriptor,
  cacheDir: string,
): { readonly path: string; readonly sha256: string } {
  const id = backboneId(descriptor);
  if (descriptor.source.kind === 'generated') {
    const stem = join(cacheDir, cachedModelName(descriptor));
    const path = `${stem}.onnx`;
    if (!existsSync(path)) {
      mkdirSync(cacheDir, { recursive: true });
      storeModelFile(
        { path, sourcePath: `${stem}.source.onnx`, recordPath: `${stem}.record.json` },
        buildTinyAudioModel(descriptor.source.seed),
        { kind: 'generated' },
      );
    }
    return { path, sha256: fileSha256(path) };
  }
  const { url, sha256 } = descriptor.source;
  if (!url.startsWith('file://')) {
    throw new AudioModelError(
      id,
      `expected a file:// model URL, got ${url}; download the file and name it by file://`,
    );
  }
  const path = fileURLToPath(url);
  if (!existsSync(path)) {
    throw new AudioModelError(
      id,
      `model file ${path} does not exist; build it with \`bash bench/models/build.sh\` (AFFECTFLOW_BENCH_MODELS names the folder) on this worker's machine, then \`affectflow resume <run>\``,
    );
  }
  const got = fileSha256(path);
  if (sha256 && got !== sha256)
    throw new AudioModelError(id, `model file ${path}: expected sha256 ${sha256}, got ${got}`);
  return { path, sha256: got };
}

/** An open audio backbone: windows of sound in, one pooled embedding per window out. */
export interface AudioBackboneSession {
  readonly descriptor: AudioBackboneDescriptor;
  readonly modelSha256: string;
  readonly provider: ExecutionProvider;
  /**
   * windows: float32 [n, samples] at the descriptor's rate. Returns float32 [n, hiddenDim]: the
   * mean over the T hidden states of each window.
   */
  embed(windows: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

/** Zero mean and unit variance per row, as wav2vec2's feature extractor does (1e-7 under the root). */
function normaliseRows(windows: Float32Array, n: number, samples: number): Float32Array {
  const out = new Float32Array(windows.length);
  for (let r = 0; r < n; r++) {
    const row = windows.subarray(r * samples, (r + 1) * samples);
    let mean = 0;
    for (const x of row) mean += x / samples;
    let variance = 0;
    for (const x of row) variance += (x - mean) ** 2 / samples;
    const scale = 1 / Math.sqrt(variance + 1e-7);
    for (let i = 0; i < samples; i++) out[r * samples + i] = (row[i]! - mean) * scale;
  }
  return out;
}

/** Mean over the middle axis of float32 [n, T, d] -> [n, d]. */
export function meanOverSteps(hidden: Float32Array, n: number, steps: number, d: number): Float32Array {
  const out = new Float32Array(n * d);
  for (let r = 0; r < n; r++) {
    for (let t = 0; t < steps; t++) {
      const at = (r * steps + t) * d;
      for (let k = 0; k < d; k++) out[r * d + k]! += hidden[at + k]! / steps;
    }
  }
  return out;
}

/** Opens an audio backbone's session (CPU unless `provider` says cuda and the machine has it). */
export async function openAudioBackbone(
  descriptor: AudioBackboneDescriptor,
  cacheDir: string,
  options: {
    readonly provider?: ExecutionProvider;
    readonly intraOpThreads?: number;
    readonly log?: (line: string) => void;
  } = {},
): Promise<AudioBackboneSession> {
  const id = backboneId(descriptor);
  const model = audioModelFile(descriptor, cacheDir);
  let graph: GraphSession;
  try {
    graph = await openGraph(
      model.path,
      {
        provider: options.provider ?? 'cpu',
        intraOpThreads: options.intraOpThreads ?? 1,
        interOpThreads: 1,
        ...(options.log ? { log: options.log } : {}),
      },
      id,
    );
  } catch (err) {
    const repair =
      descriptor.source.kind === 'generated'
        ? 'remove it and the worker builds it again'
        : 'build it again with `bash bench/models/build.sh`';
    throw new AudioModelError(
      id,
      `model file ${model.path}: ${invalidOnnx(err)}; ${repair}, then \`affectflow resume <run>\``,
    );
  }
  if (
    !graph.inputNames.includes(descriptor.inputName) ||
    !graph.outputNames.includes(descriptor.hiddenOutput)
  ) {
    await graph.release();
    throw new AudioModelError(
      id,
      `model signature disagrees with its descriptor: expected input ${descriptor.inputName} and output ${descriptor.hiddenOutput}, got inputs [${graph.inputNames.join(', ')}] and outputs [${graph.outputNames.join(', ')}]`,
    );
  }
  const d = descriptor.hiddenDim;
  return {
    descriptor,
    modelSha256: model.sha256,
    provider: graph.provider,
    async embed(windows, n) {
      const samples = n > 0 ? windows.length / n : 0;
      if (!Number.isInteger(samples) || samples < descriptor.minSamples) {
        throw new AudioModelError(
          id,
          `expected windows of at least ${descriptor.minSamples} samples, got ${windows.length} values for ${n} windows`,
        );
      }
      const input = descriptor.normalise === 'none' ? windows : normaliseRows(windows, n, samples);
      const out = await graph.run({ [descriptor.inputName]: { data: input, dims: [n, samples] } }, [
        descriptor.hiddenOutput,
      ]);
      const hidden = out[descriptor.hiddenOutput];
      const dims = hidden?.dims ?? [];
      if (
        !(hidden?.data instanceof Float32Array) ||
        dims.length !== 3 ||
        dims[0] !== n ||
        dims[2] !== d ||
        !(dims[1]! > 0)
      ) {
        throw new AudioModelError(
          id,
          `model signature disagrees with its descriptor: expected ${descriptor.hiddenOutput} float32 [${n},T,${d}], got [${dims.join(',')}]`,
        );
      }
      return meanOverSteps(hidden.data, n, dims[1]!, d);
    },
    release: () => graph.release(),
  };
}
