/**
 * Graph surgery on a real-architecture graph: an EfficientNet-B0-topology model (random weights)
 * gains an embedding output; embedding · Wᵀ + b (numpy, W and b read from the graph's initializers)
 * equals the logits.
 */
import test from 'ava';
import { readFileSync, statSync, utimesSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../base/random.ts';
import { buildEfficientNetModel } from '../bench/models/efficientnet.ts';
import { encodeModel, floatTensor, floatValueInfo, node, onnx } from '../models/onnxGraph.ts';
import { openGraph } from '../models/onnxRuntime.ts';
import { exposeGemmInput, exposeGemmInputFile, SurgeryError } from '../models/surgery.ts';
import { python, tempDir } from './helpers/env.ts';

function initializer(model: Uint8Array, name: string): { dims: number[]; values: number[] } {
  const tensor = onnx.ModelProto.decode(model).graph?.initializer?.find((t) => t.name === name);
  if (!tensor?.rawData) throw new Error(`no initializer ${name}`);
  const raw = Uint8Array.from(tensor.rawData);
  return { dims: (tensor.dims ?? []).map(Number), values: Array.from(new Float32Array(raw.buffer)) };
}

test('EfficientNet-B0 graph: surgery exposes the 1280-d embedding, and embedding · Wᵀ + b equals the logits', async (t) => {
  const original = buildEfficientNetModel({ inputSize: 224, classes: 8, seed: 7 });
  const decoded = onnx.ModelProto.decode(original).graph!;
  const ops = new Set((decoded.node ?? []).map((n) => n.opType));
  for (const op of ['Conv', 'Sigmoid', 'Mul', 'Add', 'GlobalAveragePool', 'Flatten', 'Gemm'])
    t.true(ops.has(op), op);
  t.is(
    (decoded.node ?? []).filter(
      (n) => n.opType === 'Conv' && n.attribute?.some((a) => a.name === 'group' && Number(a.i) > 1),
    ).length,
    16,
  );

  const result = exposeGemmInput(original, { label: 'efficientnet_b0' });
  t.false(result.unchanged);
  t.is(result.gemmInput, 'features');
  t.is(result.embeddingDim, 1280);
  t.true(exposeGemmInput(result.model).unchanged, 'surgery is idempotent');

  const session = await openGraph(
    result.model,
    { provider: 'cpu', intraOpThreads: 0, interOpThreads: 1 },
    'b0',
  );
  try {
    t.deepEqual([...session.inputNames], ['input']);
    t.deepEqual([...session.outputNames].sort(), ['embedding', 'output']);
    const n = 2;
    const rand = seededRandom(3);
    const input = Float32Array.from({ length: n * 3 * 224 * 224 }, () => rand() * 4 - 2);
    const out = await session.run({ input: { data: input, dims: [n, 3, 224, 224] } });
    t.deepEqual(out.embedding!.dims, [n, 1280]);
    t.deepEqual(out.output!.dims, [n, 8]);
    const embedding = Array.from(out.embedding!.data as Float32Array);
    const logits = Array.from(out.output!.data as Float32Array);
    const weight = initializer(result.model, 'classifier.weight');
    const bias = initializer(result.model, 'classifier.bias');
    t.deepEqual(weight.dims, [8, 1280]);
    const reference = python<{ maxDiff: number; maxLogit: number; embeddingStd: number }>(
      `
import json, sys, numpy as np
d = json.load(sys.stdin)
e = np.array(d['embedding'], dtype=np.float64).reshape(${n}, 1280)
w = np.array(d['weight'], dtype=np.float64).reshape(8, 1280)
b = np.array(d['bias'], dtype=np.float64)
logits = np.array(d['logits'], dtype=np.float64).reshape(${n}, 8)
print(json.dumps({'maxDiff': float(np.abs(e @ w.T + b - logits).max()),
                  'maxLogit': float(np.abs(logits).max()), 'embeddingStd': float(e.std())}))
`,
      { embedding, weight: weight.values, bias: bias.values, logits },
    );
    t.log(
      `max |embedding · Wᵀ + b - logits| = ${reference.maxDiff.toExponential(2)}, max |logit| = ${reference.maxLogit.toFixed(3)}, embedding std = ${reference.embeddingStd.toFixed(3)}`,
    );
    t.true(reference.maxDiff <= 1e-4, `max difference ${reference.maxDiff}`);
    t.true(reference.maxLogit > 0.1, 'logits are not vanishingly small (the check means something)');
    t.true(reference.embeddingStd > 0.1, 'the embedding is not vanishingly small');
    // The two images differ, so do their embeddings.
    t.notDeepEqual(embedding.slice(0, 1280), embedding.slice(1280));
  } finally {
    await session.release();
  }
});

test('surgery refuses a graph whose scores output does not come from a Gemm, naming the place', (t) => {
  const model = encodeModel({
    name: 'no-gemm',
    input: [floatValueInfo('input', ['N', 4])],
    output: [floatValueInfo('output', ['N', 4])],
    node: [node('Relu', ['input'], ['r']), node('Sigmoid', ['r'], ['output'])],
  });
  const error = t.throws(() => exposeGemmInput(model, { label: 'no-gemm.onnx' }), {
    instanceOf: SurgeryError,
  });
  t.is(
    error.message,
    'graph surgery on no-gemm.onnx: expected output to be produced by a Gemm (through Identity/Flatten/Reshape/Squeeze/Dropout at most), got Sigmoid producing output',
  );
  const missing = t.throws(() => exposeGemmInput(model, { scoresOutput: 'logits', label: 'no-gemm.onnx' }), {
    instanceOf: SurgeryError,
  });
  t.is(missing.message, 'graph surgery on no-gemm.onnx: expected a graph output logits, got [output]');
});

test('surgery through a pass-through node, with a non-transposed weight behind an Identity, cached next to the original', async (t) => {
  const rand = seededRandom(5);
  const w = Float32Array.from({ length: 6 * 3 }, () => rand() - 0.5);
  const model = encodeModel({
    name: 'gemm-identity',
    input: [floatValueInfo('input', ['batch', 6])],
    output: [floatValueInfo('output', ['batch', 3])],
    initializer: [floatTensor('shared.w', [6, 3], w), floatTensor('b', [3], Float32Array.from([1, 2, 3]))],
    node: [
      node('Relu', ['input'], ['h']),
      // The TorchScript exporter shares identical initializers through Identity nodes.
      node('Identity', ['shared.w'], ['w']),
      node('Gemm', ['h', 'w', 'b'], ['g']),
      node('Identity', ['g'], ['output']),
    ],
  });
  const dir = tempDir('surgery');
  const source = join(dir, 'gemm.onnx');
  writeFileSync(source, model);
  const target = exposeGemmInputFile(source);
  t.is(target, join(dir, 'gemm.embedding.onnx'));
  const later = new Date(statSync(target).mtimeMs + 10_000);
  utimesSync(target, later, later);
  const touched = statSync(target).mtimeMs;
  t.is(exposeGemmInputFile(source), target);
  t.is(statSync(target).mtimeMs, touched, 'the cached copy is reused, not rewritten');
  const graph = onnx.ModelProto.decode(readFileSync(target)).graph!;
  const declared = graph.output!.find((o) => o.name === 'embedding')!.type!.tensorType!.shape!.dim!;
  t.deepEqual(
    declared.map((d) => d.dimParam || Number(d.dimValue)),
    ['batch', 6],
  );
  const session = await openGraph(target, { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 });
  try {
    const out = await session.run({
      input: { data: Float32Array.from([1, -1, 2, -2, 3, -3]), dims: [1, 6] },
    });
    t.deepEqual(Array.from(out.embedding!.data as Float32Array), [1, 0, 2, 0, 3, 0]);
  } finally {
    await session.release();
  }
});
