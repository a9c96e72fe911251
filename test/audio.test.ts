/**
 * Audio (docs/AUDIO.md): the synthetic sound track, 16 kHz PCM extraction against Python's own
 * reading of ffmpeg's WAV, frame-aligned windows, the no-audio finding, and runs on the real
 * Temporal dev server and S3 that commit one audio embedding shard per visual shard (one row per
 * frame, 16-d tiny_audio embeddings), reused by a second run, whose embeddings separate the
 * synthetic expressions on held-out videos.
 */
import test from 'ava';
import { Command } from 'commander';
import { addRunFlags, inputFrom, type RunFlags } from '../cli/runFlags.ts';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { renameSync } from 'node:fs';
import { createEmbedPoolActivities, createFramesPoolActivities } from '../activities/index.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { EXPRESSION_TONES, MIMICRY_TONES, VALENCE_TONE } from '../datasets/syntheticAudio.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC, type SyntheticVideo } from '../datasets/synthetic.ts';
import {
  AUDIO_SAMPLE_RATE,
  DEFAULT_AUDIO_WINDOWING,
  extractPcm,
  frameWindow,
  framesSpan,
  windowSamples,
} from '../media/audio.ts';
import { audioModelFile } from '../models/audioBackbone.ts';
import { getAudioBackbone, TINY_AUDIO, TINY_BACKBONE, wav2vec2BaseDescriptor } from '../models/registry.ts';
import { listCommitted, readCommitted, type CommitRecord } from '../storage/commit.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { decodeEmbeddingShard, type EmbeddingColumns } from './helpers/embeddingShards.ts';
import { python, tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const FPS = TINY_SYNTHETIC.fps;

async function dataset(
  label: string,
  options: Partial<typeof TINY_SYNTHETIC> & { audio?: boolean; testVideos?: number },
) {
  const root = join(tempDir(label), 'ds');
  const { videos } = await generateSyntheticDataset(root, { ...TINY_SYNTHETIC, ...options });
  return { root, videos };
}

test('synthetic sound: ffmpeg PCM matches Python reading ffmpeg WAV, frame count x 640 samples, each frame sounds its expression', async (t) => {
  const { videos } = await dataset('audio-pcm', { trainVideos: 1, validationVideos: 0, framesPerVideo: 40 });
  const video = videos[0]!;
  const pcm = await extractPcm(video.path);
  if (!pcm) return t.fail('expected an audio stream');
  // 40 frames at 25 fps is 1.6 s: exactly 25,600 samples (within one frame of 640 allowed).
  t.true(Math.abs(pcm.length - (video.frames / FPS) * AUDIO_SAMPLE_RATE) <= AUDIO_SAMPLE_RATE / FPS);
  t.is(pcm.length, 25_600);

  // Independent reference: Python's wave module and numpy reading a 16-bit WAV that ffmpeg writes.
  const wav = join(tempDir('audio-wav'), 'ref.wav');
  const made = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-i',
    video.path,
    '-vn',
    '-ac',
    '1',
    '-ar',
    '16000',
    '-c:a',
    'pcm_s16le',
    wav,
  ]);
  t.is(made.status, 0, made.stderr?.toString());
  const ref = python<{ n: number; rate: number; samples: number[]; dominant: number[] }>(
    `
import json, sys, wave, numpy as np
args = json.load(sys.stdin)
with wave.open(args['wav']) as w:
    rate, n = w.getframerate(), w.getnframes()
    x = np.frombuffer(w.readframes(n), dtype='<i2').astype(np.float64) / 32768
tones = np.array(args['tones'])
dominant = []
for i in range(args['frames']):
    seg = x[i * 640:(i + 1) * 640] * np.hanning(640)
    spectrum = np.abs(np.fft.rfft(seg))
    freqs = np.fft.rfftfreq(640, 1 / rate)
    dominant.append(int(np.argmax([spectrum[np.argmin(np.abs(freqs - f))] for f in tones])))
print(json.dumps({'n': n, 'rate': rate, 'samples': x[:2000].tolist(), 'dominant': dominant}))
`,
    { wav, tones: EXPRESSION_TONES, frames: video.frames },
  );
  t.is(ref.rate, 16_000);
  t.is(ref.n, pcm.length);
  const maxDiff = ref.samples.reduce((m, x, i) => Math.max(m, Math.abs(x - pcm[i]!)), 0);
  t.true(maxDiff < 1e-4, `largest difference to the 16-bit reference: ${maxDiff}`);

  // The expression tone is the loudest of the eight in each annotated frame (frames at a segment
  // edge may still glide: at least 90 %).
  const annotated = Array.from(video.expr).flatMap((e, i) =>
    e >= 0 ? [[e, ref.dominant[i]!] as const] : [],
  );
  const heard = annotated.filter(([e, d]) => e === d).length / annotated.length;
  t.true(heard >= 0.9, `expression tone loudest in ${heard} of annotated frames`);

  // A range reads the same samples as the whole stream.
  const part = await extractPcm(video.path, { start: 5_000, end: 6_000 });
  t.deepEqual(Array.from(part!), Array.from(pcm.subarray(5_000, 6_000)));
  // Past the end: only what there is.
  t.is((await extractPcm(video.path, { start: 25_000, end: 30_000 }))!.length, 600);
});

