/** Worker threads running modules of this project. */
import { Worker } from 'node:worker_threads';
import { runsCompiled } from '../base/paths.ts';

/**
 * Under tsx, worker threads start without the TypeScript loader the process runs under (Node 20
 * does not pass --import on to them), so each one registers tsx before importing its entry.
 * Compiled (build/), a thread runs the entry's .js sibling directly and tsx is never loaded.
 */
const BOOTSTRAP = `
const { workerData } = require('node:worker_threads');
import(workerData.tsx).then((tsx) => { tsx.register(); return import(workerData.entry); });
`;

/**
 * Starts a worker thread on a project module given by its TypeScript source URL
 * (`new URL('./x.ts', import.meta.url)`); it reads `data` as workerData.data.
 */
export function startTypeScriptWorker(entry: URL, data: unknown): Worker {
  if (runsCompiled) {
    return new Worker(new URL(entry.href.replace(/\.ts$/, '.js')), { workerData: { data } });
  }
  const tsx = import.meta.resolve('tsx/esm/api');
  return new Worker(BOOTSTRAP, { eval: true, workerData: { entry: entry.href, tsx, data } });
}
