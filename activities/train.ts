/**
 * Head training and evaluation (train pool): reads the committed embedding shards of a dataset and
 * backbone and the stored labels of every task, trains each task whose labels exist (EXPR, VA, AU
 * on Train, scored on Validation; CE zero-shot on every labelled video; EMI per video), writes the
 * heads to content-addressed keys, predictions for the Test split in the challenge's submission
 * format, and a JSON and a self-contained HTML report.
 */
import { shortHash, type Manifest, type ManifestVideo } from '../datasets/manifest.ts';
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
  TASKS,
  type Task,
} from '../datasets/labels.ts';
import {
  DEFAULT_HEAD_SETTINGS,
  predictEmiVideo,
  predictVideo,
  runAu,
  runCe,
  runEmi,
  runExpr,
  runVa,
  type AuResult,
  type EmiResult,
  type ExprResult,
  type HeadSettings,
  type LabelledVideo,
  type Split,
  type VaResult,
  type VideoFaces,
  type VideoLabelSet,
} from '../heads/tasks.ts';
import type { LinearConfig } from '../heads/linear.ts';
import type { MlpConfig } from '../heads/mlp.ts';
import { renderReportHtml } from '../reports/html.ts';
import type { BackboneScores, RunReport, Stored } from '../reports/model.ts';
import type { ExecutionProvider } from '../models/onnxRuntime.ts';
import { backboneId, getBackbone } from '../models/registry.ts';
import { listCommitted, readCommitted } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { decodeEmbeddingShard } from '../storage/shards.ts';
import { embeddingConfigHash } from './embed.ts';
import { classifyErrors, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

export interface TrainAndEvaluateInput {
  readonly manifestKey: string;
  readonly backbone: string;
  readonly runId: string;
  /** Overrides of the SPEC §4 settings per head. */
  readonly expr?: Partial<MlpConfig>;
  readonly va?: Partial<LinearConfig>;
  readonly au?: Partial<MlpConfig>;
  readonly emi?: Partial<LinearConfig & { frameStride: number }>;
  /** Overrides of the smoothing half-widths (SPEC §5 reference windows otherwise). */
  readonly windows?: Partial<HeadSettings['windows']>;
}

export type { AuReport, CeReport, EmiReport, ExprReport, RunReport, VaReport } from '../reports/model.ts';

export interface TrainAndEvaluateResult {
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export interface TrainActivityOptions {
  /** Execution provider of the head graphs; 'cuda' falls back to the CPU where it is missing. */
  readonly provider?: ExecutionProvider;
  /** ONNX Runtime threads per head graph (default 1; 0 = one per core). */
  readonly intraOpThreads?: number;
}

export class LabelFileError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`labels ${key}: ${detail}`);
    this.name = 'LabelFileError';
  }
}

const WIDTH: Readonly<Record<Task, number>> = { EXPR: 1, VA: 2, AU: 12, CE: 1, EMI: 6 };

/** Decodes a stored label file (datasets/labels.ts encodeLabels) into flat typed values. */
export function decodeStoredLabels(task: Task, key: string, json: string): Int8Array | Float64Array {
  const parsed = JSON.parse(json) as unknown;
  if (!Array.isArray(parsed)) throw new LabelFileError(key, `expected a JSON array, got ${typeof parsed}`);
  const width = WIDTH[task];
  const flat = task === 'VA' || task === 'AU' ? (parsed as unknown[]).flat() : parsed;
  if (task !== 'EMI' && (task === 'VA' || task === 'AU') && flat.length !== parsed.length * width) {
    throw new LabelFileError(key, `expected ${width} values per frame`);
  }
  if (task === 'EMI' && flat.length !== width) {
    throw new LabelFileError(key, `expected ${width} intensities, got ${flat.length}`);
  }
  const bad = flat.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0)
    throw new LabelFileError(key, `value ${bad}: expected a finite number, got ${JSON.stringify(flat[bad])}`);
  return task === 'VA' || task === 'EMI'
    ? Float64Array.from(flat as number[])
    : Int8Array.from(flat as number[]);
}

async function readJson(store: ObjectStore, key: string): Promise<string | undefined> {
  if (!(await store.head(key))) return undefined;
  return new TextDecoder().decode(await store.get(key));
}

function splitOf(video: ManifestVideo, task: Task): Split {
  return video.taskSplits?.[task] ?? video.split;
}

