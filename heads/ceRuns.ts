/**
 * The C-EXPR-DB variants of a CE run (issue 17 item 6), scored next to the zero-shot CE head on the
 * same videos and frames: an EXPR head trained elsewhere (Aff-Wild2) applied to the embeddings,
 * k-means clusters of the compound scores and of the embeddings matched to the compound classes,
 * and each backbone's KL divergence of its predicted class shares from the class frequencies, by
 * which a run with several backbones picks one.
 *
 * Rows: the first face of each frame (the EXPR and AU heads' rows) of every video with CE labels,
 * whatever its split. Per-row outputs (compound probabilities, or one-hot cluster classes) are
 * filled, smoothed and scored as the zero-shot CE outputs (heads/evaluation.ts, the run's protocol
 * and CE window).
 */
import { COMPOUND_EXPRESSIONS } from '../datasets/labels.ts';
import { compoundProbabilities } from './ce.ts';
import {
  classesByClusters,
  compoundFromExpr,
  klDivergence,
  meanProbabilities,
  rankBackbonesByKl,
} from './ceVariants.ts';
import { predictKeyed, type KeyedRows } from './embeddingRows.ts';
import { classDecisions, primaryRows, scoreWindows, type VideoOutputs } from './evaluation.ts';
import { macroF1 } from './metrics.ts';
import type { MlpHead } from './mlp.ts';
import type { OpenRowSet, RowSet, RowSetWriter } from './rowset.ts';
import type { CeResult, HeadSettings, LabelledVideo, WindowScore } from './tasks.ts';

/**
 * The k-means of the variants: seed of the greedy k-means++ draws, and starts (the least inertia
 * kept). sklearn's 10 starts reached different optima under different seeds on 160 synthetic CE
 * rows; 50 reached the same one under every seed tried, so the rows' clustering, not the draw,
 * decides the score.
 */
export const CE_KMEANS = Object.freeze({ seed: 1, starts: 50 });

export type CeVariantName = 'expr-head' | 'kmeans-scores' | 'kmeans-embeddings';

/** The report's name of each variant. */
export const CE_VARIANT_LABELS: Readonly<Record<CeVariantName, string>> = Object.freeze({
  'expr-head': 'EXPR head',
  'kmeans-scores': 'k-means on scores',
  'kmeans-embeddings': 'k-means on embeddings',
});

/** Where an EXPR head applied to C-EXPR-DB embeddings comes from. */
export interface ExprHeadSource {
  /** The head's store key (heads/<datasetId>/EXPR/<hash>.json). */
  readonly key: string;
  /** The dataset it was trained on. */
  readonly datasetId: string;
  readonly backbone: string;
  readonly head: MlpHead;
}

export interface CeVariantScore {
  readonly variant: CeVariantName;
  readonly label: string;
  readonly metric: 'macro F1 over 7 classes';
  /** At the CE window. */
  readonly score: number;
  readonly window: number;
  readonly windowScores: readonly WindowScore[];
  readonly bestWindow: WindowScore;
  /** Annotated frames scored at the window. */
  readonly evaluatedSamples: number;
  /** Face rows (first face of a frame) the variant's outputs come from. */
  readonly faces: number;
  /** k-means: the clustering's inertia and each cluster's compound class (index into the classes). */
  readonly inertia?: number;
  readonly clusterClass?: readonly number[];
  /** EXPR head: where it came from (the head itself stays in the store). */
  readonly head?: Omit<ExprHeadSource, 'head'>;
}

/** KL(class frequencies || mean predicted compound probabilities), nats (scipy.stats.entropy). */
export interface CeClassFit {
  /** Annotated frames per compound class (the zero-shot CE's scored frames). */
  readonly frequencies: readonly number[];
  /** Mean zero-shot compound probabilities over the face rows. */
  readonly predicted: readonly number[];
  readonly kl: number;
}

/** Which backbone the KL criterion picks among those of the run reported so far, this one included. */
export interface CeBackboneChoice {
  /** Ranked, least KL first. */
  readonly candidates: readonly { readonly backbone: string; readonly kl: number; readonly score: number }[];
  readonly picked: string;
  /** The picked backbone's zero-shot CE macro F1. */
  readonly score: number;
}

export interface CeVariantsResult {
  readonly faces: number;
  readonly variants: readonly CeVariantScore[];
  /** Variants not computed, each with its reason. */
  readonly notComputed: readonly { readonly variant: CeVariantName; readonly reason: string }[];
  readonly fit?: CeClassFit;
  readonly backboneChoice?: CeBackboneChoice;
}

