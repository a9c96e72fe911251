/** One side-by-side session of bareRate (bench/models/graphs.ts): runs the loop, posts its rate. */
import { parentPort, workerData } from 'node:worker_threads';
import { bareLoop, type BareJob } from './bareLoop.ts';

bareLoop((workerData as { data: BareJob }).data).then(
  (rate) => parentPort?.postMessage({ rate }),
  (err: unknown) => parentPort?.postMessage({ error: (err as Error).message }),
);
