/**
 * The embedded default: with no TEMPORAL_ADDRESS the CLI uses the local Temporal dev server,
 * reusing a running one (`affectflow stack start`) or starting it for the duration of the
 * command; and it runs one worker of each pool in-process unless told the workers are external.
 */
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { AffectflowConfig } from '../config/index.ts';
import { startTemporalDevServer } from '../infra/devstack.ts';
import { PortTakenError, ServiceError, stopService } from '../infra/services.ts';
import { join } from 'node:path';
import type { ObjectStore } from '../storage/objectStore.ts';
import { firstLine, UsageError } from './errors.ts';
import {
  installQuietRuntime,
  quietBundlerLogger,
  runPoolWorkers,
  WORKER_ROLES,
  workflowsPath,
  type PoolSet,
} from '../workers/pools.ts';

export interface TemporalSession {
  readonly address: string;
  readonly client: Client;
  /** Temporal Web UI base URL when known. */
  readonly uiUrl: string | undefined;
  close(): Promise<void>;
}

export async function openTemporal(
  config: AffectflowConfig,
  say: (line: string) => void,
): Promise<TemporalSession> {
  let address = config.temporalAddress;
  let uiUrl: string | undefined;
  let startedHere = false;
  if (address === undefined) {
    const state = await startTemporalDevServer({
      stateDir: config.stateDir,
      temporalPort: config.devPorts.temporal,
      temporalUiPort: config.devPorts.temporalUi,
      s3Port: config.devPorts.s3,
      ui: true,
    }).catch((err: unknown) => {
      if (err instanceof PortTakenError)
        throw new UsageError(
          `the local Temporal dev server cannot start on 127.0.0.1:${err.port}: another process listens there (a Temporal server started elsewhere?): set TEMPORAL_ADDRESS=127.0.0.1:${err.port} to use it, or AFFECTFLOW_TEMPORAL_PORT to a free port for the embedded one`,
        );
      if (!(err instanceof ServiceError)) throw err;
      // "service temporal: exited with code 1 before it was ready; log FILE:\n<its tail>"
      const detail = firstLine(err.message)
        .replace(/^service temporal: /, '')
        .replace(/; log .*$/, '');
      throw new UsageError(
        `the local Temporal dev server on 127.0.0.1:${config.devPorts.temporal} did not start (${detail}): see its log ${join(config.stateDir, 'temporal', 'temporal.log')}; \`npm run bootstrap\` installs it, \`affectflow stack stop\` stops an earlier one`,
      );
    });
    startedHere = !state.reused;
    address = `127.0.0.1:${config.devPorts.temporal}`;
    uiUrl = `http://127.0.0.1:${config.devPorts.temporalUi}`;
    say(
      state.reused
        ? `temporal: reusing the local dev server on ${address}`
        : `temporal: started the local dev server on ${address} (log ${state.logFile}); it stops when this command ends`,
    );
  }
  let connection: Connection;
  try {
    connection = await Connection.connect({ address });
  } catch (err) {
    throw new UsageError(
      config.temporalAddress === undefined
        ? `the local Temporal dev server on ${address} does not answer (${firstLine((err as Error).message)}): see its log under ${join(config.stateDir, 'temporal')}, or stop it with \`affectflow stack stop\` and try again`
        : `Temporal at ${address} (TEMPORAL_ADDRESS) does not answer (${firstLine((err as Error).message)}): start it (\`affectflow stack start\` runs a local one), or unset TEMPORAL_ADDRESS to use the embedded dev server`,
    );
  }
  const client = new Client({ connection, namespace: config.temporalNamespace });
  return {
    address,
    client,
    uiUrl,
    async close() {
      await connection.close();
      if (startedHere) await stopService(join(config.stateDir, 'temporal'), 'temporal');
    },
  };
}

export type EmbeddedWorkers = PoolSet;

/** One worker per pool in this process; stop() drains them and releases their resources. */
export async function startEmbeddedWorkers(
  config: AffectflowConfig,
  address: string,
  store: ObjectStore,
  log: (line: string) => void,
): Promise<EmbeddedWorkers> {
  installQuietRuntime();
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  return runPoolWorkers(WORKER_ROLES, { config, address, store, workflowBundle, log });
}
