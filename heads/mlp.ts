/**
 * Training the one-hidden-layer heads (EXPR, AU) on ONNX Runtime: per batch, the training graph of
 * heads/graphs.ts returns loss and gradients and takes the Adam step. The rows stream from a row
 * set (heads/rowset.ts) chunk by chunk; inputs are standardised with the training set's moments.
 * Seeded: the same rows in the same chunks, config and seed give the same head on the same
 * execution provider.
 */
import { seededRandom } from '../base/random.ts';
import {
  openGraph,
  type ExecutionProvider,
  type GraphSession,
  type GraphTensor,
} from '../models/onnxRuntime.ts';
import { adamStepSize } from './adam.ts';
import { buildMlpPredictGraph, buildMlpTrainingGraph, MLP_PARAMS, type MlpShape } from './graphs.ts';
import { RowSetError, rowSetMoments, type ColumnMoments, type RowSet } from './rowset.ts';

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
  /** Called after every chunk trained or predicted: the activity heartbeats (and learns of cancellation) here. */
  readonly heartbeat?: () => void;
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
 * Training rows streamed chunk by chunk: each row of `rows` is the embedding (rows.dim floats) and
 * `outputs` label columns, which `encode` turns into the training graph's target (and, sigmoid
 * heads, weight) values: target[t .. t + outputs) and weight[t .. t + outputs) from
 * row[l .. l + outputs).
 */
export interface MlpTrainingSet {
  readonly rows: RowSet;
  readonly encode: (
    row: Float32Array,
    l: number,
    target: Float32Array,
    weight: Float32Array,
    t: number,
  ) => void;
}

export interface EpochRecord {
  readonly epoch: number;
  readonly trainLoss: number;
  readonly validScore: number;
}

/** What the batch loop held, whatever the number of rows: the bound on training memory. */
export interface StreamingFootprint {
  readonly chunkRows: number;
  /** Float32 values of the two chunk buffers (one read ahead) and the batch buffers. */
  readonly bufferFloats: number;
  /** Chunks read over all epochs. */
  readonly chunkReads: number;
}

export interface TrainedMlp {
  readonly head: MlpHead;
  readonly bestEpoch: number;
  readonly history: readonly EpochRecord[];
  /** Seconds spent in the batch loop (chunk reads, graph runs with the Adam step), validation excluded. */
  readonly trainSeconds: number;
  /** CPU seconds of this process (all threads) in the batch loop: the cost without other processes' contention. */
  readonly trainCpuSeconds: number;
  readonly provider: ExecutionProvider;
  readonly footprint: StreamingFootprint;
}

/** Standardisation of the inputs from their moments: mean and 1 / sqrt(variance + 1e-6), float32 [dim]. */
export function standardisation(moments: ColumnMoments): { mean: Float32Array; scale: Float32Array } {
  return {
    mean: Float32Array.from(moments.mean),
    scale: Float32Array.from(moments.variance, (v) => 1 / Math.sqrt(v + 1e-6)),
  };
}

/** The first `dim` floats of `rows` rows of `stride` floats, as float32 [rows, dim]. */
function compactRows(x: Float32Array, stride: number, rows: number, dim: number): Float32Array {
  if (stride === dim) return x.length === rows * dim ? x : x.slice(0, rows * dim);
  const out = new Float32Array(rows * dim);
  for (let i = 0; i < rows; i++) out.set(x.subarray(i * stride, i * stride + dim), i * dim);
  return out;
}

/** Keras glorot_uniform. */
function glorot(rand: () => number, fanIn: number, fanOut: number): Float32Array {
  const limit = Math.sqrt(6 / (fanIn + fanOut));
  return Float32Array.from({ length: fanIn * fanOut }, () => (rand() * 2 - 1) * limit);
}

/** Fisher-Yates in place on a[0 .. n). */
function shuffle(a: Int32Array, n: number, rand: () => number): void {
  for (let i = n - 1; i > 0; i--) {
    const j = Math.floor(rand() * (i + 1));
    const t = a[i]!;
    a[i] = a[j]!;
    a[j] = t;
  }
}

