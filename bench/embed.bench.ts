/**
 * Embedding throughput per real-architecture backbone, three ways in one run (docs/MODELS.md):
 *
 * - embed.<b>.bare.b<N>.per_s: a bare session.run loop (both outputs) on a batch of the same
 *   crops, preprocessed beforehand: ONNX Runtime's own ceiling for the graph (N = 32 and 8);
 * - embed.<b>.activity.b<N>.per_s: the embed activity on a committed frames shard of real face
 *   crops: shard read, preprocessing (as an embed pool configures it: in-process on the CPU),
 *   inference, embedding shard written and committed to a local store; and its ratio to bare,
 *   embed.<b>.activity_vs_bare.b<N>;
 * - embed.<b>.hsemotion_style.per_s: the same graph run the way hsemotion-onnx does it (Python
 *   onnxruntime, one face at a time, OpenCV preprocessing; bench/models/hsemotion_style.py) on
 *   the same crops.
 *
 * Graphs: those bench/models/build.sh wrote (AFFECTFLOW_BENCH_MODELS, default
 * ~/.cache/affectflow/bench-models), through `models pull` for the embedding output, and always the
 * EfficientNet-B0 topology built in TypeScript (models/efficientnet.ts) as "ts_enet_b0". CPU,
 * intra-op threads = cores. Each figure is the best of REPEATS runs (other load on a shared
 * machine only ever slows a run down).
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { venvBin } from '../infra/paths.ts';
import { defaultPreprocessThreads } from '../media/cropPreprocessor.ts';
import type { BackboneDescriptor } from '../models/registry.ts';
import type { Benchmark, Figure } from './harness.ts';
import { bareRate, benchBackbones, EmbedBenchRig } from './models/graphs.ts';

/** 32 is the figure the issue names; 8 because ONNX Runtime on this CPU runs small batches faster per image. */
const BATCHES = [32, 8] as const;
const FACES = 256;
const REPEATS = 2;
async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPEATS; i++) top = Math.max(top, await run());
  return top;
}

function hsemotionStyle(modelPath: string, cropsDir: string, d: BackboneDescriptor): number {
  const script = join(import.meta.dirname, 'models', 'hsemotion_style.py');
  const args = [
    script,
    modelPath,
    cropsDir,
    String(d.inputSize),
    ...d.mean.map(String),
    ...d.std.map(String),
  ];
  const child = spawnSync(venvBin('python'), args, { encoding: 'utf8' });
  if (child.status !== 0)
    throw new Error(`hsemotion_style.py failed (exit ${child.status}): ${child.stderr}`);
  return (JSON.parse(child.stdout.trim().split('\n').pop()!) as { per_s: number }).per_s;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'embed',
    async run() {
      const scratch = mkdtempSync(join(tmpdir(), 'affectflow-bench-embed-'));
      const threads = loadConfig().embedRuntime.preprocessThreads;
      const rig = new EmbedBenchRig(
        scratch,
        'cpu',
        threads === 'auto' ? defaultPreprocessThreads('cpu') : threads,
      );
      try {
        // The same crops, as files, for the Python comparison.
        const cropsDir = join(scratch, 'crops');
        mkdirSync(cropsDir);
        const crops = await rig.prepare(FACES);
        crops.forEach((png, i) => writeFileSync(join(cropsDir, `${String(i).padStart(5, '0')}.png`), png));
        const figures: Record<string, Figure> = {};
        for (const descriptor of benchBackbones(scratch)) {
          const b = descriptor.name;
          process.stderr.write(`bench: embed ${b} ...\n`);
          const model = await rig.pull(descriptor);
          for (const batch of BATCHES) {
            const ceiling = await best(() =>
              bareRate(model, descriptor, crops, {
                provider: 'cpu',
                intraOpThreads: availableParallelism(),
                batch,
                seconds: 3,
              }),
            );
            const activity = await best(() => rig.activityRate(b, batch));
            figures[`embed.${b}.bare.b${batch}.per_s`] = { value: ceiling, unit: 'images/s' };
            figures[`embed.${b}.activity.b${batch}.per_s`] = { value: activity, unit: 'embeddings/s' };
            figures[`embed.${b}.activity_vs_bare.b${batch}`] = { value: activity / ceiling, unit: 'ratio' };
          }
          figures[`embed.${b}.hsemotion_style.per_s`] = {
            value: hsemotionStyle(model, cropsDir, descriptor),
            unit: 'images/s',
          };
        }
        return figures;
      } finally {
        await rig.close();
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  },
];
