/**
 * The audio benchmark's parts (bench/audio.bench.ts, bench/models/audioGraphs.ts) without torch:
 * `--only` picks the audio benchmark alone, build.py's graph descriptions are read and checked,
 * the bare loop runs a small wav2vec2-like conv graph built here (its frames, values and dims
 * checked against a direct computation), the activity rig embeds a synthetic video's sound with
 * tiny_audio, and the benchmark skips with a line when no graph is built.
 */
import test from 'ava';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { benchmarks } from '../bench/audio.bench.ts';
import {
  AudioGraphError,
  benchAudioGraphs,
  checkInput,
  framesFor,
  openAudioBare,
  voiceWindows,
} from '../bench/models/audioGraphs.ts';
import { AudioBenchRig } from '../bench/models/audioRig.ts';
import { benchBackbones } from '../bench/models/graphs.ts';
import { selectBenchmarks } from '../bench/select.ts';
import { seededRandom } from '../base/random.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from '../models/onnxGraph.ts';
import { openGraph } from '../models/onnxRuntime.ts';
import { TINY_AUDIO } from '../models/registry.ts';
import { tempDir } from './helpers/env.ts';

const NAMES = ['e2e', 'embed', 'embed.wav2vec2_base', 'frames'];

test('--only embed.wav2vec2 runs the audio benchmark alone; a longer prefix falls back to the longest benchmark name it starts with', (t) => {
  const pick = (only: string | undefined) => [...selectBenchmarks(NAMES, only)].sort();
  t.deepEqual(pick('embed.wav2vec2'), ['embed.wav2vec2_base']);
  t.deepEqual(pick('embed.wav2vec2_base.bare.per_s'), ['embed.wav2vec2_base']);
  t.deepEqual(pick('embed'), ['embed', 'embed.wav2vec2_base']);
  t.deepEqual(pick('embed.bench_enet_b0'), ['embed']);
  t.deepEqual(pick('frames.decode_yunet_720p'), ['frames']);
  t.deepEqual(pick('e'), ['e2e', 'embed', 'embed.wav2vec2_base']);
  t.deepEqual(pick('store'), []);
  t.deepEqual(pick(undefined), NAMES);
});

const KERNELS = [10, 3];
const STRIDES = [5, 2];
const CHANNELS = 4;

/** input_values [N, S] -> Conv(k10, s5) -> Relu -> Conv(k3, s2) -> [N, T, 4]: a feature encoder in miniature. */
function tinyEncoder(): { model: Uint8Array; w1: Float32Array; w2: Float32Array } {
  const rand = seededRandom(7);
  const w1 = Float32Array.from({ length: CHANNELS * KERNELS[0]! }, () => rand() * 2 - 1);
  const w2 = Float32Array.from({ length: CHANNELS * CHANNELS * KERNELS[1]! }, () => rand() * 2 - 1);
  const model = encodeModel({
    name: 'tiny-encoder',
    input: [floatValueInfo('input_values', ['batch_size', 'samples'])],
    output: [floatValueInfo('last_hidden_state', ['batch_size', 'frames', CHANNELS])],
    initializer: [
      floatTensor('w1', [CHANNELS, 1, KERNELS[0]!], w1),
      floatTensor('w2', [CHANNELS, CHANNELS, KERNELS[1]!], w2),
    ],
    node: [
      node('Unsqueeze', ['input_values'], ['x'], { axes: [1] }),
      node('Conv', ['x', 'w1'], ['c1'], { kernel_shape: [KERNELS[0]!], strides: [STRIDES[0]!] }),
      node('Relu', ['c1'], ['r1']),
      node('Conv', ['r1', 'w2'], ['c2'], { kernel_shape: [KERNELS[1]!], strides: [STRIDES[1]!] }),
      node('Transpose', ['c2'], ['last_hidden_state'], { perm: [0, 2, 1] }),
    ],
  });
  return { model, w1, w2 };
}

/** The tiny encoder's hidden state [c] at (row, frame), computed directly. */
function expected(
  input: Float32Array,
  samples: number,
  row: number,
  frame: number,
  w1: Float32Array,
  w2: Float32Array,
  c: number,
): number {
  let sum = 0;
  for (let k2 = 0; k2 < KERNELS[1]!; k2++) {
    const t1 = frame * STRIDES[1]! + k2;
    for (let c1 = 0; c1 < CHANNELS; c1++) {
      let first = 0;
      for (let k1 = 0; k1 < KERNELS[0]!; k1++)
        first += input[row * samples + t1 * STRIDES[0]! + k1]! * w1[c1 * KERNELS[0]! + k1]!;
      sum += Math.max(0, first) * w2[(c * CHANNELS + c1) * KERNELS[1]! + k2]!;
    }
  }
  return sum;
}

