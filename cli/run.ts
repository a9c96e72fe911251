/**
 * Runs from the command line: start (or attach to) an extraction run and follow it, show its
 * status, cancel it, or resume it with the inputs of an earlier run.
 */
import {
  isGrpcServiceError,
  ServiceError,
  WorkflowFailedError,
  WorkflowIdConflictPolicy,
  WorkflowIdReusePolicy,
  WorkflowNotFoundError,
  type Client,
  type WorkflowExecutionDescription,
  type WorkflowHandle,
} from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { AffectflowConfig } from '../config/index.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import type { RunReport } from '../activities/index.ts';
import type {
  ExtractionRunInput,
  ExtractionRunResult,
  FailedShard,
  PartitionResult,
  RunProgress,
} from '../workflows/index.ts';
import { openTemporal, startEmbeddedWorkers, type TemporalSession } from './embedded.ts';
import { backoffSeconds, type Backoff } from '../base/backoff.ts';
import { DetachedError, EXIT, firstLine, RunEndedError, TemporalLostError, UsageError } from './errors.ts';
import { checkStore } from './preflight.ts';
import { LiveBlock, progressLines } from './progress.ts';
import { retryState } from './retrying.ts';
import { extractionWorkflowId, otherStoreQueue, runScope, withStoreQueues } from './runIdentity.ts';
import { storeView, type StoreView } from './storeView.ts';

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
  /** The first backbone's report. */
  readonly report: RunReport | undefined;
  /** Every backbone's report, in the order of the run's backbones. */
  readonly reports: readonly RunReport[];
  /** Where the first report is: a local file path, or an s3:// URI. */
  readonly reportPath: string | undefined;
  /** The store the run wrote to, as the user reaches it. */
  readonly view: StoreView;
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

/** gRPC codes of a Temporal that did not answer (restarting, unreachable, overloaded), as opposed to an answer. */
const UNREACHABLE_CODES: ReadonlySet<number> = new Set([
  1, // CANCELLED: the call's stream went away with the server
  2, // UNKNOWN
  4, // DEADLINE_EXCEEDED
  8, // RESOURCE_EXHAUSTED
  10, // ABORTED
  13, // INTERNAL
  14, // UNAVAILABLE
]);

function temporalUnreachable(err: unknown): boolean {
  const grpc = isGrpcServiceError(err)
    ? err
    : err instanceof ServiceError && isGrpcServiceError(err.cause)
      ? err.cause
      : undefined;
  return grpc !== undefined && UNREACHABLE_CODES.has(grpc.code);
}

/** Waits to reconnect to a lost Temporal: 1, 2, 4, 8 s, then every 15 s. */
const RECONNECT_BACKOFF: Backoff = Object.freeze({ initialSeconds: 1, coefficient: 2, maximumSeconds: 15 });

interface Following {
  readonly handle: WorkflowHandle;
  readonly client: Client;
  readonly workflowId: string;
  readonly address: string;
  readonly watch: boolean;
  /** Longest Temporal may stay away before the command gives up following (the run goes on). */
  readonly budgetSeconds: number;
  /** Aborted when the command lets go of the run (Ctrl-C): nothing more is said or retried. */
  readonly detached: AbortSignal;
  readonly say: (line: string) => void;
}

/**
 * The run's result, with its progress printed on the way. A Temporal that stops answering (a
 * restart, a network blip) is waited for with backoff, a line per attempt, and "reconnected" when
 * it answers again; past the budget the command gives up with TemporalLostError.
 */
async function follow(f: Following): Promise<ExtractionRunResult> {
  const { handle, workflowId, say } = f;
  const live = f.watch ? new LiveBlock() : undefined;
  let last = '';
  let lost = false;
  const poll = async (): Promise<void> => {
    if (lost || f.detached.aborted) return;
    try {
      const progress = await handle.query<RunProgress>('progress');
      const retry = await retryState(f.client, workflowId).catch(() => undefined);
      const lines = progressLines(progress, retry);
      if (live) live.draw(lines);
      else {
        const summary = `${lines[0]} | ${lines[1]?.replace(/\s+\[[#.]+\]\s+/, ' ')}`;
        if (summary !== last) say(`run: ${(last = summary)}`);
      }
    } catch {
      // Not answering yet (no workflow task processed), already closed, or Temporal away.
    }
  };
  const timer = setInterval(() => void poll(), f.watch ? 500 : 2_000);
  try {
    for (let attempt = 0, lostAt = 0; ;) {
      try {
        if (attempt > 0) {
          // Answers as soon as Temporal is back (result() would wait for the run's end).
          await handle.describe();
          say(`run: reconnected to Temporal at ${f.address}; following run ${workflowId} again`);
          attempt = 0;
          lost = false;
        }
        return (await handle.result()) as ExtractionRunResult;
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw new RunEndedError(workflowId, err);
        // After Ctrl-C the connection closes under the pending call: that is no lost Temporal.
        if (f.detached.aborted || !temporalUnreachable(err)) throw err;
        lostAt = attempt === 0 ? Date.now() : lostAt;
        lost = true;
        const away = Math.round((Date.now() - lostAt) / 1000);
        if (away > f.budgetSeconds)
          throw new TemporalLostError(workflowId, f.address, away, firstLine((err as Error).message));
        say(
          `run: lost Temporal at ${f.address}, reconnecting (attempt ${++attempt})… (${firstLine((err as Error).message)}; run ${workflowId} goes on without this command)`,
        );
        await new Promise((resolve) =>
          setTimeout(resolve, backoffSeconds(RECONNECT_BACKOFF, attempt) * 1000),
        );
      }
    }
  } finally {
    clearInterval(timer);
    // The last counts, unless Temporal is away (a query would only wait for it).
    await poll();
  }
}

