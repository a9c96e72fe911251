/**
 * A new backbone lands: signal-with-start of each dataset's re-evaluation workflow, and the
 * Temporal Schedule that re-evaluates a dataset periodically or on demand.
 */
import { createHash } from 'node:crypto';
import { ScheduleOverlapPolicy, type Client } from '@temporalio/client';
import type { ObjectStore } from '../storage/objectStore.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import {
  backboneAddedSignal,
  TASK_QUEUES,
  type ExtractionRunInput,
  type ReevaluateInput,
} from '../workflows/index.ts';

export type RunSettings = Omit<ExtractionRunInput, 'backbones'>;

/** A run's settings without its backbones (the re-evaluation queue supplies those). */
export function runSettings(input: ExtractionRunInput): RunSettings {
  return Object.fromEntries(Object.entries(input).filter(([key]) => key !== 'backbones')) as RunSettings;
}

/** One re-evaluation workflow per dataset root: its id derives from the path. */
export function reevaluationWorkflowId(datasetPath: string): string {
  return `reevaluate-${createHash('sha256').update(datasetPath).digest('hex').slice(0, 16)}`;
}

export const scheduleId = (datasetPath: string): string => `${reevaluationWorkflowId(datasetPath)}-schedule`;

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

/** Queues the backbone on the dataset's re-evaluation workflow, starting it when none runs. */
export async function signalBackbone(
  client: Client,
  settings: RunSettings,
  backbone: string,
  taskQueue: string = TASK_QUEUES.orchestrator,
): Promise<string> {
  const workflowId = reevaluationWorkflowId(settings.datasetPath);
  const input: ReevaluateInput = { run: settings, backbones: [] };
  await client.workflow.signalWithStart('reevaluateDataset', {
    workflowId,
    taskQueue,
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
  /** The orchestrator's task queue (default affectflow-orchestrator). */
  readonly taskQueue?: string;
}

/**
 * Creates (or replaces) the dataset's schedule. Overlap BUFFER_ONE: a re-evaluation due while
 * one runs starts after it, and further ones collapse into that one.
 */
export async function upsertSchedule(client: Client, options: ScheduleOptions): Promise<string> {
  const id = scheduleId(options.settings.datasetPath);
  const input: ReevaluateInput = { run: options.settings, backbones: options.backbones, idleMinutes: 0 };
  const spec = options.every
    ? { intervals: [{ every: options.every as `${number}${'s' | 'm' | 'h' | 'd'}` }] }
    : {};
  const action = {
    type: 'startWorkflow' as const,
    workflowType: 'reevaluateDataset',
    workflowId: `${reevaluationWorkflowId(options.settings.datasetPath)}-scheduled`,
    taskQueue: options.taskQueue ?? TASK_QUEUES.orchestrator,
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
