/** Worker threads running TypeScript modules of this project. */
import { Worker } from 'node:worker_threads';

/**
 * Worker threads start without the TypeScript loader the process runs under (Node 20 does not
 * pass --import on to them), so each one registers tsx before importing its entry.
 */
const TSX_API = import.meta.resolve('tsx/esm/api');
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

/** Starts a worker thread on a TypeScript module; it reads `data` as workerData.data. */
export function startTypeScriptWorker(entry: URL, data: unknown): Worker {
  return new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entry.href, tsx: TSX_API, data } });
}
