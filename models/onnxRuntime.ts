/**
 * The one module that creates, runs and disposes ONNX Runtime sessions. One session per model
 * file per worker process, reused by every activity; the execution provider comes from config,
 * and a request for CUDA on a machine without it falls back to the CPU with a log line.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-node';
import { sha256Hex } from '../storage/commit.ts';
import { backboneId, type BackboneDescriptor } from './registry.ts';
import { buildTinyBackboneModel } from './tinyBackbone.ts';

export type ExecutionProvider = 'cpu' | 'cuda';

export interface RuntimeOptions {
  readonly provider: ExecutionProvider;
  /** Threads inside one operator; 0 lets ONNX Runtime choose (one per core). */
  readonly intraOpThreads: number;
  readonly interOpThreads: number;
  /** Where model files are cached on this worker. */
  readonly modelCacheDir: string;
  readonly log?: (line: string) => void;
}

export class ModelSignatureError extends Error {
  constructor(
    readonly backbone: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(
      `backbone ${backbone}: model signature disagrees with its descriptor: expected ${expected}, got ${got}`,
    );
    this.name = 'ModelSignatureError';
  }
}

export interface BackboneSession {
  readonly descriptor: BackboneDescriptor;
  readonly provider: ExecutionProvider;
  /** sha256 of the model file the session runs. */
  readonly modelSha256: string;
  /**
   * Runs one batch. input: float32 [n, 3, S, S] (NCHW). Returns embedding [n, embeddingDim] and
   * scores [n, scoresDim], row-major.
   */
  run(input: Float32Array, n: number): Promise<{ embedding: Float32Array; scores: Float32Array }>;
}

/** Model file for a descriptor in the local cache; generated models are built on first use. */
export function ensureModelFile(descriptor: BackboneDescriptor, cacheDir: string): string {
  const path = join(cacheDir, `${backboneId(descriptor).replace(/[^A-Za-z0-9._@-]/g, '_')}.onnx`);
  if (existsSync(path)) return path;
  if (descriptor.source.kind !== 'generated') {
    throw new Error(`backbone ${backboneId(descriptor)}: model file ${path} is not cached; pull it first`);
  }
  mkdirSync(cacheDir, { recursive: true });
  const tmp = `${path}.tmp-${process.pid}`;
  writeFileSync(tmp, buildTinyBackboneModel(descriptor.inputSize, 4, descriptor.scoresDim));
  renameSync(tmp, path);
  return path;
}

function signature(names: readonly string[]): string {
  return `[${[...names].sort().join(', ')}]`;
}

export class OnnxSessions {
  private readonly sessions = new Map<string, Promise<BackboneSession>>();
  private readonly raw: ort.InferenceSession[] = [];
  constructor(private readonly options: RuntimeOptions) {}

  /** The shared session for a backbone, created on first use. */
  get(descriptor: BackboneDescriptor): Promise<BackboneSession> {
    const id = backboneId(descriptor);
    let session = this.sessions.get(id);
    if (!session) {
      session = this.create(descriptor);
      session.catch(() => this.sessions.delete(id));
      this.sessions.set(id, session);
    }
    return session;
  }

  private async create(descriptor: BackboneDescriptor): Promise<BackboneSession> {
    const path = ensureModelFile(descriptor, this.options.modelCacheDir);
    const bytes = readFileSync(path);
    const modelSha256 = sha256Hex(bytes);
    const base: ort.InferenceSession.SessionOptions = {
      intraOpNumThreads: this.options.intraOpThreads,
      interOpNumThreads: this.options.interOpThreads,
      graphOptimizationLevel: 'all',
    };
    let provider = this.options.provider;
    let session: ort.InferenceSession;
    try {
      session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: [provider] });
    } catch (err) {
      if (provider !== 'cuda') throw err;
      this.options.log?.(
        `onnxruntime: CUDA execution provider unavailable for ${backboneId(descriptor)} (${(err as Error).message.split('\n')[0]}); falling back to cpu`,
      );
      provider = 'cpu';
      session = await ort.InferenceSession.create(bytes, { ...base, executionProviders: ['cpu'] });
    }
    this.raw.push(session);
    const wanted = [descriptor.embeddingOutput, descriptor.scoresOutput];
    const missing = wanted.filter((name) => !session.outputNames.includes(name));
    if (!session.inputNames.includes(descriptor.inputName) || missing.length > 0) {
      throw new ModelSignatureError(
        backboneId(descriptor),
        `inputs [${descriptor.inputName}] outputs ${signature(wanted)}`,
        `inputs ${signature(session.inputNames)} outputs ${signature(session.outputNames)}`,
      );
    }
    const size = descriptor.inputSize;
    return {
      descriptor,
      provider,
      modelSha256,
      async run(input, n) {
        if (input.length !== n * 3 * size * size) {
          throw new ModelSignatureError(
            backboneId(descriptor),
            `input [${n},3,${size},${size}]`,
            `${input.length} values`,
          );
        }
        const feeds = { [descriptor.inputName]: new ort.Tensor('float32', input, [n, 3, size, size]) };
        const out = await session.run(feeds, wanted);
        const embedding = out[descriptor.embeddingOutput];
        const scores = out[descriptor.scoresOutput];
        const check = (t: ort.Tensor | undefined, name: string, dim: number): Float32Array => {
          if (!t || t.type !== 'float32' || t.dims.length !== 2 || t.dims[0] !== n || t.dims[1] !== dim) {
            throw new ModelSignatureError(
              backboneId(descriptor),
              `${name} float32 [${n},${dim}]`,
              t ? `${t.type} [${t.dims.join(',')}]` : 'no such output',
            );
          }
          return t.data as Float32Array;
        };
        return {
          embedding: check(embedding, descriptor.embeddingOutput, descriptor.embeddingDim),
          scores: check(scores, descriptor.scoresOutput, descriptor.scoresDim),
        };
      },
    };
  }

  async dispose(): Promise<void> {
    await Promise.all(this.raw.map((s) => s.release()));
    this.raw.length = 0;
    this.sessions.clear();
  }
}
