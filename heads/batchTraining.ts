/**
 * The epoch loop the float64 JavaScript heads share (heads/linear.ts, heads/emiMlp.ts): a seeded
 * shuffle per epoch, batches copied out of the rows, one Adam step per batch, validation after each
 * epoch and the best epoch's parameters kept (higher is better; NaN keeps the last epoch).
 */
import { Adam } from './adam.ts';

/** x: float [n, dim] rows; target [n, outputs]. */
export interface BatchRows {
  readonly x: ArrayLike<number>;
  readonly n: number;
  readonly dim: number;
  readonly target: ArrayLike<number>;
}

export interface EpochHistory {
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validScore: number }[];
  readonly trainSeconds: number;
}

/**
 * Trains `params` in place: `step` returns the loss of one batch (bx [m, dim], bt [m, outputs])
 * and its gradient per parameter array, in the order of `params`.
 */
export function trainEpochs(
  data: BatchRows,
  outputs: number,
  config: { readonly epochs: number; readonly batchSize: number; readonly learningRate: number },
  rand: () => number,
  params: readonly Float64Array[],
  step: (
    bx: Float64Array,
    bt: Float64Array,
    m: number,
  ) => { loss: number; grads: readonly ArrayLike<number>[] },
  validate: () => number,
): EpochHistory {
  const { n, dim: d } = data;
  const k = outputs;
  const adams = params.map((p) => new Adam(p, config.learningRate));
  const order = Int32Array.from({ length: n }, (_, i) => i);
  const history: { epoch: number; trainLoss: number; validScore: number }[] = [];
  let best: { epoch: number; score: number; params: Float64Array[] } | undefined;
  let trainSeconds = 0;
  for (let epoch = 1; epoch <= config.epochs; epoch++) {
    for (let i = n - 1; i > 0; i--) {
      const j = Math.floor(rand() * (i + 1));
      const t = order[i]!;
      order[i] = order[j]!;
      order[j] = t;
    }
    const started = process.hrtime.bigint();
    let lossSum = 0;
    for (let start = 0; start < n; start += config.batchSize) {
      const m = Math.min(config.batchSize, n - start);
      const bx = new Float64Array(m * d);
      const bt = new Float64Array(m * k);
      for (let r = 0; r < m; r++) {
        const row = order[start + r]!;
        for (let j = 0; j < d; j++) bx[r * d + j] = data.x[row * d + j]!;
        for (let c = 0; c < k; c++) bt[r * k + c] = data.target[row * k + c]!;
      }
      const result = step(bx, bt, m);
      lossSum += result.loss * m;
      result.grads.forEach((grad, i) => adams[i]!.step(grad));
    }
    trainSeconds += Number(process.hrtime.bigint() - started) / 1e9;
    const score = validate();
    history.push({ epoch, trainLoss: lossSum / Math.max(n, 1), validScore: score });
    if (!best || Number.isNaN(score) || score > best.score) {
      best = { epoch, score, params: params.map((p) => p.slice()) };
    }
  }
  if (best) params.forEach((p, i) => p.set(best.params[i]!));
  return { bestEpoch: best?.epoch ?? 0, history, trainSeconds };
}
