/**
 * The self-contained HTML report of one run and backbone: every plot is inline SVG, no scripts,
 * no external resources, so the file opens anywhere (and in headless Chromium in the tests).
 */
import { barChart, escapeXml, heatmap, lineChart, type LineSeries } from './svg.ts';
import { CHALLENGE_PROTOCOL, describeProtocol } from '../heads/protocol.ts';
import type { BackboneScores, RunReport } from './model.ts';
import { ceVariantPlots, ceVariantRows } from './ceVariantsView.ts';
import { bestOf, f3 } from './format.ts';
import { MODALITY_HEADER, modalityRows } from './modalities.ts';

const STYLE = `
body { font-family: system-ui, sans-serif; margin: 24px; color: #222; max-width: 1200px; }
h1 { font-size: 22px; } h2 { font-size: 18px; margin-top: 32px; border-bottom: 1px solid #ddd; }
table { border-collapse: collapse; margin: 8px 0; } td, th { border: 1px solid #ccc; padding: 4px 8px; text-align: right; }
th:first-child, td:first-child { text-align: left; } .best { font-weight: 700; background: #eef5ff; }
.plots { display: flex; flex-wrap: wrap; gap: 16px; align-items: flex-start; } .meta { color: #555; font-size: 13px; }
`;

function comparisonTable(rows: readonly BackboneScores[], tasks: readonly string[]): string {
  const best = Object.fromEntries(
    tasks.map((k) => [k, Math.max(...rows.map((c) => c.scores[k] ?? -Infinity))]),
  );
  return table(
    ['backbone', ...tasks],
    rows.map((c) => [
      escapeXml(c.backbone),
      ...tasks.map((k) => {
        const v = c.scores[k];
        if (v === undefined) return '—';
        return v === best[k] && rows.length > 1 ? `<span class="best">${f3(v)}</span>` : f3(v);
      }),
    ]),
    'comparison',
  );
}

function table(header: readonly string[], rows: readonly (readonly string[])[], id: string): string {
  return (
    `<table data-table="${escapeXml(id)}"><thead><tr>${header.map((h) => `<th>${escapeXml(h)}</th>`).join('')}</tr></thead><tbody>` +
    rows.map((r) => `<tr>${r.map((c) => `<td>${c}</td>`).join('')}</tr>`).join('') +
    '</tbody></table>'
  );
}

function history(
  id: string,
  h: readonly { epoch: number; trainLoss: number; validScore: number }[],
  best: number,
): string {
  return lineChart(
    [
      { name: 'train loss', points: h.map((e) => [e.epoch, e.trainLoss] as const) },
      { name: 'validation score', points: h.map((e) => [e.epoch, e.validScore] as const) },
    ],
    {
      id,
      title: 'Training history',
      xTitle: 'epoch',
      yTitle: 'value',
      marker: { x: best, label: 'best epoch' },
    },
  );
}

/** Density rows drawn with the highest true bin on top. */
function densityPlot(id: string, name: string, grid: readonly (readonly number[])[], score: number): string {
  const bins = grid.length;
  const edge = (i: number): string => (i === 0 ? '-1' : i === bins / 2 ? '0' : i === bins - 1 ? '1' : '');
  return heatmap([...grid].reverse(), {
    id,
    title: `${name}: predicted vs true (CCC ${f3(score)})`,
    rowLabels: Array.from({ length: bins }, (_, r) => edge(bins - 1 - r)),
    columnLabels: Array.from({ length: bins }, (_, c) => edge(c)),
    xTitle: `predicted ${name.toLowerCase()}`,
    yTitle: `true ${name.toLowerCase()}`,
    colour: 'log-count',
    showCounts: false,
    diagonal: true,
    cell: 12,
  });
}

type ReportTasks = RunReport['tasks'];
type TaskName = keyof ReportTasks;