/**
 * Resolves never; rejects with DetachedError at the first Ctrl-C after saying what becomes of
 * the run: with external workers it goes on; this command's own (embedded) workers stop, and the
 * run waits, recorded by Temporal, for workers to carry it on. A second Ctrl-C ends at once.
 */
function detachOnCtrlC(
  workflowId: string,
  embedded: boolean,
  graceSeconds: number,
  say: (line: string) => void,
): { detached: Promise<never>; signal: AbortSignal; release(): void } {
  const controller = new AbortController();
  let onSignal: () => void = () => {};
  const detached = new Promise<never>((_, reject) => {
    onSignal = () => {
      controller.abort();
      say(
        embedded
          ? `run: detached from run ${workflowId} (not cancelled); stopping this command's workers (in-flight tasks get up to ${graceSeconds} s; Ctrl-C again stops at once). The run stays recorded by Temporal and goes on when workers serve it: \`affectflow serve\`, or \`affectflow run\` with the same arguments (it attaches); \`affectflow status ${workflowId}\` shows where it is`
          : `run: detached from run ${workflowId} (not cancelled; it goes on with its workers); follow it again with \`affectflow status ${workflowId}\``,
      );
      reject(new DetachedError(workflowId));
    };
  });
  // Handled by whoever awaits it, but never left unhandled when nobody does.
  detached.catch(() => undefined);
  process.once('SIGINT', onSignal);
  return { detached, signal: controller.signal, release: () => process.off('SIGINT', onSignal) };
}

/** The reports a finished run wrote, one per backbone, read from the store. */
async function readReports(store: ObjectStore, result: ExtractionRunResult): Promise<RunReport[]> {
  const keys = result.reports?.length ? result.reports.map((r) => r.reportKey) : [result.reportKey];
  const reports: RunReport[] = [];
  for (const key of keys.filter(Boolean))
    reports.push(JSON.parse(new TextDecoder().decode(await store.get(key))) as RunReport);
  return reports;
}

/** What a finished run's result and reports amount to for the command line. */
export async function outcomeOf(
  config: AffectflowConfig,
  store: ObjectStore,
  run: { workflowId: string; runId: string; result: ExtractionRunResult },
): Promise<RunOutcome> {
  const reports = await readReports(store, run.result);
  const view = storeView(config, store);
  return {
    ...run,
    report: reports[0],
    reports,
    reportPath: run.result.reportKey ? view.locate(run.result.reportKey) : undefined,
    view,
  };
}

