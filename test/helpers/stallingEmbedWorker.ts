/**
 * An embed worker process (`node --import tsx test/helpers/stallingEmbedWorker.ts`, configured by
 * the same environment as workers/embed.ts) whose store lets an embedShard write its first
 * checkpoint and then never completes another write: the shard cannot finish on this worker,
 * however fast it embeds, so a test can kill it mid-shard on the writer's own progress. Prints
 * `stalled after checkpoint <key>` on stderr when it holds a write.
 */
import { NativeConnection } from '@temporalio/worker';
import { loadConfig } from '../../config/index.ts';
import { openStore, type ObjectStore } from '../../storage/objectStore.ts';
import { createPoolWorker, installQuietRuntime } from '../../workers/pools.ts';
import { overrideStore } from './storeOverride.ts';

const CHECKPOINTS = 'tmp/embed-checkpoints/';

function stallingAfterFirstCheckpoint(store: ObjectStore): ObjectStore {
  let checkpoint: string | undefined;
  const put = async (key: string, body: Uint8Array | string): Promise<void> => {
    if (checkpoint === undefined && key.startsWith(CHECKPOINTS)) {
      await store.put(key, body);
      checkpoint = key;
      return;
    }
    if (checkpoint !== undefined && (key.startsWith(CHECKPOINTS) || key.startsWith('embeddings/'))) {
      console.error(`stalled after checkpoint ${checkpoint}`);
      return new Promise<void>(() => {});
    }
    return store.put(key, body);
  };
  return overrideStore(store, { put });
}

const config = loadConfig();
installQuietRuntime();
const connection = await NativeConnection.connect({ address: config.temporalAddress! });
const store = openStore(config.store);
const pool = await createPoolWorker('embed', {
  config,
  connection,
  store: stallingAfterFirstCheckpoint(store),
  taskQueue: process.env['AFFECTFLOW_TASK_QUEUE']!,
});
console.error('stalling embed worker: polling');
await pool.worker.run();
