/**
 * Comparison of backbones on one dataset (train pool): the task scores of each backbone's latest
 * report side by side, with each one's delta to the first (the baseline) and the best per task,
 * written to the store as JSON and HTML.
 */
import { renderComparisonHtml } from '../reports/html.ts';
import { storeKeys } from '../storage/keys.ts';
import { classifyErrors, type ActivityDeps } from './context.ts';

export interface CompareBackbonesInput {
  readonly datasetId: string;
  readonly reports: readonly { readonly backbone: string; readonly reportKey: string }[];
}

export interface BackboneComparison {
  readonly datasetId: string;
  readonly createdAt: string;
  readonly tasks: readonly string[];
  /** The first row's backbone: the one every delta is measured from. */
  readonly baseline: string;
  /**
   * One row per backbone: its report, its score per task (undefined where not evaluated) and
   * its score minus the baseline's per task (where both have one).
   */
  readonly rows: readonly {
    readonly backbone: string;
    readonly reportKey: string;
    readonly scores: Readonly<Record<string, number>>;
    readonly deltas: Readonly<Record<string, number>>;
  }[];
  /** Per task, the backbone with the best score. */
  readonly best: Readonly<Record<string, string>>;
}

export function comparisonKey(datasetId: string): string {
  return `${storeKeys.comparisonPrefix(datasetId)}comparison.json`;
}

export function createCompareActivities(deps: ActivityDeps) {
  return {
    async compareBackbones(
      input: CompareBackbonesInput,
    ): Promise<{ comparisonKey: string; comparison: BackboneComparison }> {
      return classifyErrors(async () => {
        const rows: {
          backbone: string;
          reportKey: string;
          scores: Record<string, number>;
          deltas: Record<string, number>;
        }[] = [];
        for (const { backbone, reportKey } of input.reports) {
          const report = JSON.parse(new TextDecoder().decode(await deps.store.get(reportKey))) as {
            tasks?: Record<string, { score?: unknown }>;
          };
          const scores: Record<string, number> = {};
          for (const [task, result] of Object.entries(report.tasks ?? {})) {
            if (typeof result.score === 'number') scores[task] = result.score;
          }
          rows.push({ backbone, reportKey, scores, deltas: {} });
        }
        const baseline = rows[0];
        for (const row of rows)
          for (const [task, score] of Object.entries(row.scores)) {
            const base = baseline?.scores[task];
            if (base !== undefined) row.deltas[task] = score - base;
          }
        const tasks = [...new Set(rows.flatMap((r) => Object.keys(r.scores)))].sort();
        const best: Record<string, string> = {};
        for (const task of tasks) {
          const ranked = rows
            .filter((r) => r.scores[task] !== undefined)
            .sort((a, b) => b.scores[task]! - a.scores[task]!);
          if (ranked[0]) best[task] = ranked[0].backbone;
        }
        const comparison: BackboneComparison = {
          datasetId: input.datasetId,
          createdAt: new Date().toISOString(),
          tasks,
          baseline: baseline?.backbone ?? '',
          rows,
          best,
        };
        const key = comparisonKey(input.datasetId);
        await deps.store.put(key, JSON.stringify(comparison, null, 2));
        await deps.store.put(
          key.replace(/\.json$/, '.html'),
          renderComparisonHtml(input.datasetId, rows, key),
        );
        return { comparisonKey: key, comparison };
      });
    },
  };
}