interface LoadedFaces {
  readonly videos: Map<string, VideoFaces>;
  readonly shards: number;
  readonly rows: number;
}

/** Every face row of the manifest's committed shards, grouped by video and sorted by frame, face. */
async function loadFaces(store: ObjectStore, manifest: Manifest, prefix: string): Promise<LoadedFaces> {
  const shardIds = new Set(manifest.shards.map((s) => s.shardId));
  const parts = new Map<
    string,
    { frame: number; face: number; embedding: Float32Array; scores: Float32Array }[]
  >();
  let shards = 0;
  let rows = 0;
  let dims = { embedding: 0, scores: 0 };
  for await (const record of listCommitted(store, prefix)) {
    if (!shardIds.has(String(record.meta['shardId']))) continue;
    const committed = await readCommitted(store, record.key);
    if (!committed) continue;
    shards++;
    rows += record.rows;
    const shard = decodeEmbeddingShard(committed.bytes);
    dims = { embedding: shard.dim, scores: shard.scoresDim };
    shard.keys.forEach((key, i) => {
      if (key.noFace) return;
      let list = parts.get(key.video);
      if (!list) parts.set(key.video, (list = []));
      list.push({
        frame: key.frame,
        face: key.faceIndex,
        // Copies, so the decoded shard is released once its rows are taken.
        embedding: shard.embedding.slice(i * shard.dim, (i + 1) * shard.dim),
        scores: shard.scores.slice(i * shard.scoresDim, (i + 1) * shard.scoresDim),
      });
    });
    reportProgress({ stage: 'read', shards });
  }
  const videos = new Map<string, VideoFaces>();
  for (const video of manifest.videos) {
    const list = (parts.get(video.name) ?? []).sort((a, b) => a.frame - b.frame || a.face - b.face);
    parts.delete(video.name);
    const embedding = new Float32Array(list.length * dims.embedding);
    const scores = new Float32Array(list.length * dims.scores);
    list.forEach((r, i) => {
      embedding.set(r.embedding, i * dims.embedding);
      scores.set(r.scores, i * dims.scores);
    });
    videos.set(video.name, {
      video: video.name,
      frameCount: video.frameCount,
      frames: Int32Array.from(list, (r) => r.frame),
      faceIndex: Int32Array.from(list, (r) => r.face),
      embedding,
      scores,
    });
  }
  return { videos, shards, rows };
}

/** The labels of every task that the manifest lists for a video (or, for older manifests, that exist). */
async function loadLabels(
  store: ObjectStore,
  manifest: Manifest,
  video: ManifestVideo,
): Promise<VideoLabelSet> {
  const labels: Record<string, Int8Array | Float64Array> = {};
  for (const task of TASKS) {
    if (video.labels && !video.labels[task]) continue;
    const key = storeKeys.labels(manifest.datasetId, task, video.name);
    const json = await readJson(store, key);
    if (json !== undefined) labels[task] = decodeStoredLabels(task, key, json);
  }
  return labels;
}

const submissionName = (video: string, frame: number): string =>
  `${video}/${String(frame).padStart(5, '0')}.jpg`;

/** ABAW submission text: a header naming the columns, then image_location and the prediction per frame. */
function submission(
  video: string,
  header: readonly string[],
  rows: number,
  row: (i: number) => string,
): string {
  const lines = [['image_location', ...header].join(',')];
  for (let i = 0; i < rows; i++) lines.push(`${submissionName(video, i + 1)},${row(i)}`);
  return `${lines.join('\n')}\n`;
}

function stripHead<T extends { head: unknown }>(result: T, headKey: string): Stored<T> {
  const rest: Partial<T> = { ...result };
  delete rest.head;
  return { ...(rest as Omit<T, 'head'>), headKey };
}

