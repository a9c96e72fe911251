/**
 * The GPU check, for a worker machine with an NVIDIA GPU and the CUDA execution provider installed
 * (docs/MODELS.md, "GPU workers"). For every real-architecture backbone (bench/models/graphs.ts):
 *
 * - embed.<b>.cuda.b<N>.per_s: a bare session.run loop on CUDA at batch N = 1, 2, 4, ..., 256;
 * - embed.<b>.cuda.activity.b<N>.per_s: the embed activity on CUDA (frames shard of real crops in,
 *   the embedder's threads decoding, preprocessing and running their CUDA sessions, embedding
 *   shard committed) at batch 32 and 128, over two shards of 256 at the pool's concurrency.
 *
 * Writes bench/results/gpu.json in the bench format and prints the table. Exits non-zero, saying
 * why, when ONNX Runtime cannot create a CUDA session (nothing silently measures the CPU).
 *   npm run bench:gpu [-- --seconds 2]   (infra/cuda-worker.sh installs the CUDA provider first)
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { writeResults, type Figure } from './harness.ts';
import { bareRate, benchBackbones, EmbedBenchRig } from './models/graphs.ts';

const { values } = parseArgs({ options: { seconds: { type: 'string', default: '2' } } });
const seconds = Number(values.seconds);
const BATCHES = [1, 2, 4, 8, 16, 32, 64, 128, 256];
const ACTIVITY_BATCHES = [32, 128];
const FACES = 512;

const scratch = mkdtempSync(join(tmpdir(), 'affectflow-bench-gpu-'));
const rig = new EmbedBenchRig(scratch, 'cuda');
const figures: Record<string, Figure> = {};
let code = 0;
try {
  const crops = await rig.prepare(FACES, FACES / 2);
  const concurrency = loadConfig().concurrency.embed;
  for (const descriptor of benchBackbones(scratch)) {
    const b = descriptor.name;
    const model = await rig.pull(descriptor);
    for (const batch of BATCHES) {
      console.error(`gpu: ${b} bare batch ${batch} ...`);
      figures[`embed.${b}.cuda.b${batch}.per_s`] = {
        value: await bareRate(model, descriptor, crops, {
          provider: 'cuda',
          threads: 1,
          intraOpThreads: 0,
          batch,
          seconds,
        }),
        unit: 'images/s',
      };
    }
    if ((await rig.embedder.source(descriptor)).provider !== 'cuda')
      throw new Error(`${b}: the embed session fell back to the CPU`);
    for (const batch of ACTIVITY_BATCHES) {
      console.error(`gpu: ${b} activity batch ${batch} ...`);
      figures[`embed.${b}.cuda.activity.b${batch}.per_s`] = {
        value: await rig.activityRate(b, batch, concurrency),
        unit: 'embeddings/s',
      };
    }
  }
} catch (err) {
  console.error(`gpu bench: ${(err as Error).message}`);
  code = 1;
} finally {
  await rig.close();
  rmSync(scratch, { recursive: true, force: true });
}
const { threads, runBatch } = rig.options;
writeResults('gpu.json', figures, { embedderThreads: threads, runBatch });
process.exit(code);
