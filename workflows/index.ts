/** Every workflow that the orchestrator worker registers. */
export { extractionRun, progressQuery } from './extractionRun.ts';
export type { ExtractionRunInput, ExtractionRunResult, RunProgress } from './extractionRun.ts';
export { TASK_QUEUES } from './taskQueues.ts';