export function createTrainActivities(deps: ActivityDeps, options: TrainActivityOptions = {}) {
  const readManifest = manifestReader(deps.store);
  return {
    async trainAndEvaluate(input: TrainAndEvaluateInput): Promise<TrainAndEvaluateResult> {
      return classifyErrors(async () => {
        const manifest = await readManifest(input.manifestKey);
        const descriptor = getBackbone(input.backbone);
        const prefix = storeKeys.embeddingPrefix(
          manifest.datasetId,
          backboneId(descriptor),
          embeddingConfigHash(input.backbone),
        );
        const settings: HeadSettings = {
          expr: { ...DEFAULT_HEAD_SETTINGS.expr, ...input.expr },
          va: { ...DEFAULT_HEAD_SETTINGS.va, ...input.va },
          au: { ...DEFAULT_HEAD_SETTINGS.au, ...input.au },
          emi: { ...DEFAULT_HEAD_SETTINGS.emi, ...input.emi },
          windows: { ...DEFAULT_HEAD_SETTINGS.windows, ...input.windows },
          runtime: {
            provider: options.provider ?? 'cpu',
            intraOpThreads: options.intraOpThreads ?? 1,
            log: deps.log,
          },
        };
        const faces = await loadFaces(deps.store, manifest, prefix);
        const videos: LabelledVideo[] = [];
        for (const video of manifest.videos) {
          const labels = await loadLabels(deps.store, manifest, video);
          const splits: Partial<Record<Task, Split>> = {};
          for (const task of TASKS) splits[task] = splitOf(video, task);
          videos.push({ faces: faces.videos.get(video.name)!, labels, splits });
        }

        reportProgress({ stage: 'EXPR' });
        const expr = await runExpr(videos, settings);
        if (!expr) {
          throw new Error(
            `trainAndEvaluate: dataset ${manifest.datasetId}: expected annotated EXPR frames with a face in Train and Validation, got none in at least one`,
          );
        }
        reportProgress({ stage: 'VA' });
        const va = runVa(videos, settings);
        reportProgress({ stage: 'AU' });
        const au = await runAu(videos, settings);
        const ce = runCe(videos, descriptor.scoreLabels, settings);
        reportProgress({ stage: 'EMI' });
        const emi = runEmi(videos, settings);

        const saveHead = async (
          task: Task,
          config: unknown,
          trainSamples: number,
          head: unknown,
          extra: object,
        ) => {
          const key = storeKeys.head(
            manifest.datasetId,
            task,
            shortHash(prefix, task, JSON.stringify(config), JSON.stringify(settings.windows), trainSamples),
          );
          const plain = JSON.stringify(head, (_k, v: unknown) =>
            ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v,
          );
          await deps.store.put(
            key,
            `{"task":${JSON.stringify(task)},"backbone":${JSON.stringify(backboneId(descriptor))},"config":${JSON.stringify(config)},"extra":${JSON.stringify(extra)},"head":${plain}}`,
          );
          return key;
        };
        const exprKey = await saveHead('EXPR', expr.config, expr.trainSamples, expr.head, {
          bestEpoch: expr.bestEpoch,
          window: expr.window,
          score: expr.score,
        });
        const vaKey = va
          ? await saveHead('VA', va.config, va.trainSamples, va.head, { window: va.window, score: va.score })
          : undefined;
        const auKey = au
          ? await saveHead('AU', au.config, au.trainSamples, au.head, {
              thresholds: au.thresholds,
              window: au.window,
              score: au.score,
            })
          : undefined;
        const emiKey = emi
          ? await saveHead('EMI', emi.config, emi.trainSamples, emi.head, { score: emi.score })
          : undefined;

        const reportKey = storeKeys.report(input.runId);
        const runFolder = reportKey.slice(0, -'report.json'.length);
        const predictionKeys = await writeTestPredictions(deps.store, manifest, faces.videos, runFolder, {
          expr,
          va,
          au,
          ce: ce ? { scoreLabels: descriptor.scoreLabels } : undefined,
          emi,
          settings,
        });

        const scores: Record<string, number> = { EXPR: expr.score };
        if (va) scores['VA'] = va.score;
        if (au) scores['AU'] = au.score;
        if (ce) scores['CE'] = ce.score;
        if (emi) scores['EMI'] = emi.score;
        const comparison = await earlierBackbones(deps.store, input.runId);
        comparison.push({ backbone: backboneId(descriptor), scores });
        const htmlKey = `${runFolder}report.html`;
        const report: RunReport = {
          runId: input.runId,
          datasetId: manifest.datasetId,
          backbone: backboneId(descriptor),
          embeddingShards: faces.shards,
          embeddingRows: faces.rows,
          createdAt: new Date().toISOString(),
          provider: expr.provider === 'cuda' ? 'cuda' : 'cpu',
          tasks: {
            EXPR: stripHead(expr, exprKey),
            ...(va && vaKey ? { VA: stripHead(va, vaKey) } : {}),
            ...(au && auKey ? { AU: stripHead(au, auKey) } : {}),
            ...(ce ? { CE: ce } : {}),
            ...(emi && emiKey ? { EMI: stripHead(emi, emiKey) } : {}),
          },
          comparison,
          htmlKey,
          predictionKeys,
        };
        await deps.store.put(htmlKey, renderReportHtml(report));
        await deps.store.put(reportKey, JSON.stringify(report, null, 2));
        return { reportKey, scores };
      });
    },
  };
}