/**
 * Collects the first-face embedding rows of the videos with CE labels into a spilled row set, as
 * the face rows are read (activities/faceRows.ts); only the keys (two int32 a row) stay in memory.
 */
export class CeRowCollector {
  private writer: RowSetWriter | undefined;
  private readonly video: number[] = [];
  private readonly frame: number[] = [];

  constructor(
    private readonly videos: readonly Pick<LabelledVideo, 'labels'>[],
    private readonly openSet: OpenRowSet,
    private readonly chunkRows: number,
  ) {}

  async add(video: number, frame: number, embedding: Float32Array): Promise<void> {
    if (!this.videos[video]?.labels.CE) return;
    this.writer ??= await this.openSet('CE-rows', {
      dim: embedding.length,
      labelWidth: 0,
      chunkRows: this.chunkRows,
      buckets: 1,
      seed: 0,
      moments: false,
    });
    await this.writer.append(embedding);
    this.video.push(video);
    this.frame.push(frame);
  }

  /** The rows collected; undefined when no CE video had a face. */
  async finish(): Promise<KeyedRows | undefined> {
    if (!this.writer) return undefined;
    return {
      rows: await this.writer.finish(),
      video: Int32Array.from(this.video),
      frame: Int32Array.from(this.frame),
    };
  }
}

/** Every row of a set's embedding columns, float32 [n, dim]. */
async function readAllRows(rows: RowSet): Promise<Float32Array> {
  const out = new Float32Array(rows.n * rows.dim);
  const scratch = new Float32Array(rows.chunkRows * rows.width);
  let at = 0;
  for (let c = 0; c < rows.chunks.length; c++) {
    const chunk = await rows.read(c, scratch);
    const m = chunk.length / rows.width;
    for (let i = 0; i < m; i++)
      out.set(chunk.subarray(i * rows.width, i * rows.width + rows.dim), (at + i) * rows.dim);
    at += m;
  }
  return out;
}

/** Scores of the row set's rows (the first face of their frame), float32 [n, k]. */
function rowScores(videos: readonly LabelledVideo[], keyed: KeyedRows): Float32Array {
  const firstFace = new Map<number, Map<number, number>>();
  const scores: number[] = [];
  keyed.video.forEach((v, i) => {
    const faces = videos[v]!.faces;
    const k = faces.scores.length / Math.max(faces.frames.length, 1);
    let byFrame = firstFace.get(v);
    if (!byFrame) {
      const { rows, frames } = primaryRows(faces);
      firstFace.set(v, (byFrame = new Map(Array.from(frames, (f, j) => [f, rows[j]!]))));
    }
    const row = byFrame.get(keyed.frame[i]!)!;
    scores.push(...faces.scores.subarray(row * k, (row + 1) * k));
  });
  return Float32Array.from(scores);
}

/** Per-row outputs [n, classes] regrouped per CE video (every one, with or without rows), by frame. */
function outputsOf(
  videos: readonly LabelledVideo[],
  keyed: KeyedRows,
  values: ArrayLike<number>,
  classes: number,
): VideoOutputs[] {
  const positions = new Map<number, number[]>();
  keyed.video.forEach((v, i) => {
    const list = positions.get(v);
    if (list) list.push(i);
    else positions.set(v, [i]);
  });
  const out: VideoOutputs[] = [];
  videos.forEach((video, v) => {
    if (!video.labels.CE) return;
    const list = (positions.get(v) ?? []).sort((a, b) => keyed.frame[a]! - keyed.frame[b]!);
    const rows = new Float64Array(list.length * classes);
    list.forEach((p, i) => {
      for (let c = 0; c < classes; c++) rows[i * classes + c] = values[p * classes + c]!;
    });
    out.push({ video, frames: Int32Array.from(list, (p) => keyed.frame[p]!), values: rows });
  });
  return out;
}

function oneHot(classOf: Int32Array, classes: number): Float64Array {
  const out = new Float64Array(classOf.length * classes);
  classOf.forEach((c, i) => (out[i * classes + c] = 1));
  return out;
}

/**
 * The variants on the CE rows `keyed` (CeRowCollector): `ce` is the run's zero-shot CE result on
 * the same videos (its confusion rows give the class frequencies); `exprHead`, when the run names
 * one, is applied to the rows' embeddings (`missing`: why this backbone has none, reported).
 */
