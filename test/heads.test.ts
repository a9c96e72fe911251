/**
 * Heads: gradient checks of every loss against central finite differences of an independent float64
 * implementation, recovery of a known linear relation, seeded reproducibility, and the zero-shot CE
 * and EMI pooling against numpy.
 */
import test from 'ava';
import { seededRandom } from '../base/random.ts';
import { Adam } from '../heads/adam.ts';
import { searchThresholds, auClassWeights } from '../heads/au.ts';
import { compoundProbabilities, maxOverFaces } from '../heads/ce.ts';
import { poolVideo, trainEmiHead } from '../heads/emi.ts';
import { buildMlpTrainingGraph, type MlpOutput } from '../heads/graphs.ts';
import { linearLossAndGradient, predictLinear, type LinearHead } from '../heads/linear.ts';
import { auF1, binaryF1, emiScore, macroF1 } from '../heads/metrics.ts';
import { openMlpPredictor } from '../heads/mlp.ts';
import { argmaxRows } from '../heads/rows.ts';
import { trainVaHead } from '../heads/va.ts';
import { openGraph } from '../models/onnxRuntime.ts';
import { python } from './helpers/env.ts';
import { trainAuHead, trainExprHead } from './helpers/heads.ts';

const gaussian = (rand: () => number): number =>
  Math.sqrt(-2 * Math.log(1 - rand())) * Math.cos(2 * Math.PI * rand());

/** Independent float64 loss of the one-hidden-layer head, as the training graph documents it. */
function mlpLoss(
  output: MlpOutput,
  p: { w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array },
  x: Float32Array,
  target: Float32Array,
  weight: Float32Array,
  n: number,
  d: number,
  h: number,
  c: number,
  scale: number,
): number {
  let loss = 0;
  const softplus = (z: number): number => Math.max(z, 0) + Math.log1p(Math.exp(-Math.abs(z)));
  for (let i = 0; i < n; i++) {
    const hid = new Float64Array(h);
    for (let k = 0; k < h; k++) {
      let s = p.b1[k]!;
      for (let j = 0; j < d; j++) s += x[i * d + j]! * p.w1[j * h + k]!;
      hid[k] = Math.max(s, 0);
    }
    const z = new Float64Array(c);
    for (let o = 0; o < c; o++) {
      let s = p.b2[o]!;
      for (let k = 0; k < h; k++) s += hid[k]! * p.w2[k * c + o]!;
      z[o] = s;
    }
    if (output === 'softmax') {
      const max = Math.max(...z);
      const lse = max + Math.log(z.reduce((a, v) => a + Math.exp(v - max), 0));
      for (let o = 0; o < c; o++) loss -= target[i * c + o]! * (z[o]! - lse);
    } else {
      for (let o = 0; o < c; o++) {
        const t = target[i * c + o]!;
        loss += t * softplus(-z[o]!) + (weight[i * c + o]! - t) * softplus(z[o]!);
      }
    }
  }
  return loss * scale;
}

