/**
 * C-EXPR-DB variants' arithmetic against independent implementations run by the test in the
 * project venv: minimum-cost assignment against scipy.optimize.linear_sum_assignment, k-means
 * against sklearn.cluster.KMeans, KL divergence against scipy.stats.entropy; and clusters matched
 * to compound classes on generated data whose classes are known.
 */
import test from 'ava';
import { AssignmentError, minCostAssignment } from '../base/assignment.ts';
import { gaussian, seededRandom } from '../base/random.ts';
import {
  classesByClusters,
  clusterLabelCounts,
  klDivergence,
  matchClusters,
  rankBackbonesByKl,
} from '../heads/ceVariants.ts';
import { kMeans } from '../heads/kmeans.ts';
import { python } from './helpers/env.ts';

const rand = seededRandom(17);

function matrix(rows: number, cols: number): number[] {
  return Array.from({ length: rows * cols }, () => Math.round(rand() * 1000) / 10);
}

test('minimum-cost assignment equals scipy linear_sum_assignment on square and wide matrices', (t) => {
  const cases = [
    [7, 7],
    [5, 9],
    [1, 4],
    [12, 12],
  ].map(([r, c]) => ({ rows: r!, cols: c!, cost: matrix(r!, c!) }));
  const scipy = python<{ cols: number[]; total: number }[]>(
    `
import sys, json, numpy as np
from scipy.optimize import linear_sum_assignment
out = []
for case in json.load(sys.stdin):
    cost = np.array(case["cost"], dtype=float).reshape(case["rows"], case["cols"])
    r, c = linear_sum_assignment(cost)
    out.append({"cols": c.tolist(), "total": float(cost[r, c].sum())})
print(json.dumps(out))
`,
    cases,
  );
  cases.forEach(({ rows, cols, cost }, i) => {
    const assigned = minCostAssignment(cost, rows, cols);
    const total = Array.from(assigned).reduce((s, c, r) => s + cost[r * cols + c]!, 0);
    t.true(Math.abs(total - scipy[i]!.total) < 1e-9, `${rows}x${cols}: ${total} vs scipy ${scipy[i]!.total}`);
    t.is(new Set(assigned).size, rows, 'distinct columns');
  });
  t.deepEqual(Array.from(minCostAssignment([4, 1, 3, 2, 0, 5, 3, 2, 2], 3, 3)), [1, 0, 2]);
  t.throws(() => minCostAssignment([1, 2], 2, 1), {
    instanceOf: AssignmentError,
    message: 'assignment: expected at most as many rows as columns, got 2 x 1',
  });
});

/** n points around each of the centres, spread sd. */
function blobs(
  centres: readonly (readonly number[])[],
  n: number,
  sd: number,
): { x: Float64Array; label: Int32Array } {
  const d = centres[0]!.length;
  const x = new Float64Array(centres.length * n * d);
  const label = new Int32Array(centres.length * n);
  centres.forEach((centre, c) => {
    for (let i = 0; i < n; i++) {
      const row = c * n + i;
      label[row] = c;
      for (let t = 0; t < d; t++) x[row * d + t] = centre[t]! + sd * gaussian(rand);
    }
  });
  return { x, label };
}

test('k-means finds the partition and inertia sklearn KMeans finds', (t) => {
  const centres = [
    [0, 0, 0],
    [5, 0, 1],
    [0, 6, -1],
    [5, 5, 5],
    [-4, 3, 2],
  ];
  const { x } = blobs(centres, 40, 0.8);
  const n = x.length / 3;
  const ours = kMeans(x, n, 3, { k: 5, seed: 3 });
  const sk = python<{ labels: number[]; inertia: number }>(
    `
import sys, json, numpy as np
from sklearn.cluster import KMeans
x = np.array(json.load(sys.stdin), dtype=float).reshape(-1, 3)
km = KMeans(n_clusters=5, n_init=10, random_state=0).fit(x)
print(json.dumps({"labels": km.labels_.tolist(), "inertia": float(km.inertia_)}))
`,
    Array.from(x),
  );
  t.true(
    Math.abs(ours.inertia - sk.inertia) <= 1e-9 * sk.inertia,
    `inertia ${ours.inertia} vs sklearn ${sk.inertia}`,
  );
  // Same partition: the cluster pairs (ours, sklearn's) are a one-to-one map.
  const pairs = new Set(Array.from(ours.cluster, (c, i) => `${c}:${sk.labels[i]}`));
  t.is(pairs.size, 5);
});

test('KL divergence equals scipy.stats.entropy; backbones ranked by KL to the class frequencies', (t) => {
  const p = [0.3, 0.1, 0.2, 0.05, 0.15, 0.1, 0.1];
  const q = [0.2, 0.2, 0.1, 0.1, 0.1, 0.2, 0.1];
  const scipy = python<number>(
    `
import sys, json
from scipy.stats import entropy
p, q = json.load(sys.stdin)
print(json.dumps(float(entropy(p, q))))
`,
    [p, q],
  );
  t.true(Math.abs(klDivergence(p, q) - scipy) < 1e-12, `${klDivergence(p, q)} vs ${scipy}`);
  t.is(klDivergence([1, 0], [0, 1]), Infinity);
  // Two faces each: backbone b predicts shares equal to the frequencies, a does not.
  const ranked = rankBackbonesByKl(
    [
      { backbone: 'a', n: 2, probabilities: [...q, ...q] },
      { backbone: 'b', n: 2, probabilities: [...p, ...p] },
    ],
    p,
  );
  t.deepEqual(
    ranked.map((r) => r.backbone),
    ['b', 'a'],
  );
  t.true(Math.abs(ranked[0]!.kl) < 1e-12);
});

test('clusters matched to compound classes: the known classes come back, as scipy matches them', (t) => {
  const classes = 7;
  // Class c around 5 times the c-th unit vector: centres 7 apart, spread 0.5.
  const centres = Array.from({ length: classes }, (_, c) =>
    Array.from({ length: classes }, (_, d) => (d === c ? 5 : 0)),
  );
  const { x, label } = blobs(centres, 30, 0.5);
  const n = label.length;
  // Zero-shot probabilities that lean (60%) to the true class: enough to name each cluster.
  const probabilities = new Float64Array(n * classes);
  label.forEach((c, i) => {
    for (let k = 0; k < classes; k++) probabilities[i * classes + k] = k === c ? 0.6 : 0.4 / (classes - 1);
    // A tenth of the faces lean to a wrong class.
    if (i % 10 === 0)
      [probabilities[i * classes + c], probabilities[i * classes + ((c + 1) % classes)]] = [0.4 / 6, 0.6];
  });
  const { classOf, clusterClass } = classesByClusters(x, n, classes, probabilities, classes, 5);
  t.deepEqual(Array.from(classOf), Array.from(label), 'every face in its true class');
  const { cluster } = kMeans(x, n, classes, { k: classes, seed: 5 });
  const counts = clusterLabelCounts(cluster, classes, label, classes);
  const scipy = python<number[]>(
    `
import sys, json, numpy as np
from scipy.optimize import linear_sum_assignment
c = np.array(json.load(sys.stdin), dtype=float).reshape(7, 7)
print(json.dumps(linear_sum_assignment(c, maximize=True)[1].tolist()))
`,
    Array.from(counts),
  );
  t.deepEqual(Array.from(matchClusters(counts, classes, classes)), scipy);
  t.deepEqual(Array.from(clusterClass), scipy, 'matching by scores agrees with matching by labels here');
});
