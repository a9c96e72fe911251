/**
 * What a store determines about its runs on a Temporal server: run ids hash the store's identity
 * with every input, and runs and workers use the store's own task queues, so two stores sharing a
 * server never attach to each other's runs nor take each other's tasks (docs/ARCHITECTURE.md,
 * Task queues).
 */
import { storeIdentity, type AffectflowConfig } from '../config/index.ts';
import { canonicalHash } from '../base/canonicalJson.ts';
import type { ExtractionRunInput } from '../workflows/index.ts';
import { storeTaskQueues, type TaskQueueNames } from '../workflows/taskQueues.ts';

export interface RunScope {
  /** The store's identity (config storeIdentity): part of every run and re-evaluation id. */
  readonly store: string;
  /** Where this store's workflows and activities go. */
  readonly queues: TaskQueueNames;
}

export function runScope(config: Pick<AffectflowConfig, 'store'>): RunScope {
  const identity = storeIdentity(config.store);
  return { store: identity.uri, queues: storeTaskQueues(identity.tag) };
}

/**
 * The run's activity queues: the ones it names, and the scope's for the pools it does not, so
 * its activities reach this store's workers.
 */
export function withStoreQueues<T extends Pick<ExtractionRunInput, 'taskQueues'>>(
  input: T,
  scope: RunScope,
): T {
  const { frames, embed, train } = scope.queues;
  return { ...input, taskQueues: { frames, embed, train, ...input.taskQueues } };
}

/**
 * A queue of `input` named for another store (`affectflow-<pool>-<tag>` with another tag): a run
 * started with another store configuration, which this one must not resume.
 */
export function otherStoreQueue(
  input: Pick<ExtractionRunInput, 'taskQueues'>,
  scope: RunScope,
): string | undefined {
  for (const pool of ['frames', 'embed', 'train'] as const) {
    const queue = input.taskQueues?.[pool];
    if (queue !== undefined && /^affectflow-[a-z]+-[0-9a-f]{12}$/.test(queue) && queue !== scope.queues[pool])
      return queue;
  }
  return undefined;
}

/**
 * Workflow ids derive from the run's inputs and the store: launching the same run twice attaches
 * to it, and any other input (a nested setting included) or another store is another run.
 */
export function extractionWorkflowId(input: ExtractionRunInput, store: string): string {
  return `extract-${canonicalHash({ store, input }, 16)}`;
}
