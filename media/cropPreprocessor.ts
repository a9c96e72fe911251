/**
 * Backbone preprocessing off the main thread. ONNX Runtime's Node binding runs a batch
 * synchronously on the calling thread, so crops preprocessed on that same thread wait for every
 * inference and the other way round. A CropPreprocessor hands batches to worker threads (each
 * decoding, resizing and normalising with media/preprocess.ts), so the embed activity can prepare
 * batch n + 1 while batch n runs in ONNX Runtime (the default on CUDA). With 0 threads it
 * preprocesses on the calling thread (the default on the CPU, see defaultPreprocessThreads).
 */
import { availableParallelism } from 'node:os';
import { Worker } from 'node:worker_threads';
import type { BackboneDescriptor } from '../models/registry.ts';
import { preprocessCrop } from './preprocess.ts';

export type PreprocessSpec = Pick<BackboneDescriptor, 'inputSize' | 'mean' | 'std' | 'channelOrder'>;

/** One crop that could not be preprocessed: which one in the batch, and why. */
export class CropError extends Error {
  constructor(
    readonly index: number,
    readonly detail: string,
  ) {
    super(`crop ${index} of the batch: ${detail}`);
    this.name = 'CropError';
  }
}

/** Request and reply between the pool and media/preprocessWorker.ts. */
export interface PreprocessJob {
  readonly id: number;
  readonly crops: readonly Uint8Array[];
  readonly spec: PreprocessSpec;
}
export type PreprocessReply =
  | { readonly id: number; readonly tensor: Float32Array }
  | { readonly id: number; readonly failed: { readonly index: number; readonly detail: string } };

/**
 * Preprocesses crops into one CHW float32 tensor per crop, back to back, in `tensor` (a new one by
 * default); a failed crop is a CropError.
 */
export async function preprocessCrops(
  crops: readonly Uint8Array[],
  spec: PreprocessSpec,
  tensor: Float32Array = new Float32Array(crops.length * 3 * spec.inputSize * spec.inputSize),
): Promise<Float32Array> {
  const plane = 3 * spec.inputSize * spec.inputSize;
  await Promise.all(
    crops.map((crop, i) =>
      preprocessCrop(crop, spec, tensor, i * plane).catch((err: unknown) => {
        throw new CropError(i, (err as Error).message);
      }),
    ),
  );
  return tensor;
}

/**
 * Threads used when the config says "auto". On the CPU provider none: ONNX Runtime already keeps
 * every core busy, and on 2 cores a preprocessing thread only competed with it (docs/MODELS.md).
 * On CUDA all cores but one: the GPU is fast, so preprocessing becomes the bound.
 */
export function defaultPreprocessThreads(provider: 'cpu' | 'cuda', cores = availableParallelism()): number {
  return provider === 'cuda' ? Math.max(1, cores - 1) : 0;
}

/**
 * Worker threads start without the TypeScript loader the process runs under (Node 20 does not
 * pass --import on to them), so each one registers tsx before importing its entry.
 */
const WORKER_ENTRY = new URL('./preprocessWorker.ts', import.meta.url).href;
const TSX_API = import.meta.resolve('tsx/esm/api');
const WORKER_BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

export class CropPreprocessor {
  private readonly workers: Worker[] = [];
  private readonly pending = new Map<
    number,
    { resolve: (t: Float32Array) => void; reject: (e: Error) => void }
  >();
  private nextId = 0;
  private nextWorker = 0;

  constructor(readonly threads: number) {
    for (let i = 0; i < threads; i++) {
      const worker = new Worker(WORKER_BOOTSTRAP, {
        eval: true,
        workerData: { entry: WORKER_ENTRY, tsx: TSX_API },
      });
      worker.on('message', (reply: PreprocessReply) => this.settle(reply));
      worker.on('error', (err) => this.failAll(err));
      worker.unref();
      this.workers.push(worker);
    }
  }

  /**
   * Preprocesses crops for a backbone into out (n x 3 x S x S, from offset 0). Splits the batch
   * into one contiguous part per thread. A crop that cannot be decoded rejects with a CropError
   * giving its index in crops.
   */
  async preprocess(crops: readonly Uint8Array[], spec: PreprocessSpec, out: Float32Array): Promise<void> {
    const plane = 3 * spec.inputSize * spec.inputSize;
    if (this.workers.length === 0) {
      await preprocessCrops(crops, spec, out);
      return;
    }
    const parts = Math.min(this.workers.length, crops.length);
    const size = Math.ceil(crops.length / parts);
    await Promise.all(
      Array.from({ length: parts }, async (_, p) => {
        const from = p * size;
        const part = crops.slice(from, from + size);
        try {
          out.set(await this.submit(part, spec), from * plane);
        } catch (err) {
          throw err instanceof CropError ? new CropError(from + err.index, err.detail) : err;
        }
      }),
    );
  }

  private submit(crops: readonly Uint8Array[], spec: PreprocessSpec): Promise<Float32Array> {
    const id = this.nextId++;
    const worker = this.workers[this.nextWorker++ % this.workers.length]!;
    return new Promise((resolve, reject) => {
      // Idle workers do not keep the process alive; busy ones must.
      if (this.pending.size === 0) for (const w of this.workers) w.ref();
      this.pending.set(id, { resolve, reject });
      const job: PreprocessJob = { id, crops, spec };
      worker.postMessage(job);
    });
  }

  private settle(reply: PreprocessReply): void {
    const waiter = this.pending.get(reply.id);
    if (!waiter) return;
    this.pending.delete(reply.id);
    if (this.pending.size === 0) for (const w of this.workers) w.unref();
    if ('tensor' in reply) waiter.resolve(reply.tensor);
    else {
      const { index, detail } = reply.failed;
      waiter.reject(index >= 0 ? new CropError(index, detail) : new Error(`preprocess worker: ${detail}`));
    }
  }

  private failAll(err: Error): void {
    for (const waiter of this.pending.values())
      waiter.reject(new Error(`preprocess worker failed: ${err.message}`));
    this.pending.clear();
  }

  async close(): Promise<void> {
    this.failAll(new Error('closed'));
    await Promise.all(this.workers.map((w) => w.terminate()));
    this.workers.length = 0;
  }
}
