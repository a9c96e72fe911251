/** onnxruntime-node inference on the project's generated model, checked against numpy, and the embedder around it. */
import test from 'ava';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { classifyErrors } from '../activities/context.ts';
import sharp from 'sharp';
import { CropError, preprocessCrops } from '../media/preprocess.ts';
import { Embedder } from '../models/embedder.ts';
import { ensureModelFile, ModelNotCachedError, OnnxSessions } from '../models/onnxRuntime.ts';
import { sha256Hex } from '../base/hashing.ts';
import { backboneId, getBackbone, TINY_BACKBONE } from '../models/registry.ts';
import { onnx } from '../models/onnxGraph.ts';
import { seededRandom } from '../base/random.ts';
import { MISSING_CUDA_MESSAGE, withoutCuda } from './helpers/cuda.ts';
import { python, tempDir } from './helpers/env.ts';

test('the generated tiny backbone runs in onnxruntime-node and matches a numpy reference', async (t) => {
  const cacheDir = join(tempDir('onnx'), 'models');
  const sessions = new OnnxSessions({
    provider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: cacheDir,
  });
  const session = await sessions.get(TINY_BACKBONE);
  t.is(session.provider, 'cpu');
  const n = 3;
  const s = TINY_BACKBONE.inputSize;
  const rand = seededRandom(11);
  const input = Float32Array.from({ length: n * 3 * s * s }, () => rand() * 4 - 2);
  const out = await session.run(input, n);
  t.is(out.embedding.length, n * TINY_BACKBONE.embeddingDim);
  t.is(out.scores.length, n * TINY_BACKBONE.scoresDim);

  // Independent reference: numpy evaluates the same graph from the initializers in the file.
  const model = onnx.ModelProto.decode(readFileSync(ensureModelFile(TINY_BACKBONE, cacheDir)));
  const init = Object.fromEntries(
    model.graph!.initializer!.map((tensor) => [
      tensor.name!,
      Array.from(new Float32Array(Uint8Array.from(tensor.rawData!).buffer)),
    ]),
  );
  const reference = python<{ embedding: number[]; scores: number[] }>(
    `
import json, sys, numpy as np
d = json.load(sys.stdin)
x = np.array(d['input'], dtype=np.float32).reshape(${n}, 3, ${s}, ${s})
lum = np.array(d['luminance'], dtype=np.float32).reshape(3)
gray = np.tensordot(lum, x, axes=([0], [1]))  # [n, s, s]
pooled = gray.reshape(${n}, ${s / 4}, 4, ${s / 4}, 4).mean(axis=(2, 4)).reshape(${n}, -1)
def gemm(a, name):
    w = np.array(d[name + '.weight'], dtype=np.float32).reshape(len(d[name + '.bias']), -1)
    return a @ w.T + np.array(d[name + '.bias'], dtype=np.float32)
features = np.maximum(gemm(pooled, 'features'), 0)
semantic = gemm(features, 'semantic')
embedding = np.maximum(gemm(semantic, 'expand'), 0)
print(json.dumps({'embedding': embedding.ravel().tolist(), 'scores': gemm(embedding, 'classifier').ravel().tolist()}))
`,
    {
      input: Array.from(input),
      luminance: init['luminance'],
      ...Object.fromEntries(
        ['features', 'semantic', 'expand', 'classifier'].flatMap((layer) => [
          [`${layer}.weight`, init[`${layer}.weight`]],
          [`${layer}.bias`, init[`${layer}.bias`]],
        ]),
      ),
    },
  );
  // Relative to the largest reference value: the fitted layers reach values in the tens.
  const relativeDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
    Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0) /
    Math.max(1, ...Array.from(b, Math.abs));
  t.true(
    relativeDiff(out.embedding, reference.embedding) < 1e-5,
    `embedding differs by ${relativeDiff(out.embedding, reference.embedding)} (relative)`,
  );
  t.true(
    relativeDiff(out.scores, reference.scores) < 1e-5,
    `scores differ by ${relativeDiff(out.scores, reference.scores)} (relative)`,
  );
  await sessions.dispose();
});

test('asking for CUDA on a machine without it falls back to the CPU and says so', async (t) => {
  const lines: string[] = [];
  const sessions = new OnnxSessions({
    provider: 'cuda',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: join(tempDir('onnx-cuda'), 'models'),
    log: (line) => lines.push(line),
  });
  const session = await withoutCuda(() => sessions.get(TINY_BACKBONE));
  t.is(session.provider, 'cpu');
  t.deepEqual(lines, [
    `onnxruntime: CUDA execution provider unavailable for ${backboneId(TINY_BACKBONE)} (${MISSING_CUDA_MESSAGE}); falling back to cpu`,
  ]);
  const out = await session.run(new Float32Array(3 * TINY_BACKBONE.inputSize * TINY_BACKBONE.inputSize), 1);
  t.is(out.embedding.length, TINY_BACKBONE.embeddingDim);
  await sessions.dispose();
});

