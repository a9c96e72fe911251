/**
 * Training the one-hidden-layer heads (EXPR, AU) on ONNX Runtime: per batch, the training graph of
 * heads/graphs.ts returns loss and gradients, and Adam updates the parameters here. Inputs are
 * standardised with moments fitted on the training set. Seeded: the same data, config and seed give
 * the same head on the same execution provider.
 */
import { seededRandom } from '../datasets/synthetic.ts';
import {
  openGraph,
  type ExecutionProvider,
  type GraphSession,
  type GraphTensor,
} from '../models/onnxRuntime.ts';
import { adamStepSize } from './adam.ts';
import { buildMlpPredictGraph, buildMlpTrainingGraph, MLP_PARAMS, type MlpShape } from './graphs.ts';

export interface MlpConfig {
  readonly hidden: number;
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly seed: number;
}

/**
 * Where the graphs run. intraOpThreads 0 lets ONNX Runtime use one thread per core; the default is
 * 1 because its spinning worker threads lose badly when the cores are shared (on this 2-core machine
 * under load, the EXPR training graph took 4.4 ms per batch of 256 on one thread and 12.7 ms on two).
 */
export interface TrainingRuntime {
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  readonly log?: (line: string) => void;
}

export const CPU_RUNTIME: TrainingRuntime = Object.freeze({ provider: 'cpu', intraOpThreads: 1 });

/** A trained head: standardisation and parameters (w1 [inputDim, hidden], w2 [hidden, outputs]). */
export interface MlpHead {
  readonly shape: MlpShape;
  readonly mean: Float32Array;
  readonly scale: Float32Array;
  readonly w1: Float32Array;
  readonly b1: Float32Array;
  readonly w2: Float32Array;
  readonly b2: Float32Array;
}

/**
 * Training rows: x float32 [n, dim]; target and (sigmoid heads) weight float32 [n, outputs] as the
 * training graph defines them.
 */
export interface MlpTrainingSet {
  readonly x: Float32Array;
  readonly n: number;
  readonly dim: number;
  readonly target: Float32Array;
  readonly weight?: Float32Array;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly validScore: number;
}

export interface TrainedMlp {
  readonly head: MlpHead;
  readonly bestEpoch: number;
  readonly history: readonly EpochRecord[];
  /** Seconds spent in the batch loop (graph runs and Adam), validation excluded. */
  readonly trainSeconds: number;
  /** CPU seconds of this process (all threads) in the batch loop: the cost without other processes' contention. */
  readonly trainCpuSeconds: number;
  readonly provider: ExecutionProvider;
}

export function standardisation(
  x: Float32Array,
  n: number,
  dim: number,
): { mean: Float32Array; scale: Float32Array } {
  const mean = new Float64Array(dim);
  const variance = new Float64Array(dim);
  for (let i = 0; i < n; i++) for (let j = 0; j < dim; j++) mean[j]! += x[i * dim + j]!;
  for (let j = 0; j < dim; j++) mean[j]! /= Math.max(n, 1);
  for (let i = 0; i < n; i++) {
    for (let j = 0; j < dim; j++) {
      const d = x[i * dim + j]! - mean[j]!;
      variance[j]! += d * d;
    }
  }
  return {
    mean: Float32Array.from(mean),
    scale: Float32Array.from(variance, (v) => 1 / Math.sqrt(v / Math.max(n, 1) + 1e-6)),
  };
}

function standardise(x: Float32Array, rows: number, mean: Float32Array, scale: Float32Array): Float32Array {
  const dim = mean.length;
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) {
    const o = i * dim;
    for (let j = 0; j < dim; j++) out[o + j] = (x[o + j]! - mean[j]!) * scale[j]!;
  }
  return out;
}

/** Keras glorot_uniform. */
function glorot(rand: () => number, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * limit);
}

/** A head's predict session: probabilities float32 [n, outputs] for raw (unstandardised) rows. */
export interface MlpPredictor {
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  release(): Promise<void>;
}

const PREDICT_CHUNK = 8192;

