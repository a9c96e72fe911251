/**
 * The EMI head as the reference builds it (SPEC §9): pooled video vector (raw, not standardised)
 * -> Dense(hidden, relu) -> Dense(6, sigmoid), loss 1 - sum_c w_c r_c / sum w (Pearson r per
 * emotion over the rows of a batch, class-weighted) + l2 * (|W1|² + |W2|²), Adam. Float64
 * JavaScript: a few thousand pooled videos of 40 floats.
 *
 * Class weights: the notebooks' exact weighting is not reproduced here; ours follows the EXPR
 * head's max_count / count: w_c = max_j m_j / m_c, m_c the mean training intensity of emotion c
 * (docs/HEADS.md).
 */
import { seededRandom } from '../base/random.ts';
import { trainEpochs } from './batchTraining.ts';
import { correlationLoss, type LinearTrainingSet } from './linear.ts';

export interface EmiMlpConfig {
  readonly hidden: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  /** Keras L2 factor on both kernels. */
  readonly l2: number;
  readonly seed: number;
}

/** w1 [inputDim, hidden], b1 [hidden], w2 [hidden, outputs], b2 [outputs]; raw inputs. */
export interface EmiMlpHead {
  readonly kind: 'mlp';
  readonly inputDim: number;
  readonly hidden: number;
  readonly outputs: number;
  readonly w1: Float64Array;
  readonly b1: Float64Array;
  readonly w2: Float64Array;
  readonly b2: Float64Array;
  /** The loss's weight per output. */
  readonly classWeights: Float64Array;
}

/** max_j m_j / m_c over the columns of target [n, k]; a column with mean 0 gets weight 0. */
export function emiClassWeights(target: ArrayLike<number>, n: number, k: number): Float64Array {
  const mean = new Float64Array(k);
  for (let i = 0; i < n; i++) for (let c = 0; c < k; c++) mean[c]! += target[i * k + c]! / n;
  const max = Math.max(...mean);
  return Float64Array.from(mean, (m) => (m > 0 ? max / m : 0));
}

function forward(head: EmiMlpHead, x: ArrayLike<number>, n: number): { h: Float64Array; y: Float64Array } {
  const { inputDim: d, hidden: u, outputs: k } = head;
  const h = new Float64Array(n * u);
  const y = new Float64Array(n * k);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < u; j++) {
      let z = head.b1[j]!;
      for (let a = 0; a < d; a++) z += x[i * d + a]! * head.w1[a * u + j]!;
      h[i * u + j] = z > 0 ? z : 0;
    }
    for (let c = 0; c < k; c++) {
      let z = head.b2[c]!;
      for (let j = 0; j < u; j++) z += h[i * u + j]! * head.w2[j * k + c]!;
      y[i * k + c] = 1 / (1 + Math.exp(-z));
    }
  }
  return { h, y };
}

/** Outputs float64 [n, outputs] for raw rows x [n, inputDim]. */
export function predictEmiMlp(head: EmiMlpHead, x: ArrayLike<number>, n: number): Float64Array {
  return forward(head, x, n).y;
}

/** Loss and gradients of every parameter on one batch: what the tests check against numpy. */
export function emiMlpLossAndGradient(
  head: EmiMlpHead,
  l2: number,
  x: ArrayLike<number>,
  target: ArrayLike<number>,
  n: number,
): { loss: number; w1: Float64Array; b1: Float64Array; w2: Float64Array; b2: Float64Array } {
  const { inputDim: d, hidden: u, outputs: k } = head;
  const { h, y } = forward(head, x, n);
  const corr = correlationLoss('pearson', y, target, n, k, head.classWeights);
  const g = {
    w1: new Float64Array(d * u),
    b1: new Float64Array(u),
    w2: new Float64Array(u * k),
    b2: new Float64Array(k),
  };
  const dh = new Float64Array(u);
  for (let i = 0; i < n; i++) {
    dh.fill(0);
    for (let c = 0; c < k; c++) {
      const p = y[i * k + c]!;
      const dz = corr.grad[i * k + c]! * p * (1 - p);
      g.b2[c]! += dz;
      for (let j = 0; j < u; j++) {
        g.w2[j * k + c]! += h[i * u + j]! * dz;
        dh[j]! += head.w2[j * k + c]! * dz;
      }
    }
    for (let j = 0; j < u; j++) {
      if (h[i * u + j]! <= 0) continue;
      g.b1[j]! += dh[j]!;
      for (let a = 0; a < d; a++) g.w1[a * u + j]! += x[i * d + a]! * dh[j]!;
    }
  }
  let penalty = 0;
  for (const [w, grad] of [
    [head.w1, g.w1],
    [head.w2, g.w2],
  ] as const) {
    for (let j = 0; j < w.length; j++) {
      penalty += w[j]! * w[j]!;
      grad[j]! += 2 * l2 * w[j]!;
    }
  }
  return { loss: corr.loss + l2 * penalty, ...g };
}

/** Glorot-uniform kernels, zero biases, from `seed`'s stream. */
export function initEmiMlp(
  inputDim: number,
  hidden: number,
  outputs: number,
  classWeights: Float64Array,
  rand: () => number,
): EmiMlpHead {
  const glorot = (fanIn: number, fanOut: number) => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return Float64Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * limit);
  };
  return {
    kind: 'mlp',
    inputDim,
    hidden,
    outputs,
    w1: glorot(inputDim, hidden),
    b1: new Float64Array(hidden),
    w2: glorot(hidden, outputs),
    b2: new Float64Array(outputs),
    classWeights,
  };
}

export interface TrainedEmiMlp {
  readonly head: EmiMlpHead;
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validScore: number }[];
  readonly trainSeconds: number;
}

/** Adam on shuffled batches; the best epoch by `validate` (higher is better; NaN keeps the last). */
export function trainEmiMlp(
  data: LinearTrainingSet,
  outputs: number,
  config: EmiMlpConfig,
  validate: (head: EmiMlpHead) => number,
): TrainedEmiMlp {
  const { n, dim: d } = data;
  const k = outputs;
  const rand = seededRandom(config.seed);
  const head = initEmiMlp(d, config.hidden, k, emiClassWeights(data.target, n, k), rand);
  const trained = trainEpochs(
    data,
    k,
    config,
    rand,
    [head.w1, head.b1, head.w2, head.b2],
    (bx, bt, m) => {
      const step = emiMlpLossAndGradient(head, config.l2, bx, bt, m);
      return { loss: step.loss, grads: [step.w1, step.b1, step.w2, step.b2] };
    },
    () => validate(head),
  );
  return { head, ...trained };
}