for (const output of ['softmax', 'sigmoid'] as const) {
  test(`the ${output} training graph's loss and gradients match float64 finite differences`, async (t) => {
    const rand = seededRandom(output === 'softmax' ? 5 : 6);
    const [n, d, h, c] = [7, 5, 6, 4];
    const x = Float32Array.from({ length: n * d }, () => gaussian(rand));
    const target = new Float32Array(n * c);
    const weight = new Float32Array(n * c);
    for (let i = 0; i < n; i++) {
      if (output === 'softmax') target[i * c + (i % c)] = 0.5 + rand() * 2;
      else {
        for (let o = 0; o < c; o++) {
          const y = rand() < 0.4;
          const w1 = 0.5 + rand();
          target[i * c + o] = y ? w1 : 0;
          weight[i * c + o] = y ? w1 : 0.3 + rand();
        }
      }
    }
    const params = {
      w1: Float64Array.from({ length: d * h }, () => gaussian(rand) * 0.7),
      b1: Float64Array.from({ length: h }, () => gaussian(rand) * 0.1),
      w2: Float64Array.from({ length: h * c }, () => gaussian(rand) * 0.7),
      b2: Float64Array.from({ length: c }, () => gaussian(rand) * 0.1),
    };
    const scale = output === 'softmax' ? 1 / n : 1 / (n * c);
    const lr = 0.01;
    const dims = { w1: [d, h], b1: [h], w2: [h, c], b2: [c] };
    const moments = Object.fromEntries(
      (['w1', 'b1', 'w2', 'b2'] as const).map((p) => [
        p,
        {
          m: Float32Array.from(params[p], () => gaussian(rand) * 0.01),
          v: Float32Array.from(params[p], () => rand() * 1e-4),
        },
      ]),
    );
    const adamFeeds = Object.fromEntries(
      (['w1', 'b1', 'w2', 'b2'] as const).flatMap((p) => [
        [`m_${p}`, { data: moments[p]!.m, dims: dims[p] }],
        [`v_${p}`, { data: moments[p]!.v, dims: dims[p] }],
      ]),
    );
    // The graph standardises x itself; the reference loss sees the standardised rows.
    const mean = Float32Array.from({ length: d }, () => gaussian(rand) * 0.3);
    const scaleX = Float32Array.from({ length: d }, () => 0.5 + rand());
    const xs = Float32Array.from(x, (v, i) => (v - mean[i % d]!) * scaleX[i % d]!);
    const session = await openGraph(buildMlpTrainingGraph({ inputDim: d, hidden: h, outputs: c, output }), {
      provider: 'cpu',
      intraOpThreads: 1,
      interOpThreads: 1,
    });
    const result = await session.run({
      x: { data: x, dims: [n, d] },
      mean: { data: mean, dims: [d] },
      scale_x: { data: scaleX, dims: [d] },
      w1: { data: Float32Array.from(params.w1), dims: [d, h] },
      b1: { data: Float32Array.from(params.b1), dims: [h] },
      w2: { data: Float32Array.from(params.w2), dims: [h, c] },
      b2: { data: Float32Array.from(params.b2), dims: [c] },
      target: { data: target, dims: [n, c] },
      ...(output === 'sigmoid' ? { weight: { data: weight, dims: [n, c] } } : {}),
      scale: { data: Float32Array.of(scale), dims: [1] },
      lr: { data: Float32Array.of(lr), dims: [1] },
      ...adamFeeds,
    });
    await session.release();
    const reference = mlpLoss(output, params, xs, target, weight, n, d, h, c, scale);
    const loss = (result['loss']!.data as Float32Array)[0]!;
    t.true(
      Math.abs(loss - reference) < 1e-5 * Math.max(1, Math.abs(reference)),
      `loss ${loss} vs ${reference}`,
    );
    const eps = 1e-6;
    let worst = 0;
    for (const name of ['w1', 'b1', 'w2', 'b2'] as const) {
      const graphGrad = result[`grad_${name}`]!.data as Float32Array;
      const p = params[name];
      t.is(graphGrad.length, p.length);
      for (let i = 0; i < p.length; i++) {
        const keep = p[i]!;
        p[i] = keep + eps;
        const up = mlpLoss(output, params, xs, target, weight, n, d, h, c, scale);
        p[i] = keep - eps;
        const down = mlpLoss(output, params, xs, target, weight, n, d, h, c, scale);
        p[i] = keep;
        const numeric = (up - down) / (2 * eps);
        worst = Math.max(worst, Math.abs(numeric - graphGrad[i]!) / Math.max(1e-3, Math.abs(numeric)));
      }
    }
    t.true(worst < 2e-3, `worst relative gradient error ${worst}`);

    // The in-graph Adam step equals heads/adam.ts from the same moments and gradient.
    let worstStep = 0;
    for (const name of ['w1', 'b1', 'w2', 'b2'] as const) {
      const expected = Float32Array.from(params[name]);
      const adam = new Adam(expected, 1);
      adam.restore(moments[name]!.m, moments[name]!.v);
      adam.stepWithSize(result[`grad_${name}`]!.data as Float32Array, lr);
      const got = result[`new_${name}`]!.data as Float32Array;
      expected.forEach((v, i) => (worstStep = Math.max(worstStep, Math.abs(v - got[i]!))));
      t.is((result[`new_m_${name}`]!.data as Float32Array).length, expected.length);
    }
    t.true(worstStep < 1e-6, `largest difference from the JavaScript Adam step ${worstStep}`);
  });
}

