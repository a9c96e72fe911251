/**
 * Crops in, embeddings out: the engine of the embed pool. A batch of encoded face crops is split
 * into runs of `runBatch` crops; each run is decoded, preprocessed (media/preprocess.ts) and
 * inferred (models/onnxRuntime.ts) on one of `threads` worker threads, each holding its own
 * ONNX Runtime session per backbone, reused by every activity of the process.
 *
 * Why threads, each with a session, rather than one session for the process: ONNX Runtime's Node
 * binding runs inference synchronously on the calling thread, so one session leaves no thread
 * free to prepare the next crops, and one session with N intra-op threads spends time
 * synchronising them. On a 2-core machine two single-threaded sessions gave 13-22% more
 * images/s than one two-threaded session, on every backbone (docs/MODELS.md). With threads = 0
 * everything runs on the calling thread (tests, tools).
 *
 * Why runs of 2 on the CPU: small runs are faster per image here (a large batch's activations
 * leave the CPU caches); with two single-threaded sessions EfficientNet-B0 ran 109 images/s in
 * runs of 2, 103 in runs of 4 and 85 in runs of 8. On CUDA a run is the whole batch
 * (defaultRunBatch).
 */
import { availableParallelism } from 'node:os';
import type { Worker } from 'node:worker_threads';
import type { EmbedRuntimeConfig } from '../config/index.ts';
import { startTypeScriptWorker } from '../infra/threads.ts';
import { CropError, preprocessCrops } from '../media/preprocess.ts';
import { cacheFromStore, loadVerifiedModel } from './modelCache.ts';
import type { ModelObjectStore } from './modelStore.ts';
import type { VerifiedModel } from './modelFiles.ts';
import { OnnxSessions, type ExecutionProvider, type RuntimeOptions } from './onnxRuntime.ts';
import { backboneId, type BackboneDescriptor } from './registry.ts';

export interface EmbedderOptions extends RuntimeOptions {
  /** Worker threads, each with its own sessions; 0 = the calling thread. */
  readonly threads: number;
  /** Most crops per ONNX Runtime run; 0 = a whole batch in one run. */
  readonly runBatch: number;
  /** Where a published model missing from the cache is fetched from (models/modelStore.ts). */
  readonly modelStore?: ModelObjectStore;
}

/** Embedding [n, embeddingDim] and scores [n, scoresDim] of n crops, row-major. */
export interface EmbeddedRows {
  readonly embedding: Float32Array;
  readonly scores: Float32Array;
}

/** Where a backbone's embeddings come from on this worker, for the shard metadata. */
export interface EmbeddingSource {
  readonly provider: ExecutionProvider;
  /** sha256 of the model file every thread's session runs, verified against the cache's record. */
  readonly modelSha256: string;
}

/** Threads when the config says "auto": one per core on the CPU, up to 4 on CUDA (docs/MODELS.md). */
export function defaultEmbedThreads(provider: ExecutionProvider, cores = availableParallelism()): number {
  return provider === 'cpu' ? cores : Math.min(4, cores);
}

/** Run size when the config says "auto": 2 on the CPU, the whole batch on CUDA. */
export function defaultRunBatch(provider: ExecutionProvider): number {
  return provider === 'cpu' ? 2 : 0;
}

/**
 * An embed pool's Embedder options from its config: 'auto' resolved for the provider, and
 * intra-op threads 0 resolved to the cores divided among the threads.
 */
export function embedderOptions(
  runtime: EmbedRuntimeConfig,
  provider: ExecutionProvider,
  rest: Pick<RuntimeOptions, 'modelCacheDir' | 'log'> & { readonly modelStore?: ModelObjectStore },
  cores = availableParallelism(),
): EmbedderOptions {
  const threads = runtime.threads === 'auto' ? defaultEmbedThreads(provider, cores) : runtime.threads;
  return {
    ...rest,
    provider,
    threads,
    intraOpThreads: runtime.intraOpThreads || Math.max(1, Math.floor(cores / Math.max(1, threads))),
    interOpThreads: runtime.interOpThreads,
    runBatch: runtime.runBatch === 'auto' ? defaultRunBatch(provider) : runtime.runBatch,
  };
}

/** What an embedder thread is started with: its sessions' options (no log function: it posts log lines). */
export type ThreadRuntime = Omit<RuntimeOptions, 'log'>;

