/**
 * Worker pools: one Temporal worker per pool and task queue. The orchestrator runs workflow
 * tasks only; frames, embed and train run their activities with the concurrency from config.
 * A pool serves its store's queue (`affectflow-<pool>-<store tag>`) unless told another.
 */
import { fileURLToPath } from 'node:url';
import { join } from 'node:path';
import {
  DefaultLogger,
  Runtime,
  Worker,
  type NativeConnection,
  type WorkflowBundle,
} from '@temporalio/worker';
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
  if (role === 'orchestrator') {
    const worker = await Worker.create({
      ...base,
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
    activities: withRegistryRefresh(
      options.wrapActivities ? options.wrapActivities(activities) : activities,
      options.store,
    ),
    maxConcurrentActivityTaskExecutions: config.concurrency[role],
  });
  return {
    role,
    worker,
    dispose: async () => {
      await embedder?.close();
    },
  };
}
