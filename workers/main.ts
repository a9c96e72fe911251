/**
 * Entry of a standalone pool worker process: `affectflow worker <pool>` or
 * `node build/workers/<pool>.js` (compiled; `node --import tsx workers/<pool>.ts` in development).
 * Connects to TEMPORAL_ADDRESS (or the embedded dev server's port) and serves until SIGINT/SIGTERM,
 * then lets in-flight tasks finish within the shutdown grace period and exits 0. Losing Temporal
 * or the store never ends it: the worker's pollers retry while the server is away, and a worker
 * that stops or cannot start (no server yet, the store's registry unreadable) is built again with
 * capped backoff and a warn line.
 */
import { NativeConnection } from '@temporalio/worker';
import { backoffSeconds, type Backoff } from '../base/backoff.ts';
import { loadConfig } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import { createPoolWorker, defaultTaskQueue, installQuietRuntime, type WorkerRole } from './pools.ts';

/** Restarts of a worker process's Temporal worker: after 1, 2, 4, 8, 16 s, then every 30 s. */
const RESTART_BACKOFF: Backoff = Object.freeze({ initialSeconds: 1, coefficient: 2, maximumSeconds: 30 });

const firstLine = (err: unknown): string =>
  (err instanceof Error ? `${err.name}: ${err.message}` : String(err)).split('\n')[0]!.trim();

/** taskQueue overrides the pool's queue for the configured store (also from AFFECTFLOW_TASK_QUEUE). */
export async function runWorkerProcess(
  role: WorkerRole,
  taskQueue: string | undefined = process.env['AFFECTFLOW_TASK_QUEUE'] || undefined,
): Promise<void> {
  const config = loadConfig();
  installQuietRuntime();
  const address = config.temporalAddress ?? `127.0.0.1:${config.devPorts.temporal}`;
  const store = openStore(config.store);
  const queue = taskQueue ?? defaultTaskQueue(role, config);
  const say = (line: string): void => console.error(`affectflow ${role} worker: ${line}`);
  // The SDK's runtime shuts running workers down on these signals; this ends the restart loop.
  const stop = new AbortController();
  const onSignal = (signal: NodeJS.Signals): void => {
    say(
      `${signal}: stopped polling; letting in-flight tasks finish (up to ${config.faults.shutdownGraceSeconds} s, AFFECTFLOW_SHUTDOWN_GRACE_SECONDS)`,
    );
    stop.abort();
  };
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  try {
    for (let restarts = 0; !stop.signal.aborted;) {
      let connection: NativeConnection | undefined;
      try {
        connection = await NativeConnection.connect({ address });
        const pool = await createPoolWorker(role, { config, connection, store, taskQueue: queue });
        say(
          `${restarts > 0 ? 'back: ' : ''}polling ${queue} on ${address} (${config.temporalNamespace}), store ${store.uri}`,
        );
        restarts = 0;
        try {
          await pool.worker.run();
        } finally {
          await pool.dispose();
        }
        // run() returns once the worker was shut down: by a signal, or by the SDK itself.
        if (stop.signal.aborted) break;
        throw new Error('the worker stopped without being asked to');
      } catch (err) {
        if (stop.signal.aborted) break;
        const wait = backoffSeconds(RESTART_BACKOFF, ++restarts);
        say(
          `warn: ${firstLine(err)} (Temporal ${address}, store ${store.uri}); starting again in ${wait} s (attempt ${restarts})`,
        );
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, wait * 1000);
          stop.signal.addEventListener('abort', () => {
            clearTimeout(timer);
            resolve();
          });
        });
      } finally {
        await connection?.close().catch(() => undefined);
      }
    }
    say('stopped');
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    store.close();
  }
}
