/**
 * DDAMFN and MT-DDAMFN descriptors against a real-architecture DDAMFN graph (random weights,
 * bench/models/ddamfn.ts): `models pull` from a file:// URL replaces the BatchNorm head by identity
 * and exposes the 512-d embedding; embedding · Wᵀ + b (numpy, from the graph's initializers)
 * equals the scores, and the original file's output is BatchNorm of those logits.
 */
import test from 'ava';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { seededRandom } from '../base/random.ts';
import { buildDdamfnModel } from '../bench/models/ddamfn.ts';
import { onnx } from '../models/onnxGraph.ts';
import { openGraph } from '../models/onnxRuntime.ts';
import { pullBackbone } from '../models/pull.ts';
import { ddamfnDescriptor, IMAGENET_MEAN, validateDescriptor } from '../models/registry.ts';
import { exposeGemmInput, SurgeryError } from '../models/surgery.ts';
import { openStore } from '../storage/objectStore.ts';
import { python, tempDir, testConfig } from './helpers/env.ts';

function initializer(model: Uint8Array, name: string): number[] {
  const tensor = onnx.ModelProto.decode(model).graph?.initializer?.find((t) => t.name === name);
  if (!tensor?.rawData) throw new Error(`no initializer ${name}`);
  return Array.from(new Float32Array(Uint8Array.from(tensor.rawData).buffer));
}

test('the DDAMFN graph has the paper’s parts: mixed depthwise convs, two dual-direction attention heads, a BatchNorm head', (t) => {
  const graph = onnx.ModelProto.decode(buildDdamfnModel({ seed: 3 })).graph!;
  const count = (op: string) => (graph.node ?? []).filter((n) => n.opType === op).length;
  t.is(count('HardSigmoid'), 2, 'one h-swish per attention head');
  t.is(count('Max'), 1, 'the heads combine by element-wise max');
  t.is(count('BatchNormalization'), 1);
  t.is(count('Gemm'), 1);
  t.true(count('PRelu') > 20);
  // Every bottleneck's depthwise conv is split into 3x3, 5x5 and 7x7 groups (MixConv).
  const kernels = new Set(
    (graph.node ?? [])
      .filter((n) => n.opType === 'Conv')
      .map((n) => (n.attribute?.find((a) => a.name === 'kernel_shape')?.ints ?? []).join('x')),
  );
  for (const k of ['3x3', '5x5', '7x7', '1x7', '7x1']) t.true(kernels.has(k), k);
  t.is(graph.output?.[0]?.name, 'output');
  // Without the descriptor's BatchNorm-head choice, surgery refuses and says what it found.
  const error = t.throws(() => exposeGemmInput(buildDdamfnModel({ seed: 3 }), { label: 'ddamfn.onnx' }), {
    instanceOf: SurgeryError,
  });
  t.is(
    error.message,
    'graph surgery on ddamfn.onnx: expected output to be produced by a Gemm (through Identity/Flatten/Reshape/Squeeze/Dropout at most), got BatchNormalization producing output',
  );
});

for (const multiTask of [false, true]) {
  const classes = multiTask ? 10 : 8;
  test(`${multiTask ? 'MT-DDAMFN' : 'DDAMFN'}: pulled through its descriptor, embedding [N,512] and scores [N,${classes}] = the logits before the BatchNorm head`, async (t) => {
    const dir = tempDir(multiTask ? 'mt-ddamfn' : 'ddamfn');
    const original = buildDdamfnModel({ classes, seed: multiTask ? 5 : 4 });
    const file = join(dir, 'ddamfn.onnx');
    writeFileSync(file, original);
    const made = ddamfnDescriptor({ multiTask, url: pathToFileURL(file).href, version: 'random' });
    // What `backbones add` stores reads back the same.
    const descriptor = validateDescriptor(JSON.parse(JSON.stringify(made)), 'ddamfn.json');
    t.deepEqual(descriptor, made);
    t.like(descriptor, { inputSize: 112, embeddingDim: 512, scoresDim: classes, scoresHead: 'batchnorm' });
    t.deepEqual(descriptor.mean, [...IMAGENET_MEAN]);
    t.is(descriptor.name, multiTask ? 'mt_ddamfn' : 'ddamfn');
    t.deepEqual(descriptor.scoreLabels.slice(8), multiTask ? ['Valence', 'Arousal'] : []);

    const store = openStore(testConfig('local', `ddamfn-${classes}`).store);
    try {
      const pulled = await pullBackbone(descriptor, { cacheDir: join(dir, 'models'), store, log: () => {} });
      t.true(pulled.surgery);
      const model = new Uint8Array(readFileSync(pulled.path));
      const ops = (onnx.ModelProto.decode(model).graph?.node ?? []).map((n) => n.opType);
      t.false(ops.includes('BatchNormalization'), 'the BatchNorm head is gone');
      const session = await openGraph(
        model,
        { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 },
        'ddamfn',
      );
      const before = await openGraph(
        original,
        { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 },
        'orig',
      );
      try {
        const n = 2;
        const rand = seededRandom(8);
        const input = Float32Array.from({ length: n * 3 * 112 * 112 }, () => rand() * 4 - 2);
        const out = await session.run({ input: { data: input, dims: [n, 3, 112, 112] } });
        const bn = await before.run({ input: { data: input, dims: [n, 3, 112, 112] } });
        t.deepEqual(out.embedding!.dims, [n, 512]);
        t.deepEqual(out.output!.dims, [n, classes]);
        const read = (name: string) => initializer(original, name);
        const reference = python<{
          logitDiff: number;
          bnDiff: number;
          maxLogit: number;
          embeddingStd: number;
        }>(
          `
import json, sys, numpy as np
d = json.load(sys.stdin)
e = np.array(d['embedding']).reshape(${n}, 512); w = np.array(d['w']).reshape(${classes}, 512)
scores = np.array(d['scores']).reshape(${n}, ${classes}); bn = np.array(d['bn']).reshape(${n}, ${classes})
logits = e @ w.T + np.array(d['b'])
expected = (logits - np.array(d['mean'])) / np.sqrt(np.array(d['var']) + 1e-5) * np.array(d['gamma']) + np.array(d['beta'])
print(json.dumps({'logitDiff': float(np.abs(logits - scores).max()), 'bnDiff': float(np.abs(expected - bn).max()),
                  'maxLogit': float(np.abs(scores).max()), 'embeddingStd': float(e.std())}))
`,
          {
            embedding: Array.from(out.embedding!.data as Float32Array),
            scores: Array.from(out.output!.data as Float32Array),
            bn: Array.from(bn.output!.data as Float32Array),
            w: read('fc.weight'),
            b: read('fc.bias'),
            gamma: read('bn.weight'),
            beta: read('bn.bias'),
            mean: read('bn.running_mean'),
            var: read('bn.running_var'),
          },
        );
        t.log(
          `max |e·Wᵀ+b - scores| ${reference.logitDiff.toExponential(2)}, max |BN(logits) - original output| ${reference.bnDiff.toExponential(2)}, max |logit| ${reference.maxLogit.toFixed(3)}, embedding std ${reference.embeddingStd.toFixed(3)}`,
        );
        t.true(reference.logitDiff <= 1e-4, `${reference.logitDiff}`);
        t.true(reference.bnDiff <= 1e-4, `${reference.bnDiff}`);
        t.true(reference.maxLogit > 0.1 && reference.embeddingStd > 0.01, 'values are not vanishingly small');
      } finally {
        await session.release();
        await before.release();
      }
    } finally {
      store.close();
    }
  });
}
