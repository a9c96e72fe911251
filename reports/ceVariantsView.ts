/**
 * The C-EXPR-DB variants in the HTML report (heads/ceRuns.ts): rows under the zero-shot CE row of
 * the scores table (one per variant, cells as its columns) and the KL per backbone.
 */
import { escapeXml, barChart } from './svg.ts';
import { bestOf, f3 } from './format.ts';
import type { CeReport } from './model.ts';
import type { CeVariantScore } from '../heads/ceRuns.ts';

function method(v: CeVariantScore, classes: number): string {
  if (v.head)
    return `EXPR head ${v.head.key} (trained on ${v.head.datasetId}), compound = mean of two basics`;
  const of = v.variant === 'kmeans-scores' ? `the ${classes} zero-shot compound scores` : 'the embeddings';
  return `k-means (k = ${classes}, inertia ${f3(v.inertia)}) of ${of}, clusters matched to classes`;
}

/** Scores-table rows: task, metric, score, chance, train, evaluated, window d, best d (score). */
export function ceVariantRows(r: CeReport): string[][] {
  const variants = r.variants;
  if (!variants) return [];
  const chance = `majority ${f3(r.majorityBaseline)}`;
  const rows = variants.variants.map((v) => [
    `CE ${escapeXml(v.label)}`,
    escapeXml(`${v.metric}: ${method(v, r.classes.length)}`),
    f3(v.score),
    chance,
    v.head ? escapeXml(`head from ${v.head.datasetId}`) : 'no training',
    String(v.evaluatedSamples),
    String(v.window),
    bestOf(v.bestWindow),
  ]);
  for (const n of variants.notComputed)
    rows.push([
      `CE ${escapeXml(n.variant)}`,
      escapeXml(`not computed: ${n.reason}`),
      'n/a',
      chance,
      '—',
      '—',
      '—',
      '—',
    ]);
  const choice = variants.backboneChoice;
  if (choice)
    rows.push([
      'CE KL choice',
      escapeXml(
        `zero-shot macro F1 of ${choice.picked}, the least KL(class frequencies ‖ predicted shares) of ${choice.candidates.length} backbone(s)`,
      ),
      f3(choice.score),
      chance,
      'zero-shot',
      '—',
      String(r.window),
      '—',
    ]);
  return rows;
}

/** The KL of each backbone reported so far in the run, its zero-shot F1 noted. */
export function ceVariantPlots(r: CeReport): string[] {
  const choice = r.variants?.backboneChoice;
  if (!choice) return [];
  const kls = choice.candidates.map((c) => c.kl);
  return [
    barChart(kls, {
      id: 'ce-kl',
      title: `KL(class frequencies ‖ predicted shares) per backbone: picks ${choice.picked} (macro F1 ${f3(choice.score)})`,
      labels: choice.candidates.map((c) => c.backbone),
      notes: choice.candidates.map((c) => `F1 ${f3(c.score)}`),
      min: 0,
      max: Math.max(...kls.filter(Number.isFinite), 1e-3),
    }),
  ];
}
