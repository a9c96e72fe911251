/**
 * A process that starts the four pools against a store nothing answers at (AFFECTFLOW_S3_ENDPOINT
 * on a closed port), prints why it gave up, and returns from its top level without
 * process.exit: it ends only if runPoolWorkers left nothing open behind the error.
 */
import { loadConfig } from '../../config/index.ts';
import { openStore } from '../../storage/objectStore.ts';
import { installQuietRuntime, runPoolWorkers, WORKER_ROLES } from '../../workers/pools.ts';

const config = loadConfig();
installQuietRuntime();
const store = openStore(config.store);
try {
  const pools = await runPoolWorkers(WORKER_ROLES, {
    config,
    address: config.temporalAddress!,
    store,
    taskQueue: (role) => `gives-up-${process.pid}-${role}`,
    log: () => {},
  });
  console.log('started');
  await pools.stop();
} catch (err) {
  console.log(`gave up: ${(err as Error).message.split('\n')[0]}`);
} finally {
  store.close();
}