test('windows: centred on (i - 0.5) / fps, hop anchors, spans and zero padding', (t) => {
  const w = frameWindow(1, 25, DEFAULT_AUDIO_WINDOWING);
  t.deepEqual(w, { anchor: 1, centreSeconds: 0.02, startSample: 320 - 4_000, samples: 8_000 });
  const second = frameWindow(10, 30, { windowSeconds: 1, hopFrames: 1 });
  t.is(second.centreSeconds, 9.5 / 30);
  t.is(second.startSample, Math.round((9.5 / 30) * 16_000) - 8_000);
  // Hop of 3 frames: frames 4, 5, 6 share frame 4's window.
  const hop = { windowSeconds: 0.5, hopFrames: 3 };
  t.deepEqual(
    [4, 5, 6, 7].map((f) => frameWindow(f, 25, hop).anchor),
    [4, 4, 4, 7],
  );
  t.is(frameWindow(6, 25, hop).centreSeconds, 3.5 / 25);
  // The span of frames 1..24 at 25 fps: from 0 (clamped) to frame 24's window end.
  t.deepEqual(framesSpan(1, 24, 25, DEFAULT_AUDIO_WINDOWING), { start: 0, end: 23.5 * 640 + 4_000 });
  // Samples before the sound start are zeros; the rest come from the PCM in place.
  const pcm = Float32Array.from({ length: 10_000 }, (_, i) => i + 1);
  const samples = windowSamples(pcm, 0, w);
  t.is(samples.length, 8_000);
  t.is(samples[3_679], 0);
  t.is(samples[3_680], 1);
  t.is(samples[7_999], 8_000 - 3_680);
  // A PCM that starts later (a shard's span) is placed by its first sample.
  const tenth = windowSamples(pcm, 5_000, frameWindow(10, 25, DEFAULT_AUDIO_WINDOWING));
  // Frame 10's window starts at 9.5 x 640 - 4,000 = 2,080, before the PCM's first sample (5,000).
  t.is(tenth[2_919], 0);
  t.is(tenth[2_920], 1);
  t.is(
    windowSamples(pcm, 5_000, frameWindow(20, 25, DEFAULT_AUDIO_WINDOWING))[0],
    19.5 * 640 - 4_000 - 5_000 + 1,
  );
});

