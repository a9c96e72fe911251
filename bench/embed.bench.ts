/**
 * Embedding throughput per real-architecture backbone, measured in one run (docs/MODELS.md):
 *
 * - embed.<b>.bare.b32.per_s: a bare session.run loop (both outputs) on a batch of 32 of the
 *   same crops, preprocessed beforehand, one session with intra-op threads = cores: ONNX
 *   Runtime's own ceiling for the graph as one session runs it;
 * - embed.<b>.bare.embedder.per_s: the same loop the way the embedder runs the graph (one
 *   session per embedder thread side by side, runs of runBatch): the ceiling of that setup;
 * - embed.<b>.activity.b32.per_s: the embed activity, batch 32, over 4 committed frames shards
 *   of 64 real face crops (the default shard size), run as an embed pool runs them (its
 *   concurrency, its embedder): shard read, decoding and preprocessing, inference, embedding
 *   shard written and committed to a local store; and its ratios to both bare figures,
 *   embed.<b>.activity_vs_bare.b32 and embed.<b>.activity_vs_bare.embedder;
 * - embed.<b>.activity.cpu_ms_per_face and embed.<b>.bare.embedder.cpu_ms_per_image: the process's
 *   CPU time (every thread) per face of the activity and per image of the bare embedder loop
 *   (the least over the rounds); embed.<b>.stage.preprocess_ms, .read_ms and .commit_ms: CPU ms
 *   per face of the activity's stages besides inference, each run alone (EmbedBenchRig.stageCosts);
 *   embed.<b>.activity_bound: the most activity_vs_bare.embedder can reach when the embedder's
 *   threads fill every core (embedThroughputBound: inference / (inference + the stages));
 * - embed.<b>.emotiefflib.b32.per_s and .b1.per_s: the real peer, EmotiEffLib 1.1.1 (PyPI
 *   emotiefflib, the HSEmotion author's library; bench/models/emotiefflib_peer.py) on the same
 *   graph file and the same crop files, decoding included, in batches of 32 and of 1; and the
 *   activity's ratios to them, embed.<b>.activity_vs_emotiefflib.b32 and .b1, with what bounds
 *   them: the bare embedder's ratio (embed.<b>.bare_vs_emotiefflib.b32, .b1) and the activity's
 *   at its activity_bound (embed.<b>.activity_vs_emotiefflib.b32.bound, .b1.bound).
 *
 * Graphs: those bench/models/build.sh wrote (AFFECTFLOW_BENCH_MODELS, default
 * ~/.cache/affectflow/bench-models), through `models pull` for the embedding output, and always the
 * EfficientNet-B0 topology built in TypeScript (bench/models/efficientnet.ts) as "ts_enet_b0" and the
 * DDAMFN architecture (bench/models/ddamfn.ts) as "ddamfn". CPU,
 * intra-op threads = cores. Each rate is the best of REPEATS interleaved rounds (activity, then the
 * bare embedder loop, then the one-session loop), so load from other jobs on a shared machine falls
 * on every figure alike and only ever slows a run down.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { isJpeg } from '../media/jpeg.ts';
import type { BackboneDescriptor } from '../models/registry.ts';
import type { Benchmark, Figure } from './harness.ts';
import { emotiEffLibHas, emotiEffLibName, runWithEmotiEffLib } from './models/emotiefflib.ts';
import {
  bareMeasure,
  benchBackbones,
  EmbedBenchRig,
  embedThroughputBound,
  type BareOptions,
} from './models/graphs.ts';

const BATCH = 32;
const FACES = 256;
/** The CLI's default --shard-frames: the activity figure is over 4 shards of it. */
const SHARD_FRAMES = 64;
const REPEATS = 3;

/** Images per second of EmotiEffLib on the crop files in batches of `batch`, decoding included. */
function emotiEffLib(scratch: string, cropsDir: string, d: BackboneDescriptor, batch: number): number {
  const args = [emotiEffLibName(d), cropsDir, String(batch), String(REPEATS), String(d.inputSize)];
  args.push(...d.mean.map(String), ...d.std.map(String));
  return runWithEmotiEffLib<{ per_s: number }>(scratch, d, 'emotiefflib_peer.py', args).per_s;
}

