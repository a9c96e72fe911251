/**
 * Per-dataset re-evaluation: evaluates backbones one at a time, each as an extraction run that
 * reuses the committed frames shards (no decoding again), trains and evaluates every task, then
 * writes a comparison of every backbone evaluated so far. New backbones arrive by signal (the CLI
 * uses signal-with-start, so the workflow is started or joined); it ends after an idle period.
 */
import {
  condition,
  continueAsNew,
  defineQuery,
  defineSignal,
  executeChild,
  setHandler,
  workflowInfo,
} from '@temporalio/workflow';
import { poolActivities } from './activities.ts';
import { extractionRun, type ExtractionRunInput } from './extractionRun.ts';

export interface EvaluatedBackbone {
  readonly backbone: string;
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export interface ReevaluateInput {
  /** Dataset and settings of the extraction runs; `backbones` comes from the queue. */
  readonly run: Omit<ExtractionRunInput, 'backbones'>;
  /** Backbones to evaluate from the start (a schedule passes every registered one). */
  readonly backbones: readonly string[];
  /** How long to wait for another backbone before finishing (default 10 minutes). */
  readonly idleMinutes?: number;
  /** Carried across continue-as-new. */
  readonly evaluated?: readonly EvaluatedBackbone[];
  readonly round?: number;
}

export interface ReevaluationState {
  readonly pending: readonly string[];
  readonly current: string | undefined;
  readonly evaluated: readonly EvaluatedBackbone[];
  readonly comparisonKey: string | undefined;
  /** Backbones in the comparison at comparisonKey. */
  readonly compared: number;
}

export interface ReevaluateResult {
  readonly evaluated: readonly EvaluatedBackbone[];
  readonly comparisonKey: string | undefined;
}

export const backboneAddedSignal = defineSignal<[string]>('backboneAdded');
export const reevaluationQuery = defineQuery<ReevaluationState>('reevaluation');

export async function reevaluateDataset(input: ReevaluateInput): Promise<ReevaluateResult> {
  const { train } = poolActivities(input.run);
  const pending = [...input.backbones];
  const evaluated = new Map((input.evaluated ?? []).map((e) => [e.backbone, e]));
  let round = input.round ?? 0;
  let current: string | undefined;
  let comparisonKey: string | undefined;
  let compared = 0;

  setHandler(backboneAddedSignal, (backbone) => {
    if (!pending.includes(backbone)) pending.push(backbone);
  });
  setHandler(reevaluationQuery, () => ({
    pending: [...pending],
    current,
    evaluated: [...evaluated.values()],
    comparisonKey,
    compared,
  }));

  for (;;) {
    if (!(await condition(() => pending.length > 0, `${input.idleMinutes ?? 10} minutes`))) break;
    const backbone = pending.shift()!;
    current = backbone;
    round++;
    const result = await executeChild(extractionRun, {
      workflowId: `${workflowInfo().workflowId}/${round}-${backbone}`,
      args: [{ ...input.run, backbones: [backbone] }],
      staticSummary: `evaluate backbone ${backbone}`,
    });
    current = undefined;
    evaluated.set(backbone, { backbone, reportKey: result.reportKey, scores: result.scores });
    const comparison = await train.compareBackbones({
      datasetId: result.datasetId,
      reports: [...evaluated.values()].map(({ backbone: b, reportKey }) => ({ backbone: b, reportKey })),
    });
    comparisonKey = comparison.comparisonKey;
    compared = evaluated.size;
    const info = workflowInfo();
    if (info.continueAsNewSuggested || info.historyLength > 2_000) {
      await continueAsNew<typeof reevaluateDataset>({
        ...input,
        backbones: pending,
        evaluated: [...evaluated.values()],
        round,
      });
    }
  }
  return { evaluated: [...evaluated.values()], comparisonKey };
}
