/**
 * A new backbone lands: signal-with-start of each dataset's re-evaluation workflow, and the
 * Temporal Schedule that re-evaluates a dataset periodically or on demand.
 */
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import { canonicalHash } from '../base/canonicalJson.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import {
  backboneAddedSignal,
  type EvaluatedBackbone,
  type ExtractionRunInput,
  type ExtractionRunResult,
  type ReevaluateInput,
} from '../workflows/index.ts';
import { withStoreQueues, type RunScope } from './runIdentity.ts';

export type RunSettings = Omit<ExtractionRunInput, 'backbones'>;

/**
 * A run's settings without its backbones (the re-evaluation queue supplies those) and without its
 * retry budget (how long outages are outlasted changes no result).
 */
export function runSettings(input: ExtractionRunInput): RunSettings {
  return Object.fromEntries(
    Object.entries(input).filter(([key]) => key !== 'backbones' && key !== 'retryBudgetSeconds'),
  ) as RunSettings;
}

/** One re-evaluation workflow per dataset root and store: its id derives from both. */
export function reevaluationWorkflowId(datasetPath: string, store: string): string {
  return `reevaluate-${canonicalHash({ datasetPath, store }, 16)}`;
}

export const scheduleId = (datasetPath: string, store: string): string =>
  `${reevaluationWorkflowId(datasetPath, store)}-schedule`;

/** Dataset roots that have a manifest in the store: the datasets a new backbone is evaluated on. */
export async function knownDatasets(store: ObjectStore): Promise<string[]> {
  const roots = new Set<string>();
  for await (const object of store.list('datasets/')) {
    if (!/^datasets\/[^/]+\/manifests\/[^/]+\.json$/.test(object.key)) continue;
    const manifest = JSON.parse(new TextDecoder().decode(await store.get(object.key))) as Partial<Manifest>;
    if (manifest.format === MANIFEST_FORMAT && typeof manifest.root === 'string') roots.add(manifest.root);
  }
  return [...roots].sort();
}

/** How many completed extraction runs `earlierEvaluations` looks through. */
const EARLIER_RUNS_READ = 100;

export interface EarlierEvaluations {
  /** The settings of the latest completed run on the dataset with this store's queues. */
  readonly settings: RunSettings;
  /** Every backbone reported by completed runs with exactly those settings, the latest of each. */
  readonly evaluated: readonly EvaluatedBackbone[];
}

/** The input and result of a closed workflow, from its history's first and last events. */
export async function closedRun<I, R>(
  client: Client,
  workflowId: string,
  runId?: string,
): Promise<{ input: I | undefined; result: R | undefined }> {
  const events = (await client.workflow.getHandle(workflowId, runId).fetchHistory()).events ?? [];
  const input = events[0]?.workflowExecutionStartedEventAttributes?.input?.payloads?.[0];
  const result = events.at(-1)?.workflowExecutionCompletedEventAttributes?.result?.payloads?.[0];
  return {
    input: input ? defaultPayloadConverter.fromPayload<I>(input) : undefined,
    result: result ? defaultPayloadConverter.fromPayload<R>(result) : undefined,
  };
}

/**
 * What earlier runs evaluated on the dataset with this store, so that a new backbone is compared
 * on the same splits and frames (and reuses their frames shards).
 */
export async function earlierEvaluations(
  client: Client,
  datasetPath: string,
  scope: RunScope,
): Promise<EarlierEvaluations | undefined> {
  const closed = [];
  for await (const w of client.workflow.list({
    query: `WorkflowType = 'extractionRun' AND ExecutionStatus = 'Completed'`,
  })) {
    closed.push(w);
    if (closed.length >= EARLIER_RUNS_READ) break;
  }
  closed.sort((a, b) => (b.closeTime?.getTime() ?? 0) - (a.closeTime?.getTime() ?? 0));
  let settings: RunSettings | undefined;
  const evaluated = new Map<string, EvaluatedBackbone>();
  for (const w of closed) {
    const { input, result } = await closedRun<ExtractionRunInput, ExtractionRunResult>(
      client,
      w.workflowId,
      w.runId,
    );
    if (!input || !result || input.datasetPath !== datasetPath) continue;
    if (input.taskQueues?.frames !== scope.queues.frames) continue;
    const own = runSettings(input);
    settings ??= own;
    if (canonicalHash(own, 16) !== canonicalHash(settings, 16)) continue;
    for (const r of result.reports ?? []) if (!evaluated.has(r.backbone)) evaluated.set(r.backbone, { ...r });
  }
  return settings ? { settings, evaluated: [...evaluated.values()].reverse() } : undefined;
}

/**
 * Queues the backbone on the dataset's re-evaluation workflow of the scope's store, starting it
 * (on the store's queues) when none runs.
 */
export async function signalBackbone(
  client: Client,
  settings: RunSettings,
  backbone: string,
  scope: RunScope,
  start: Pick<ReevaluateInput, 'evaluated' | 'idleMinutes'> = {},
): Promise<string> {
  const workflowId = reevaluationWorkflowId(settings.datasetPath, scope.store);
  const input: ReevaluateInput = { run: withStoreQueues(settings, scope), backbones: [], ...start };
  await client.workflow.signalWithStart('reevaluateDataset', {
    workflowId,
    taskQueue: scope.queues.orchestrator,
    args: [input],
    signal: backboneAddedSignal,
    signalArgs: [backbone],
  });
  return workflowId;
}

export interface ScheduleOptions {
  readonly settings: RunSettings;
  readonly backbones: readonly string[];
  /** Interval such as "24h" or "7d"; undefined for a schedule that only runs when triggered. */
  readonly every: string | undefined;
  /** The store whose queues the re-evaluations run on. */
  readonly scope: RunScope;
  /** Backbones evaluated earlier with the same settings, compared with the scheduled ones. */
  readonly evaluated?: readonly EvaluatedBackbone[];
}

/**
 * Creates (or replaces) the dataset's schedule. Overlap BUFFER_ONE: a re-evaluation due while
 * one runs starts after it, and further ones collapse into that one.
 */
export async function upsertSchedule(client: Client, options: ScheduleOptions): Promise<string> {
  const { scope } = options;
  const id = scheduleId(options.settings.datasetPath, scope.store);
  const input: ReevaluateInput = {
    run: withStoreQueues(options.settings, scope),
    backbones: options.backbones,
    idleMinutes: 0,
    ...(options.evaluated?.length ? { evaluated: options.evaluated } : {}),
  };
  const spec = options.every
    ? { intervals: [{ every: options.every as `${number}${'s' | 'm' | 'h' | 'd'}` }] }
    : {};
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reevaluateDataset',
    workflowId: `${reevaluationWorkflowId(options.settings.datasetPath, scope.store)}-scheduled`,
    taskQueue: scope.queues.orchestrator,
    args: [input],
  };
  const handle = client.schedule.getHandle(id);
  try {
    await handle.describe();
    await handle.update((previous) => ({
      ...previous,
      spec,
      action,
      policies: { ...previous.policies, overlap: ScheduleOverlapPolicy.BUFFER_ONE },
    }));
  } catch (err) {
    if ((err as { name?: string }).name !== 'ScheduleNotFoundError') throw err;
    await client.schedule.create({
      scheduleId: id,
      spec,
      action,
      policies: { overlap: ScheduleOverlapPolicy.BUFFER_ONE, catchupWindow: '1 day' },
      state: { paused: false, note: `re-evaluate ${options.settings.datasetPath}` },
    });
  }
  return id;
}