test('audio descriptors: tiny_audio and wav2vec2_base; a missing bench file names the path and the build command', (t) => {
  t.like(getAudioBackbone('tiny_audio'), { modality: 'audio', hiddenDim: 16, sampleRate: 16_000 });
  const dir = tempDir('audio-bench-models');
  const wav2vec2 = wav2vec2BaseDescriptor(dir);
  t.like(wav2vec2, { modality: 'audio', name: 'wav2vec2_base', hiddenDim: 768, inputName: 'input_values' });
  t.is(wav2vec2.source.kind === 'url' ? wav2vec2.source.url : '', `file://${dir}/wav2vec2_base.onnx`);
  t.throws(() => getAudioBackbone(TINY_BACKBONE.name), {
    name: 'UnknownAudioBackboneError',
    message: 'audio backbone affectflow-tiny: not in the registry; known: tiny_audio, wav2vec2_base',
  });
  t.throws(() => audioModelFile(wav2vec2, join(dir, 'cache')), {
    name: 'AudioModelError',
    message: `audio backbone wav2vec2_base@1: model file ${dir}/wav2vec2_base.onnx does not exist; build it with \`bash bench/models/build.sh\` (AFFECTFLOW_BENCH_MODELS names the folder) on this worker's machine, then \`affectflow resume <run>\``,
  });
});

test('--audio-backbone puts audioBackbone in the run input (and so in its id); without it the input has none', (t) => {
  const parse = (args: string[]): RunFlags =>
    addRunFlags(new Command())
      .exitOverride()
      .configureOutput({ writeErr: () => {} })
      .parse(args, { from: 'user' })
      .opts<RunFlags>();
  t.false('audioBackbone' in inputFrom('/data', parse([])));
  t.is(inputFrom('/data', parse(['--audio-backbone', 'tiny_audio'])).audioBackbone, 'tiny_audio');
  t.throws(() => parse(['--audio-backbone', 'affectflow-tiny']), {
    message: /expected one of tiny_audio, wav2vec2_base, got affectflow-tiny/,
  });
});

test('a video without audio: one finding line, every audio row marked without sound, nothing fails', async (t) => {
  const { root } = await dataset('audio-none', {
    trainVideos: 1,
    validationVideos: 0,
    framesPerVideo: 24,
    audio: false,
  });
  const config = testConfig('local', 'audio-none');
  const store = openStore(config.store);
  t.teardown(() => store.close());
  const lines: string[] = [];
  const deps = { store, config, log: (line: string) => lines.push(line) };
  const frames = createFramesPoolActivities(deps);
  const embed = createEmbedPoolActivities(deps);
  const { manifestKey } = await frames.manifestDataset({ datasetPath: root, shardFrames: 24 });
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(manifestKey))) as Manifest;
  const shard = manifest.shards[0]!;
  const selection = { audioBackbone: TINY_AUDIO.name };
  const extracted = await frames.extractAudio({ manifestKey, shardId: shard.shardId, ...selection });
  const finding = `video synth-001 (${join(root, 'videos', 'synth-001.mp4')}): no audio stream; going on visual-only`;
  t.deepEqual(extracted.findings, [finding]);
  t.is(extracted.pcmKey, undefined);
  t.deepEqual(lines, [`extractAudio ${shard.shardId}: ${finding}`]);
  const embedded = await embed.embedAudioShard({ manifestKey, shardId: shard.shardId, ...selection });
  t.like(embedded, { rows: 24, noAudioRows: 24, reused: false });
  const columns = await committedColumns(store, embedded.embeddingsKey);
  t.deepEqual(
    columns.keys.map((k) => [k.frame, k.noFace]),
    Array.from({ length: 24 }, (_, i) => [i + 1, true]),
  );
  t.true(columns.embedding.every((x) => x === 0));
});

async function committedColumns(store: ReturnType<typeof openStore>, key: string): Promise<EmbeddingColumns> {
  const read = await readCommitted(store, key);
  if (!read) throw new Error(`expected ${key} committed`);
  return decodeEmbeddingShard(read.bytes);
}