test('an embed worker without a pulled model file says which command fetches it', async (t) => {
  const sessions = new OnnxSessions({
    provider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: join(tempDir('onnx-missing'), 'models'),
  });
  const descriptor = getBackbone('enet_b0_8_best_vgaf');
  const err = await t.throwsAsync(sessions.get(descriptor), { instanceOf: ModelNotCachedError });
  t.true(err.message.includes('`affectflow models pull enet_b0_8_best_vgaf`'), err.message);
  // Permanent: retrying on the same worker cannot help, so the shard fails at once and `resume` redoes it.
  const failure = await t.throwsAsync(
    classifyErrors(() => sessions.get(descriptor)),
    { instanceOf: ApplicationFailure },
  );
  t.true(failure.nonRetryable);
  t.is(failure.type, 'ModelNotCachedError');
  await sessions.dispose();
});

test('the embedder gives the same rows on worker threads as on the calling thread, run by run', async (t) => {
  const cacheDir = join(tempDir('embedder'), 'models');
  const rand = seededRandom(3);
  const crops = await Promise.all(
    Array.from({ length: 7 }, (_, i) => {
      const [w, h] = [40 + i * 9, 50 + i * 5];
      const pixels = Uint8Array.from({ length: w * h * 3 }, () => Math.floor(rand() * 256));
      return sharp(pixels, { raw: { width: w, height: h, channels: 3 } })
        .png()
        .toBuffer();
    }),
  );
  const options = { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1, modelCacheDir: cacheDir } as const;
  // Reference: the whole batch preprocessed and run in one session.run.
  const sessions = new OnnxSessions(options);
  const whole = await (await sessions.get(TINY_BACKBONE)).run(await preprocessCrops(crops, TINY_BACKBONE), 7);
  await sessions.dispose();
  for (const threads of [0, 2]) {
    const embedder = new Embedder({ ...options, threads, runBatch: 3 });
    try {
      const source = await embedder.source(TINY_BACKBONE);
      t.is(source.provider, 'cpu');
      t.is(source.modelSha256, sha256Hex(readFileSync(ensureModelFile(TINY_BACKBONE, cacheDir))));
      const rows = await embedder.embed(TINY_BACKBONE, crops);
      const diff = (a: Float32Array, b: Float32Array): number =>
        a.reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
      t.is(rows.embedding.length, whole.embedding.length);
      t.true(diff(rows.embedding, whole.embedding) < 1e-5, `${threads} threads: embedding differs`);
      t.true(diff(rows.scores, whole.scores) < 1e-5, `${threads} threads: scores differ`);
      // Two activities at once share the threads; each gets its own rows back, in its order.
      const reversed = [...crops].reverse();
      const [again, backwards] = await Promise.all([
        embedder.embed(TINY_BACKBONE, crops),
        embedder.embed(TINY_BACKBONE, reversed),
      ]);
      t.true(diff(again.embedding, whole.embedding) < 1e-5, `${threads} threads: concurrent batch differs`);
      const d = TINY_BACKBONE.embeddingDim;
      for (let i = 0; i < 7; i++) {
        const row = backwards.embedding.subarray(i * d, (i + 1) * d);
        const expected = whole.embedding.subarray((6 - i) * d, (7 - i) * d);
        t.true(diff(row, expected) < 1e-5, `${threads} threads: reversed batch row ${i}`);
      }
      const broken = [...crops];
      broken[5] = Buffer.from([0x89, 0x50, 0x4e, 0x47, 1, 2, 3]);
      const err = await t.throwsAsync(embedder.embed(TINY_BACKBONE, broken), { instanceOf: CropError });
      t.is(err.index, 5, `${threads} threads: the crop's index in the batch, not in its run`);
      // A model problem inside a thread arrives with its type name, so it stays permanent.
      const missing = getBackbone('enet_b0_8_best_vgaf');
      const failure = await t.throwsAsync(
        classifyErrors(() => embedder.source(missing)),
        {
          instanceOf: ApplicationFailure,
        },
      );
      t.is(failure.type, 'ModelNotCachedError');
      t.true(failure.nonRetryable);
    } finally {
      await embedder.close();
    }
  }
});
