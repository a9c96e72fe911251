/** Task queues: one per worker pool, plus the orchestrator's for workflow tasks. */
export const TASK_QUEUES = Object.freeze({
  orchestrator: 'affectflow-orchestrator',
  frames: 'affectflow-frames',
  embed: 'affectflow-embed',
  train: 'affectflow-train',
} as const);

export type Pool = Exclude<keyof typeof TASK_QUEUES, 'orchestrator'>;
