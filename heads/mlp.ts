/**
 * The EXPR head of SPEC §4: embedding -> Dense(hidden, relu) -> Dense(classes, softmax), class-
 * weighted cross-entropy (weight = max_count / count), Adam, best epoch by validation macro F1.
 * Plain typed-array loops; seeded and reproducible.
 */
import { seededRandom } from '../datasets/synthetic.ts';
import { macroF1 } from './metrics.ts';

export interface MlpConfig {
  readonly hidden: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

export const EXPR_MLP_DEFAULTS: MlpConfig = Object.freeze({
  hidden: 128,
  epochs: 10,
  batchSize: 256,
  learningRate: 1e-3,
  seed: 1,
});

/** Samples as rows: x float32 [n, dim], y class indices [n]. */
export interface LabelledSamples {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly dim: number;
}

export interface MlpWeights {
  readonly inputDim: number;
  readonly hidden: number;
  readonly classes: number;
  /** Standardisation fitted on the training set. */
  readonly mean: Float32Array;
  readonly scale: Float32Array;
  readonly w1: Float32Array; // [hidden, inputDim]
  readonly b1: Float32Array;
  readonly w2: Float32Array; // [classes, hidden]
  readonly b2: Float32Array;
}

export interface TrainedMlp {
  readonly weights: MlpWeights;
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validMacroF1: number }[];
  readonly classWeights: Float32Array;
}

function standardisation(data: LabelledSamples): { mean: Float32Array; scale: Float32Array } {
  const { x, n, dim } = data;
  const mean = new Float32Array(dim);
  const scale = new Float32Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += x[i * dim + j]! / n;
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const d = x[i * dim + j]! - mean[j]!;
      scale[j]! += (d * d) / n;
    }
  }
  for (let j = 0; j < dim; j++) scale[j] = 1 / Math.sqrt(scale[j]! + 1e-6);
  return { mean, scale };
}

/** Forward pass for a batch: returns hidden activations and class probabilities. */
function forward(
  w: MlpWeights,
  x: Float32Array,
  rows: ArrayLike<number>,
): { h: Float32Array; p: Float32Array } {
  const { inputDim: d, hidden: hd, classes: c } = w;
  const m = rows.length;
  const h = new Float32Array(m * hd);
  const p = new Float32Array(m * c);
  const input = new Float32Array(d);
  for (let r = 0; r < m; r++) {
    const base = rows[r]! * d;
    for (let j = 0; j < d; j++) input[j] = (x[base + j]! - w.mean[j]!) * w.scale[j]!;
    for (let k = 0; k < hd; k++) {
      let s = w.b1[k]!;
      const wo = k * d;
      for (let j = 0; j < d; j++) s += w.w1[wo + j]! * input[j]!;
      h[r * hd + k] = s > 0 ? s : 0;
    }
    let max = -Infinity;
    for (let o = 0; o < c; o++) {
      let s = w.b2[o]!;
      for (let k = 0; k < hd; k++) s += w.w2[o * hd + k]! * h[r * hd + k]!;
      p[r * c + o] = s;
      if (s > max) max = s;
    }
    let z = 0;
    for (let o = 0; o < c; o++) z += p[r * c + o] = Math.exp(p[r * c + o]! - max);
    for (let o = 0; o < c; o++) p[r * c + o]! /= z;
  }
  return { h, p };
}

export function predictProba(w: MlpWeights, x: Float32Array, n: number): Float32Array {
  return forward(
    w,
    x,
    Array.from({ length: n }, (_, i) => i),
  ).p;
}

export function argmaxRows(p: Float32Array, classes: number): Int32Array {
  const n = p.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let c = 1; c < classes; c++) if (p[i * classes + c]! > p[i * classes + best]!) best = c;
    out[i] = best;
  }
  return out;
}

class Adam {
  private readonly m: Float32Array;
  private readonly v: Float32Array;
  private t = 0;
  constructor(
    private readonly params: Float32Array,
    private readonly lr: number,
  ) {
    this.m = new Float32Array(params.length);
    this.v = new Float32Array(params.length);
  }
  step(grad: Float32Array): void {
    this.t++;
    const b1 = 0.9;
    const b2 = 0.999;
    const c1 = 1 - b1 ** this.t;
    const c2 = 1 - b2 ** this.t;
    for (let i = 0; i < grad.length; i++) {
      const g = grad[i]!;
      this.m[i] = b1 * this.m[i]! + (1 - b1) * g;
      this.v[i] = b2 * this.v[i]! + (1 - b2) * g * g;
      this.params[i]! -= (this.lr * (this.m[i]! / c1)) / (Math.sqrt(this.v[i]! / c2) + 1e-7);
    }
  }
}