export async function openMlpPredictor(
  head: MlpHead,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<MlpPredictor> {
  const session = await openGraph(
    buildMlpPredictGraph(head.shape),
    { ...runtime, interOpThreads: 1 },
    `mlp ${head.shape.output} predict`,
  );
  return predictorOn(session, head);
}

function predictorOn(session: GraphSession, head: MlpHead): MlpPredictor {
  const { inputDim: d, hidden: h, outputs: c } = head.shape;
  return {
    async predict(x, n) {
      const out = new Float32Array(n * c);
      for (let start = 0; start < n; start += PREDICT_CHUNK) {
        const rows = Math.min(PREDICT_CHUNK, n - start);
        const xs = standardise(x.subarray(start * d, (start + rows) * d), rows, head.mean, head.scale);
        const result = await session.run({
          x: { data: xs, dims: [rows, d] },
          w1: { data: head.w1, dims: [d, h] },
          b1: { data: head.b1, dims: [h] },
          w2: { data: head.w2, dims: [h, c] },
          b2: { data: head.b2, dims: [c] },
        });
        out.set(result['p']!.data as Float32Array, start * c);
      }
      return out;
    },
    release: () => session.release(),
  };
}

/**
 * Trains with Adam on shuffled batches; after each epoch `validate` scores the current head
 * (higher is better) and the best epoch's parameters are kept (the last epoch's when there is no
 * validation: validate returns NaN).
 */
export async function trainMlp(
  data: MlpTrainingSet,
  shape: Omit<MlpShape, 'inputDim' | 'hidden'>,
  config: MlpConfig,
  validate: (predictor: MlpPredictor) => Promise<number>,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedMlp> {
  const full: MlpShape = { ...shape, inputDim: data.dim, hidden: config.hidden };
  const { inputDim: d, hidden: h, outputs: c } = full;
  if (data.x.length !== data.n * d || data.target.length !== data.n * c) {
    throw new Error(
      `mlp: expected x [${data.n}, ${d}] and target [${data.n}, ${c}], got ${data.x.length} and ${data.target.length} values`,
    );
  }
  if (shape.output === 'sigmoid' && data.weight?.length !== data.n * c) {
    throw new Error(
      `mlp: a sigmoid head expects weight [${data.n}, ${c}], got ${data.weight?.length ?? 'none'}`,
    );
  }
  const rand = seededRandom(config.seed);
  const { mean, scale } = standardisation(data.x, data.n, d);
  const xs = standardise(data.x, data.n, mean, scale);
  const head: MlpHead = {
    shape: full,
    mean,
    scale,
    w1: glorot(rand, d, h),
    b1: new Float32Array(h),
    w2: glorot(rand, h, c),
    b2: new Float32Array(c),
  };
  const params = [head.w1, head.b1, head.w2, head.b2];
  // The graph returns updated parameters and moments each step; `current` holds the latest.
  let current: Float32Array[] = params.map((p) => p.slice());
  let moments: { m: Float32Array; v: Float32Array }[] = params.map((p) => ({
    m: new Float32Array(p.length),
    v: new Float32Array(p.length),
  }));
  const fetch = ['loss', ...MLP_PARAMS.flatMap((p) => [`new_${p}`, `new_m_${p}`, `new_v_${p}`])];
  const dims = [[d, h], [h], [h, c], [c]];
  let step = 0;
  const graphOptions = { ...runtime, interOpThreads: 1 };
  const trainSession = await openGraph(
    buildMlpTrainingGraph(full),
    graphOptions,
    `mlp ${shape.output} train`,
  );
  const predictSession = await openGraph(
    buildMlpPredictGraph(full),
    graphOptions,
    `mlp ${shape.output} predict`,
  );
  const predictor = predictorOn(predictSession, head);
  try {
    const order = Int32Array.from({ length: data.n }, (_, i) => i);
    const history: EpochRecord[] = [];
    let best: { epoch: number; score: number; params: Float32Array[] } | undefined;
    let trainSeconds = 0;
    let trainCpuSeconds = 0;
    const bx = new Float32Array(config.batchSize * d);
    const bt = new Float32Array(config.batchSize * c);
    const bw = new Float32Array(config.batchSize * c);
    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      for (let i = order.length - 1; i > 0; i--) {
        const j = Math.floor(rand() * (i + 1));
        const t = order[i]!;
        order[i] = order[j]!;
        order[j] = t;
      }
      const started = process.hrtime.bigint();
      const cpuStarted = process.cpuUsage();
      let lossSum = 0;
      for (let start = 0; start < data.n; start += config.batchSize) {
        const m = Math.min(config.batchSize, data.n - start);
        const whole = m === config.batchSize;
        const x = whole ? bx : new Float32Array(m * d);
        const target = whole ? bt : new Float32Array(m * c);
        const weight = whole ? bw : new Float32Array(m * c);
        for (let r = 0; r < m; r++) {
          const row = order[start + r]!;
          x.set(xs.subarray(row * d, (row + 1) * d), r * d);
          target.set(data.target.subarray(row * c, (row + 1) * c), r * c);
          if (data.weight) weight.set(data.weight.subarray(row * c, (row + 1) * c), r * c);
        }
        step++;
        const feeds: Record<string, GraphTensor> = {
          x: { data: x, dims: [m, d] },
          target: { data: target, dims: [m, c] },
          scale: { data: Float32Array.of(shape.output === 'sigmoid' ? 1 / (m * c) : 1 / m), dims: [1] },
          lr: { data: Float32Array.of(adamStepSize(config.learningRate, step)), dims: [1] },
        };
        if (shape.output === 'sigmoid') feeds['weight'] = { data: weight, dims: [m, c] };
        MLP_PARAMS.forEach((p, i) => {
          feeds[p] = { data: current[i]!, dims: dims[i]! };
          feeds[`m_${p}`] = { data: moments[i]!.m, dims: dims[i]! };
          feeds[`v_${p}`] = { data: moments[i]!.v, dims: dims[i]! };
        });
        const result = await trainSession.run(feeds, fetch);
        lossSum += (result['loss']!.data as Float32Array)[0]! * m;
        current = MLP_PARAMS.map((p) => result[`new_${p}`]!.data as Float32Array);
        moments = MLP_PARAMS.map((p) => ({
          m: result[`new_m_${p}`]!.data as Float32Array,
          v: result[`new_v_${p}`]!.data as Float32Array,
        }));
      }
      trainSeconds += Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuStarted);
      trainCpuSeconds += (cpu.user + cpu.system) / 1e6;
      params.forEach((p, i) => p.set(current[i]!));
      const score = await validate(predictor);
      history.push({ epoch, trainLoss: lossSum / data.n, validScore: score });
      if (!best || Number.isNaN(score) || score > best.score) {
        best = { epoch, score, params: params.map((p) => p.slice()) };
      }
    }
    if (best) params.forEach((p, i) => p.set(best.params[i]!));
    return {
      head,
      bestEpoch: best?.epoch ?? 0,
      history,
      trainSeconds,
      trainCpuSeconds,
      provider: trainSession.provider,
    };
  } finally {
    await trainSession.release();
    await predictSession.release();
  }
}
