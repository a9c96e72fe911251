/** Worker thread of a CropPreprocessor (media/cropPreprocessor.ts): preprocesses the crops of each job it is sent. */
import { parentPort } from 'node:worker_threads';
import { CropError, preprocessCrops, type PreprocessJob, type PreprocessReply } from './cropPreprocessor.ts';

const port = parentPort;
if (!port) throw new Error('media/preprocessWorker.ts runs as a worker thread of a CropPreprocessor');
port.on('message', (job: PreprocessJob) => {
  preprocessCrops(job.crops, job.spec).then(
    (tensor) => {
      const reply: PreprocessReply = { id: job.id, tensor };
      port.postMessage(reply, [tensor.buffer as ArrayBuffer]);
    },
    (err: unknown) => {
      const failed =
        err instanceof CropError
          ? { index: err.index, detail: err.detail }
          : { index: -1, detail: (err as Error).message };
      const reply: PreprocessReply = { id: job.id, failed };
      port.postMessage(reply);
    },
  );
});