/** Requests and replies between an Embedder and models/embedderThread.ts. */
export type EmbedderRequest = { readonly id: number } & EmbedderWork;
type EmbedderWork =
  /** Verify (and repair) the backbone's model file in the cache: models/modelCache.ts. */
  | { readonly kind: 'verify'; readonly descriptor: BackboneDescriptor }
  /** Open the thread's session on a verified file. */
  | { readonly kind: 'source'; readonly descriptor: BackboneDescriptor; readonly model: VerifiedModel }
  | {
      readonly kind: 'embed';
      readonly descriptor: BackboneDescriptor;
      readonly model: VerifiedModel;
      readonly crops: readonly Uint8Array[];
    };
type EmbedderResult = EmbeddedRows | EmbeddingSource | VerifiedModel;
export type EmbedderReply =
  | { readonly id: number; readonly result: EmbedderResult }
  | { readonly id: number; readonly error: SerializedError }
  | { readonly log: string };

/** An error crossing a thread boundary: its type name (which decides retries) and fields. */
export interface SerializedError {
  readonly name: string;
  readonly message: string;
  readonly cropIndex?: number;
  readonly detail?: string;
}

export function serializeError(err: unknown): SerializedError {
  if (err instanceof CropError)
    return { name: err.name, message: err.message, cropIndex: err.index, detail: err.detail };
  const e = err instanceof Error ? err : new Error(String(err));
  return { name: e.name, message: e.message };
}

function deserializeError(e: SerializedError): Error {
  if (e.cropIndex !== undefined) return new CropError(e.cropIndex, e.detail ?? e.message);
  const err = new Error(e.message);
  err.name = e.name; // ModelSignatureError, ModelFileError, ... stay permanent by name
  return err;
}

/**
 * One run on the calling thread: what each embedder thread does with a request. `scratch` may
 * lend the input tensor (a thread running one request at a time reuses one buffer).
 */
export async function embedRun(
  sessions: OnnxSessions,
  descriptor: BackboneDescriptor,
  model: VerifiedModel,
  crops: readonly Uint8Array[],
  scratch?: (values: number) => Float32Array,
): Promise<EmbeddedRows> {
  const session = await sessions.get(descriptor, model);
  const values = crops.length * 3 * descriptor.inputSize * descriptor.inputSize;
  const tensor = await preprocessCrops(crops, descriptor, scratch?.(values));
  return session.run(tensor, crops.length);
}

interface Waiter {
  resolve(value: EmbedderResult): void;
  reject(err: Error): void;
  thread: ThreadState;
}
interface ThreadState {
  readonly worker: Worker;
  inFlight: number;
}

export class Embedder {
  private readonly local?: OnnxSessions;
  private readonly threads: ThreadState[] = [];
  private readonly waiting = new Map<number, Waiter>();
  private readonly sources = new Map<string, Promise<EmbeddingSource & { model: VerifiedModel }>>();
  private nextId = 0;

  constructor(private readonly options: EmbedderOptions) {
    if (options.threads === 0) this.local = new OnnxSessions(options);
    for (let i = 0; i < options.threads; i++) this.threads.push(this.startThread());
  }

  private startThread(): ThreadState {
    const { provider, intraOpThreads, interOpThreads, modelCacheDir } = this.options;
    const runtime: ThreadRuntime = { provider, intraOpThreads, interOpThreads, modelCacheDir };
    const worker = startTypeScriptWorker(new URL('./embedderThread.ts', import.meta.url), runtime);
    const thread: ThreadState = { worker, inFlight: 0 };
    worker.on('message', (reply: EmbedderReply) => this.settle(reply));
    worker.on('error', (err) => this.replaceThread(thread, err));
    worker.unref();
    return thread;
  }

  /**
   * Provider and model file of a backbone's sessions, opening them on first use: the model file is
   * verified (and repaired once) by one thread, then every thread opens it, so a model problem
   * surfaces before any crop is read. Later calls answer at once instead of waiting behind the
   * runs queued on the threads.
   */
  async source(descriptor: BackboneDescriptor): Promise<EmbeddingSource> {
    const { provider, modelSha256 } = await this.opened(descriptor);
    return { provider, modelSha256 };
  }

  private opened(descriptor: BackboneDescriptor): Promise<EmbeddingSource & { model: VerifiedModel }> {
    const id = backboneId(descriptor);
    let found = this.sources.get(id);
    if (!found) {
      found = this.open(descriptor);
      found.catch(() => this.sources.delete(id));
      this.sources.set(id, found);
    }
    return found;
  }

