/**
 * Linear heads with a squashing output and a correlation loss, trained in float64 JavaScript (the
 * inputs are 8 to 40 wide, so a graph runtime would only add overhead):
 * VA: Dense(2, tanh) on the backbone scores with loss 1 - mean CCC and L2 on the kernel;
 * EMI: Dense(6, sigmoid) on pooled video vectors with loss 1 - mean Pearson r.
 * The correlations are taken over the rows of each batch, as the reference's Keras losses do.
 */
import { seededRandom } from '../base/random.ts';
import { trainEpochs } from './batchTraining.ts';

export type Squash = 'tanh' | 'sigmoid';
export type CorrelationLoss = 'ccc' | 'pearson';

export interface LinearConfig {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Keras L2 factor on the kernel: loss += l2 * sum(w^2). */
  readonly l2: number;
  readonly seed: number;
}

/** A linear head: w [inputDim, outputs] row-major, b [outputs]; standardisation of the inputs. */
export interface LinearHead {
  readonly inputDim: number;
  readonly outputs: number;
  readonly squash: Squash;
  readonly mean: Float64Array;
  readonly scale: Float64Array;
  readonly w: Float64Array;
  readonly b: Float64Array;
}

/** x: float [n, inputDim] raw rows; target [n, outputs]. */
export interface LinearTrainingSet {
  readonly x: ArrayLike<number>;
  readonly n: number;
  readonly dim: number;
  readonly target: ArrayLike<number>;
}

/**
 * 1 - mean over columns of the correlation (CCC or Pearson, population moments) between pred and
 * truth columns, and its gradient with respect to pred. pred, truth: [n, k] row-major.
 * A column whose denominator is 0 contributes correlation 0 and no gradient.
 */
export function correlationLoss(
  kind: CorrelationLoss,
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  n: number,
  k: number,
  /** Weight per column: 1 - sum(w_c r_c) / sum(w), the EMI reference's class weighting; uniform if absent. */
  weights?: ArrayLike<number>,
): { loss: number; grad: Float64Array } {
  if (weights) return weightedCorrelationLoss(kind, pred, truth, n, k, weights);
  const grad = new Float64Array(n * k);
  let sum = 0;
  for (let c = 0; c < k; c++) {
    let mx = 0;
    let my = 0;
    for (let i = 0; i < n; i++) {
      mx += pred[i * k + c]!;
      my += truth[i * k + c]!;
    }
    mx /= n;
    my /= n;
    let vx = 0;
    let vy = 0;
    let cov = 0;
    for (let i = 0; i < n; i++) {
      const dx = pred[i * k + c]! - mx;
      const dy = truth[i * k + c]! - my;
      vx += dx * dx;
      vy += dy * dy;
      cov += dx * dy;
    }
    vx /= n;
    vy /= n;
    cov /= n;
    if (kind === 'ccc') {
      const d = vx + vy + (mx - my) ** 2;
      if (d === 0) continue;
      const r = (2 * cov) / d;
      sum += r;
      // dCCC/dx_i = 2 / (n d) * ((y_i - my) - CCC (x_i - my))
      for (let i = 0; i < n; i++) {
        const dr = (2 / (n * d)) * (truth[i * k + c]! - my - r * (pred[i * k + c]! - my));
        grad[i * k + c] = -dr / k;
      }
    } else {
      if (vx === 0 || vy === 0) continue;
      const sxy = Math.sqrt(vx * vy);
      const r = cov / sxy;
      sum += r;
      // dr/dx_i = ((y_i - my) / (sx sy) - r (x_i - mx) / vx) / n
      for (let i = 0; i < n; i++) {
        const dr = ((truth[i * k + c]! - my) / sxy - (r * (pred[i * k + c]! - mx)) / vx) / n;
        grad[i * k + c] = -dr / k;
      }
    }
  }
  return { loss: 1 - sum / k, grad };
}

/** correlationLoss with column weights: each column's share of loss and gradient is w_c / sum(w). */
function weightedCorrelationLoss(
  kind: CorrelationLoss,
  pred: ArrayLike<number>,
  truth: ArrayLike<number>,
  n: number,
  k: number,
  weights: ArrayLike<number>,
): { loss: number; grad: Float64Array } {
  let total = 0;
  for (let c = 0; c < k; c++) total += weights[c]!;
  const grad = new Float64Array(n * k);
  let loss = 1;
  const column = new Float64Array(n);
  const truthColumn = new Float64Array(n);
  for (let c = 0; c < k; c++) {
    for (let i = 0; i < n; i++) {
      column[i] = pred[i * k + c]!;
      truthColumn[i] = truth[i * k + c]!;
    }
    // One column through the uniform path: its loss is 1 - r_c and its gradient -dr_c/dx.
    const one = correlationLoss(kind, column, truthColumn, n, 1);
    const share = weights[c]! / total;
    loss -= share * (1 - one.loss);
    for (let i = 0; i < n; i++) grad[i * k + c] = share * one.grad[i]!;
  }
  return { loss, grad };
}

