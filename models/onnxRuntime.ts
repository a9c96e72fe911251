/**
 * The one module that creates, runs and disposes ONNX Runtime sessions. One session per model
 * file per worker process, reused by every activity; the execution provider comes from config,
 * and a request for CUDA on a machine without it falls back to the CPU with a log line.
 */
import { existsSync, readFileSync } from 'node:fs';
import * as ort from 'onnxruntime-node';
import { sha256Hex } from '../base/hashing.ts';
import {
  buildGeneratedModel,
  ModelFileError,
  modelPaths,
  modelPullHint,
  type VerifiedModel,
} from './modelFiles.ts';
import { backboneId, type BackboneDescriptor } from './registry.ts';

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

/** A downloaded backbone's model file is missing from this worker's cache. */
export class ModelNotCachedError extends Error {
  constructor(
    readonly backbone: string,
    readonly id: string,
    readonly path: string,
  ) {
    super(
      `backbone ${id}: model file ${path} is not in this worker's model cache; ${modelPullHint(backbone)}`,
    );
    this.name = 'ModelNotCachedError';
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

/** A tensor crossing the ONNX Runtime boundary: typed data, row-major, with its dims. */
export interface GraphTensor {
  readonly data: Float32Array | Int32Array | BigInt64Array | Uint8Array;
  readonly dims: readonly number[];
}

/** A session on any ONNX graph that is not a backbone (face detector, training graphs). */
export interface GraphSession {
  readonly inputNames: readonly string[];
  readonly outputNames: readonly string[];
  readonly provider: ExecutionProvider;
  run(
    feeds: Readonly<Record<string, GraphTensor>>,
    outputs?: readonly string[],
  ): Promise<Record<string, GraphTensor>>;
  release(): Promise<void>;
}

async function createSession(
  model: Uint8Array | string,
  options: Pick<RuntimeOptions, 'provider' | 'intraOpThreads' | 'interOpThreads' | 'log'>,
  label: string,
): Promise<{ session: ort.InferenceSession; provider: ExecutionProvider }> {
  const base: ort.InferenceSession.SessionOptions = {
    intraOpNumThreads: options.intraOpThreads,
    interOpNumThreads: options.interOpThreads,
    graphOptimizationLevel: 'all',
    // Subnormal floats take a slow path on x86: flushing them to zero ran the MobileFaceNet graph
    // 20% faster on real crops (docs/MODELS.md); values below 1e-38 change nothing downstream.
    extra: { session: { set_denormal_as_zero: '1' } },
  };
  const open = (providers: ExecutionProvider[]): Promise<ort.InferenceSession> =>
    typeof model === 'string'
      ? ort.InferenceSession.create(model, { ...base, executionProviders: providers })
      : ort.InferenceSession.create(model, { ...base, executionProviders: providers });
  if (options.provider !== 'cuda') return { session: await open(['cpu']), provider: 'cpu' };
  try {
    return { session: await open(['cuda']), provider: 'cuda' };
  } catch (err) {
    options.log?.(
      `onnxruntime: CUDA execution provider unavailable for ${label} (${(err as Error).message.split('\n')[0]}); falling back to cpu`,
    );
    return { session: await open(['cpu']), provider: 'cpu' };
  }
}

/** Opens a session on an arbitrary graph (bytes or a file path), with the same provider fallback as backbones. */
export async function openGraph(
  model: Uint8Array | string,
  options: Pick<RuntimeOptions, 'provider' | 'intraOpThreads' | 'interOpThreads' | 'log'>,
  label = 'graph',
): Promise<GraphSession> {
  const { session, provider } = await createSession(model, options, label);
  return {
    inputNames: session.inputNames,
    outputNames: session.outputNames,
    provider,
    async run(feeds, outputs) {
      const ortFeeds: Record<string, ort.Tensor> = {};
      for (const [name, t] of Object.entries(feeds)) ortFeeds[name] = new ort.Tensor(t.data, [...t.dims]);
      const out = await session.run(ortFeeds, outputs ? [...outputs] : session.outputNames);
      const result: Record<string, GraphTensor> = {};
      for (const [name, t] of Object.entries(out))
        result[name] = { data: t.data as GraphTensor['data'], dims: t.dims };
      return result;
    },
    release: () => session.release(),
  };
}

/**
 * Model file for a descriptor in the local cache, unverified; generated models are built on first
 * use. The embedder loads through models/modelCache.ts instead, which checks the file first.
 */
export function ensureModelFile(descriptor: BackboneDescriptor, cacheDir: string): string {
  const { path } = modelPaths(descriptor, cacheDir);
  if (existsSync(path)) return path;
  if (descriptor.source.kind !== 'generated') {
    throw new ModelNotCachedError(descriptor.name, backboneId(descriptor), path);
  }
  return buildGeneratedModel(descriptor, cacheDir).path;
}

/** What ONNX Runtime said when it could not load a model, as one line. */
export function invalidOnnx(err: unknown): string {
  const said = (err instanceof Error ? err.message : String(err)).split('\n')[0]!.trim();
  return `not a valid ONNX file (onnxruntime: ${said})`;
}

/** Whether ONNX Runtime loads a model: undefined when it does, else what is wrong (invalidOnnx). */
export async function onnxLoadProblem(model: Uint8Array, label: string): Promise<string | undefined> {
  let session: ort.InferenceSession;
  try {
    session = (await createSession(model, { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 }, label))
      .session;
  } catch (err) {
    return invalidOnnx(err);
  }
  await session.release();
  return undefined;
}

function signature(names: readonly string[]): string {
  return `[${[...names].sort().join(', ')}]`;
}

export class OnnxSessions {
  private readonly sessions = new Map<string, { sha256?: string; session: Promise<BackboneSession> }>();
  private readonly raw: ort.InferenceSession[] = [];
  constructor(private readonly options: RuntimeOptions) {}

  /**
   * The shared session for a backbone, created on first use: from `model` when given (a file
   * models/modelCache.ts verified, whose bytes must still have its sha256; a session on another
   * version of the file is replaced), else from the cache file as it is (ensureModelFile).
   */
  get(descriptor: BackboneDescriptor, model?: VerifiedModel): Promise<BackboneSession> {
    const id = backboneId(descriptor);
    const held = this.sessions.get(id);
    if (held && (!model || held.sha256 === model.sha256)) return held.session;
    const entry = { sha256: model?.sha256, session: this.create(descriptor, model) };
    entry.session.catch(() => {
      if (this.sessions.get(id) === entry) this.sessions.delete(id);
    });
    this.sessions.set(id, entry);
    return entry.session;
  }

  private async create(descriptor: BackboneDescriptor, model?: VerifiedModel): Promise<BackboneSession> {
    const path = model?.path ?? ensureModelFile(descriptor, this.options.modelCacheDir);
    const bytes = readFileSync(path);
    const modelSha256 = sha256Hex(bytes);
    if (model && modelSha256 !== model.sha256) {
      throw new ModelFileError(descriptor, path, `expected sha256 ${model.sha256}, got ${modelSha256}`);
    }
    let created: Awaited<ReturnType<typeof createSession>>;
    try {
      created = await createSession(bytes, this.options, backboneId(descriptor));
    } catch (err) {
      throw new ModelFileError(descriptor, path, invalidOnnx(err));
    }
    const { session, provider } = created;
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
