/**
 * The embed benchmark's rig (bench/embed.bench.ts) for chosen backbones, in interleaved rounds:
 * per round the embed activity over the rig's shards, then the bare embedder loop, so load from
 * other jobs on a shared machine falls on both alike. Prints each round, the best of each with
 * their ratio, the process CPU time per face of the activity, and the stage costs with the bound
 * they put on the ratio (embedThroughputBound). No EmotiEffLib, no figures written.
 *
 *   node --import tsx bench/embedRounds.ts [--backbones ts_enet_b0,ddamfn] [--rounds 4]
 *     [--shards 4] [--shard-frames 64]
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs } from 'node:util';
import { loadConfig } from '../config/index.ts';
import { bareMeasure, benchBackbones, EmbedBenchRig, embedThroughputBound } from './models/graphs.ts';

const { values } = parseArgs({
  options: {
    backbones: { type: 'string', default: 'ts_enet_b0,ddamfn' },
    rounds: { type: 'string', default: '4' },
    shards: { type: 'string', default: '4' },
    'shard-frames': { type: 'string', default: '64' },
  },
});
const BATCH = 32;
const rounds = Number(values.rounds);
const shardFrames = Number(values['shard-frames']);
const faces = Number(values.shards) * shardFrames;

const scratch = mkdtempSync(join(tmpdir(), 'affectflow-embed-rounds-'));
const rig = new EmbedBenchRig(scratch, 'cpu');
const { threads, intraOpThreads, runBatch } = rig.options;
const concurrency = loadConfig().concurrency.embed;
try {
  const crops = await rig.prepare(faces, shardFrames);
  const wanted = new Set(values.backbones.split(','));
  for (const descriptor of benchBackbones(scratch).filter((d) => wanted.has(d.name))) {
    const b = descriptor.name;
    const model = await rig.pull(descriptor);
    await rig.embedder.embed(descriptor, crops.slice(0, BATCH));
    let bestActivity = 0;
    let bestBare = 0;
    let bareCpu = Infinity;
    let bestDistinct = 0;
    let distinctCpu = Infinity;
    for (let round = 1; round <= rounds; round++) {
      const load = loadavg()[0]!.toFixed(1);
      const cpu = process.cpuUsage();
      const activity = await rig.activityRate(b, BATCH, concurrency);
      const { user, system } = process.cpuUsage(cpu);
      const measured = await bareMeasure(model, descriptor, crops, {
        provider: 'cpu',
        seconds: 3,
        threads,
        intraOpThreads,
        batch: runBatch || BATCH,
      });
      const bare = measured.perSecond;
      bareCpu = Math.min(bareCpu, measured.cpuMsPerImage);
      const distinct = await bareMeasure(model, descriptor, crops, {
        provider: 'cpu',
        seconds: 3,
        threads,
        intraOpThreads,
        batch: runBatch || BATCH,
        distinct: 64,
      });
      bestDistinct = Math.max(bestDistinct, distinct.perSecond);
      distinctCpu = Math.min(distinctCpu, distinct.cpuMsPerImage);
      bestActivity = Math.max(bestActivity, activity);
      bestBare = Math.max(bestBare, bare);
      console.log(
        `${b} round ${round}: activity ${activity.toFixed(1)}/s (${((user + system) / 1000 / faces).toFixed(1)} ms CPU per face), bare.embedder ${bare.toFixed(1)}/s (${measured.cpuMsPerImage.toFixed(1)} ms CPU per image), ratio ${(activity / bare).toFixed(3)}; over 64 distinct crops ${distinct.perSecond.toFixed(1)}/s (${distinct.cpuMsPerImage.toFixed(1)} ms CPU per image) (load ${load})`,
      );
    }
    const stages = await rig.stageCosts(descriptor, crops);
    console.log(
      `${b} best: activity ${bestActivity.toFixed(1)}, bare.embedder ${bestBare.toFixed(1)}, ratio ${(bestActivity / bestBare).toFixed(3)}; over 64 distinct crops ${bestDistinct.toFixed(1)} (${distinctCpu.toFixed(2)} ms CPU per image), ratio ${(bestActivity / bestDistinct).toFixed(3)}; ${faces} faces in ${faces / shardFrames} shards, concurrency ${concurrency}`,
    );
    console.log(
      `${b} CPU ms per face: inference ${bareCpu.toFixed(2)}, preprocess ${stages.preprocess.toFixed(2)}, read ${stages.read.toFixed(2)}, commit ${stages.commit.toFixed(2)}; bound ${embedThroughputBound(bareCpu, stages).toFixed(3)}`,
    );
  }
} finally {
  await rig.close();
  rmSync(scratch, { recursive: true, force: true });
}