function writeDescription(dir: string, modelPath: string, overrides: Record<string, unknown> = {}): void {
  mkdirSync(join(dir, 'audio'), { recursive: true });
  const description = {
    name: 'bench_tiny_encoder',
    version: 'test',
    modality: 'audio',
    source: { kind: 'url', url: pathToFileURL(modelPath).href, sha256: 'ab'.repeat(32) },
    sampleRate: 16000,
    inputName: 'input_values',
    outputName: 'last_hidden_state',
    hiddenDim: CHANNELS,
    convKernels: KERNELS,
    convStrides: STRIDES,
    frameStrideSamples: 10,
    check: { samples: 1234, frames: 122, rows: [{ batch: 1, frame: 60, first: [0.5, -0.25] }] },
    ...overrides,
  };
  writeFileSync(join(dir, 'audio', 'bench_tiny_encoder.json'), JSON.stringify(description));
}

test('an audio graph description is read from <bench models>/audio, and the image backbone list leaves it out', (t) => {
  const dir = tempDir('bench-audio-describe');
  const modelPath = join(dir, 'bench_tiny_encoder.onnx');
  writeDescription(dir, modelPath);
  const [graph, ...rest] = benchAudioGraphs(dir);
  t.is(rest.length, 0);
  t.like(graph, {
    name: 'bench_tiny_encoder',
    path: modelPath,
    sampleRate: 16000,
    hiddenDim: CHANNELS,
    check: { samples: 1234, frames: 122 },
  });
  t.deepEqual(graph!.check.rows, [{ batch: 1, frame: 60, first: [0.5, -0.25] }]);
  // (1234 - 10) / 5 + 1 = 245 steps, then (245 - 3) / 2 + 1 = 122.
  t.is(framesFor(graph!, 1234), 122);
  t.is(framesFor({ convKernels: [10, 3, 3, 3, 3, 2, 2], convStrides: [5, 2, 2, 2, 2, 2, 2] }, 16000), 49);

  const previous = process.env['AFFECTFLOW_BENCH_MODELS'];
  process.env['AFFECTFLOW_BENCH_MODELS'] = dir;
  try {
    t.deepEqual(
      benchBackbones(tempDir('bench-audio-backbones')).map((d) => d.name),
      ['ts_enet_b0', 'ddamfn'],
    );
  } finally {
    if (previous === undefined) delete process.env['AFFECTFLOW_BENCH_MODELS'];
    else process.env['AFFECTFLOW_BENCH_MODELS'] = previous;
  }

  const bad = tempDir('bench-audio-bad');
  writeDescription(bad, modelPath, { convStrides: [5] });
  const error = t.throws(() => benchAudioGraphs(bad), { instanceOf: AudioGraphError });
  t.is(
    error.message,
    `bench audio graph ${join(bad, 'audio', 'bench_tiny_encoder.json')}: convStrides: expected 2 strides, one per kernel, got [5]; rebuild it with \`bash bench/models/build.sh --only bench_wav2vec2_base\``,
  );
  writeDescription(bad, modelPath, {
    source: { kind: 'url', url: 'https://example.invalid/x.onnx', sha256: 'ab'.repeat(32) },
  });
  t.regex(
    t.throws(() => benchAudioGraphs(bad), { instanceOf: AudioGraphError }).message,
    /: source\.url: expected a file:\/\/ URL, got "https:\/\/example\.invalid\/x\.onnx"; rebuild it with/,
  );
});

test('voice windows are seeded, distinct per window, and normalised to zero mean and unit variance', (t) => {
  const windows = voiceWindows(3, 16000, 16000, 4);
  t.deepEqual(windows, voiceWindows(3, 16000, 16000, 4));
  for (let w = 0; w < 3; w++) {
    const row = windows.subarray(w * 16000, (w + 1) * 16000);
    const mean = row.reduce((a, x) => a + x, 0) / row.length;
    const variance = row.reduce((a, x) => a + (x - mean) ** 2, 0) / row.length;
    t.true(Math.abs(mean) < 1e-5, `window ${w} mean ${mean}`);
    t.true(Math.abs(variance - 1) < 1e-4, `window ${w} variance ${variance}`);
  }
  t.notDeepEqual(windows.subarray(0, 16000), windows.subarray(16000, 32000));
  const check = checkInput(2, 100);
  t.is(check[1], Math.fround(0.5 * Math.sin((2 * Math.PI * 220) / 16000)));
  t.is(check[100 + 1], Math.fround(0.5 * Math.sin((2 * Math.PI * 440) / 16000)));
});

