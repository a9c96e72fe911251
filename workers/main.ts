/**
 * Entry of a standalone pool worker process: `affectflow worker <pool>` or
 * `node build/workers/<pool>.js` (compiled; `node --import tsx workers/<pool>.ts` in development).
 * Connects to TEMPORAL_ADDRESS (or the embedded dev server's port), serves until SIGINT/SIGTERM,
 * then drains in-flight tasks and exits.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import { createPoolWorker, defaultTaskQueue, installQuietRuntime, type WorkerRole } from './pools.ts';

/** taskQueue overrides the pool's queue for the configured store (also from AFFECTFLOW_TASK_QUEUE). */
export async function runWorkerProcess(
  role: WorkerRole,
  taskQueue: string | undefined = process.env['AFFECTFLOW_TASK_QUEUE'] || undefined,
): Promise<void> {
  const config = loadConfig();
  installQuietRuntime();
  const address = config.temporalAddress ?? `127.0.0.1:${config.devPorts.temporal}`;
  const connection = await NativeConnection.connect({ address });
  const store = openStore(config.store);
  const queue = taskQueue ?? defaultTaskQueue(role, config);
  try {
    const pool = await createPoolWorker(role, { config, connection, store, taskQueue: queue });
    console.error(
      `affectflow ${role} worker: polling ${queue} on ${address} (${config.temporalNamespace}), store ${store.uri}`,
    );
    await pool.worker.run();
    await pool.dispose();
  } finally {
    store.close();
    await connection.close();
  }
}
