/**
 * Task queues: one per worker pool, plus the orchestrator's for workflow tasks. The names below
 * are bases: a store's workers and runs use them suffixed with the store's tag
 * (config storeIdentity), so the workers of one store never take another store's tasks on a
 * shared Temporal server.
 */
export const TASK_QUEUES = Object.freeze({
  orchestrator: 'affectflow-orchestrator',
  frames: 'affectflow-frames',
  embed: 'affectflow-embed',
  train: 'affectflow-train',
} as const);

export type Pool = Exclude<keyof typeof TASK_QUEUES, 'orchestrator'>;

export type TaskQueueNames = Readonly<Record<keyof typeof TASK_QUEUES, string>>;

/** The queues of the store tagged `storeTag`: `affectflow-<pool>-<storeTag>`. */
export function storeTaskQueues(storeTag: string): TaskQueueNames {
  return {
    orchestrator: `${TASK_QUEUES.orchestrator}-${storeTag}`,
    frames: `${TASK_QUEUES.frames}-${storeTag}`,
    embed: `${TASK_QUEUES.embed}-${storeTag}`,
    train: `${TASK_QUEUES.train}-${storeTag}`,
  };
}