for (const [squash, loss] of [
  ['tanh', 'ccc'],
  ['sigmoid', 'pearson'],
] as const) {
  test(`the linear ${squash} head with ${loss} loss has gradients equal to finite differences`, (t) => {
    const rand = seededRandom(squash === 'tanh' ? 8 : 9);
    const [n, d, k] = [40, 6, squash === 'tanh' ? 2 : 3];
    const x = Float64Array.from({ length: n * d }, () => gaussian(rand));
    const target = Float64Array.from({ length: n * k }, () => rand());
    const head: LinearHead = {
      inputDim: d,
      outputs: k,
      squash,
      mean: Float64Array.from({ length: d }, () => rand() * 0.2),
      scale: Float64Array.from({ length: d }, () => 0.5 + rand()),
      w: Float64Array.from({ length: d * k }, () => gaussian(rand) * 0.5),
      b: Float64Array.from({ length: k }, () => gaussian(rand) * 0.2),
    };
    const l2 = 1 / 1024;
    const analytic = linearLossAndGradient(head, loss, l2, x, target, n);
    const eps = 1e-6;
    let worst = 0;
    for (const [params, grad] of [
      [head.w, analytic.gradW],
      [head.b, analytic.gradB],
    ] as const) {
      for (let i = 0; i < params.length; i++) {
        const keep = params[i]!;
        params[i] = keep + eps;
        const up = linearLossAndGradient(head, loss, l2, x, target, n).loss;
        params[i] = keep - eps;
        const down = linearLossAndGradient(head, loss, l2, x, target, n).loss;
        params[i] = keep;
        const numeric = (up - down) / (2 * eps);
        worst = Math.max(worst, Math.abs(numeric - grad[i]!) / Math.max(1e-4, Math.abs(numeric)));
      }
    }
    t.true(worst < 1e-5, `worst relative gradient error ${worst}`);
  });
}

test('the linear VA head recovers a known linear relation from generated scores', (t) => {
  const rand = seededRandom(12);
  const [n, d] = [3000, 10];
  const w = Float64Array.from({ length: d * 2 }, () => gaussian(rand) * 0.3);
  const b = [0.1, -0.2];
  const scores = Float64Array.from({ length: n * d }, () => gaussian(rand));
  const target = new Float64Array(n * 2);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < 2; c++) {
      let z = b[c]!;
      for (let j = 0; j < d; j++) z += scores[i * d + j]! * w[j * 2 + c]!;
      target[i * 2 + c] = Math.tanh(z);
    }
  }
  const trained = trainVaHead(
    { x: scores, n, dim: d, target },
    { x: scores.subarray(0, 500 * d), n: 500, dim: d, target: target.subarray(0, 1000) },
    { epochs: 60, batchSize: 256, learningRate: 1e-2, l2: 0, seed: 1 },
  );
  const worstW = trained.head.w.reduce((m, v, i) => Math.max(m, Math.abs(v - w[i]!)), 0);
  const worstB = Math.max(...b.map((v, i) => Math.abs(trained.head.b[i]! - v)));
  t.true(worstW < 0.02, `largest kernel error ${worstW}`);
  t.true(worstB < 0.02, `largest bias error ${worstB}`);
  t.true(trained.history.at(-1)!.validScore > 0.999, `validation CCC ${trained.history.at(-1)!.validScore}`);
});

/** Eight well-separated clusters in 64-d with a noisy share of the axes. */
function clusters(seed: number, n: number, d: number, classes: number): { x: Float32Array; y: Int32Array } {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: classes }, () =>
    Float32Array.from({ length: d }, () => gaussian(rand)),
  );
  const y = Int32Array.from({ length: n }, () => Math.floor(rand() * classes));
  const x = new Float32Array(n * d);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < d; j++) x[i * d + j] = centres[y[i]!]![j]! + 1.2 * gaussian(rand);
  return { x, y };
}