test('the bare loop runs an audio graph on batches of windows: its frames and values are the encoder’s', async (t) => {
  const dir = tempDir('bench-audio-bare');
  const { model, w1, w2 } = tinyEncoder();
  const modelPath = join(dir, 'bench_tiny_encoder.onnx');
  writeFileSync(modelPath, model);
  writeDescription(dir, modelPath);
  const [graph] = benchAudioGraphs(dir);
  const session = await openAudioBare(modelPath, graph!, 1);
  try {
    const windows = voiceWindows(8, 16000, 16000);
    const { perSecond, dims } = await session.rate(windows, 8, 0.2);
    t.deepEqual(dims, [8, framesFor(graph!, 16000), CHANNELS]);
    t.true(perSecond > 0 && Number.isFinite(perSecond), `${perSecond} windows/s`);
    // The values, on the check input of another batch and length (dynamic axes).
    const input = checkInput(2, 1234);
    const { dims: checkDims } = await session.rate(input, 2, 0);
    t.deepEqual(checkDims, [2, 122, CHANNELS]);
  } finally {
    await session.release();
  }
  // And the numbers themselves, through the same runtime module the loop uses.
  const graphSession = await openGraph(modelPath, { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 });
  const input = checkInput(2, 1234);
  const out = (await graphSession.run({ input_values: { data: input, dims: [2, 1234] } }))[
    'last_hidden_state'
  ]!;
  await graphSession.release();
  for (const [row, frame] of [
    [0, 0],
    [1, 60],
    [1, 121],
  ] as const) {
    for (let c = 0; c < CHANNELS; c++) {
      const got = (out.data as Float32Array)[(row * 122 + frame) * CHANNELS + c]!;
      const want = expected(input, 1234, row, frame, w1, w2, c);
      t.true(
        Math.abs(got - want) <= 1e-5 * Math.max(1, Math.abs(want)),
        `row ${row} frame ${frame} channel ${c}: ${got} vs ${want}`,
      );
    }
  }
});

test.serial(
  'the audio benchmark skips with a line naming the folder and the build command when the graph is not built',
  async (t) => {
    const dir = tempDir('bench-audio-none');
    const previous = process.env['AFFECTFLOW_BENCH_MODELS'];
    process.env['AFFECTFLOW_BENCH_MODELS'] = dir;
    const lines: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = (chunk: string | Uint8Array) => {
      lines.push(String(chunk));
      return true;
    };
    try {
      t.is(benchmarks[0]!.name, 'embed.wav2vec2_base');
      t.deepEqual(await benchmarks[0]!.run(), {});
    } finally {
      process.stderr.write = write;
      if (previous === undefined) delete process.env['AFFECTFLOW_BENCH_MODELS'];
      else process.env['AFFECTFLOW_BENCH_MODELS'] = previous;
    }
    t.deepEqual(lines, [
      `bench: embed.wav2vec2_base skipped: no bench_wav2vec2_base graph in ${dir} (build it with \`bash bench/models/build.sh --only bench_wav2vec2_base\`, about 2 minutes after a 4-minute torch install)\n`,
    ]);
  },
);

test('the audio activity rig embeds the picked shards of a synthetic video with sound, every time from nothing committed', async (t) => {
  const rig = new AudioBenchRig(tempDir('bench-audio-rig'));
  t.teardown(() => rig.close());
  t.deepEqual(await rig.prepare(40, 16), [16, 16, 8]);
  const options = { windowSeconds: 1, batchSize: 8, concurrency: 2 };
  const first = await rig.activityRate(TINY_AUDIO.name, { ...options, which: [0, 1] });
  t.is(first.windows, 32);
  t.true(first.perSecond > 0 && Number.isFinite(first.perSecond), `${first.perSecond} windows/s`);
  // Not reused from the first call's commits: the same windows are embedded again.
  t.is((await rig.activityRate(TINY_AUDIO.name, { ...options, which: [2] })).windows, 8);
  t.is((await rig.activityRate(TINY_AUDIO.name, { ...options, which: [0, 1] })).windows, 32);
  const error = await t.throwsAsync(rig.activityRate(TINY_AUDIO.name, { ...options, which: [3] }));
  t.is(error.message, 'AudioBenchRig: no shard 3; prepare() gave 3');
});