/** Outputs for raw rows x [n, inputDim]: squash(standardised x . w + b), float64 [n, outputs]. */
export function predictLinear(head: LinearHead, x: ArrayLike<number>, n: number): Float64Array {
  const { inputDim: d, outputs: k } = head;
  const out = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      let z = head.b[c]!;
      for (let j = 0; j < d; j++) z += (x[i * d + j]! - head.mean[j]!) * head.scale[j]! * head.w[j * k + c]!;
      out[i * k + c] = head.squash === 'tanh' ? Math.tanh(z) : 1 / (1 + Math.exp(-z));
    }
  }
  return out;
}

/**
 * Loss (correlation loss + l2 * sum(w^2)) of the head on raw rows and its gradients with respect to
 * w and b: the function the gradient checks hold against finite differences.
 */
export function linearLossAndGradient(
  head: LinearHead,
  loss: CorrelationLoss,
  l2: number,
  x: ArrayLike<number>,
  target: ArrayLike<number>,
  n: number,
): { loss: number; gradW: Float64Array; gradB: Float64Array } {
  const { inputDim: d, outputs: k } = head;
  const pred = predictLinear(head, x, n);
  const corr = correlationLoss(loss, pred, target, n, k);
  const gradW = new Float64Array(d * k);
  const gradB = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let c = 0; c < k; c++) {
      const y = pred[i * k + c]!;
      const dz = corr.grad[i * k + c]! * (head.squash === 'tanh' ? 1 - y * y : y * (1 - y));
      if (dz === 0) continue;
      gradB[c]! += dz;
      for (let j = 0; j < d; j++) gradW[j * k + c]! += (x[i * d + j]! - head.mean[j]!) * head.scale[j]! * dz;
    }
  }
  let penalty = 0;
  for (let j = 0; j < d * k; j++) {
    penalty += head.w[j]! * head.w[j]!;
    gradW[j]! += 2 * l2 * head.w[j]!;
  }
  return { loss: corr.loss + l2 * penalty, gradW, gradB };
}

export interface TrainedLinear {
  readonly head: LinearHead;
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validScore: number }[];
  readonly trainSeconds: number;
}

/**
 * Adam on shuffled batches; the best epoch by `validate` (higher is better; NaN = no validation,
 * the last epoch is kept). standardise: fit input moments on the training rows (EMI pooled
 * vectors) or feed the rows as they are (VA scores, as the reference does).
 */
export function trainLinear(
  data: LinearTrainingSet,
  outputs: number,
  squash: Squash,
  loss: CorrelationLoss,
  config: LinearConfig,
  validate: (head: LinearHead) => number,
  standardise: boolean,
): TrainedLinear {
  const { n, dim: d } = data;
  const k = outputs;
  if (data.x.length !== n * d || data.target.length !== n * k) {
    throw new Error(
      `linear head: expected x [${n}, ${d}] and target [${n}, ${k}], got ${data.x.length} and ${data.target.length} values`,
    );
  }
  const rand = seededRandom(config.seed);
  const mean = new Float64Array(d);
  const scale = new Float64Array(d).fill(1);
  if (standardise && n > 0) {
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j]! += data.x[i * d + j]! / n;
    const variance = new Float64Array(d);
    for (let i = 0; i < n; i++)
      for (let j = 0; j < d; j++) variance[j]! += (data.x[i * d + j]! - mean[j]!) ** 2 / n;
    for (let j = 0; j < d; j++) scale[j] = 1 / Math.sqrt(variance[j]! + 1e-6);
  }
  const limit = Math.sqrt(6 / (d + k));
  const head: LinearHead = {
    inputDim: d,
    outputs: k,
    squash,
    mean,
    scale,
    w: Float64Array.from({ length: d * k }, () => (rand() * 2 - 1) * limit),
    b: new Float64Array(k),
  };
  const trained = trainEpochs(
    data,
    k,
    config,
    rand,
    [head.w, head.b],
    (bx, bt, m) => {
      const step = linearLossAndGradient(head, loss, config.l2, bx, bt, m);
      return { loss: step.loss, grads: [step.gradW, step.gradB] };
    },
    () => validate(head),
  );
  return { head, ...trained };
}
