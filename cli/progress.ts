/** Rendering a run's progress for the terminal: one-line summaries and redrawn progress bars. */
import type { RunProgress } from '../workflows/index.ts';
import type { RetryState } from './retrying.ts';

function bar(fraction: number, width = 24): string {
  const filled = Math.round(Math.max(0, Math.min(1, fraction)) * width);
  return `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}]`;
}

export function formatDuration(seconds: number | undefined): string {
  if (seconds === undefined || !Number.isFinite(seconds)) return '--';
  const s = Math.round(seconds);
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

const n = (value: number): string => value.toLocaleString('en-US');

/**
 * The lines of `affectflow status` and of the bars of `run --watch`; with `retry`, the shards
 * line counts the shards waiting on a retry and a last line names the one retried most.
 */
export function progressLines(p: RunProgress, retry?: RetryState): string[] {
  const c = p.counts;
  const shardFraction = p.shards
    ? (c.shardsDone + c.shardsFailed) / p.shards
    : p.stage === 'manifest'
      ? 0
      : 1;
  const frameFraction = p.frames ? c.framesDone / p.frames : shardFraction;
  return [
    `stage    ${p.stage}${p.trained.length ? ` (trained: ${p.trained.join(', ')})` : ''}`,
    `shards   ${bar(shardFraction)} ${(shardFraction * 100).toFixed(0).padStart(3)}%  ${n(c.shardsDone)}/${n(p.shards)} done` +
      ` (${n(c.shardsSkipped)} already committed), ${n(c.shardsFailed)} failed, ${n(c.shardsInFlight)} in flight` +
      (retry ? `, ${n(retry.waiting)} waiting on a retry` : ''),
    `frames   ${bar(frameFraction)} ${(frameFraction * 100).toFixed(0).padStart(3)}%  ${n(c.framesDone)}/${n(p.frames)}` +
      ` (${n(c.framesDecoded)} decoded now), ${p.framesPerSecond.toFixed(1)} frames/s, ETA ${formatDuration(p.etaSeconds)}`,
    `  frames stage: ${n(c.framesStageDone ?? 0)} shards done, ${n(c.framesStageFailed ?? 0)} failed, ${n(c.framesStageInFlight ?? 0)} in flight` +
      ` | embed stage: ${n(c.embedStageDone ?? 0)} done, ${n(c.embedStageFailed ?? 0)} failed, ${n(c.embedStageInFlight ?? 0)} in flight`,
    `embed    ${n(c.embeddingShardsWritten)} shards written, ${n(c.embeddingShardsReused)} reused, ${n(c.embeddingRows)} rows` +
      ` | partitions ${p.partitions.finished}/${p.partitions.total} finished, ${p.partitions.running} running`,
    ...(retry?.worst ? [`retrying ${retry.worst}`] : []),
  ];
}

/** Redraws the same block of lines in place on a terminal. */
export class LiveBlock {
  private drawn = 0;
  constructor(private readonly out: NodeJS.WriteStream = process.stdout) {}
  draw(lines: readonly string[]): void {
    if (this.drawn > 0) this.out.write(`\x1b[${this.drawn}A`);
    for (const line of lines) this.out.write(`\x1b[2K${line}\n`);
    this.drawn = lines.length;
  }
}