/** How one task shows in the report: its row of the scores table and its section of plots. */
interface TaskView<R> {
  readonly heading: string;
  /** The scores table's chance column. */
  chance(result: R): string;
  /** Samples trained on (or what stands in their place) and samples evaluated. */
  trained(result: R): string;
  evaluated(result: R): number;
  plots(result: R): string[];
  /** Rows under the task's own in the scores table: baselines scored like it (cells as the columns). */
  baselineRows?(result: R): string[][];
}

/** Tasks in report order, each with its view. */
const TASK_VIEWS: { readonly [K in TaskName]-?: TaskView<NonNullable<ReportTasks[K]>> } = {
  EXPR: {
    heading: 'EXPR: expressions',
    chance: (r) => `majority ${f3(r.majorityBaseline)}`,
    trained: (r) => String(r.trainSamples),
    evaluated: (r) => r.validationSamples,
    baselineRows: (r) =>
      r.zeroShot
        ? [
            [
              'EXPR zero-shot',
              `${r.zeroShot.metric}, backbone logits mapped [${r.zeroShot.mapping.join(',')}]`,
              f3(r.zeroShot.score),
              'no head',
              '—',
              String(r.validationSamples),
              String(r.zeroShot.window),
              bestOf(r.zeroShot.bestWindow),
            ],
          ]
        : [],
    plots: (r) => [
      ...classPlots(r, 'expr', `Confusion matrix (macro F1 ${f3(r.score)}, d=${r.window})`),
      history('expr-history', r.history, r.bestEpoch),
    ],
  },
  VA: {
    heading: 'VA: valence and arousal',
    chance: () => 'constant 0',
    trained: (r) => String(r.trainSamples),
    evaluated: (r) => r.validationSamples,
    plots: (r) => [
      densityPlot('va-valence', 'Valence', r.density.valence, r.valence),
      densityPlot('va-arousal', 'Arousal', r.density.arousal, r.arousal),
      history('va-history', r.history, r.bestEpoch),
    ],
  },
  AU: {
    heading: 'AU: action units',
    chance: (r) => `all present ${f3(r.allPresentBaseline)}`,
    trained: (r) => String(r.trainSamples),
    evaluated: (r) => r.validationSamples,
    plots: (r) => [
      barChart(r.perAuF1, {
        id: 'au-f1',
        title: `F1 per AU with the chosen thresholds (mean ${f3(r.score)}; at 0.5: ${f3(r.scoreAtHalf)})`,
        labels: r.aus,
        notes: r.thresholds.map((x) => `t=${x.toFixed(1)}`),
        min: 0,
        max: 1,
        reference: { value: r.allPresentBaseline, label: 'all present' },
      }),
      history('au-history', r.history, r.bestEpoch),
    ],
  },
  CE: {
    heading: 'CE: compound expressions (zero-shot)',
    chance: (r) => `majority ${f3(r.majorityBaseline)}`,
    trained: () => 'zero-shot',
    evaluated: (r) => r.evaluatedSamples,
    baselineRows: ceVariantRows,
    plots: (r) => [
      ...classPlots(r, 'ce', `Confusion matrix (macro F1 ${f3(r.score)})`),
      ...ceVariantPlots(r),
    ],
  },
  EMI: {
    heading: 'EMI: emotional mimicry intensity',
    chance: () => 'constant 0',
    trained: (r) => String(r.trainSamples),
    evaluated: (r) => r.validationSamples,
    plots: (r) => [
      barChart(r.perDim, {
        id: 'emi-pearson',
        title: `Pearson r per emotion (mean ${f3(r.score)})`,
        labels: r.dims,
        min: -1,
        max: 1,
      }),
      history('emi-history', r.history, r.bestEpoch),
    ],
  },
};

/** A classification task's confusion matrix (titled `title`) and its F1 per class against the majority baseline. */
function classPlots(
  r: {
    readonly confusion: readonly (readonly number[])[];
    readonly perClassF1: readonly number[];
    readonly classes: readonly string[];
    readonly majorityBaseline: number;
  },
  id: string,
  title: string,
): string[] {
  return [
    heatmap(r.confusion, {
      id: `${id}-confusion`,
      title,
      rowLabels: r.classes,
      columnLabels: r.classes,
      xTitle: 'predicted',
      yTitle: 'true',
      colour: 'row-share',
      showCounts: true,
    }),
    barChart(r.perClassF1, {
      id: `${id}-f1`,
      title: 'F1 per class',
      labels: r.classes,
      min: 0,
      max: 1,
      reference: { value: r.majorityBaseline, label: 'majority' },
    }),
  ];
}