/** A head's predict session: probabilities float32 [n, outputs] for raw (unstandardised) rows. */
export interface MlpPredictor {
  predict(x: Float32Array, n: number): Promise<Float32Array>;
  /** Probabilities float32 [set.n, outputs] of every row of a set, read chunk by chunk, in set order. */
  predictRows(set: RowSet): Promise<Float32Array>;
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
  return predictorOn(session, head, runtime.heartbeat);
}

function predictorOn(session: GraphSession, head: MlpHead, heartbeat?: () => void): MlpPredictor {
  const { inputDim: d, hidden: h, outputs: c } = head.shape;
  /** Probabilities of `rows` rows of `stride` floats into out at row `at`. */
  const run = async (x: Float32Array, stride: number, rows: number, out: Float32Array, at: number) => {
    for (let start = 0; start < rows; start += PREDICT_CHUNK) {
      const m = Math.min(PREDICT_CHUNK, rows - start);
      const xs = compactRows(x.subarray(start * stride), stride, m, d);
      const result = await session.run({
        x: { data: xs, dims: [m, d] },
        mean: { data: head.mean, dims: [d] },
        scale_x: { data: head.scale, dims: [d] },
        w1: { data: head.w1, dims: [d, h] },
        b1: { data: head.b1, dims: [h] },
        w2: { data: head.w2, dims: [h, c] },
        b2: { data: head.b2, dims: [c] },
      });
      out.set(result['p']!.data as Float32Array, (at + start) * c);
    }
  };
  return {
    async predict(x, n) {
      const out = new Float32Array(n * c);
      await run(x, d, n, out, 0);
      return out;
    },
    async predictRows(set) {
      if (set.dim !== d) throw new RowSetError('predict', `expected ${d}-d rows, got ${set.dim}`);
      const out = new Float32Array(set.n * c);
      const scratch = new Float32Array(set.chunkRows * set.width);
      let at = 0;
      for (let k = 0; k < set.chunks.length; k++) {
        const rows = await set.read(k, scratch);
        await run(rows, set.width, set.chunks[k]!, out, at);
        at += set.chunks[k]!;
        heartbeat?.();
      }
      return out;
    },
    release: () => session.release(),
  };
}

/**
 * Trains with Adam, streaming the rows chunk by chunk: each epoch visits the chunks in a seeded
 * random order and the rows of each chunk in a seeded random order, reading the next chunk while
 * the current one trains; batches run across chunk ends, so every batch but the epoch's last is
 * full. Memory is two chunk buffers and one batch, whatever rows.n is. After each epoch
 * `validate` scores the current head (higher is better) and the best epoch's parameters are kept
 * (the last epoch's when there is no validation: validate returns NaN).
 */
