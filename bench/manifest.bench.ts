/**
 * Manifesting an Aff-Wild2-sized dataset (550 names, about 2.9 million frames): cropped_aligned/
 * frame folders (names only, one real image each), the VA, EXPR and AU annotation trees and the
 * test-set lists, generated once into the temporary folder and reused. The manifest activity runs
 * in a child process on a local-directory store, so its peak RSS is its own.
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createManifestActivities } from '../activities/manifest.ts';
import { AFFWILD2_SIZED_SYNTHETIC, generateSyntheticDataset } from '../datasets/synthetic.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { peakRss, timed, type Benchmark } from './harness.ts';

const CHILD = 'AFFECTFLOW_MANIFEST_BENCH_ROOT';

interface ChildResult {
  seconds: number;
  peakRssMb: number;
  videos: number;
  frames: number;
  shards: number;
}

async function manifestOnce(root: string): Promise<ChildResult> {
  const storeRoot = mkdtempSync(join(tmpdir(), 'affectflow-bench-manifest-store-'));
  try {
    const store = new LocalDirStore(storeRoot);
    const activity = createManifestActivities({
      store,
      config: { stateDir: storeRoot },
      log: () => {},
    });
    const measured = await peakRss(() =>
      timed(() => activity.manifestDataset({ datasetPath: root, shardFrames: 64 })),
    );
    const result = measured.result.result;
    return {
      seconds: measured.result.seconds,
      peakRssMb: Math.max(measured.peakMb, process.resourceUsage().maxRSS / 1024),
      videos: result.videos,
      frames: result.frames,
      shards: result.shards,
    };
  } finally {
    rmSync(storeRoot, { recursive: true, force: true });
  }
}

if (process.env[CHILD]) {
  process.stdout.write(`${JSON.stringify(await manifestOnce(process.env[CHILD]))}\n`);
}

export const benchmarks: Benchmark[] = [
  {
    name: 'manifest',
    async run() {
      const root = join(tmpdir(), 'affectflow-bench-affwild2-sized');
      const generated = await timed(() => generateSyntheticDataset(root, AFFWILD2_SIZED_SYNTHETIC));
      process.stderr.write(
        `bench: manifest: Aff-Wild2-sized tree ${root} (${generated.result.written ? `generated in ${generated.seconds.toFixed(0)} s` : 'reused'})\n`,
      );
      const child = spawn(process.execPath, ['--import', 'tsx', fileURLToPath(import.meta.url)], {
        env: { ...process.env, [CHILD]: root },
        stdio: ['ignore', 'pipe', 'inherit'],
      });
      let out = '';
      child.stdout.setEncoding('utf8').on('data', (d: string) => (out += d));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      if (code !== 0) throw new Error(`bench manifest: child exited with ${code}`);
      const r = JSON.parse(out.trim().split('\n').pop()!) as ChildResult;
      process.stderr.write(`bench: manifest: ${r.videos} videos, ${r.frames} frames, ${r.shards} shards\n`);
      return {
        'manifest.affwild2_sized.seconds': { value: r.seconds, unit: 's' },
        'manifest.affwild2_sized.peak_rss_mb': { value: r.peakRssMb, unit: 'MB' },
        'manifest.affwild2_sized.frames_per_s': { value: r.frames / r.seconds, unit: 'frames/s' },
      };
    },
  },
];
