/**
 * What the C-EXPR-DB variants (heads/ceRuns.ts) read from the store: the EXPR head a run names
 * (`--expr-head-from`: a heads key, or the run whose report holds it), and the KL fits of the
 * backbones already reported in the same run.
 */
import { AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import type { ExprHeadSource } from '../heads/ceRuns.ts';
import type { MlpHead } from '../heads/mlp.ts';
import type { RunReport } from '../reports/model.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { siblingReports } from './earlierBackbones.ts';

/** The EXPR head a run names cannot be used: missing, of another task or backbone, or of another width. */
export class ExprHeadSourceError extends Error {
  constructor(
    readonly source: string,
    detail: string,
  ) {
    super(`--expr-head-from ${source}: ${detail}`);
    this.name = 'ExprHeadSourceError';
  }
}

async function readJson(store: ObjectStore, key: string): Promise<unknown> {
  if (!(await store.head(key))) return undefined;
  return JSON.parse(new TextDecoder().decode(await store.get(key))) as unknown;
}

/** The heads key a run's report names for its EXPR head with `backbone` (the run id as in reports/<run>/). */
async function headKeyOfRun(
  store: ObjectStore,
  source: string,
  backbone: string,
): Promise<string | { readonly missing: string }> {
  const run = source.replace(/^reports\//, '').replace(/(\/report\.json)?\/*$/, '');
  const keys = [`reports/${run}/${backbone}/report.json`, `reports/${run}/report.json`];
  for (const key of keys) {
    const report = (await readJson(store, key)) as Partial<RunReport> | undefined;
    if (!report?.tasks) continue;
    if (report.backbone && !report.backbone.startsWith(`${backbone}@`)) continue;
    const headKey = report.tasks.EXPR?.headKey;
    if (headKey) return headKey;
    const why = report.skipped?.find((s) => s.task === 'EXPR')?.reason;
    throw new ExprHeadSourceError(
      source,
      `the report ${key} has no EXPR head${why ? ` (${why})` : ''}; expected a run that trained one (an Aff-Wild2 run) with backbone ${backbone}`,
    );
  }
  const found: string[] = [];
  for await (const info of store.list(`reports/${run}/`))
    if (info.key.endsWith('/report.json')) found.push(info.key);
  if (found.length > 0)
    // A run of other backbones (a backbone added later, re-evaluated with the run's settings):
    // this backbone has no head there, which the report says rather than failing the run.
    return { missing: `no report of backbone ${backbone} in run ${run} (it has ${found.sort().join(', ')})` };
  throw new ExprHeadSourceError(
    source,
    `no run ${run} in the store (no reports/${run}/…/report.json); expected the run id of a report folder (reports/<run>/<backbone>/) or a heads key (heads/<dataset>/EXPR/<hash>.json)`,
  );
}

function floats(source: string, key: string, value: unknown, name: string, length: number): Float32Array {
  if (!Array.isArray(value) || value.length !== length || !value.every((x) => typeof x === 'number'))
    throw new ExprHeadSourceError(
      source,
      `head ${key}: expected ${name} to hold ${length} numbers, got ${Array.isArray(value) ? `${value.length} values` : typeof value}`,
    );
  return Float32Array.from(value);
}

/**
 * The EXPR head `source` names for `backbone` (name@version): a heads key
 * (heads/<dataset>/EXPR/<hash>.json) or a run id (a report folder, reports/<run>/<backbone>/).
 * `{ missing }` when the run exists but reported other backbones only.
 */
export async function resolveExprHead(
  store: ObjectStore,
  source: string,
  backbone: { readonly name: string; readonly id: string },
): Promise<ExprHeadSource | { readonly missing: string }> {
  const key = source.startsWith('heads/') ? source : await headKeyOfRun(store, source, backbone.name);
  if (typeof key !== 'string') return key;
  const stored = (await readJson(store, key)) as
    { task?: unknown; backbone?: unknown; head?: Record<string, unknown> } | undefined;
  if (!stored)
    throw new ExprHeadSourceError(
      source,
      `no head ${key} in the store; expected a key a report names under tasks.EXPR.headKey`,
    );
  if (stored.task !== 'EXPR')
    throw new ExprHeadSourceError(
      source,
      `head ${key} is a ${String(stored.task)} head, expected an EXPR head`,
    );
  if (stored.backbone !== backbone.id)
    throw new ExprHeadSourceError(
      source,
      `head ${key} was trained on ${String(stored.backbone)} embeddings, expected ${backbone.id} (the backbone evaluated); name a head of that backbone`,
    );
  const shape = stored.head?.['shape'] as MlpHead['shape'] | undefined;
  const classes = AFFWILD2_EXPRESSIONS.length;
  if (!shape || shape.outputs !== classes || shape.output !== 'softmax')
    throw new ExprHeadSourceError(
      source,
      `head ${key}: expected a softmax head over ${classes} classes, got ${JSON.stringify(shape)}`,
    );
  const { inputDim: d, hidden: h } = shape;
  const part = (name: string, length: number) => floats(source, key, stored.head![name], name, length);
  const head: MlpHead = {
    shape,
    mean: part('mean', d),
    scale: part('scale', d),
    w1: part('w1', d * h),
    b1: part('b1', h),
    w2: part('w2', h * classes),
    b2: part('b2', classes),
  };
  return { key, datasetId: key.split('/')[1]!, backbone: backbone.id, head };
}

/** The head takes the rows' embeddings: as wide as they are. */
export function checkExprHeadInput(
  source: string,
  head: ExprHeadSource | { readonly missing: string },
  dim: number,
): void {
  if ('head' in head && head.head.shape.inputDim !== dim)
    throw new ExprHeadSourceError(
      source,
      `head ${head.key} takes ${head.head.shape.inputDim}-d embeddings, expected ${dim}-d (the evaluated embeddings)`,
    );
}

/** The CE fits and zero-shot scores of the backbones reported before this one in the run. */
export async function earlierCeFits(
  store: ObjectStore,
  runId: string,
): Promise<{ backbone: string; predicted: readonly number[]; score: number }[]> {
  const fits: { backbone: string; predicted: readonly number[]; score: number }[] = [];
  for (const other of await siblingReports(store, runId)) {
    const ce = other.tasks?.CE;
    if (!other.backbone || !ce?.variants?.fit) continue;
    fits.push({ backbone: other.backbone, predicted: ce.variants.fit.predicted, score: ce.score });
  }
  return fits.sort((a, b) => a.backbone.localeCompare(b.backbone));
}