export async function trainMlp(
  data: MlpTrainingSet,
  shape: Omit<MlpShape, 'inputDim' | 'hidden'>,
  config: MlpConfig,
  validate: (predictor: MlpPredictor) => Promise<number>,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedMlp> {
  const { rows } = data;
  const full: MlpShape = { ...shape, inputDim: rows.dim, hidden: config.hidden };
  const { inputDim: d, hidden: h, outputs: c } = full;
  if (rows.width !== d + c) {
    throw new RowSetError(
      'mlp',
      `expected rows of ${d} embedding and ${c} label values, got width ${rows.width}`,
    );
  }
  const rand = seededRandom(config.seed);
  const { mean, scale } = standardisation(await rowSetMoments(rows));
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
  const predictor = predictorOn(predictSession, head, runtime.heartbeat);
  try {
    const history: EpochRecord[] = [];
    let best: { epoch: number; score: number; params: Float32Array[] } | undefined;
    let trainSeconds = 0;
    let trainCpuSeconds = 0;
    let chunkReads = 0;
    const b = config.batchSize;
    const bx = new Float32Array(b * d);
    const bt = new Float32Array(b * c);
    const bw = new Float32Array(b * c);
    const buffers = [
      new Float32Array(rows.chunkRows * rows.width),
      new Float32Array(rows.chunkRows * rows.width),
    ];
    const chunkOrder = Int32Array.from(rows.chunks, (_, i) => i);
    const rowOrder = new Int32Array(rows.chunkRows);

    const runBatch = async (m: number): Promise<number> => {
      const whole = m === b;
      const feeds: Record<string, GraphTensor> = {
        x: { data: whole ? bx : bx.slice(0, m * d), dims: [m, d] },
        mean: { data: mean, dims: [d] },
        scale_x: { data: scale, dims: [d] },
        target: { data: whole ? bt : bt.slice(0, m * c), dims: [m, c] },
        scale: { data: Float32Array.of(shape.output === 'sigmoid' ? 1 / (m * c) : 1 / m), dims: [1] },
        lr: { data: Float32Array.of(adamStepSize(config.learningRate, ++step)), dims: [1] },
      };
      if (shape.output === 'sigmoid')
        feeds['weight'] = { data: whole ? bw : bw.slice(0, m * c), dims: [m, c] };
      MLP_PARAMS.forEach((p, i) => {
        feeds[p] = { data: current[i]!, dims: dims[i]! };
        feeds[`m_${p}`] = { data: moments[i]!.m, dims: dims[i]! };
        feeds[`v_${p}`] = { data: moments[i]!.v, dims: dims[i]! };
      });
      const result = await trainSession.run(feeds, fetch);
      current = MLP_PARAMS.map((p) => result[`new_${p}`]!.data as Float32Array);
      moments = MLP_PARAMS.map((p) => ({
        m: result[`new_m_${p}`]!.data as Float32Array,
        v: result[`new_v_${p}`]!.data as Float32Array,
      }));
      return (result['loss']!.data as Float32Array)[0]! * m;
    };

    for (let epoch = 1; epoch <= config.epochs; epoch++) {
      shuffle(chunkOrder, chunkOrder.length, rand);
      const started = process.hrtime.bigint();
      const cpuStarted = process.cpuUsage();
      let lossSum = 0;
      let filled = 0;
      let next = chunkOrder.length > 0 ? rows.read(chunkOrder[0]!, buffers[0]!) : undefined;
      for (let k = 0; k < chunkOrder.length; k++) {
        const chunk = await next!;
        chunkReads++;
        next = k + 1 < chunkOrder.length ? rows.read(chunkOrder[k + 1]!, buffers[(k + 1) % 2]!) : undefined;
        const n = rows.chunks[chunkOrder[k]!]!;
        for (let i = 0; i < n; i++) rowOrder[i] = i;
        shuffle(rowOrder, n, rand);
        for (let i = 0; i < n; i++) {
          const s = rowOrder[i]! * rows.width;
          const o = filled * d;
          bx.set(chunk.subarray(s, s + d), o);
          data.encode(chunk, s + d, bt, bw, filled * c);
          if (++filled === b) {
            lossSum += await runBatch(b);
            filled = 0;
          }
        }
        runtime.heartbeat?.();
      }
      if (filled > 0) lossSum += await runBatch(filled);
      trainSeconds += Number(process.hrtime.bigint() - started) / 1e9;
      const cpu = process.cpuUsage(cpuStarted);
      trainCpuSeconds += (cpu.user + cpu.system) / 1e6;
      params.forEach((p, i) => p.set(current[i]!));
      const score = await validate(predictor);
      history.push({ epoch, trainLoss: lossSum / Math.max(rows.n, 1), validScore: score });
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
      footprint: {
        chunkRows: rows.chunkRows,
        bufferFloats: buffers.reduce((a, x) => a + x.length, 0) + bx.length + bt.length + bw.length,
        chunkReads,
      },
    };
  } finally {
    await trainSession.release();
    await predictSession.release();
  }
}