/**
 * Scores of the other backbones already reported in the same run: run ids are
 * `<workflow run>/<backbone>`, so siblings share the folder above this report's.
 */
async function earlierBackbones(store: ObjectStore, runId: string): Promise<BackboneScores[]> {
  const slash = runId.lastIndexOf('/');
  if (slash < 0) return [];
  const own = storeKeys.report(runId);
  const parent = storeKeys.report(runId.slice(0, slash)).slice(0, -'report.json'.length);
  const found: BackboneScores[] = [];
  for await (const info of store.list(parent)) {
    if (!info.key.endsWith('/report.json') || info.key === own) continue;
    const other = JSON.parse(new TextDecoder().decode(await store.get(info.key))) as Partial<RunReport>;
    if (!other.backbone || !other.tasks) continue;
    const scores: Record<string, number> = {};
    for (const [task, section] of Object.entries(other.tasks)) {
      if (section && typeof section.score === 'number') scores[task] = section.score;
    }
    found.push({ backbone: other.backbone, scores });
  }
  return found.sort((a, b) => a.backbone.localeCompare(b.backbone));
}

/** Submission files for the Test split, written next to the report. */
async function writeTestPredictions(
  store: ObjectStore,
  manifest: Manifest,
  faces: ReadonlyMap<string, VideoFaces>,
  runFolder: string,
  heads: {
    expr: ExprResult;
    va: VaResult | undefined;
    au: AuResult | undefined;
    ce: { scoreLabels: readonly string[] } | undefined;
    emi: EmiResult | undefined;
    settings: HeadSettings;
  },
): Promise<Partial<Record<Task, string[]>>> {
  const keys: Partial<Record<Task, string[]>> = {};
  const put = async (task: Task, name: string, body: string): Promise<void> => {
    const key = `${runFolder}predictions/${task}/${name}`;
    await store.put(key, body);
    (keys[task] ??= []).push(key);
  };
  const emiRows: string[] = [];
  for (const video of manifest.videos) {
    const videoFaces = faces.get(video.name);
    if (!videoFaces) continue;
    const tested = (task: Task): boolean => splitOf(video, task) === 'Test';
    if (!TASKS.some(tested)) continue;
    const predicted = await predictVideo(
      videoFaces,
      {
        expr: tested('EXPR') ? heads.expr : undefined,
        va: tested('VA') ? heads.va : undefined,
        au: tested('AU') ? heads.au : undefined,
        ce: tested('CE') ? heads.ce : undefined,
      },
      heads.settings,
    );
    const n = video.frameCount;
    const { EXPR: e, VA: v, AU: a, CE: c } = predicted;
    if (e)
      await put(
        'EXPR',
        `${video.name}.txt`,
        submission(video.name, AFFWILD2_EXPRESSIONS, n, (i) => String(e[i])),
      );
    if (v) {
      await put(
        'VA',
        `${video.name}.txt`,
        submission(
          video.name,
          ['valence', 'arousal'],
          n,
          (i) => `${v[i * 2]!.toFixed(6)},${v[i * 2 + 1]!.toFixed(6)}`,
        ),
      );
    }
    if (a) {
      const k = AFFWILD2_ACTION_UNITS.length;
      await put(
        'AU',
        `${video.name}.txt`,
        submission(video.name, AFFWILD2_ACTION_UNITS, n, (i) =>
          Array.from(a.subarray(i * k, (i + 1) * k)).join(','),
        ),
      );
    }
    if (c)
      await put(
        'CE',
        `${video.name}.txt`,
        submission(video.name, COMPOUND_EXPRESSIONS, n, (i) => String(c[i])),
      );
    if (tested('EMI') && heads.emi && videoFaces.frames.length > 0) {
      const p = predictEmiVideo(videoFaces, heads.emi);
      emiRows.push([video.name, ...Array.from(p, (x) => x.toFixed(6))].join(','));
    }
  }
  if (emiRows.length > 0)
    await put(
      'EMI',
      'predictions.csv',
      `${['Filename', ...EMI_DIMENSIONS].join(',')}\n${emiRows.join('\n')}\n`,
    );
  return keys;
}
