/**
 * A re-evaluation's outcome for the command line: the comparison of every backbone evaluated on the
 * dataset (score per task and backbone, delta to the first, best) and where its report is.
 */
import type { BackboneComparison } from '../activities/index.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import type { StoreView } from './storeView.ts';

const signed = (v: number): string => (v >= 0 ? `+${v.toFixed(3)}` : v.toFixed(3));

/** Reads a comparison written by compareBackbones. */
export async function readComparison(store: ObjectStore, key: string): Promise<BackboneComparison> {
  return JSON.parse(new TextDecoder().decode(await store.get(key))) as BackboneComparison;
}

/**
 * One line per task ("comparison: EXPR: a 0.412, b 0.398 (-0.014 vs a); best a"), then the
 * report's JSON and HTML paths.
 */
export function comparisonLines(comparison: BackboneComparison, key: string, view: StoreView): string[] {
  const lines = [
    `comparison: dataset ${comparison.datasetId}, backbones ${comparison.rows.map((r) => r.backbone).join(', ')}` +
      (comparison.baseline ? ` (deltas against ${comparison.baseline})` : ''),
  ];
  for (const task of comparison.tasks) {
    const scores = comparison.rows
      .filter((r) => r.scores[task] !== undefined)
      .map((r) => {
        const delta = r.backbone === comparison.baseline ? undefined : r.deltas?.[task];
        return `${r.backbone} ${r.scores[task]!.toFixed(3)}${delta === undefined ? '' : ` (${signed(delta)})`}`;
      });
    lines.push(`comparison: ${task}: ${scores.join(', ')}; best ${comparison.best[task] ?? '—'}`);
  }
  if (comparison.tasks.length === 0) lines.push('comparison: no task has labels in this dataset: no scores');
  lines.push(
    `report: comparison ${view.locate(key)}`,
    `report: comparison HTML ${view.locate(key.replace(/\.json$/, '.html'))}`,
  );
  return lines;
}