/** Committed shards under `prefix` by shard id (the key's last segment). */
async function committedById(
  store: ReturnType<typeof openStore>,
  prefix: string,
): Promise<Map<string, CommitRecord>> {
  const byId = new Map<string, CommitRecord>();
  for await (const record of listCommitted(store, prefix)) {
    byId.set(record.key.slice(record.key.lastIndexOf('/') + 1).replace(/\.parquet$/, ''), record);
  }
  return byId;
}

test.serial(
  'a run with tiny_audio commits one audio shard per visual shard, one row per frame; a second run rewrites nothing; the embeddings separate the expressions',
  async (t) => {
    const { root, videos } = await dataset('audio-run', {
      seed: 41,
      trainVideos: 3,
      validationVideos: 2,
      testVideos: 1,
      framesPerVideo: 48,
      size: 64,
    });
    // The test video loses its sound track: the run must go on visual-only for it.
    const silent = videos.find((v) => v.split === 'Test_Set')!;
    const stripped = `${silent.path}.silent.mp4`;
    t.is(
      spawnSync('ffmpeg', ['-v', 'error', '-i', silent.path, '-map', '0:v', '-c', 'copy', stripped]).status,
      0,
    );
    renameSync(stripped, silent.path);

    const config = testConfig('s3', 'audio-run');
    const store = openStore(config.store);
    const queues = uniqueQueues('audio-run');
    const workers = await startTestWorkers(config, store, queues);
    t.teardown(async () => {
      await workers.stop();
      store.close();
    });
    const input: ExtractionRunInput = {
      datasetPath: root,
      backbones: [TINY_BACKBONE.name],
      audioBackbone: TINY_AUDIO.name,
      shardFrames: 24,
      maxShardsInFlight: 4,
      embedBatchSize: 32,
      maxCropSide: 64,
      faceSource: 'whole-frame',
      skipTraining: true,
      taskQueues: activityQueues(queues),
    };
    const run = (n: number): Promise<ExtractionRunResult> =>
      workers.client.workflow.execute('extractionRun', {
        taskQueue: queues.orchestrator,
        workflowId: `test-audio-run-${n}-${queues.frames}`,
        args: [input],
      });
    const first = await run(1);
    t.like(first, {
      status: 'completed',
      shards: 12,
      failedCount: 0,
      audioShardsWritten: 12,
      audioShardsReused: 0,
    });

    const visual = await committedById(store, `embeddings/${first.datasetId}/${TINY_BACKBONE.name}@`);
    const audio = await committedById(store, `embeddings/${first.datasetId}/${TINY_AUDIO.name}@`);
    t.is(visual.size, 12);
    t.deepEqual([...audio.keys()].sort(), [...visual.keys()].sort());
    const manifest = JSON.parse(new TextDecoder().decode(await store.get(first.manifestKey))) as Manifest;
    const byVideo = new Map<string, EmbeddingColumns[]>();
    for (const shard of manifest.shards) {
      const columns = await committedColumns(store, audio.get(shard.shardId)!.key);
      t.is(columns.dim, 16);
      t.is(columns.scoresDim, 0);
      t.deepEqual(
        columns.keys.map((k) => [k.video, k.frame, k.faceIndex, k.trackId, k.box, k.detScore]),
        Array.from({ length: shard.lastFrame - shard.firstFrame + 1 }, (_, i) => [
          shard.video,
          shard.firstFrame + i,
          0,
          -1,
          null,
          null,
        ]),
      );
      const withoutSound = columns.keys.filter((k) => k.noFace).length;
      t.is(
        withoutSound,
        shard.video === silent.name ? columns.keys.length : 0,
        `shard ${shard.shardId} of ${shard.video}`,
      );
      byVideo.set(shard.video, [...(byVideo.get(shard.video) ?? []), columns]);
    }

    const second = await run(2);
    t.like(second, { status: 'completed', shardsSkipped: 12, audioShardsWritten: 0, audioShardsReused: 12 });
    const again = await committedById(store, `embeddings/${first.datasetId}/${TINY_AUDIO.name}@`);
    t.deepEqual(
      [...again.entries()].map(([id, r]) => [id, r.object, r.sha256]).sort(),
      [...audio.entries()].map(([id, r]) => [id, r.object, r.sha256]).sort(),
    );
    t.deepEqual(await keysUnder(store, 'tmp/audio-pcm/'), []);

    // Held-out separation: class means of the 16-d embeddings on Train frames, nearest mean on
    // Validation frames, against the majority-class share there (with a margin of 0.3).
    const rows = (split: SyntheticVideo['split']) =>
      videos
        .filter((v) => v.split === split)
        .flatMap((v) =>
          (byVideo.get(v.name) ?? []).flatMap((c) =>
            c.keys.flatMap((k, i) =>
              v.expr[k.frame - 1]! >= 0
                ? [
                    {
                      y: v.expr[k.frame - 1]!,
                      x: c.embedding.subarray(i * 16, (i + 1) * 16),
                      valence: v.va![(k.frame - 1) * 2]!,
                    },
                  ]
                : [],
            ),
          ),
        );
    const train = rows('Train_Set');
    const validation = rows('Validation_Set');
    const means = new Map<number, Float64Array>();
    const counts = new Map<number, number>();
    for (const { y, x } of train) {
      const m = means.get(y) ?? new Float64Array(16);
      x.forEach((v, k) => (m[k]! += v));
      means.set(y, m);
      counts.set(y, (counts.get(y) ?? 0) + 1);
    }
    for (const [y, m] of means) m.forEach((_, k) => (m[k]! /= counts.get(y)!));
    const nearest = (x: Float32Array): number => {
      let best = -1;
      let bestDistance = Infinity;
      for (const [y, m] of means) {
        const distance = x.reduce((s, v, k) => s + (v - m[k]!) ** 2, 0);
        if (distance < bestDistance) [best, bestDistance] = [y, distance];
      }
      return best;
    };
    const accuracy = validation.filter(({ y, x }) => nearest(x) === y).length / validation.length;
    const shares = [...new Set(validation.map((r) => r.y))].map(
      (y) => validation.filter((r) => r.y === y).length,
    );
    const majority = Math.max(...shares) / validation.length;
    t.log(
      `nearest-class-mean accuracy ${accuracy.toFixed(3)} on ${validation.length} Validation frames; majority share ${majority.toFixed(3)}`,
    );
    t.true(
      accuracy >= Math.max(2 * majority, majority + 0.2),
      `accuracy ${accuracy} against majority share ${majority}`,
    );
    // Valence is audible too: the valence tone's feature (dimension 8) follows it.
    const valenceDim = EXPRESSION_TONES.length;
    t.is(valenceDim + 1 + MIMICRY_TONES.length + 1, 16);
    t.true(VALENCE_TONE > 0);
    // Frames without a VA annotation (-5) are left out.
    const all = [...train, ...validation].filter((row) => row.valence >= -1);
    const r = pearson(
      all.map((row) => row.x[valenceDim]!),
      all.map((row) => row.valence),
    );
    t.log(`Pearson r of the valence feature with valence: ${r.toFixed(3)}`);
    t.true(r > 0.6, `r ${r}`);
  },
);

async function keysUnder(store: ReturnType<typeof openStore>, prefix: string): Promise<string[]> {
  const keys: string[] = [];
  for await (const object of store.list(prefix)) keys.push(object.key);
  return keys;
}

function pearson(a: readonly number[], b: readonly number[]): number {
  const n = a.length;
  const ma = a.reduce((s, x) => s + x, 0) / n;
  const mb = b.reduce((s, x) => s + x, 0) / n;
  let sab = 0;
  let saa = 0;
  let sbb = 0;
  for (let i = 0; i < n; i++) {
    sab += (a[i]! - ma) * (b[i]! - mb);
    saa += (a[i]! - ma) ** 2;
    sbb += (b[i]! - mb) ** 2;
  }
  return sab / Math.sqrt(saa * sbb);
}
