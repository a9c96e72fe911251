/** Every workflow that the orchestrator worker registers, and the definitions clients use. */
export { extractionRun } from './extractionRun.ts';
export { extractPartition } from './partition.ts';
export { backboneAddedSignal, reevaluateDataset, reevaluationQuery } from './reevaluate.ts';
export type {
  EvaluatedBackbone,
  ReevaluateInput,
  ReevaluateResult,
  ReevaluationState,
} from './reevaluate.ts';
export type { BackboneReport, ExtractionRunInput, ExtractionRunResult } from './extractionRun.ts';
export type { PartitionInput, PartitionResult } from './partition.ts';
export { progressQuery, partitionProgressSignal } from './progress.ts';
export type { FailedShard, PartitionCounts, RunProgress } from './progress.ts';
export { TASK_QUEUES } from './taskQueues.ts';
export type { TaskQueueNames } from './taskQueues.ts';
