/**
 * The EXPR and AU heads' embedding rows: EmbeddingRowRouter sends each primary-face row to the row
 * sets (heads/rowset.ts) of the tasks and splits it belongs to in one pass, and a head's outputs on
 * a keyed set come back per video, streamed chunk by chunk.
 */
import { AFFWILD2_ACTION_UNITS, AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import { auAnnotated, exprAnnotated, type VideoOutputs } from './evaluation.ts';
import { openMlpPredictor, type MlpHead, type MlpPredictor, type TrainingRuntime } from './mlp.ts';
import type { HeadProtocol } from './protocol.ts';
import type { OpenRowSet, RowSet, RowSetWriter } from './rowset.ts';
import type { LabelledVideo, StreamingSettings, VideoLabelSet } from './tasks.ts';

/** The tasks whose heads train on the embedding (the others use the scores held per video). */
export type EmbeddingTask = 'EXPR' | 'AU';

/** Rows of a prediction set and what each one is: the index of its video in the list, and its frame. */
export interface KeyedRows {
  readonly rows: RowSet;
  readonly video: Int32Array;
  readonly frame: Int32Array;
}

/** Primary-face embedding rows of one task, per split. */
export interface TaskRows {
  /** Annotated Train frames (and Validation ones when fitting on both); label columns one-hot over the 8 classes (EXPR) or the 12 AUs as 0/1. */
  readonly train: RowSet;
  /** Every primary-face row of the task's labelled Validation videos. */
  readonly validation: KeyedRows;
  /** Every primary-face row of the task's Test videos. */
  readonly test: KeyedRows;
}

export type EmbeddingRows = Readonly<Record<EmbeddingTask, TaskRows>>;

/** The label columns of a training row, or undefined when the frame is not annotated. */
const TRAIN_LABELS: Readonly<
  Record<
    EmbeddingTask,
    { width: number; of(labels: VideoLabelSet, frame: number): ArrayLike<number> | undefined }
  >
> = {
  EXPR: {
    width: AFFWILD2_EXPRESSIONS.length,
    of(labels, frame) {
      if (!exprAnnotated(labels, frame)) return undefined;
      const row = new Float32Array(AFFWILD2_EXPRESSIONS.length);
      row[labels.EXPR![frame - 1]!] = 1;
      return row;
    },
  },
  AU: {
    width: AFFWILD2_ACTION_UNITS.length,
    of: (labels, frame) =>
      auAnnotated(labels, frame) ? labels.AU!.subarray((frame - 1) * 12, frame * 12) : undefined,
  },
};

interface KeyedWriter {
  readonly writer: RowSetWriter;
  readonly video: number[];
  readonly frame: number[];
}

/**
 * Sends each primary-face embedding row to the row sets of the tasks and splits it belongs to
 * (EXPR and AU: Train when annotated, with its labels; every row of a labelled Validation video;
 * every row of a Test video), as the rows arrive, in one pass. Only the keys of the prediction
 * rows (two int32 a row) stay in memory.
 */
export class EmbeddingRowRouter {
  private sets:
    Record<EmbeddingTask, { train: RowSetWriter; validation: KeyedWriter; test: KeyedWriter }> | undefined;

  /** videos: labels and splits, indexed as `add` names them. */
  constructor(
    private readonly videos: readonly Pick<LabelledVideo, 'labels' | 'splits'>[],
    private readonly streaming: StreamingSettings,
    private readonly seeds: Readonly<Record<EmbeddingTask, number>>,
    private readonly openSet: OpenRowSet,
    /** Train + Validation (heads/protocol.ts fitOn): annotated Validation rows train too. */
    private readonly fitOn: HeadProtocol['fitOn'] = 'Train',
  ) {}

  private async open(dim: number) {
    const keyed = async (name: string): Promise<KeyedWriter> => ({
      writer: await this.openSet(name, {
        dim,
        labelWidth: 0,
        chunkRows: this.streaming.chunkRows,
        buckets: 1,
        seed: 0,
        moments: false,
      }),
      video: [],
      frame: [],
    });
    const task = async (t: EmbeddingTask) => ({
      train: await this.openSet(`${t}-train`, {
        dim,
        labelWidth: TRAIN_LABELS[t].width,
        chunkRows: this.streaming.chunkRows,
        buckets: this.streaming.buckets,
        seed: this.seeds[t],
        moments: true,
      }),
      validation: await keyed(`${t}-validation`),
      test: await keyed(`${t}-test`),
    });
    return { EXPR: await task('EXPR'), AU: await task('AU') };
  }

  /** The embedding of the first face of `frame` of video `video` (index into the list). */
  async add(video: number, frame: number, embedding: Float32Array): Promise<void> {
    this.sets ??= await this.open(embedding.length);
    const { labels, splits } = this.videos[video]!;
    for (const task of ['EXPR', 'AU'] as const) {
      const sets = this.sets[task];
      const split = splits[task];
      let keyed: KeyedWriter | undefined;
      if (split === 'Validation' && labels[task] && this.fitOn === 'Train+Validation') {
        const y = TRAIN_LABELS[task].of(labels, frame);
        if (y) await sets.train.append(embedding, y);
      }
      if (split === 'Train' && labels[task]) {
        const y = TRAIN_LABELS[task].of(labels, frame);
        if (y) await sets.train.append(embedding, y);
      } else if (split === 'Validation' && labels[task]) keyed = sets.validation;
      else if (split === 'Test') keyed = sets.test;
      if (!keyed) continue;
      await keyed.writer.append(embedding);
      keyed.video.push(video);
      keyed.frame.push(frame);
    }
  }

  async finish(): Promise<EmbeddingRows> {
    this.sets ??= await this.open(0);
    const keyed = async (k: KeyedWriter): Promise<KeyedRows> => ({
      rows: await k.writer.finish(),
      video: Int32Array.from(k.video),
      frame: Int32Array.from(k.frame),
    });
    const task = async (t: EmbeddingTask): Promise<TaskRows> => ({
      train: await this.sets![t].train.finish(),
      validation: await keyed(this.sets![t].validation),
      test: await keyed(this.sets![t].test),
    });
    return { EXPR: await task('EXPR'), AU: await task('AU') };
  }
}

/** One video's primary-face outputs: frames [rows] ascending, values [rows, k]. */
export interface FrameOutputs {
  readonly frames: Int32Array;
  readonly values: Float32Array | Float64Array;
}

export const NO_OUTPUTS: FrameOutputs = Object.freeze({
  frames: new Int32Array(0),
  values: new Float32Array(0),
});

/** Outputs [set rows, k] of a keyed set regrouped per video index, sorted by frame. */
function outputsByVideo(keyed: KeyedRows, values: Float32Array, k: number): Map<number, FrameOutputs> {
  const positions = new Map<number, number[]>();
  keyed.video.forEach((v, i) => {
    let list = positions.get(v);
    if (!list) positions.set(v, (list = []));
    list.push(i);
  });
  const out = new Map<number, FrameOutputs>();
  for (const [video, list] of positions) {
    list.sort((a, b) => keyed.frame[a]! - keyed.frame[b]!);
    const rows = new Float32Array(list.length * k);
    list.forEach((p, i) => rows.set(values.subarray(p * k, (p + 1) * k), i * k));
    out.set(video, { frames: Int32Array.from(list, (p) => keyed.frame[p]!), values: rows });
  }
  return out;
}

/** A head's outputs on every row of a keyed set, per video index, streamed chunk by chunk. */
export async function predictKeyed(
  head: MlpHead,
  keyed: KeyedRows,
  runtime: TrainingRuntime,
): Promise<Map<number, FrameOutputs>> {
  const predictor = await openMlpPredictor(head, runtime);
  try {
    return outputsByVideo(keyed, await predictor.predictRows(keyed.rows), head.shape.outputs);
  } finally {
    await predictor.release();
  }
}

/** Outputs of the evaluated videos (every one, with or without face rows) from a keyed prediction. */
export function evaluatedOutputs(
  videos: readonly LabelledVideo[],
  task: EmbeddingTask,
  byVideo: ReadonlyMap<number, FrameOutputs>,
): VideoOutputs[] {
  const out: VideoOutputs[] = [];
  videos.forEach((video, i) => {
    if (video.labels[task] && video.splits[task] === 'Validation') {
      out.push({ video, ...(byVideo.get(i) ?? NO_OUTPUTS) });
    }
  });
  return out;
}

/**
 * The per-epoch validation score of an MLP head on a keyed set: predictions of every row, scored
 * on the annotated ones by `score`.
 */
export function keyedValidation(
  keyed: KeyedRows,
  score: (p: Float32Array) => number,
): (predictor: MlpPredictor) => Promise<number> {
  return async (predictor) => score(await predictor.predictRows(keyed.rows));
}

/** Positions in a keyed set of the rows whose frame is annotated. */
export function annotatedRows(
  videos: readonly LabelledVideo[],
  keyed: KeyedRows,
  annotated: (labels: VideoLabelSet, frame: number) => boolean,
): Int32Array {
  const out: number[] = [];
  keyed.video.forEach((v, i) => {
    if (annotated(videos[v]!.labels, keyed.frame[i]!)) out.push(i);
  });
  return Int32Array.from(out);
}

/** Rows `positions` of values [_, k]. */
export function pickRows(values: Float32Array, positions: Int32Array, k: number): Float32Array {
  const out = new Float32Array(positions.length * k);
  positions.forEach((p, i) => out.set(values.subarray(p * k, (p + 1) * k), i * k));
  return out;
}
