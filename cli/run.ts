/** `affectflow run`: start (or attach to) an extraction run and follow it to its report. */
import { createHash } from 'node:crypto';
import { join } from 'node:path';
import { WorkflowIdConflictPolicy, WorkflowIdReusePolicy } from '@temporalio/client';
import type { AffectflowConfig } from '../config/index.ts';
import { openStore, LocalDirStore } from '../storage/objectStore.ts';
import type { RunReport } from '../activities/index.ts';
import type { ExtractionRunInput, ExtractionRunResult, RunProgress } from '../workflows/index.ts';
import { TASK_QUEUES } from '../workflows/index.ts';
import { openTemporal, startEmbeddedWorkers } from './embedded.ts';

export interface RunOptions {
  readonly input: ExtractionRunInput;
  /** Run one worker per pool in this process (the embedded default). */
  readonly embeddedWorkers: boolean;
  readonly say: (line: string) => void;
}

export interface RunOutcome {
  readonly workflowId: string;
  readonly runId: string;
  readonly result: ExtractionRunResult;
  readonly report: RunReport;
  /** A local file path for the report when the store is a local directory. */
  readonly reportPath: string | undefined;
}

/** Workflow ids derive from the run's inputs: launching the same run twice attaches to it. */
export function extractionWorkflowId(input: ExtractionRunInput): string {
  const canonical = JSON.stringify(input, Object.keys(input).sort());
  return `extract-${input.backbone}-${createHash('sha256').update(canonical).digest('hex').slice(0, 12)}`;
}

function describeProgress(p: RunProgress): string {
  const part = (name: string, c: RunProgress['frames']): string =>
    `${name} ${c.done}/${p.shards}${c.reused ? ` (${c.reused} reused)` : ''}${c.failed ? `, ${c.failed} failed` : ''}`;
  return `[${p.stage}] ${part('frames', p.frames)} | ${part('embed', p.embed)}`;
}

export async function runExtraction(config: AffectflowConfig, options: RunOptions): Promise<RunOutcome> {
  const { say, input } = options;
  const store = openStore(config.store);
  const temporal = await openTemporal(config, say);
  const workers = options.embeddedWorkers
    ? await startEmbeddedWorkers(config, temporal.address, store, say)
    : undefined;
  try {
    const workflowId = extractionWorkflowId(input);
    const handle = await temporal.client.workflow.start('extractionRun', {
      taskQueue: TASK_QUEUES.orchestrator,
      workflowId,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      workflowIdConflictPolicy: WorkflowIdConflictPolicy.USE_EXISTING,
    });
    const runId = handle.firstExecutionRunId;
    say(`run: workflow ${workflowId} (run ${runId}) on ${temporal.address}`);
    if (temporal.uiUrl)
      say(
        `run: Temporal UI ${temporal.uiUrl}/namespaces/${config.temporalNamespace}/workflows/${workflowId}/${runId}`,
      );
    let last = '';
    const timer = setInterval(() => {
      handle
        .query<RunProgress>('progress')
        .then((p) => {
          const line = describeProgress(p);
          if (line !== last) say(`run: ${(last = line)}`);
        })
        .catch(() => {});
    }, 1_000);
    let result: ExtractionRunResult;
    try {
      result = (await handle.result()) as ExtractionRunResult;
    } finally {
      clearInterval(timer);
    }
    const report = JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport;
    const reportPath =
      store instanceof LocalDirStore ? join(store.root, ...result.reportKey.split('/')) : undefined;
    return { workflowId, runId, result, report, reportPath };
  } finally {
    await workers?.stop();
    await temporal.close();
    store.close();
  }
}

export function summarise(outcome: RunOutcome, storeUri: string): string[] {
  const { result, report } = outcome;
  const lines = [
    `run: ${result.shards} shards; frames shards reused ${result.framesShardsReused}/${result.shards}, embedding shards reused ${result.embeddingShardsReused}/${result.shards}` +
      (result.embeddingShardsReused === result.shards && result.shards > 0
        ? ' (all committed earlier: nothing re-extracted)'
        : ''),
  ];
  if (result.failedShards.length > 0) {
    lines.push(`run: completed with failures: ${result.failedShards.length} shard(s) failed`);
    for (const f of result.failedShards) lines.push(`  shard ${f.shardId}: ${f.error}`);
  }
  const expr = report.tasks.EXPR;
  lines.push(
    `report: EXPR macro F1 ${expr.score.toFixed(3)} on ${expr.validationSamples} validation frames ` +
      `(majority-class baseline ${expr.majorityBaseline.toFixed(3)}; best epoch ${expr.bestEpoch})`,
  );
  lines.push(`report: ${outcome.reportPath ?? `${storeUri}/${result.reportKey}`}`);
  return lines;
}
