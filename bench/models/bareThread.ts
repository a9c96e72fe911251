/** One side-by-side session of bareRate (bench/models/graphs.ts): runs the loop, posts what it measured. */
import { parentPort, workerData } from 'node:worker_threads';
import { bareLoop, type BareJob } from './bareLoop.ts';

bareLoop((workerData as { data: BareJob }).data).then(
  (result) => parentPort?.postMessage({ result }),
  (err: unknown) => parentPort?.postMessage({ error: (err as Error).message }),
);
