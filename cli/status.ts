/**
 * `affectflow status ID` for every workflow the CLI starts: extraction runs, re-evaluations (by
 * `backbones add` or a schedule). Progress or result; a running workflow that no worker polls is
 * one line naming its task queue and the command that serves it.
 */
import { WorkflowFailedError, type WorkflowExecutionDescription } from '@temporalio/client';
import protos from '@temporalio/proto';
import type { AffectflowConfig } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import type {
  ReevaluateInput,
  ReevaluateResult,
  ReevaluationState,
  RunProgress,
} from '../workflows/index.ts';
import { comparisonLines, readComparison } from './comparison.ts';
import { openTemporal, type TemporalSession } from './embedded.ts';
import { EXIT, failureLine, UsageError } from './errors.ts';
import { checkStore } from './preflight.ts';
import { progressLines } from './progress.ts';
import { closedRun } from './reevaluate.ts';
import { retryState } from './retrying.ts';
import {
  describeRun,
  exitCodeOf,
  failedShardsInHistory,
  outcomeOf,
  summarise,
  uiLink,
  type RunOutcome,
} from './run.ts';
import { runScope } from './runIdentity.ts';
import { storeView } from './storeView.ts';

/** Failed shards `status` lists (a run keeps the first 100). */
const FAILED_SHARDS_SHOWN = 10;

/** The command that starts a worker for a workflow task queue. */
function workerCommand(queue: string, config: AffectflowConfig): string {
  return queue === runScope(config).queues.orchestrator
    ? '`affectflow worker orchestrator` (or `affectflow serve`, which runs every pool)'
    : `\`affectflow worker orchestrator --task-queue ${queue}\``;
}

/** A running workflow that nothing polls would never answer a query: say so and what to start. */
async function requirePoller(
  session: TemporalSession,
  config: AffectflowConfig,
  workflowId: string,
  description: WorkflowExecutionDescription,
): Promise<void> {
  const queue = description.taskQueue;
  const { pollers } = await session.client.workflowService.describeTaskQueue({
    namespace: config.temporalNamespace,
    taskQueue: { name: queue },
    taskQueueType: protos.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  });
  if ((pollers ?? []).length > 0) return;
  throw new UsageError(
    `run ${workflowId} is running, but no worker polls its task queue ${queue} on Temporal ${session.address}: start one with ${workerCommand(queue, config)}`,
  );
}

export async function showStatus(
  config: AffectflowConfig,
  workflowId: string,
  say: (line: string) => void,
): Promise<void> {
  const session = await openTemporal(config, () => {});
  const store = openStore(config.store);
  try {
    const description = await describeRun(session, config, workflowId);
    const handle = session.client.workflow.getHandle(workflowId);
    const status = description.status.name;
    const kind = description.type === 'reevaluateDataset' ? 're-evaluation' : 'run';
    say(
      `${kind} ${workflowId}: ${status} (run ${description.runId}, started ${description.startTime.toISOString()})`,
    );
    const link = uiLink(session, config.temporalNamespace, workflowId, description.runId);
    if (link) say(`Temporal UI ${link}`);
    if (status === 'RUNNING') {
      await requirePoller(session, config, workflowId, description);
      if (description.type === 'reevaluateDataset') {
        const state = await handle.query<ReevaluationState>('reevaluation');
        say(
          `re-evaluation: ${state.current ? `evaluating ${state.current}` : 'waiting for a backbone'}; pending ${state.pending.join(', ') || 'none'}; evaluated ${state.evaluated.map((e) => e.backbone).join(', ') || 'none'}`,
        );
        if (state.comparisonKey) {
          await checkStore(store, config);
          const key = state.comparisonKey;
          for (const line of comparisonLines(await readComparison(store, key), key, storeView(config, store)))
            say(line);
        }
        return;
      }
      const progress = await handle.query<RunProgress>('progress');
      const retry = await retryState(session.client, workflowId).catch(() => undefined);
      for (const line of progressLines(progress, retry)) say(line);
      for (const f of progress.failures.slice(0, FAILED_SHARDS_SHOWN))
        say(`  shard ${f.shardId} (${f.stage}): ${f.error}`);
    } else if (status === 'COMPLETED') {
      await checkStore(store, config);
      if (description.type === 'reevaluateDataset') {
        const result = (await handle.result()) as ReevaluateResult;
        say(`re-evaluation: evaluated ${result.evaluated.map((e) => e.backbone).join(', ') || 'nothing'}`);
        if (result.comparisonKey) {
          const key = result.comparisonKey;
          for (const line of comparisonLines(await readComparison(store, key), key, storeView(config, store)))
            say(line);
        }
        return;
      }
      const result = (await handle.result()) as RunOutcome['result'];
      const outcome = await outcomeOf(config, store, { workflowId, runId: description.runId, result });
      for (const line of summarise(outcome)) say(line);
      process.exitCode = exitCodeOf(outcome.result);
    } else {
      try {
        await handle.result();
      } catch (err) {
        if (!(err instanceof WorkflowFailedError)) throw err;
        say(`run ${workflowId} ${failureLine(err)}`);
      }
      process.exitCode = EXIT.failed;
      if (description.type === 'reevaluateDataset') {
        const { input } = await closedRun<ReevaluateInput, unknown>(session.client, workflowId);
        say(
          `re-evaluation: after fixing the cause, queue the backbone again: \`affectflow backbones add NAME --dataset ${input?.run.datasetPath ?? 'DATASET'}\``,
        );
        return;
      }
      const failed = await failedShardsInHistory(handle, FAILED_SHARDS_SHOWN);
      if (failed.length > 0) say(`failed shards (the first ${failed.length}):`);
      for (const f of failed) say(`  shard ${f.shardId} (${f.stage}): ${f.error}`);
      say(`resume: \`affectflow resume ${workflowId}\` redoes only what is missing`);
    }
  } finally {
    await session.close();
    store.close();
  }
}
