/**
 * Worker pools: one Temporal worker per pool and task queue. The orchestrator runs workflow
 * tasks only; frames, embed and train run their activities with the concurrency from config.
 * A pool serves its store's queue (`affectflow-<pool>-<store tag>`) unless told another.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import { DefaultLogger, NativeConnection, Runtime, Worker, type WorkflowBundle } from '@temporalio/worker';
import {
  createEmbedPoolActivities,
  createFramesPoolActivities,
  createTrainPoolActivities,
  type ActivityDeps,
} from '../activities/index.ts';
import { storeIdentity, type AffectflowConfig } from '../config/index.ts';
import { projectModule } from '../base/paths.ts';
import { Embedder, embedderOptions } from '../models/embedder.ts';
import { loadRegistry, UnknownBackboneError } from '../models/registry.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { withRetryLog } from './retryLog.ts';
import { storeTaskQueues, type Pool } from '../workflows/taskQueues.ts';

export type WorkerRole = Pool | 'orchestrator';
export const WORKER_ROLES: readonly WorkerRole[] = ['orchestrator', 'frames', 'embed', 'train'];

/** The workflow code the bundler starts from: the compiled module when this process runs compiled. */
export const workflowsPath = fileURLToPath(projectModule('../workflows/index.ts', import.meta.url));

/** A logger for bundleWorkflowCode that prints only the bundler's warnings and errors. */
export const quietBundlerLogger = {
  log: () => {},
  trace: () => {},
  debug: () => {},
  info: () => {},
  warn: (message: string) => console.error(`workflow bundler: ${message}`),
  error: (message: string) => console.error(`workflow bundler: ${message}`),
};

let runtimeInstalled = false;
/** Quiet Temporal SDK logging (errors only: pools without workflows or activities warn by design); once per process. */
export function installQuietRuntime(): void {
  if (runtimeInstalled) return;
  runtimeInstalled = true;
  Runtime.install({ logger: new DefaultLogger('ERROR') });
}

export interface PoolWorkerOptions {
  readonly config: AffectflowConfig;
  readonly connection: NativeConnection;
  readonly store: ObjectStore;
  /** Pre-bundled workflow code, so several orchestrators in one process bundle once. */
  readonly workflowBundle?: WorkflowBundle;
  readonly log?: (line: string) => void;
  /**
   * Serve this task queue instead of the pool's queue for config.store (defaultTaskQueue): a
   * dedicated GPU queue, an isolated deployment.
   */
  readonly taskQueue?: string;
  /** Wraps the pool's activities (instrumentation, fault injection in tests). */
  readonly wrapActivities?: <A extends object>(activities: A) => A;
}

export interface PoolWorker {
  readonly role: WorkerRole;
  readonly worker: Worker;
  /** Releases what the pool holds (the embedder's threads and sessions) after the worker stopped. */
  dispose(): Promise<void>;
}

/**
 * Backbones registered after this worker read the registry are found by re-reading it once when an
 * activity meets an unknown name (the error arrives typed as UnknownBackboneError).
 */
function withRegistryRefresh<A extends object>(activities: A, store: ObjectStore): A {
  const unknownBackbone = (err: unknown): boolean =>
    err instanceof UnknownBackboneError || (err as { type?: string }).type === 'UnknownBackboneError';
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]): Promise<unknown> => {
        const call = fn as (...a: unknown[]) => Promise<unknown>;
        try {
          return await call(...args);
        } catch (err) {
          if (!unknownBackbone(err)) throw err;
          await loadRegistry(store);
          return call(...args);
        }
      },
    ]),
  ) as A;
}

/** The queue a pool serves for the configured store: `affectflow-<pool>-<store tag>`. */
export function defaultTaskQueue(role: WorkerRole, config: Pick<AffectflowConfig, 'store'>): string {
  return storeTaskQueues(storeIdentity(config.store).tag)[role];
}

