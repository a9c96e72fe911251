/**
 * k-means (Lloyd's iterations from greedy k-means++ seeds, the best of several seeded starts by inertia),
 * as sklearn.cluster.KMeans computes it, on row-major float data.
 */
import { seededRandom } from '../base/random.ts';

export interface KMeansOptions {
  readonly k: number;
  readonly seed: number;
  /** Seeded starts; the one with the least inertia wins. Default 10. */
  readonly starts?: number;
  /** Default 300. */
  readonly maxIterations?: number;
  /** Stop when no centre moves by more than this (squared, summed). Default 1e-10. */
  readonly tolerance?: number;
  /** Called after every Lloyd iteration: an activity heartbeats here. */
  readonly heartbeat?: () => void;
}

export interface KMeansResult {
  /** Float64 [k, d]. */
  readonly centres: Float64Array;
  /** Int32 [n]: each row's cluster, 0..k-1. */
  readonly cluster: Int32Array;
  /** Sum of squared distances of the rows to their centres. */
  readonly inertia: number;
}

export class KMeansError extends Error {
  constructor(detail: string) {
    super(`k-means: ${detail}`);
    this.name = 'KMeansError';
  }
}

function squaredDistance(x: ArrayLike<number>, i: number, c: Float64Array, j: number, d: number): number {
  let s = 0;
  for (let t = 0; t < d; t++) {
    const diff = x[i * d + t]! - c[j * d + t]!;
    s += diff * diff;
  }
  return s;
}

/**
 * Greedy k-means++ seeding, as sklearn's: each next centre is the best (least summed squared
 * distance after adding it) of 2 + floor(ln k) candidates drawn with probability proportional to
 * the squared distance to the nearest centre so far.
 */
function seedCentres(
  x: ArrayLike<number>,
  n: number,
  d: number,
  k: number,
  rand: () => number,
): Float64Array {
  const centres = new Float64Array(k * d);
  const copy = (row: number, j: number): void => {
    for (let t = 0; t < d; t++) centres[j * d + t] = x[row * d + t]!;
  };
  const trials = 2 + Math.floor(Math.log(k));
  const distanceTo = (row: number, i: number): number => {
    let s = 0;
    for (let t = 0; t < d; t++) {
      const diff = x[i * d + t]! - x[row * d + t]!;
      s += diff * diff;
    }
    return s;
  };
  const first = Math.floor(rand() * n);
  copy(first, 0);
  const nearest = Float64Array.from({ length: n }, (_, i) => distanceTo(first, i));
  let potential = nearest.reduce((a, b) => a + b, 0);
  const candidate = new Float64Array(n);
  for (let j = 1; j < k; j++) {
    let best = { row: -1, potential: Infinity, nearest: new Float64Array(0) };
    for (let trial = 0; trial < trials; trial++) {
      let target = rand() * potential;
      let pick = n - 1;
      for (let i = 0; i < n; i++) {
        target -= nearest[i]!;
        if (target < 0) {
          pick = i;
          break;
        }
      }
      let total = 0;
      for (let i = 0; i < n; i++) total += candidate[i] = Math.min(nearest[i]!, distanceTo(pick, i));
      if (total < best.potential) best = { row: pick, potential: total, nearest: candidate.slice() };
    }
    copy(best.row, j);
    nearest.set(best.nearest);
    potential = best.potential;
  }
  return centres;
}

function lloyd(
  x: ArrayLike<number>,
  n: number,
  d: number,
  centres: Float64Array,
  k: number,
  maxIterations: number,
  tolerance: number,
  heartbeat?: () => void,
): KMeansResult {
  const cluster = new Int32Array(n);
  const assign = (): number => {
    let inertia = 0;
    for (let i = 0; i < n; i++) {
      let best = 0;
      let bestDistance = Infinity;
      for (let j = 0; j < k; j++) {
        const dist = squaredDistance(x, i, centres, j, d);
        if (dist < bestDistance) {
          bestDistance = dist;
          best = j;
        }
      }
      cluster[i] = best;
      inertia += bestDistance;
    }
    return inertia;
  };
  for (let iteration = 0; iteration < maxIterations; iteration++) {
    heartbeat?.();
    assign();
    const sums = new Float64Array(k * d);
    const counts = new Int32Array(k);
    for (let i = 0; i < n; i++) {
      const j = cluster[i]!;
      counts[j]!++;
      for (let t = 0; t < d; t++) sums[j * d + t]! += x[i * d + t]!;
    }
    let shift = 0;
    for (let j = 0; j < k; j++) {
      // An empty cluster keeps its centre.
      if (counts[j] === 0) continue;
      for (let t = 0; t < d; t++) {
        const next = sums[j * d + t]! / counts[j]!;
        shift += (next - centres[j * d + t]!) ** 2;
        centres[j * d + t] = next;
      }
    }
    if (shift <= tolerance) break;
  }
  return { centres, cluster, inertia: assign() };
}

/** k-means of x, Float [n, d] row-major. */
export function kMeans(x: ArrayLike<number>, n: number, d: number, options: KMeansOptions): KMeansResult {
  const { k, seed } = options;
  if (x.length !== n * d) throw new KMeansError(`expected ${n} x ${d} values, got ${x.length}`);
  if (!(Number.isInteger(k) && k >= 1 && k <= n))
    throw new KMeansError(`expected k to be an integer in 1..${n} (the rows), got ${k}`);
  const rand = seededRandom(seed);
  let best: KMeansResult | null = null;
  for (let start = 0; start < (options.starts ?? 10); start++) {
    const result = lloyd(
      x,
      n,
      d,
      seedCentres(x, n, d, k, rand),
      k,
      options.maxIterations ?? 300,
      options.tolerance ?? 1e-10,
      options.heartbeat,
    );
    if (!best || result.inertia < best.inertia) best = result;
  }
  return best!;
}
