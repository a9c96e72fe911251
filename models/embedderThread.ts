/** A worker thread of an Embedder (models/embedder.ts): its own sessions, one run per request. */
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import {
  embedRun,
  serializeError,
  type EmbedderReply,
  type EmbedderRequest,
  type ThreadRuntime,
} from './embedder.ts';
import { loadVerifiedModel } from './modelCache.ts';
import { OnnxSessions } from './onnxRuntime.ts';

if (!parentPort) throw new Error('models/embedderThread.ts runs as a worker thread of an Embedder');
const port: MessagePort = parentPort;
const runtime = (workerData as { data: ThreadRuntime }).data;
const log = (line: string): void => port.postMessage({ log: line } satisfies EmbedderReply);
const sessions = new OnnxSessions({ ...runtime, log });

/**
 * The input tensor, reused by every run: requests run one at a time, so one buffer serves them
 * all and no run allocates (and zeroes) megabytes the garbage collector must then reclaim.
 */
let buffer = new Float32Array(0);
function scratch(values: number): Float32Array {
  if (buffer.length < values) buffer = new Float32Array(values);
  return buffer.subarray(0, values);
}

/** Requests run one at a time, in order: a run's tensor is inferred while it is still in cache. */
let queue: Promise<void> = Promise.resolve();
port.on('message', (request: EmbedderRequest) => {
  queue = queue.then(() => handle(request));
});

function handle(request: EmbedderRequest): Promise<void> {
  const work =
    request.kind === 'verify'
      ? loadVerifiedModel(request.descriptor, runtime.modelCacheDir, log)
      : request.kind === 'source'
        ? sessions
            .get(request.descriptor, request.model)
            .then((s) => ({ provider: s.provider, modelSha256: s.modelSha256 }))
        : embedRun(sessions, request.descriptor, request.model, request.crops, scratch);
  return work.then(
    (result) => {
      const reply: EmbedderReply = { id: request.id, result };
      const buffers = 'embedding' in result ? [result.embedding.buffer, result.scores.buffer] : [];
      port.postMessage(reply, buffers as ArrayBuffer[]);
    },
    (err: unknown) =>
      port.postMessage({ id: request.id, error: serializeError(err) } satisfies EmbedderReply),
  );
}
