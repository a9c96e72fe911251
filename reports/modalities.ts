/**
 * The report's visual, audio and fused rows per task (a run with an audio backbone): one row per
 * task with each modality's score, the fusion weights and where they were chosen.
 */
import type { RunReport } from './model.ts';
import { escapeXml } from './svg.ts';

const TASKS = ['EXPR', 'VA', 'AU', 'EMI'] as const;

const f3 = (v: number | undefined): string => (v === undefined || !Number.isFinite(v) ? '—' : v.toFixed(3));

export const MODALITY_HEADER = Object.freeze([
  'task',
  'metric',
  'visual',
  'audio',
  'fused',
  'visual weight w (audio 1 − w)',
  'weights chosen on / scored on',
  'outputs: both / visual only / audio only',
]);

/** The rows of the modality table (cells as HTML); empty for a run without audio. */
export function modalityRows(report: RunReport): string[][] {
  const audio = report.audio;
  if (!audio) return [];
  return TASKS.flatMap((task) => {
    const visual = report.tasks[task];
    const heard = audio.tasks[task];
    const fused = audio.fused[task];
    if (!visual && !heard) return [];
    const weights = fused
      ? fused.dims
          .map((d, i) => (fused.dims.length === 1 ? '' : `${escapeXml(d)} `) + fused.weights[i]!.toFixed(1))
          .join(', ')
      : '—';
    return [
      [
        task,
        escapeXml((visual ?? heard)!.metric),
        f3(visual?.score),
        f3(heard?.score),
        fused ? `<span class="best">${f3(fused.score)}</span>` : '—',
        weights,
        fused ? `${fused.chosenOn} / ${fused.reportedOn}` : '—',
        fused ? `${fused.counts.both} / ${fused.counts.visualOnly} / ${fused.counts.audioOnly}` : '—',
      ],
    ];
  });
}
