/** onnxruntime-node inference on the project's generated model, checked against numpy. */
import test from 'ava';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { ApplicationFailure } from '@temporalio/common';
import { classifyErrors } from '../activities/context.ts';
import { ensureModelFile, ModelNotCachedError, OnnxSessions } from '../models/onnxRuntime.ts';
import { getBackbone, TINY_BACKBONE } from '../models/registry.ts';
import { onnx } from '../models/onnxGraph.ts';
import { seededRandom } from '../datasets/synthetic.ts';
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
  t.is(out.embedding.length, n * 256);
  t.is(out.scores.length, n * 8);

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
w = np.array(d['w'], dtype=np.float32).reshape(8, -1)
b = np.array(d['b'], dtype=np.float32)
print(json.dumps({'embedding': pooled.ravel().tolist(), 'scores': (pooled @ w.T + b).ravel().tolist()}))
`,
    {
      input: Array.from(input),
      luminance: init['luminance'],
      w: init['classifier.weight'],
      b: init['classifier.bias'],
    },
  );
  const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>): number =>
    Array.from(a).reduce((m, v, i) => Math.max(m, Math.abs(v - b[i]!)), 0);
  t.true(
    maxDiff(out.embedding, reference.embedding) < 1e-5,
    `embedding differs by ${maxDiff(out.embedding, reference.embedding)}`,
  );
  t.true(
    maxDiff(out.scores, reference.scores) < 1e-4,
    `scores differ by ${maxDiff(out.scores, reference.scores)}`,
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
  const session = await sessions.get(TINY_BACKBONE);
  t.is(session.provider, 'cpu');
  t.is(lines.length, 1);
  t.regex(lines[0]!, /CUDA execution provider unavailable for affectflow-tiny@1 .*falling back to cpu/);
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
  t.true(err!.message.includes('`affectflow models pull enet_b0_8_best_vgaf`'), err!.message);
  // Permanent: retrying on the same worker cannot help, so the shard fails at once and `resume` redoes it.
  const failure = await t.throwsAsync(
    classifyErrors(() => sessions.get(descriptor)),
    { instanceOf: ApplicationFailure },
  );
  t.true((failure as ApplicationFailure).nonRetryable);
  t.is((failure as ApplicationFailure).type, 'ModelNotCachedError');
  await sessions.dispose();
});