export function trainMlpClassifier(
  train: LabelledSamples,
  valid: LabelledSamples,
  classes: number,
  config: MlpConfig = EXPR_MLP_DEFAULTS,
): TrainedMlp {
  const rand = seededRandom(config.seed);
  const d = train.dim;
  const hd = config.hidden;
  const glorot = (fanIn: number, fanOut: number, len: number): Float32Array => {
    const limit = Math.sqrt(6 / (fanIn + fanOut));
    return Float32Array.from({ length: len }, () => (rand() * 2 - 1) * limit);
  };
  const weights: MlpWeights = {
    inputDim: d,
    hidden: hd,
    classes,
    ...standardisation(train),
    w1: glorot(d, hd, hd * d),
    b1: new Float32Array(hd),
    w2: glorot(hd, classes, classes * hd),
    b2: new Float32Array(classes),
  };
  const counts = new Float64Array(classes);
  for (let i = 0; i < train.n; i++) counts[train.y[i]!]!++;
  const maxCount = Math.max(...counts);
  const classWeights = Float32Array.from(counts, (c) => (c > 0 ? maxCount / c : 0));
  const optimisers = [weights.w1, weights.b1, weights.w2, weights.b2].map(
    (p) => new Adam(p, config.learningRate),
  );
  const grads = [weights.w1, weights.b1, weights.w2, weights.b2].map((p) => new Float32Array(p.length));
  const order = Array.from({ length: train.n }, (_, i) => i);
  const history: { epoch: number; trainLoss: number; validMacroF1: number }[] = [];
  let best: { epoch: number; f1: number; snapshot: Float32Array[] } | undefined;
  const input = new Float32Array(d);
  const dh = new Float32Array(hd);

  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    for (let i = order.length - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    let lossSum = 0;
    for (let start = 0; start < order.length; start += config.batchSize) {
      const batch = order.slice(start, start + config.batchSize);
      const { h, p } = forward(weights, train.x, batch);
      grads.forEach((g) => g.fill(0));
      const [gw1, gb1, gw2, gb2] = grads as [Float32Array, Float32Array, Float32Array, Float32Array];
      // Keras-style weighted mean: sum(w_i * loss_i) / batch size.
      const norm = 1 / batch.length;
      for (let r = 0; r < batch.length; r++) {
        const row = batch[r]!;
        const label = train.y[row]!;
        const cw = classWeights[label]!;
        lossSum += -cw * Math.log(Math.max(p[r * classes + label]!, 1e-12));
        dh.fill(0);
        for (let o = 0; o < classes; o++) {
          const g = (p[r * classes + o]! - (o === label ? 1 : 0)) * cw * norm;
          gb2[o]! += g;
          for (let k = 0; k < hd; k++) {
            gw2[o * hd + k]! += g * h[r * hd + k]!;
            dh[k]! += g * weights.w2[o * hd + k]!;
          }
        }
        const base = row * d;
        for (let j = 0; j < d; j++) input[j] = (train.x[base + j]! - weights.mean[j]!) * weights.scale[j]!;
        for (let k = 0; k < hd; k++) {
          if (h[r * hd + k]! <= 0) continue;
          const g = dh[k]!;
          gb1[k]! += g;
          const wo = k * d;
          for (let j = 0; j < d; j++) gw1[wo + j]! += g * input[j]!;
        }
      }
      optimisers.forEach((opt, i) => opt.step(grads[i]!));
    }
    const validF1 =
      valid.n > 0
        ? macroF1(valid.y, argmaxRows(predictProba(weights, valid.x, valid.n), classes), classes)
        : 0;
    history.push({ epoch, trainLoss: lossSum / train.n, validMacroF1: validF1 });
    if (!best || validF1 > best.f1) {
      best = {
        epoch,
        f1: validF1,
        snapshot: [weights.w1, weights.b1, weights.w2, weights.b2].map((p) => p.slice()),
      };
    }
  }
  const snapshot = best?.snapshot;
  if (snapshot) [weights.w1, weights.b1, weights.w2, weights.b2].forEach((p, i) => p.set(snapshot[i]!));
  return { weights, bestEpoch: best?.epoch ?? 0, history, classWeights };
}