export async function createPoolWorker(role: WorkerRole, options: PoolWorkerOptions): Promise<PoolWorker> {
  const { config, connection } = options;
  const log = options.log ?? ((line: string) => console.error(line));
  const base = { connection, namespace: config.temporalNamespace } as const;
  // In-flight tasks get the grace period to finish after SIGINT/SIGTERM (or shutdown()); the
  // force time bounds a task that ignores its cancellation, so a stopping worker always exits.
  const grace = config.faults.shutdownGraceSeconds;
  const shutdown = { shutdownGraceTime: `${grace} seconds`, shutdownForceTime: `${grace + 30} seconds` };
  if (role === 'orchestrator') {
    const worker = await Worker.create({
      ...base,
      ...shutdown,
      taskQueue: options.taskQueue ?? defaultTaskQueue(role, config),
      ...(options.workflowBundle ? { workflowBundle: options.workflowBundle } : { workflowsPath }),
    });
    return { role, worker, dispose: async () => {} };
  }
  const embedder =
    role === 'embed'
      ? new Embedder(
          embedderOptions(config.embedRuntime, config.executionProvider, {
            modelCacheDir: join(config.stateDir, 'models'),
            modelStore: options.store,
            log,
          }),
        )
      : undefined;
  const deps: ActivityDeps = { store: options.store, embedder, config, log };
  await loadRegistry(options.store);
  const activities =
    role === 'frames'
      ? createFramesPoolActivities(deps)
      : role === 'embed'
        ? createEmbedPoolActivities(deps)
        : createTrainPoolActivities(deps, { provider: config.executionProvider });
  const worker = await Worker.create({
    ...base,
    taskQueue: options.taskQueue ?? defaultTaskQueue(role, config),
    activities: withRetryLog(
      withRegistryRefresh(
        options.wrapActivities ? options.wrapActivities(activities) : activities,
        options.store,
      ),
      role,
      log,
    ),
    maxConcurrentActivityTaskExecutions: config.concurrency[role],
    ...shutdown,
  });
  return {
    role,
    worker,
    dispose: async () => {
      await embedder?.close();
    },
  };
}

export interface PoolSetOptions {
  readonly config: AffectflowConfig;
  /** The Temporal frontend; the set opens its own connection and closes it in stop(). */
  readonly address: string;
  readonly store: ObjectStore;
  readonly workflowBundle?: WorkflowBundle;
  readonly log?: (line: string) => void;
  /** Each role's task queue; default the pool's queue for config.store. */
  readonly taskQueue?: (role: WorkerRole) => string;
  /** Wraps a role's activities (instrumentation, fault injection in tests and benches). */
  readonly wrapActivities?: Partial<Record<WorkerRole, <A extends object>(activities: A) => A>>;
}

export interface PoolSet {
  /** Stops polling, lets in-flight tasks finish, releases every pool and the connection. */
  stop(): Promise<void>;
}

/**
 * One running worker per role on one connection. When a pool cannot be made (the store's
 * registry unreadable, Temporal gone), the pools already made are released and the connection
 * closed before the error is thrown: a process that gives up holds nothing that keeps it alive.
 */
export async function runPoolWorkers(
  roles: readonly WorkerRole[],
  options: PoolSetOptions,
): Promise<PoolSet> {
  const { address, taskQueue, wrapActivities, ...shared } = options;
  const connection = await NativeConnection.connect({ address });
  const pools: PoolWorker[] = [];
  try {
    for (const role of roles) {
      const wrap = wrapActivities?.[role];
      pools.push(
        await createPoolWorker(role, {
          ...shared,
          connection,
          ...(taskQueue ? { taskQueue: taskQueue(role) } : {}),
          ...(wrap ? { wrapActivities: wrap } : {}),
        }),
      );
    }
  } catch (err) {
    // A worker made but never run holds native resources until it has run and shut down.
    await Promise.allSettled(pools.map((p) => p.worker.runUntil(Promise.resolve())));
    await Promise.allSettled(pools.map((p) => p.dispose()));
    await connection.close();
    throw err;
  }
  const running = pools.map((p) => p.worker.run());
  return {
    async stop() {
      for (const p of pools) if (p.worker.getState() === 'RUNNING') p.worker.shutdown();
      await Promise.allSettled(running);
      await Promise.all(pools.map((p) => p.dispose()));
      await connection.close();
    },
  };
}
