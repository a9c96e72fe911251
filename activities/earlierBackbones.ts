import type { BackboneScores, RunReport } from '../reports/model.ts';
import { storeKeys } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';

/**
 * The reports of the other backbones already reported in the same run: run ids are
 * `<workflow run>/<backbone>`, so siblings share the folder above this report's.
 */
export async function siblingReports(store: ObjectStore, runId: string): Promise<Partial<RunReport>[]> {
  const slash = runId.lastIndexOf('/');
  if (slash < 0) return [];
  const own = storeKeys.report(runId);
  const parent = storeKeys.report(runId.slice(0, slash)).slice(0, -'report.json'.length);
  const found: Partial<RunReport>[] = [];
  for await (const info of store.list(parent)) {
    if (!info.key.endsWith('/report.json') || info.key === own) continue;
    found.push(JSON.parse(new TextDecoder().decode(await store.get(info.key))) as Partial<RunReport>);
  }
  return found;
}

/** Scores of the other backbones already reported in the same run. */
export async function earlierBackbones(store: ObjectStore, runId: string): Promise<BackboneScores[]> {
  const found: BackboneScores[] = [];
  for (const other of await siblingReports(store, runId)) {
    if (!other.backbone || !other.tasks) continue;
    const scores: Record<string, number> = {};
    for (const [task, section] of Object.entries(other.tasks)) {
      if (section && typeof section.score === 'number') scores[task] = section.score;
    }
    found.push({ backbone: other.backbone, scores });
  }
  return found.sort((a, b) => a.backbone.localeCompare(b.backbone));
}
