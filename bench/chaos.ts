/**
 * `npm run chaos [-- --videos N --frames-per-video N --kills N --seed N]`: the chaos run of issue
 * 15 (test/helpers/chaos.ts; test/chaos.test.ts runs it at CI size) twice on the same synthetic
 * dataset, each on a fresh store and Temporal of its own: once without faults (the clean wall
 * time), once under the faults. Merges the chaos.* figures into bench/results/latest.json (each
 * dated by the harness) and exits 1 when the chaos run failed a shard or lost or duplicated a frame.
 * Defaults: the CI size (10 videos x 2,000 frames, 52 kills, a 60 s outage, a 30 s SIGSTOP).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { CHAOS_CI, runChaos, type ChaosOptions } from '../test/helpers/chaos.ts';
import { mergeResults, type Figure } from './harness.ts';

const { values } = parseArgs({
  options: {
    videos: { type: 'string' },
    'frames-per-video': { type: 'string' },
    kills: { type: 'string' },
    seed: { type: 'string' },
  },
});
const number = (value: string | undefined, fallback: number): number => (value ? Number(value) : fallback);

const root = mkdtempSync(join(tmpdir(), 'affectflow-chaos-'));
const started = Date.now();
const log = (line: string): void =>
  console.error(`[${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
const base: Omit<ChaosOptions, 'stateDir' | 'faults'> = {
  ...CHAOS_CI,
  videos: number(values.videos, CHAOS_CI.videos),
  framesPerVideo: number(values['frames-per-video'], CHAOS_CI.framesPerVideo),
  kills: number(values.kills, CHAOS_CI.kills),
  seed: number(values.seed, CHAOS_CI.seed),
  datasetPath: join(root, 'dataset'),
  log,
};
try {
  log(`chaos: clean run, ${base.videos * base.framesPerVideo} frames`);
  const clean = await runChaos({ ...base, stateDir: join(root, 'clean'), faults: false });
  log(`chaos: clean run ${clean.result.status} in ${clean.wallSeconds.toFixed(0)} s; now under faults`);
  const chaos = await runChaos({ ...base, stateDir: join(root, 'chaos'), faults: true });
  const { check } = chaos;
  const lost = check.embeddings.lost + check.frames.lost;
  const duplicated = check.embeddings.duplicated + check.frames.duplicated;
  const figures: Record<string, Figure> = {
    'chaos.frames': { value: check.manifestFrames, unit: 'frames' },
    'chaos.kills': { value: chaos.killCount, unit: 'SIGKILLs' },
    'chaos.outage_s': { value: chaos.outageSeconds, unit: 's' },
    'chaos.sigstop_s': { value: chaos.stoppedSeconds, unit: 's' },
    'chaos.temporal_restarts': { value: chaos.temporalRestarts, unit: 'restarts' },
    'chaos.failed_shards': { value: chaos.result.failedCount, unit: 'shards' },
    'chaos.lost': { value: lost, unit: 'frames' },
    'chaos.duplicated': { value: duplicated, unit: 'rows' },
    'chaos.orphans': { value: check.orphans, unit: 'objects' },
    'chaos.incomplete_uploads': { value: check.incompleteUploads, unit: 'uploads' },
    'chaos.wall_s': { value: chaos.wallSeconds, unit: 's' },
    'chaos.clean_wall_s': { value: clean.wallSeconds, unit: 's' },
  };
  mergeResults('latest.json', figures);
  log(`chaos: kills ${JSON.stringify(chaos.kills)}, ${chaos.restarts} worker restarts`);
  const held =
    chaos.result.status === 'completed' &&
    chaos.result.failedCount === 0 &&
    lost === 0 &&
    duplicated === 0 &&
    check.badMarkers.length === 0 &&
    check.incompleteUploads === 0;
  if (!held) {
    console.error(
      `chaos: the run did not hold: status ${chaos.result.status}, ${chaos.result.failedCount} failed shards, ` +
        `${lost} frames lost, ${duplicated} rows duplicated, bad markers ${JSON.stringify(check.badMarkers)}, ` +
        `${check.incompleteUploads} incomplete uploads; logs under ${join(root, 'chaos')}`,
    );
    process.exitCode = 1;
  } else {
    rmSync(root, { recursive: true, force: true });
  }
} catch (err) {
  console.error(`chaos: ${err instanceof Error ? err.message : String(err)}; logs under ${root}`);
  process.exitCode = 1;
}