type AnyTaskResult = NonNullable<ReportTasks[TaskName]>;

/** The tasks the report holds, in report order, each with its view. */
function reportedTasks(tasks: ReportTasks): { view: TaskView<AnyTaskResult>; result: AnyTaskResult }[] {
  return (Object.keys(TASK_VIEWS) as TaskName[]).flatMap((name) => {
    const result = tasks[name];
    // Each view reads the result of its own task: TASK_VIEWS[name] with tasks[name].
    return result ? [{ view: TASK_VIEWS[name], result }] : [];
  });
}

export function renderReportHtml(report: RunReport): string {
  const tasks = reportedTasks(report.tasks);
  const body: string[] = [];
  body.push(
    `<h1>affectflow report: ${escapeXml(report.backbone)}</h1>`,
    `<p class="meta">run ${escapeXml(report.runId)} · dataset ${escapeXml(report.datasetId)} · ${report.embeddingShards} embedding shards, ${report.embeddingRows} rows · heads on ${escapeXml(report.provider)} · ${escapeXml(report.createdAt)}</p>`,
    `<p class="meta" data-protocol>protocol: ${escapeXml(describeProtocol(report.protocol ?? CHALLENGE_PROTOCOL))}${report.protocol?.fitOn === 'Train+Validation' ? ' (heads fitted on Validation too: its scores are in-sample)' : ''}</p>`,
  );

  const summary = tasks.flatMap(({ view, result: r }) => [
    [
      r.task,
      r.metric,
      f3(r.score),
      view.chance(r),
      view.trained(r),
      String(view.evaluated(r)),
      'window' in r ? String(r.window) : 'video',
      'bestWindow' in r ? bestOf(r.bestWindow) : '—',
    ],
    ...(view.baselineRows?.(r) ?? []),
  ]);
  body.push(
    '<h2>Scores</h2>',
    table(
      ['task', 'metric', 'score', 'chance', 'train', 'evaluated', 'window d', 'best d (score)'],
      summary,
      'scores',
    ),
  );
  if (report.audio)
    body.push(
      `<h2>Visual, audio and fused</h2><p class="meta">audio ${escapeXml(report.audio.backbone)}: ${report.audio.embeddingShards} embedding shards, ${report.audio.embeddingRows} rows under ${escapeXml(report.audio.prefix)}</p>`,
      table(MODALITY_HEADER, modalityRows(report), 'modalities'),
    );
  const skipped = [
    ...(report.skipped ?? []),
    ...(report.audio?.skipped ?? []).map((s) => ({ task: `${s.task} (audio)`, reason: s.reason })),
  ];
  if (skipped.length > 0)
    body.push(
      '<h2>Tasks not trained</h2>',
      table(
        ['task', 'reason'],
        skipped.map((s) => [escapeXml(s.task), escapeXml(s.reason)]),
        'skipped',
      ),
    );
  if (report.embeddings)
    body.push(
      `<p class="meta">embeddings under ${escapeXml(report.embeddings.prefix)}; committed objects listed in ${escapeXml(report.embeddings.indexKey)}</p>`,
    );

  const windowSeries: LineSeries[] = tasks.flatMap(({ result: r }) =>
    'windowScores' in r
      ? [{ name: r.task, points: r.windowScores.map((w) => [w.window, w.score] as const) }]
      : [],
  );
  if (windowSeries.length > 0)
    body.push(
      '<h2>Score versus smoothing window</h2><div class="plots">',
      lineChart(windowSeries, {
        id: 'smoothing',
        title: 'Validation score by mean-filter half-width d',
        xTitle: 'half-width d (frames)',
        yTitle: 'score',
        evenX: true,
      }),
      '</div>',
    );

  const compared = [...new Set(report.comparison.flatMap((c) => Object.keys(c.scores)))];
  body.push('<h2>Comparison across backbones</h2>', comparisonTable(report.comparison, compared));

  for (const { view, result } of tasks)
    body.push(`<h2>${view.heading}</h2><div class="plots">`, ...view.plots(result), '</div>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>affectflow report ${escapeXml(report.backbone)}</title><style>${STYLE}</style></head>
<body>
${body.join('\n')}
</body></html>
`;
}

/**
 * Per task, the backbones side by side: each one's score, its delta to the first row (the
 * baseline) and the best.
 */
function deltaTable(rows: readonly BackboneScores[], tasks: readonly string[]): string {
  const [baseline, ...others] = rows;
  if (!baseline) return '';
  const signed = (v: number): string => (v >= 0 ? `+${f3(v)}` : f3(v));
  return table(
    [
      'task',
      ...rows.map((r) => r.backbone),
      ...others.map((r) => `${r.backbone} − ${baseline.backbone}`),
      'best',
    ],
    tasks.map((task) => {
      const scored = rows.filter((r) => r.scores[task] !== undefined);
      const best = scored.sort((a, b) => b.scores[task]! - a.scores[task]!)[0];
      const base = baseline.scores[task];
      return [
        escapeXml(task),
        ...rows.map((r) => f3(r.scores[task])),
        ...others.map((r) => {
          const v = r.scores[task];
          return v === undefined || base === undefined ? '—' : signed(v - base);
        }),
        best ? `<span class="best">${escapeXml(best.backbone)}</span>` : '—',
      ];
    }),
    'deltas',
  );
}

/** Links from the comparison page (at pageKey) to each backbone's report, for its per-class plots. */
function reportLinks(rows: readonly (BackboneScores & { reportKey?: string })[], pageKey: string): string {
  const depth = pageKey.split('/').length - 1;
  const links = rows
    .filter((r) => r.reportKey)
    .map((r) => {
      const href = `${'../'.repeat(depth)}${r.reportKey!.replace(/report\.json$/, 'report.html')}`;
      return `<li><a href="${escapeXml(href)}">${escapeXml(r.backbone)}</a>: per-class plots and tables</li>`;
    });
  return links.length ? `<h2>Each backbone's report</h2><ul data-list="reports">${links.join('')}</ul>` : '';
}

/**
 * A self-contained page comparing backbones on one dataset: the score table (best per task marked),
 * per task the scores side by side with deltas to the first row and the best, one bar chart per
 * task, and links to each backbone's report (its per-class plots). rows: one per backbone with its
 * scores by task; pageKey: the page's own store key, for relative links.
 */
export function renderComparisonHtml(
  datasetId: string,
  rows: readonly (BackboneScores & { reportKey?: string })[],
  pageKey = '',
): string {
  const tasks = [...new Set(rows.flatMap((r) => Object.keys(r.scores)))];
  const parts = [
    `<h1>affectflow: backbones on dataset ${escapeXml(datasetId)}</h1>`,
    comparisonTable(rows, tasks),
    rows.length > 1 ? `<h2>Deltas to ${escapeXml(rows[0]!.backbone)}</h2>${deltaTable(rows, tasks)}` : '',
    reportLinks(rows, pageKey),
    '<div class="plots">',
  ];
  for (const task of tasks) {
    const values = rows.map((r) => r.scores[task] ?? Number.NaN);
    parts.push(
      barChart(
        values.map((v) => (Number.isFinite(v) ? v : 0)),
        {
          id: `compare-${task}`,
          title: `${task} by backbone`,
          labels: rows.map((r) => r.backbone),
          min: Math.min(0, ...values.filter(Number.isFinite)),
          max: 1,
        },
      ),
    );
  }
  parts.push('</div>');
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>affectflow backbones ${escapeXml(datasetId)}</title><style>${STYLE}</style></head>
<body>
${parts.join('\n')}
</body></html>
`;
}