test('the EXPR head learns separable classes, picks the best epoch, and is reproducible from its seed', async (t) => {
  const [d, classes] = [64, 8];
  const train = { ...clusters(1, 1200, d, classes), n: 1200, dim: d };
  const validRows = clusters(1, 1600, d, classes);
  const valid = {
    x: validRows.x.subarray(1200 * d),
    y: validRows.y.subarray(1200),
    n: 400,
    dim: d,
  };
  const config = { hidden: 32, epochs: 4, batchSize: 64, learningRate: 1e-3, seed: 3 };
  const a = await trainExprHead(train, valid, classes, config);
  const b = await trainExprHead(train, valid, classes, config);
  const c = await trainExprHead(train, valid, classes, { ...config, seed: 4 });
  t.deepEqual(Array.from(a.head.w1), Array.from(b.head.w1));
  t.notDeepEqual(Array.from(a.head.w1), Array.from(c.head.w1));
  const best = Math.max(...a.history.map((h) => h.validScore));
  t.is(a.history.find((h) => h.validScore === best)!.epoch, a.bestEpoch);
  const predictor = await openMlpPredictor(a.head);
  const f1 = macroF1(valid.y, argmaxRows(await predictor.predict(valid.x, valid.n), classes), classes);
  await predictor.release();
  t.is(f1, best);
  t.true(f1 > 0.9, `validation macro F1 ${f1}`);
});

test('the AU head learns, its class weights follow N/(2 neg), N/(2 pos), and thresholds maximise each F1', async (t) => {
  const rand = seededRandom(14);
  const [n, d, aus] = [1500, 32, 12];
  const x = Float32Array.from({ length: n * d }, () => gaussian(rand));
  const y = new Uint8Array(n * aus);
  for (let i = 0; i < n; i++)
    for (let j = 0; j < aus; j++) y[i * aus + j] = x[i * d + j]! + 0.3 * gaussian(rand) > 0.8 ? 1 : 0;
  const { w0, w1 } = auClassWeights(y, n, aus);
  const pos = Array.from({ length: aus }, (_, j) => y.filter((v, i) => i % aus === j && v === 1).length);
  pos.forEach((p, j) => {
    t.true(Math.abs(w1[j]! - n / (2 * p)) < 1e-4);
    t.true(Math.abs(w0[j]! - n / (2 * (n - p))) < 1e-4);
  });
  const train = { x: x.subarray(0, 1000 * d), y: y.subarray(0, 1000 * aus), n: 1000, dim: d, aus };
  const valid = { x: x.subarray(1000 * d), y: y.subarray(1000 * aus), n: 500, dim: d, aus };
  const trained = await trainAuHead(train, valid, {
    hidden: 32,
    epochs: 8,
    batchSize: 64,
    learningRate: 3e-3,
    seed: 1,
  });
  const predictor = await openMlpPredictor(trained.head);
  const p = await predictor.predict(valid.x, valid.n);
  await predictor.release();
  const search = searchThresholds(p, valid.y, aus);
  for (let j = 0; j < aus; j++) {
    const truth = Array.from({ length: valid.n }, (_, i) => valid.y[i * aus + j]!);
    for (const threshold of [0.1, 0.3, 0.5, 0.7, 0.9]) {
      const f = binaryF1(
        truth,
        truth.map((_, i) => (p[i * aus + j]! >= threshold ? 1 : 0)),
      );
      t.true(
        f <= search.f1[j]! + 1e-12,
        `AU ${j}: threshold ${threshold} scores ${f} > chosen ${search.f1[j]}`,
      );
    }
  }
  const tuned = auF1(
    valid.y,
    Uint8Array.from(p, (v, i) => (v >= search.thresholds[i % aus]! ? 1 : 0)),
  );
  const atHalf = auF1(
    valid.y,
    Uint8Array.from(p, (v) => (v >= 0.5 ? 1 : 0)),
  );
  // Predicting every AU present scores 2p / (1 + p), about 0.33 at these base rates.
  t.true(
    tuned.mean > 0.6 && tuned.mean >= atHalf.mean,
    `tuned AU mean F1 ${tuned.mean}, at 0.5 ${atHalf.mean}`,
  );
});

