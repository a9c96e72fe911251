/**
 * Runs from the command line: start (or attach to) an extraction run and follow it, show its
 * status, cancel it, or resume it with the inputs of an earlier run.
 */
import { join } from 'node:path';
import {
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  type Client,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { AffectflowConfig } from '../config/index.ts';
import { openStore, LocalDirStore } from '../storage/objectStore.ts';
import type { RunReport } from '../activities/index.ts';
import type { ExtractionRunInput, ExtractionRunResult, RunProgress } from '../workflows/index.ts';
import { openTemporal, startEmbeddedWorkers, type TemporalSession } from './embedded.ts';
import { LiveBlock, progressLines } from './progress.ts';
import { extractionWorkflowId, otherStoreQueue, runScope, withStoreQueues } from './runIdentity.ts';

export interface RunOptions {
  readonly input: ExtractionRunInput;
  /** Run one worker per pool in this process (the embedded default). */
  readonly embeddedWorkers: boolean;
  /** Redraw progress bars in place instead of printing changed summaries. */
  readonly watch: boolean;
  readonly say: (line: string) => void;
}

export interface RunOutcome {
  readonly workflowId: string;
  readonly runId: string;
  readonly result: ExtractionRunResult;
  readonly report: RunReport | undefined;
  /** A local file path for the report when the store is a local directory. */
  readonly reportPath: string | undefined;
}

export { extractionWorkflowId } from './runIdentity.ts';

export function uiLink(
  temporal: TemporalSession,
  namespace: string,
  workflowId: string,
  runId: string,
): string | undefined {
  return temporal.uiUrl
    ? `${temporal.uiUrl}/namespaces/${namespace}/workflows/${encodeURIComponent(workflowId)}/${runId}/history`
    : undefined;
}

async function follow(
  handle: WorkflowHandle,
  watch: boolean,
  say: (line: string) => void,
): Promise<ExtractionRunResult> {
  const live = watch ? new LiveBlock() : undefined;
  let last = '';
  const poll = async (): Promise<void> => {
    try {
      const lines = progressLines(await handle.query<RunProgress>('progress'));
      if (live) live.draw(lines);
      else {
        const summary = `${lines[0]} | ${lines[1]?.replace(/\s+\[[#.]+\]\s+/, ' ')}`;
        if (summary !== last) say(`run: ${(last = summary)}`);
      }
    } catch {
      // Not answering yet (no workflow task processed) or already closed.
    }
  };
  const timer = setInterval(() => void poll(), watch ? 500 : 2_000);
  try {
    return (await handle.result()) as ExtractionRunResult;
  } finally {
    clearInterval(timer);
    await poll();
  }
}

async function startAndFollow(
  config: AffectflowConfig,
  options: RunOptions,
  workflowId: string,
  start: (client: Client) => Promise<WorkflowHandle>,
): Promise<RunOutcome> {
  const { say } = options;
  const store = openStore(config.store);
  const temporal = await openTemporal(config, say);
  const workers = options.embeddedWorkers
    ? await startEmbeddedWorkers(config, temporal.address, store, say)
    : undefined;
  try {
    const handle = await start(temporal.client);
    const description = await handle.describe();
    const runId = description.runId;
    say(`run: workflow ${workflowId} (run ${runId}) on ${temporal.address}`);
    const link = uiLink(temporal, config.temporalNamespace, workflowId, runId);
    if (link) say(`run: Temporal UI ${link}`);
    const result = await follow(handle, options.watch, say);
    const report = result.reportKey
      ? (JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport)
      : undefined;
    const reportPath =
      result.reportKey && store instanceof LocalDirStore
        ? join(store.root, ...result.reportKey.split('/'))
        : undefined;
    return { workflowId, runId, result, report, reportPath };
  } finally {
    await workers?.stop();
    await temporal.close();
    store.close();
  }
}

export function runExtraction(config: AffectflowConfig, options: RunOptions): Promise<RunOutcome> {
  const scope = runScope(config);
  const input = withStoreQueues(options.input, scope);
  const workflowId = extractionWorkflowId(input, scope.store);
  return startAndFollow(config, { ...options, input }, workflowId, (client) =>
    client.workflow.start('extractionRun', {
      taskQueue: scope.queues.orchestrator,
      workflowId,
      args: [input],
      // A closed run with the same inputs may run again (committed shards are skipped);
      // a running one is attached to rather than duplicated.
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    }),
  );
}

/** The input of a run's latest execution, read from its history's first event. */
export async function runInput(client: Client, workflowId: string): Promise<ExtractionRunInput> {
  const history = await client.workflow.getHandle(workflowId).fetchHistory();
  const payload = history.events?.[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  if (!payload) throw new Error(`run ${workflowId}: no input found in its history`);
  return defaultPayloadConverter.fromPayload<ExtractionRunInput>(payload);
}

/**
 * Starts a new execution of an earlier run with the same inputs, however the earlier one ended;
 * committed shards are skipped, so only failed or unfinished shards are redone.
 */
export async function resumeExtraction(
  config: AffectflowConfig,
  workflowId: string,
  options: Omit<RunOptions, 'input'>,
): Promise<RunOutcome> {
  const scope = runScope(config);
  const lookup = await openTemporal(config, options.say);
  let input: ExtractionRunInput;
  try {
    const description = await lookup.client.workflow.getHandle(workflowId).describe();
    if (description.status.name === 'RUNNING')
      throw new Error(`run ${workflowId} is still running; nothing to resume`);
    const started = await runInput(lookup.client, workflowId);
    const foreign = otherStoreQueue(started, scope);
    if (foreign !== undefined)
      throw new Error(
        `run ${workflowId} was started with another store (its task queue ${foreign}); this configuration's store is ${scope.store}: set AFFECTFLOW_STORE (and AFFECTFLOW_S3_ENDPOINT) as they were for that run`,
      );
    input = withStoreQueues(started, scope);
    options.say(
      `resume: run ${workflowId} ended ${description.status.name}; starting it again with the same inputs`,
    );
  } finally {
    await lookup.close();
  }
  return startAndFollow(config, { ...options, input }, workflowId, (client) =>
    client.workflow.start('extractionRun', {
      taskQueue: scope.queues.orchestrator,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    }),
  );
}

export function summarise(outcome: RunOutcome, storeUri: string): string[] {
  const { result, report } = outcome;
  const lines = [
    `run: ${result.shards} shards; ${result.shardsSkipped} already committed and skipped; frames shards reused ${result.framesShardsReused}/${result.shards}, embedding shards reused ${result.embeddingShardsReused}/${result.shards * Math.max(1, result.reports.length)}` +
      (result.shardsSkipped === result.shards && result.shards > 0
        ? ' (all committed earlier: nothing re-extracted)'
        : ''),
  ];
  if (result.status === 'completed_with_failures') {
    lines.push(`run: completed with failures: ${result.failedCount} shard(s) failed`);
    for (const f of result.failedShards) lines.push(`  shard ${f.shardId} (${f.stage}): ${f.error}`);
  }
  for (const [task, result] of Object.entries(report?.tasks ?? {})) {
    const r = result as {
      metric?: string;
      score?: number;
      majorityBaseline?: number;
      allPresentBaseline?: number;
    };
    if (typeof r.score !== 'number') continue;
    // VA (CCC) and EMI (Pearson) have chance level 0.
    const baseline = r.majorityBaseline ?? r.allPresentBaseline ?? 0;
    lines.push(
      `report: ${task} ${r.metric ?? 'score'} ${r.score.toFixed(3)}` +
        (typeof baseline === 'number' ? ` (chance level ${baseline.toFixed(3)})` : ''),
    );
  }
  if (result.reportKey) lines.push(`report: ${outcome.reportPath ?? `${storeUri}/${result.reportKey}`}`);
  return lines;
}