export const benchmarks: Benchmark[] = [
  {
    name: 'embed',
    async run() {
      const scratch = mkdtempSync(join(tmpdir(), 'affectflow-bench-embed-'));
      const rig = new EmbedBenchRig(scratch, 'cpu');
      const { threads, intraOpThreads, runBatch } = rig.options;
      process.stderr.write(
        `bench: embedder ${threads} threads x ${intraOpThreads} intra-op, runs of ${runBatch || BATCH}\n`,
      );
      try {
        // The same crops, as files, for the Python comparison.
        const cropsDir = join(scratch, 'crops');
        mkdirSync(cropsDir);
        const crops = await rig.prepare(FACES, SHARD_FRAMES);
        const concurrency = loadConfig().concurrency.embed;
        crops.forEach((crop, i) =>
          writeFileSync(
            join(cropsDir, `${String(i).padStart(5, '0')}.${isJpeg(crop) ? 'jpg' : 'png'}`),
            crop,
          ),
        );
        const figures: Record<string, Figure> = {};
        for (const descriptor of benchBackbones(scratch)) {
          const b = descriptor.name;
          process.stderr.write(`bench: embed ${b} ...\n`);
          const model = await rig.pull(descriptor);
          const bare = (options: Omit<BareOptions, 'provider' | 'seconds'>) =>
            bareMeasure(model, descriptor, crops, { provider: 'cpu', seconds: 3, ...options });
          // Sessions open in every embedder thread before the activity is timed.
          await rig.embedder.embed(descriptor, crops.slice(0, BATCH));
          let activity = 0;
          let activityCpu = Infinity;
          let one = 0;
          let side = 0;
          let sideCpu = Infinity;
          for (let round = 0; round < REPEATS; round++) {
            const cpu = process.cpuUsage();
            activity = Math.max(activity, await rig.activityRate(b, BATCH, concurrency));
            const { user, system } = process.cpuUsage(cpu);
            activityCpu = Math.min(activityCpu, (user + system) / 1000 / crops.length);
            const embedderLoop = await bare({ threads, intraOpThreads, batch: runBatch || BATCH });
            side = Math.max(side, embedderLoop.perSecond);
            sideCpu = Math.min(sideCpu, embedderLoop.cpuMsPerImage);
            const oneSession = await bare({
              threads: 1,
              intraOpThreads: availableParallelism(),
              batch: BATCH,
            });
            one = Math.max(one, oneSession.perSecond);
          }
          const stages = await rig.stageCosts(descriptor, crops);
          figures[`embed.${b}.bare.b${BATCH}.per_s`] = { value: one, unit: 'images/s' };
          figures[`embed.${b}.bare.embedder.per_s`] = { value: side, unit: 'images/s' };
          figures[`embed.${b}.activity.b${BATCH}.per_s`] = { value: activity, unit: 'embeddings/s' };
          figures[`embed.${b}.activity_vs_bare.b${BATCH}`] = { value: activity / one, unit: 'ratio' };
          figures[`embed.${b}.activity_vs_bare.embedder`] = { value: activity / side, unit: 'ratio' };
          figures[`embed.${b}.activity.cpu_ms_per_face`] = { value: activityCpu, unit: 'ms' };
          figures[`embed.${b}.bare.embedder.cpu_ms_per_image`] = { value: sideCpu, unit: 'ms' };
          figures[`embed.${b}.stage.preprocess_ms`] = { value: stages.preprocess, unit: 'ms' };
          figures[`embed.${b}.stage.read_ms`] = { value: stages.read, unit: 'ms' };
          figures[`embed.${b}.stage.commit_ms`] = { value: stages.commit, unit: 'ms' };
          const bound = embedThroughputBound(sideCpu, stages);
          figures[`embed.${b}.activity_bound`] = { value: bound, unit: 'ratio' };
          if (!emotiEffLibHas(descriptor)) {
            console.log(
              `embed.${b}: no EmotiEffLib figures (EmotiEffLib 1.1.1 has no model of this architecture)`,
            );
            continue;
          }
          for (const batch of [BATCH, 1]) {
            const peer = emotiEffLib(scratch, cropsDir, descriptor, batch);
            figures[`embed.${b}.emotiefflib.b${batch}.per_s`] = { value: peer, unit: 'images/s' };
            figures[`embed.${b}.activity_vs_emotiefflib.b${batch}`] = {
              value: activity / peer,
              unit: 'ratio',
            };
            // What the ratio could reach: the bare embedder's, and the activity's at its bound.
            figures[`embed.${b}.bare_vs_emotiefflib.b${batch}`] = { value: side / peer, unit: 'ratio' };
            figures[`embed.${b}.activity_vs_emotiefflib.b${batch}.bound`] = {
              value: (side * bound) / peer,
              unit: 'ratio',
            };
          }
        }
        return figures;
      } finally {
        await rig.close();
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  },
];