test('the EMI head learns intensities from pooled scores', (t) => {
  const rand = seededRandom(15);
  const [videos, k] = [240, 10];
  const xs: number[] = [];
  const target: number[] = [];
  for (let v = 0; v < videos; v++) {
    const level = Array.from({ length: k }, () => gaussian(rand));
    const frames = 20 + Math.floor(rand() * 20);
    const rows = Float64Array.from({ length: frames * k }, (_, i) => level[i % k]! + 0.5 * gaussian(rand));
    xs.push(...poolVideo(rows, frames, k, 5));
    for (let e = 0; e < 6; e++) target.push(1 / (1 + Math.exp(-(level[e]! - 0.5 * level[e + 1]!))));
  }
  const dim = 4 * k;
  const train = { x: xs.slice(0, 180 * dim), n: 180, dim, target: target.slice(0, 180 * 6) };
  const valid = { x: xs.slice(180 * dim), n: 60, dim, target: target.slice(180 * 6) };
  const trained = trainEmiHead(train, valid);
  const score = emiScore(valid.target, predictLinear(trained.head, valid.x, valid.n)).mean;
  t.true(score > 0.8, `validation mean Pearson ${score}`);
});

test('CE zero-shot probabilities and EMI pooling equal numpy; the maximum is taken over the faces of a frame', (t) => {
  const rand = seededRandom(16);
  const labels = [
    'Anger',
    'Contempt',
    'Disgust',
    'Fear',
    'Happiness',
    'Neutral',
    'Sadness',
    'Surprise',
    'Valence',
    'Arousal',
  ];
  const n = 30;
  const scores = Float64Array.from({ length: n * 10 }, () => gaussian(rand) * 2);
  const reference = python<{ ce: number[]; pooled: number[] }>(
    `
import json, sys
import numpy as np
d = json.load(sys.stdin)
s = np.array(d['scores']).reshape(-1, 10)
logits = s[:, :8]
p = np.exp(logits - logits.max(axis=1, keepdims=True)); p /= p.sum(axis=1, keepdims=True)
A, C, D, F, H, N, Sa, Su = range(8)
pairs = [(F, Su), (H, Su), (Sa, Su), (D, Su), (A, Su), (Sa, F), (Sa, A)]
ce = np.stack([(p[:, a] + p[:, b]) / 2 for a, b in pairs], axis=1)
sub = s[::5]
pooled = np.concatenate([sub.mean(0), sub.std(0), sub.min(0), sub.max(0)])
print(json.dumps({'ce': ce.ravel().tolist(), 'pooled': pooled.tolist()}))
`,
    { scores: Array.from(scores) },
  );
  const ce = compoundProbabilities(scores, n, labels);
  t.true(ce.every((v, i) => Math.abs(v - reference.ce[i]!) < 1e-12));
  const pooled = poolVideo(scores, n, 10, 5);
  t.true(pooled.every((v, i) => Math.abs(v - reference.pooled[i]!) < 1e-12));
  const merged = maxOverFaces(
    [1, 1, 2, 4, 4, 4],
    [0.1, 0.9, 0.5, 0.2, 0.3, 0.3, 0.2, 0.1, 0.7, 0.4, 0.6, 0.6],
    2,
  );
  t.deepEqual(merged.frames, [1, 2, 4]);
  t.deepEqual(Array.from(merged.rows), [0.5, 0.9, 0.3, 0.3, 0.7, 0.6]);
  t.throws(
    () =>
      compoundProbabilities(
        scores.subarray(0, 10),
        1,
        labels.filter((l) => l !== 'Fear'),
      ),
    {
      message: /^CE: expected 1 x 9 scores, got 10$/,
    },
  );
});
