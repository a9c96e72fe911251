/**
 * C-EXPR-DB variants (issue 17 item 6) on compound-class probabilities and face features: choosing
 * a backbone by the KL divergence of its predicted class shares from the class frequencies, and
 * k-means clusters (of scores or embeddings) matched one to one to the compound classes.
 */
import { minCostAssignment } from '../base/assignment.ts';
import { AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import { COMPOUND_BASICS } from './ce.ts';
import { kMeans, type KMeansOptions } from './kmeans.ts';

export class CompoundVariantError extends Error {
  constructor(detail: string) {
    super(`CE variants: ${detail}`);
    this.name = 'CompoundVariantError';
  }
}

/**
 * KL(p || q) in nats, p and q normalised to sum 1 first (as scipy.stats.entropy(p, q)); terms
 * with p = 0 count 0; a q of 0 where p > 0 gives Infinity.
 */
export function klDivergence(p: readonly number[], q: readonly number[]): number {
  if (p.length !== q.length)
    throw new CompoundVariantError(
      `expected two distributions of one length, got ${p.length} and ${q.length}`,
    );
  const sp = p.reduce((a, b) => a + b, 0);
  const sq = q.reduce((a, b) => a + b, 0);
  let kl = 0;
  p.forEach((pi, i) => {
    if (pi > 0) kl += (pi / sp) * Math.log(pi / sp / (q[i]! / sq));
  });
  return kl;
}

/** The mean of each class's probability over the rows of probabilities [n, classes]. */
export function meanProbabilities(probabilities: ArrayLike<number>, n: number, classes: number): number[] {
  if (probabilities.length !== n * classes || n === 0)
    throw new CompoundVariantError(
      `expected ${n} x ${classes} probabilities (n > 0), got ${probabilities.length}`,
    );
  const mean = new Array<number>(classes).fill(0);
  for (let i = 0; i < n; i++)
    for (let c = 0; c < classes; c++) mean[c]! += probabilities[i * classes + c]! / n;
  return mean;
}

export interface BackboneFit {
  readonly backbone: string;
  /** KL(frequencies || predicted shares), nats. */
  readonly kl: number;
  /** The backbone's mean class probabilities over the faces. */
  readonly predicted: readonly number[];
}

/**
 * The candidate backbones ranked by how close their predicted class shares (mean compound
 * probabilities over the faces) are to the class frequencies: KL(frequencies || predicted),
 * least first; ties keep the candidates' order.
 */
export function rankBackbonesByKl(
  candidates: readonly {
    readonly backbone: string;
    readonly probabilities: ArrayLike<number>;
    readonly n: number;
  }[],
  frequencies: readonly number[],
): BackboneFit[] {
  return candidates
    .map((c) => {
      const predicted = meanProbabilities(c.probabilities, c.n, frequencies.length);
      return { backbone: c.backbone, kl: klDivergence(frequencies, predicted), predicted };
    })
    .sort((a, b) => a.kl - b.kl);
}

/**
 * The class of each cluster, one to one, maximising the summed affinity [clusters, classes]
 * (clusters <= classes): e.g. the clusters' mean class probabilities, or their label counts.
 */
export function matchClusters(affinity: ArrayLike<number>, clusters: number, classes: number): Int32Array {
  if (clusters > classes)
    throw new CompoundVariantError(`expected at most ${classes} clusters, got ${clusters}`);
  return minCostAssignment(
    Array.from(affinity, (a) => -a),
    clusters,
    classes,
  );
}

/** Affinity [k, classes]: the mean class probability of each cluster's rows (0 for an empty cluster). */
export function clusterMeanProbabilities(
  cluster: Int32Array,
  k: number,
  probabilities: ArrayLike<number>,
  classes: number,
): Float64Array {
  const sums = new Float64Array(k * classes);
  const counts = new Int32Array(k);
  cluster.forEach((j, i) => {
    counts[j]!++;
    for (let c = 0; c < classes; c++) sums[j * classes + c]! += probabilities[i * classes + c]!;
  });
  return sums.map((s, idx) =>
    counts[Math.floor(idx / classes)]! > 0 ? s / counts[Math.floor(idx / classes)]! : 0,
  );
}

/** Affinity [k, classes]: how many of each cluster's rows carry each label (-1, not annotated, skipped). */
export function clusterLabelCounts(
  cluster: Int32Array,
  k: number,
  labels: ArrayLike<number>,
  classes: number,
): Float64Array {
  const counts = new Float64Array(k * classes);
  cluster.forEach((j, i) => {
    const label = labels[i]!;
    if (label >= 0) counts[j * classes + label]!++;
  });
  return counts;
}

/**
 * Compound classes by clustering: k-means (k = classes) of the rows' features [n, d] (compound
 * scores or embeddings), each cluster given the class its rows' mean zero-shot compound
 * probabilities [n, classes] favour, one class per cluster. Int32 [n] classes, and the clustering's
 * inertia (sum of squared distances to the centres).
 */
export function classesByClusters(
  features: ArrayLike<number>,
  n: number,
  d: number,
  probabilities: ArrayLike<number>,
  classes: number,
  seed: number,
  options: Pick<KMeansOptions, 'starts' | 'heartbeat'> = {},
): { readonly classOf: Int32Array; readonly clusterClass: Int32Array; readonly inertia: number } {
  const { cluster, inertia } = kMeans(features, n, d, { ...options, k: classes, seed });
  const clusterClass = matchClusters(
    clusterMeanProbabilities(cluster, classes, probabilities, classes),
    classes,
    classes,
  );
  return { classOf: cluster.map((j) => clusterClass[j]!), clusterClass, inertia };
}

/** The two Aff-Wild2 class indices averaged into each compound class, in C-EXPR-DB class order. */
const AFFWILD2_COMPOUND_PAIRS: readonly (readonly [number, number])[] = Object.freeze(
  COMPOUND_BASICS.map(([a, b]) => {
    const classes: readonly string[] = AFFWILD2_EXPRESSIONS;
    return [classes.indexOf(a), classes.indexOf(b)] as const;
  }),
);

/**
 * Compound probabilities [n, 7] from an Aff-Wild2 EXPR head's class probabilities [n, 8]: each
 * compound class the mean of its two basic expressions' probabilities (COMPOUND_BASICS), as the
 * zero-shot scores average the backbone's AffectNet ones.
 */
export function compoundFromExpr(probabilities: ArrayLike<number>, n: number): Float64Array {
  const k = AFFWILD2_EXPRESSIONS.length;
  if (probabilities.length !== n * k)
    throw new CompoundVariantError(`expected ${n} x ${k} EXPR probabilities, got ${probabilities.length}`);
  const pairs = AFFWILD2_COMPOUND_PAIRS;
  const out = new Float64Array(n * pairs.length);
  for (let i = 0; i < n; i++)
    pairs.forEach(([a, b], j) => {
      out[i * pairs.length + j] = (probabilities[i * k + a]! + probabilities[i * k + b]!) / 2;
    });
  return out;
}
