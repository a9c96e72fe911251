/**
 * An Aff-Wild2-shaped dataset through the real activities (bench/scaleRun.ts): 550 videos of
 * 5,300 frames (2.9 M frames, 45,650 shards of the CLI's default 64 frames), 16-pixel frames,
 * whole-frame faces, the generated tiny backbone, heads trained on EXPR; the real manifest,
 * frames, embed and train activities on a throwaway Temporal dev server with a local-directory
 * store. Fails when a frame is lost or duplicated, a history reaches 10,240 events or an event
 * 2 MB.
 *
 * Environment:
 *   AFFECTFLOW_SCALE_FRACTION       share of each video's frames (default 1; 0.1 for a tenth,
 *                                   the same 550 videos)
 *   AFFECTFLOW_SCALE_PART_SECONDS   stop (cancel) the run after this long; the next invocation
 *                                   with the same fraction resumes it (committed shards are
 *                                   skipped) and adds up the wall time; figures come from the
 *                                   part that completes it
 *   AFFECTFLOW_SCALE_VIDEOS         number of videos (default 550; fewer only to try the bench)
 *   AFFECTFLOW_SCALE_TRAIN          0 to stop after extraction (default 1)
 *   AFFECTFLOW_SCALE_DIR            where the dataset, store and part log live (default
 *                                   $TMPDIR/affectflow-bench-scale-<fraction>)
 */
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { withThrowawayTemporal } from '../infra/devstack.ts';
import type { Benchmark, Figure } from './harness.ts';
import { AFFWILD2_SHAPE } from './scaleDataset.ts';
import { pidServingPort, processCpuSeconds } from './processCpu.ts';
import { runScale, type ScaleRunFigures } from './scaleRun.ts';

const PAYLOAD_LIMIT = 2 * 1024 * 1024;
const HISTORY_WARNING = 10_240;

interface PartLog {
  readonly parts: number;
  readonly wallSeconds: number;
  readonly maxHistoryEvents: number;
  readonly maxPayloadBytes: number;
  readonly peakRssMb: number;
}

/** CPU ms per shard processed in the part that completed the run (shards it skipped excluded). */
function cpuFigures(
  cpu: Record<'node' | 'children' | 'temporal', number>,
  shards: number,
): Record<string, Figure> {
  if (shards <= 0) return {};
  const figures: Record<string, Figure> = {};
  for (const [name, seconds] of Object.entries(cpu))
    figures[`scale.cpu_ms_per_shard.${name}`] = { value: (seconds * 1000) / shards, unit: 'ms' };
  return figures;
}

