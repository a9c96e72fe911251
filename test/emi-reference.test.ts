/**
 * The notebooks' EMI head (heads/emiMlp.ts): Dense(64, relu) -> Dense(6, sigmoid) with a
 * class-weighted Pearson loss and L2 on both kernels; its loss and every gradient against numpy
 * (the same loss written in numpy, gradients by central differences of it), and both EMI heads
 * measured on the same synthetic pooled videos.
 */
import test from 'ava';
import { gaussian, seededRandom } from '../base/random.ts';
import { EMI_DEFAULTS, EMI_LINEAR, EMI_REFERENCE, poolVideo, predictEmi, trainEmi } from '../heads/emi.ts';
import { emiClassWeights, emiMlpLossAndGradient, initEmiMlp } from '../heads/emiMlp.ts';
import { emiScore } from '../heads/metrics.ts';
import { python } from './helpers/env.ts';

test('reference EMI head: loss and gradients of all four parameters equal numpy on a fixed batch', (t) => {
  const rand = seededRandom(21);
  const [n, d, u, k] = [7, 5, 4, 3];
  const x = Array.from({ length: n * d }, () => gaussian(rand));
  const target = Array.from({ length: n * k }, () => rand());
  const weights = emiClassWeights(target, n, k);
  const head = initEmiMlp(d, u, k, weights, rand);
  head.b1.set([0.1, -0.2, 0.05, 0.3]);
  head.b2.set([0.2, -0.1, 0]);
  const l2 = 1 / 512;
  const ours = emiMlpLossAndGradient(head, l2, x, target, n);
  const reference = python<{ loss: number; weights: number[]; grads: Record<string, number[]> }>(
    `
import json, sys, numpy as np
d = json.load(sys.stdin)
n, dim, u, k, l2 = 7, 5, 4, 3, d['l2']
x = np.array(d['x']).reshape(n, dim); y = np.array(d['target']).reshape(n, k)
m = y.mean(axis=0); w = m.max() / m
P = {name: np.array(d[name], dtype=np.float64) for name in ('w1', 'b1', 'w2', 'b2')}
def loss(P):
    h = np.maximum(x @ P['w1'].reshape(dim, u) + P['b1'], 0)
    p = 1 / (1 + np.exp(-(h @ P['w2'].reshape(u, k) + P['b2'])))
    r = [np.corrcoef(p[:, c], y[:, c])[0, 1] for c in range(k)]
    return 1 - (w * r).sum() / w.sum() + l2 * ((P['w1'] ** 2).sum() + (P['w2'] ** 2).sum())
grads = {}
for name, v in P.items():
    g = np.zeros_like(v)
    for i in range(v.size):
        hi = {**P, name: v.copy()}; hi[name][i] += 1e-6
        lo = {**P, name: v.copy()}; lo[name][i] -= 1e-6
        g[i] = (loss(hi) - loss(lo)) / 2e-6
    grads[name] = g.tolist()
print(json.dumps({'loss': float(loss(P)), 'weights': w.tolist(), 'grads': grads}))
`,
    {
      x,
      target,
      l2,
      w1: Array.from(head.w1),
      b1: Array.from(head.b1),
      w2: Array.from(head.w2),
      b2: Array.from(head.b2),
    },
  );
  t.true(Array.from(weights).every((w, c) => Math.abs(w - reference.weights[c]!) < 1e-12));
  t.true(Math.abs(ours.loss - reference.loss) < 1e-12, `loss ${ours.loss} vs ${reference.loss}`);
  let worst = 0;
  for (const name of ['w1', 'b1', 'w2', 'b2'] as const) {
    const g = ours[name];
    const r = reference.grads[name]!;
    t.is(g.length, r.length, name);
    g.forEach((v, i) => (worst = Math.max(worst, Math.abs(v - r[i]!))));
    t.true(
      g.some((v) => Math.abs(v) > 1e-4),
      `${name}: the gradient is not vanishingly small (the check means something)`,
    );
  }
  t.log(`max |gradient - numpy central difference| = ${worst.toExponential(2)}`);
  t.true(worst < 1e-7, `worst gradient difference ${worst}`);
});

/** Pooled score vectors of generated videos whose 6 intensities depend on their score levels. */
function pooledSet(seed: number, videos: number, noise: number, curved: boolean) {
  const rand = seededRandom(seed);
  const k = 10;
  const x: number[] = [];
  const target: number[] = [];
  for (let v = 0; v < videos; v++) {
    const level = Array.from({ length: k }, () => gaussian(rand));
    const frames = 20 + Math.floor(rand() * 20);
    const rows = Float64Array.from({ length: frames * k }, (_, i) => level[i % k]! + noise * gaussian(rand));
    x.push(...poolVideo(rows, frames, k, 5));
    for (let e = 0; e < 6; e++) {
      const other = curved ? level[e + 1]! ** 2 : level[e + 1]!;
      target.push(1 / (1 + Math.exp(-(level[e]! - 0.5 * other))));
    }
  }
  return { x, n: videos, dim: 4 * k, target };
}

test('both EMI heads learn the synthetic intensities; the reference head is the default, the linear one selectable', (t) => {
  t.is(EMI_DEFAULTS, EMI_REFERENCE);
  t.like(EMI_REFERENCE, { head: 'reference', hidden: 64, batchSize: 512, learningRate: 1e-3, l2: 1 / 512 });
  const results: string[] = [];
  const scores: Record<string, number[]> = { linear: [], reference: [] };
  for (const [videos, noise, curved] of [
    [240, 0.5, false],
    [240, 0.5, true],
    [1200, 1.5, true],
  ] as const) {
    const all = pooledSet(31, videos, noise, curved);
    const cut = Math.floor(videos * 0.75);
    const train = { ...all, n: cut, x: all.x.slice(0, cut * all.dim), target: all.target.slice(0, cut * 6) };
    const valid = {
      ...all,
      n: videos - cut,
      x: all.x.slice(cut * all.dim),
      target: all.target.slice(cut * 6),
    };
    for (const [name, config] of [
      ['linear', EMI_LINEAR],
      ['reference', EMI_REFERENCE],
    ] as const) {
      const trained = trainEmi(train, valid, config);
      const score = emiScore(valid.target, predictEmi(trained.head, valid.x, valid.n)).mean;
      scores[name]!.push(score);
      results.push(
        `${videos} videos, noise ${noise}, ${curved ? 'curved' : 'linear'}: ${name} ${score.toFixed(3)} (best epoch ${trained.bestEpoch})`,
      );
    }
  }
  t.log(results.join('\n'));
  for (const s of [...scores['linear']!, ...scores['reference']!]) t.true(s > 0.4, results.join('; '));
});
