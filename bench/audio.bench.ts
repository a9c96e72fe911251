/**
 * Audio embedding throughput (docs/MODELS.md), for wav2vec2_base (wav2vec2-base-960h's
 * architecture with random weights, as bench/models/build.sh builds it) and the generated
 * tiny_audio. Windows are 1.0 s of 16 kHz sound:
 *
 * - embed.<b>.bare.b<N>.per_s: windows per second of a bare session.run loop on batches of N
 *   voice-like windows prepared beforehand, one CPU session with intra-op threads = cores
 *   (models/onnxRuntime.ts): ONNX Runtime's own ceiling for the graph; embed.<b>.bare.per_s the
 *   best of those batches, and embed.<b>.bare.batch which one it was;
 * - embed.<b>.activity.per_s: windows per second of embedAudioShard (the embed pool's audio
 *   activity, its sessions as it opens them) over 2 shards of 32 frames of a synthetic video with
 *   sound, one 1.0 s window per frame, batches of the bare loop's best, the pool's concurrency:
 *   PCM read from the store, windows, inference, pooling, shard written and committed to a local
 *   store (the PCM extraction before it is the frames pool's, not timed); and its ratio to the
 *   bare ceiling, embed.<b>.activity_vs_bare.
 *
 * wav2vec2_base is skipped, with a line saying how to build it, when build.sh has not built the
 * graph. Each figure is the best of REPEATS runs (other load on a shared machine only ever slows a
 * run down).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../config/index.ts';
import { audioModelFile } from '../models/audioBackbone.ts';
import { getAudioBackbone, TINY_AUDIO, type AudioBackboneDescriptor } from '../models/registry.ts';
import type { Benchmark, Figure } from './harness.ts';
import { benchAudioGraphs, openAudioBare, voiceWindows } from './models/audioGraphs.ts';
import { AudioBenchRig } from './models/audioRig.ts';
import { benchModelsDir } from './models/folder.ts';

const WINDOW_SECONDS = 1;
const BATCHES = [1, 8, 16] as const;
const REPEATS = 2;
/** 2 shards of 32 frames timed, after an untimed one of 8 that opens the session. */
const SHARD_FRAMES = 32;
const FRAMES = 2 * SHARD_FRAMES + 8;
const GRAPH = 'bench_wav2vec2_base';

async function best(run: () => Promise<number>): Promise<number> {
  let top = 0;
  for (let i = 0; i < REPEATS; i++) top = Math.max(top, await run());
  return top;
}

/** The bare and activity figures of one audio backbone, its model file already where the registry looks. */
async function audioFigures(
  descriptor: AudioBackboneDescriptor,
  scratch: string,
): Promise<Record<string, Figure>> {
  const prefix = `embed.${descriptor.name}`;
  const figures: Record<string, Figure> = {};
  const { path } = audioModelFile(descriptor, join(scratch, 'models'));
  const samples = WINDOW_SECONDS * descriptor.sampleRate;
  let bare = { perSecond: 0, batch: 0 };
  const session = await openAudioBare(
    path,
    { name: descriptor.name, inputName: descriptor.inputName, outputName: descriptor.hiddenOutput },
    availableParallelism(),
  );
  try {
    for (const batch of BATCHES) {
      const windows = voiceWindows(batch, samples, descriptor.sampleRate);
      const rate = await best(async () => (await session.rate(windows, batch, 3)).perSecond);
      process.stderr.write(`bench: ${prefix} bare batch ${batch}: ${rate.toFixed(2)} windows/s\n`);
      figures[`${prefix}.bare.b${batch}.per_s`] = { value: rate, unit: 'windows/s' };
      if (rate > bare.perSecond) bare = { perSecond: rate, batch };
    }
  } finally {
    await session.release();
  }
  figures[`${prefix}.bare.per_s`] = { value: bare.perSecond, unit: 'windows/s' };
  figures[`${prefix}.bare.batch`] = { value: bare.batch, unit: 'windows' };

  const rig = new AudioBenchRig(scratch);
  try {
    const shards = await rig.prepare(FRAMES, SHARD_FRAMES);
    const options = {
      windowSeconds: WINDOW_SECONDS,
      batchSize: bare.batch,
      concurrency: loadConfig().concurrency.embed,
    };
    // Opens the activity's session (and hashes the model file) before anything is timed.
    await rig.activityRate(descriptor.name, { ...options, which: [shards.length - 1] });
    const activity = await best(
      async () => (await rig.activityRate(descriptor.name, { ...options, which: [0, 1] })).perSecond,
    );
    process.stderr.write(
      `bench: ${prefix} activity (batches of ${bare.batch}, concurrency ${options.concurrency}): ${activity.toFixed(2)} windows/s\n`,
    );
    figures[`${prefix}.activity.per_s`] = { value: activity, unit: 'windows/s' };
    figures[`${prefix}.activity_vs_bare`] = { value: activity / bare.perSecond, unit: 'ratio' };
  } finally {
    rig.close();
  }
  return figures;
}

/** Runs `measure` in a scratch directory that is removed after. */
async function inScratch<T>(label: string, measure: (scratch: string) => Promise<T>): Promise<T> {
  const scratch = mkdtempSync(join(tmpdir(), `affectflow-bench-${label}-`));
  try {
    return await measure(scratch);
  } finally {
    rmSync(scratch, { recursive: true, force: true });
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'embed.wav2vec2_base',
    async run() {
      const graph = benchAudioGraphs().find((g) => g.name === GRAPH);
      if (!graph || !existsSync(graph.path)) {
        process.stderr.write(
          `bench: embed.wav2vec2_base skipped: no ${GRAPH} graph in ${benchModelsDir()} (build it with \`bash bench/models/build.sh --only ${GRAPH}\`, about 2 minutes after a 4-minute torch install)\n`,
        );
        return {};
      }
      return inScratch('audio', (scratch) => audioFigures(getAudioBackbone('wav2vec2_base'), scratch));
    },
  },
  {
    name: 'embed.tiny_audio',
    run: () => inScratch('tiny-audio', (scratch) => audioFigures(TINY_AUDIO, scratch)),
  },
];