/** A run's description; an id the server does not know is a usage error naming the server. */
export async function describeRun(
  temporal: TemporalSession,
  config: AffectflowConfig,
  workflowId: string,
): Promise<WorkflowExecutionDescription> {
  try {
    return await temporal.client.workflow.getHandle(workflowId).describe();
  } catch (err) {
    if (!(err instanceof WorkflowNotFoundError)) throw err;
    throw new UsageError(
      `run ${workflowId} not found on Temporal ${temporal.address} (namespace ${config.temporalNamespace}): check the id that \`affectflow run\` printed`,
    );
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
  let temporal: TemporalSession | undefined;
  let workers: Awaited<ReturnType<typeof startEmbeddedWorkers>> | undefined;
  try {
    await checkStore(store, config);
    temporal = await openTemporal(config, say);
    workers = options.embeddedWorkers
      ? await startEmbeddedWorkers(config, temporal.address, store, say)
      : undefined;
    const handle = await start(temporal.client);
    const description = await handle.describe();
    const runId = description.runId;
    say(`run: workflow ${workflowId} (run ${runId}) on ${temporal.address}; store ${store.uri}`);
    const link = uiLink(temporal, config.temporalNamespace, workflowId, runId);
    if (link) say(`run: Temporal UI ${link}`);
    const ctrlC = detachOnCtrlC(workflowId, options.embeddedWorkers, config.faults.shutdownGraceSeconds, say);
    try {
      const result = await Promise.race([
        follow({
          handle,
          client: temporal.client,
          workflowId,
          address: temporal.address,
          watch: options.watch,
          budgetSeconds: config.faults.retryBudgetSeconds,
          detached: ctrlC.signal,
          say,
        }),
        ctrlC.detached,
      ]);
      return await outcomeOf(config, store, { workflowId, runId, result });
    } finally {
      ctrlC.release();
    }
  } finally {
    await workers?.stop();
    await temporal?.close();
    store.close();
  }
}

export function runExtraction(config: AffectflowConfig, options: RunOptions): Promise<RunOutcome> {
  const scope = runScope(config);
  const input = withStoreQueues(options.input, scope);
  const workflowId = extractionWorkflowId(input, scope.store);
  // After the id: how long outages are outlasted changes no result, so it is no part of the run's identity.
  const started = { ...input, retryBudgetSeconds: config.faults.retryBudgetSeconds };
  return startAndFollow(config, { ...options, input: started }, workflowId, (client) =>
    client.workflow.start('extractionRun', {
      taskQueue: scope.queues.orchestrator,
      workflowId,
      args: [started],
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
    const description = await describeRun(lookup, config, workflowId);
    if (description.status.name === 'RUNNING')
      throw new UsageError(
        `run ${workflowId} is still running: nothing to resume; follow it with \`affectflow status ${workflowId}\``,
      );
    const started = await runInput(lookup.client, workflowId);
    const foreign = otherStoreQueue(started, scope);
    if (foreign !== undefined)
      throw new UsageError(
        `run ${workflowId} was started with another store (its task queue ${foreign}); this configuration's store is ${scope.store}: set AFFECTFLOW_STORE (and AFFECTFLOW_S3_ENDPOINT) as they were for that run`,
      );
    input = { ...withStoreQueues(started, scope), retryBudgetSeconds: config.faults.retryBudgetSeconds };
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

/** The closing lines of a run: shards, failures, where the embeddings are and how to read them, scores, skipped tasks, reports. */
export function summarise(outcome: RunOutcome): string[] {
  const { result, view } = outcome;
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
  for (const report of outcome.reports) {
    if (report.embeddings) {
      lines.push(
        `embeddings: ${report.backbone}: ${report.embeddingShards} committed shards, ${report.embeddingRows} rows under ${view.locate(report.embeddings.prefix)}`,
        `embeddings: read them (committed objects only, listed in ${view.locate(report.embeddings.indexKey)}): ${view.readCommand(report.embeddings.indexKey)}`,
      );
    }
    for (const [task, section] of Object.entries(report.tasks)) {
      const r = section as {
        metric?: string;
        score?: number;
        majorityBaseline?: number;
        allPresentBaseline?: number;
      };
      if (typeof r.score !== 'number') continue;
      // VA (CCC) and EMI (Pearson) have chance level 0.
      const baseline = r.majorityBaseline ?? r.allPresentBaseline ?? 0;
      lines.push(
        `report: ${task} ${r.metric ?? 'score'} ${r.score.toFixed(3)} (chance level ${baseline.toFixed(3)})` +
          (outcome.reports.length > 1 ? ` with ${report.backbone}` : ''),
      );
    }
    for (const s of report.skipped ?? []) lines.push(`report: ${s.task} not trained: ${s.reason}`);
    const folder = view.locate(report.htmlKey.slice(0, -'report.html'.length));
    lines.push(`report: ${folder}report.json`, `report: HTML ${view.locate(report.htmlKey)}`);
  }
  return lines;
}

/** The exit code a finished run's status asks for. */
export const exitCodeOf = (result: ExtractionRunResult): number =>
  result.status === 'completed_with_failures' ? EXIT.completedWithFailures : EXIT.done;

/** Failed shards recorded by a run's partitions that finished, from its history (at most `limit`). */
export async function failedShardsInHistory(handle: WorkflowHandle, limit: number): Promise<FailedShard[]> {
  const history = await handle.fetchHistory();
  const failed: FailedShard[] = [];
  for (const event of history.events ?? []) {
    const payload = event.childWorkflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
    if (!payload) continue;
    const result = defaultPayloadConverter.fromPayload<Partial<PartitionResult>>(payload);
    failed.push(...(result.failures ?? []));
  }
  return failed.slice(0, limit);
}
