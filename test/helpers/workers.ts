/**
 * Worker pools for workflow tests on the real dev server, on task queues of their own so that
 * test files running at the same time never take each other's tasks.
 */
import { randomUUID } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import { basename, join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode, type WorkflowBundle } from '@temporalio/worker';
import type { ExtractFramesInput, ExtractFramesResult } from '../../activities/index.ts';
import type { AffectflowConfig } from '../../config/index.ts';
import type { ObjectStore } from '../../storage/objectStore.ts';
import {
  installQuietRuntime,
  quietBundlerLogger,
  runPoolWorkers,
  workflowsPath,
  type WorkerRole,
} from '../../workers/pools.ts';
import type { Pool } from '../../workflows/taskQueues.ts';
import { ensureModelFile } from '../../models/onnxRuntime.ts';
import { TINY_BACKBONE, TINY_BACKBONE_B } from '../../models/registry.ts';
import { testServices } from './env.ts';

let bundle: Promise<WorkflowBundle> | undefined;

export type TestQueues = Record<WorkerRole, string>;

export function uniqueQueues(label: string): TestQueues {
  const id = randomUUID().slice(0, 8);
  return {
    orchestrator: `${label}-${id}-orchestrator`,
    frames: `${label}-${id}-frames`,
    embed: `${label}-${id}-embed`,
    train: `${label}-${id}-train`,
  };
}

export function activityQueues(queues: TestQueues): Record<Pool, string> {
  return { frames: queues.frames, embed: queues.embed, train: queues.train };
}

export interface TestWorkers {
  readonly client: Client;
  stop(): Promise<void>;
}

/** One worker per role on the given queues; `wrap` can replace a pool's activities. */
/**
 * Puts the generated backbones' model files into an embed worker's cache. Building one takes
 * seconds of CPU without a heartbeat, longer than the short heartbeat timeouts some tests use;
 * each test process builds them once into the suite's state directory and copies them from there.
 */
export function prebuildGeneratedModels(stateDir: string): void {
  const shared = join(process.env['AFFECTFLOW_TEST_STATE'] ?? stateDir, 'generated-models');
  const cache = join(stateDir, 'models');
  mkdirSync(cache, { recursive: true });
  for (const descriptor of [TINY_BACKBONE, TINY_BACKBONE_B]) {
    const built = ensureModelFile(descriptor, shared);
    const target = join(cache, basename(built));
    if (!existsSync(target)) copyFileSync(built, target);
  }
}

export async function startTestWorkers(
  config: AffectflowConfig,
  store: ObjectStore,
  queues: TestQueues,
  wrap: Partial<Record<WorkerRole, <A extends object>(activities: A) => A>> = {},
  roles: readonly WorkerRole[] = ['orchestrator', 'frames', 'embed', 'train'],
): Promise<TestWorkers> {
  installQuietRuntime();
  if (roles.includes('embed')) prebuildGeneratedModels(config.stateDir);
  bundle ??= bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  const workflowBundle = await bundle;
  const pools = await runPoolWorkers(roles, {
    config,
    address: testServices.temporalAddress(),
    store,
    workflowBundle,
    taskQueue: (role) => queues[role],
    log: () => {},
    wrapActivities: wrap,
  });
  const clientConnection = await Connection.connect({ address: testServices.temporalAddress() });
  return {
    client: new Client({ connection: clientConnection }),
    async stop() {
      await pools.stop();
      await clientConnection.close();
    },
  };
}

type ExtractFrames = (input: ExtractFramesInput) => Promise<ExtractFramesResult>;

/** A frames-pool wrap that runs `around` in place of extractFrames, with the real one at hand. */
export function aroundExtractFrames(
  around: (real: ExtractFrames, input: ExtractFramesInput) => Promise<ExtractFramesResult>,
): <A extends object>(activities: A) => A {
  return <A extends object>(activities: A): A => {
    const real = (activities as unknown as { extractFrames: ExtractFrames }).extractFrames;
    return { ...activities, extractFrames: (input: ExtractFramesInput) => around(real, input) };
  };
}