export async function runCeVariants(
  videos: readonly LabelledVideo[],
  keyed: KeyedRows | undefined,
  scoreLabels: readonly string[],
  settings: HeadSettings,
  ce: CeResult,
  exprHead?: ExprHeadSource | { readonly missing: string },
): Promise<CeVariantsResult> {
  const classes = COMPOUND_EXPRESSIONS.length;
  const n = keyed?.rows.n ?? 0;
  const notComputed: { variant: CeVariantName; reason: string }[] = [];
  if (!keyed || n === 0) {
    const reason = 'no CE video has a face row';
    for (const variant of ['expr-head', 'kmeans-scores', 'kmeans-embeddings'] as const)
      if (variant !== 'expr-head' || exprHead) notComputed.push({ variant, reason });
    return { faces: 0, variants: [], notComputed };
  }
  const window = settings.windows.CE;
  const scored = (
    variant: CeVariantName,
    values: ArrayLike<number>,
    extra: Partial<CeVariantScore> = {},
  ): CeVariantScore => {
    const outputs = outputsOf(videos, keyed, values, classes);
    const decide = (d: number) => classDecisions(outputs, 'CE', classes, d, settings.protocol);
    const windows = scoreWindows(window, (d) => {
      const e = decide(d);
      return macroF1(e.truth, e.predicted, classes);
    });
    return {
      variant,
      label: CE_VARIANT_LABELS[variant],
      metric: 'macro F1 over 7 classes',
      ...windows,
      window,
      evaluatedSamples: decide(window).truth.length,
      faces: n,
      ...extra,
    };
  };
  const zeroShot = compoundProbabilities(rowScores(videos, keyed), n, scoreLabels);
  const variants: CeVariantScore[] = [];
  if (exprHead && 'missing' in exprHead) notComputed.push({ variant: 'expr-head', reason: exprHead.missing });
  else if (exprHead) {
    const byVideo = await predictKeyed(exprHead.head, keyed, settings.runtime);
    // Back to the set's row order, so every variant regroups the same way.
    const probabilities = new Float64Array(n * classes);
    const next = new Map<number, number>();
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => keyed.video[a]! - keyed.video[b]! || keyed.frame[a]! - keyed.frame[b]!,
    );
    for (const i of order) {
      const v = keyed.video[i]!;
      const j = next.get(v) ?? 0;
      next.set(v, j + 1);
      const values = byVideo.get(v)!.values;
      const head = values.subarray(j * exprHead.head.shape.outputs, (j + 1) * exprHead.head.shape.outputs);
      probabilities.set(compoundFromExpr(head, 1), i * classes);
    }
    const { key, datasetId, backbone } = exprHead;
    variants.push(scored('expr-head', probabilities, { head: { key, datasetId, backbone } }));
  }
  if (n < classes) {
    const reason = `${n} face rows, fewer than the ${classes} clusters`;
    notComputed.push({ variant: 'kmeans-scores', reason }, { variant: 'kmeans-embeddings', reason });
  } else {
    const clustered = (variant: CeVariantName, features: ArrayLike<number>, d: number): CeVariantScore => {
      const c = classesByClusters(features, n, d, zeroShot, classes, CE_KMEANS.seed, {
        starts: CE_KMEANS.starts,
        ...(settings.runtime.heartbeat ? { heartbeat: settings.runtime.heartbeat } : {}),
      });
      return scored(variant, oneHot(c.classOf, classes), {
        inertia: c.inertia,
        clusterClass: Array.from(c.clusterClass),
      });
    };
    variants.push(clustered('kmeans-scores', zeroShot, classes));
    variants.push(clustered('kmeans-embeddings', await readAllRows(keyed.rows), keyed.rows.dim));
  }
  const frequencies = ce.confusion.map((row) => row.reduce((a, b) => a + b, 0));
  const predicted = meanProbabilities(zeroShot, n, classes);
  return {
    faces: n,
    variants,
    notComputed,
    fit: { frequencies, predicted, kl: klDivergence(frequencies, predicted) },
  };
}

/**
 * The backbone the KL criterion picks: the least KL(frequencies || predicted shares) among the
 * candidates (this backbone's fit and those of the backbones reported before it in the run).
 */
export function chooseBackboneByKl(
  frequencies: readonly number[],
  candidates: readonly {
    readonly backbone: string;
    readonly predicted: readonly number[];
    readonly score: number;
  }[],
): CeBackboneChoice {
  const ranked = rankBackbonesByKl(
    candidates.map((c) => ({ backbone: c.backbone, probabilities: c.predicted, n: 1 })),
    frequencies,
  );
  const scoreOf = new Map(candidates.map((c) => [c.backbone, c.score]));
  const best = ranked[0]!;
  return {
    candidates: ranked.map((r) => ({ backbone: r.backbone, kl: r.kl, score: scoreOf.get(r.backbone)! })),
    picked: best.backbone,
    score: scoreOf.get(best.backbone)!,
  };
}