function envNumber(name: string, fallback: number): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const value = Number(raw);
  if (!Number.isFinite(value) || value <= 0)
    throw new Error(`bench scale: ${name} is ${JSON.stringify(raw)}; expected a positive number`);
  return value;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'scale',
    async run(): Promise<Record<string, Figure>> {
      const fraction = envNumber('AFFECTFLOW_SCALE_FRACTION', 1);
      const partSeconds = process.env['AFFECTFLOW_SCALE_PART_SECONDS']
        ? envNumber('AFFECTFLOW_SCALE_PART_SECONDS', 1)
        : undefined;
      const train = process.env['AFFECTFLOW_SCALE_TRAIN'] !== '0';
      const videos = envNumber('AFFECTFLOW_SCALE_VIDEOS', AFFWILD2_SHAPE.videos);
      const workDir =
        process.env['AFFECTFLOW_SCALE_DIR'] || join(tmpdir(), `affectflow-bench-scale-${videos}-${fraction}`);
      mkdirSync(workDir, { recursive: true });
      const logPath = join(workDir, 'parts.json');
      const before: PartLog = existsSync(logPath)
        ? (JSON.parse(readFileSync(logPath, 'utf8')) as PartLog)
        : { parts: 0, wallSeconds: 0, maxHistoryEvents: 0, maxPayloadBytes: 0, peakRssMb: 0 };
      const framesPerVideo = Math.max(1, Math.round(AFFWILD2_SHAPE.framesPerVideo * fraction));
      // Where a shard's CPU goes: this process (the four pools), its children (ffmpeg, ffprobe,
      // the DuckDB count) and the Temporal server.
      let cpu = { node: 0, children: 0, temporal: 0 };
      const run: ScaleRunFigures = await withThrowawayTemporal(async (address) => {
        const temporalPid = pidServingPort(address.split(':').at(-1)!);
        const [own0, temporal0] = [processCpuSeconds(process.pid), processCpuSeconds(temporalPid)];
        const figures = await runScale({
          address,
          workDir,
          videos,
          framesPerVideo,
          size: 16,
          shardFrames: 64,
          train,
          ...(partSeconds === undefined ? {} : { stopAfterSeconds: partSeconds }),
        });
        const [own1, temporal1] = [processCpuSeconds(process.pid), processCpuSeconds(temporalPid)];
        cpu = {
          node: own1.self - own0.self,
          children: own1.children - own0.children,
          temporal: temporal1.self - temporal0.self,
        };
        return figures;
      });
      const log: PartLog = {
        parts: before.parts + 1,
        wallSeconds: before.wallSeconds + run.wallSeconds,
        maxHistoryEvents: Math.max(before.maxHistoryEvents, run.maxHistoryEvents),
        maxPayloadBytes: Math.max(before.maxPayloadBytes, run.maxPayloadBytes),
        peakRssMb: Math.max(before.peakRssMb, run.peakRssMb),
      };
      if (run.status === 'stopped') {
        writeFileSync(logPath, JSON.stringify(log));
        process.stderr.write(
          `bench: scale: part ${log.parts} stopped after ${run.wallSeconds.toFixed(0)} s (${log.wallSeconds.toFixed(0)} s in all); run the same command again to resume from ${workDir}\n`,
        );
        return {};
      }
      // A completed run starts the next invocation afresh (its shards are then all skipped).
      writeFileSync(logPath, JSON.stringify({ ...log, parts: 0, wallSeconds: 0 }));
      process.stderr.write(
        `bench: scale: ${run.status}, ${run.frames} frames, ${run.shards} shards (${run.shardsSkipped} skipped, ${run.failed} failed) in ${log.parts} part(s), ${log.wallSeconds.toFixed(0)} s, ${run.executions} executions, lost ${run.lost}, duplicated ${run.duplicated}\n`,
      );
      const figures: Record<string, Figure> = {
        'scale.frames': { value: run.frames, unit: 'frames' },
        'scale.shards': { value: run.shards, unit: 'shards' },
        'scale.wall_s': { value: log.wallSeconds, unit: 's' },
        'scale.frames_per_s': { value: run.frames / log.wallSeconds, unit: 'frames/s' },
        'scale.max_history_events': { value: log.maxHistoryEvents, unit: 'events' },
        'scale.max_payload_bytes': { value: log.maxPayloadBytes, unit: 'bytes' },
        'scale.peak_rss_mb': { value: log.peakRssMb, unit: 'MB' },
        'scale.lost': { value: run.lost, unit: 'frames' },
        ...cpuFigures(cpu, run.shards - run.shardsSkipped),
        'scale.duplicated': { value: run.duplicated, unit: 'frames' },
      };
      const broken = [
        run.lost !== 0 && `${run.lost} frames lost`,
        run.duplicated !== 0 && `${run.duplicated} frames duplicated`,
        log.maxHistoryEvents >= HISTORY_WARNING && `a history reached ${log.maxHistoryEvents} events`,
        log.maxPayloadBytes >= PAYLOAD_LIMIT && `an event reached ${log.maxPayloadBytes} bytes`,
        run.failed !== 0 && `${run.failed} shards failed`,
      ].filter(Boolean);
      if (broken.length) throw new Error(`bench scale: ${broken.join(', ')}`);
      return figures;
    },
  },
];