  private async open(descriptor: BackboneDescriptor): Promise<EmbeddingSource & { model: VerifiedModel }> {
    const { modelStore, modelCacheDir, log } = this.options;
    if (modelStore) await cacheFromStore(descriptor, modelCacheDir, modelStore, log);
    if (this.local) {
      const model = await loadVerifiedModel(descriptor, this.options.modelCacheDir, this.options.log);
      const session = await this.local.get(descriptor, model);
      return { provider: session.provider, modelSha256: session.modelSha256, model };
    }
    const model = (await this.request(this.threads[0]!, { kind: 'verify', descriptor })) as VerifiedModel;
    const sources = await Promise.all(
      this.threads.map(
        (thread) => this.request(thread, { kind: 'source', descriptor, model }) as Promise<EmbeddingSource>,
      ),
    );
    return { ...sources[0]!, model };
  }

  /**
   * Embeds a batch of crops: runs of runBatch spread over the threads. A crop that cannot be
   * decoded rejects with a CropError giving its index in `crops`.
   */
  async embed(descriptor: BackboneDescriptor, crops: readonly Uint8Array[]): Promise<EmbeddedRows> {
    const n = crops.length;
    const { runBatch } = this.options;
    const size = runBatch > 0 ? runBatch : Math.max(1, n);
    const starts = Array.from({ length: Math.ceil(n / size) }, (_, r) => r * size);
    const { model } = await this.opened(descriptor);
    const runs = await Promise.all(
      starts.map(async (from) => {
        const part = crops.slice(from, from + size);
        try {
          return this.local
            ? await embedRun(this.local, descriptor, model, part)
            : ((await this.request(this.idlest(), {
                kind: 'embed',
                descriptor,
                model,
                crops: part,
              })) as EmbeddedRows);
        } catch (err) {
          throw err instanceof CropError ? new CropError(from + err.index, err.detail) : err;
        }
      }),
    );
    if (runs.length === 1) return runs[0]!;
    const embedding = new Float32Array(n * descriptor.embeddingDim);
    const scores = new Float32Array(n * descriptor.scoresDim);
    runs.forEach((run, r) => {
      embedding.set(run.embedding, starts[r]! * descriptor.embeddingDim);
      scores.set(run.scores, starts[r]! * descriptor.scoresDim);
    });
    return { embedding, scores };
  }

  private idlest(): ThreadState {
    return this.threads.reduce((best, t) => (t.inFlight < best.inFlight ? t : best));
  }

  private request(thread: ThreadState, body: EmbedderWork): Promise<EmbedderResult> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      // Idle threads do not keep the process alive; busy ones must.
      if (this.waiting.size === 0) for (const t of this.threads) t.worker.ref();
      this.waiting.set(id, { resolve, reject, thread });
      thread.inFlight++;
      if (body.kind !== 'embed') {
        thread.worker.postMessage({ id, ...body } satisfies EmbedderRequest);
        return;
      }
      // Crops are views into the frames shard's one large buffer, and posting a view would copy
      // all of that buffer: each crop gets a buffer of its own, moved to the thread.
      const crops = body.crops.map((c) => c.slice());
      const request: EmbedderRequest = { id, ...body, crops };
      thread.worker.postMessage(
        request,
        crops.map((c) => c.buffer),
      );
    });
  }

  private settle(reply: EmbedderReply): void {
    if ('log' in reply) {
      this.options.log?.(reply.log);
      return;
    }
    const waiter = this.waiting.get(reply.id);
    if (!waiter) return;
    this.waiting.delete(reply.id);
    waiter.thread.inFlight--;
    if (this.waiting.size === 0) for (const t of this.threads) t.worker.unref();
    if ('result' in reply) waiter.resolve(reply.result);
    else waiter.reject(deserializeError(reply.error));
  }

  /** A thread that died (an uncaught error) fails what it held and is replaced by a new one. */
  private replaceThread(thread: ThreadState, err: Error): void {
    for (const [id, waiter] of this.waiting) {
      if (waiter.thread !== thread) continue;
      this.waiting.delete(id);
      waiter.reject(new Error(`embedder thread failed: ${err.message}`));
    }
    const at = this.threads.indexOf(thread);
    if (at >= 0) this.threads[at] = this.startThread();
  }

  async close(): Promise<void> {
    for (const waiter of this.waiting.values()) waiter.reject(new Error('embedder closed'));
    this.waiting.clear();
    await Promise.all([this.local?.dispose(), ...this.threads.map((t) => t.worker.terminate())]);
    this.threads.length = 0;
  }
}
