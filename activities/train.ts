/**
 * Head training and evaluation (train pool): reads the committed embedding shards of a dataset and
 * backbone and the stored labels of every task, trains each task whose labels exist (EXPR, VA, AU
 * on Train, scored on Validation; CE zero-shot on every labelled video; EMI per video), writes the
 * heads to content-addressed keys, predictions for the Test split in the challenge's submission
 * format, and a JSON and a self-contained HTML report.
 */
import { shortHash } from '../base/hashing.ts';
import type { Manifest, ManifestVideo } from '../datasets/manifest.ts';
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  decodeStoredLabels,
  EMI_DIMENSIONS,
  TASKS,
  type Split,
  type Task,
} from '../datasets/labels.ts';
import { EmbeddingRowRouter, predictKeyed, type EmbeddingRows } from '../heads/embeddingRows.ts';
import { predictEmiVideo, predictVideo } from '../heads/prediction.ts';
import { runAu, runCe, runEmi, runExpr, runVa } from '../heads/taskRuns.ts';
import {
  DEFAULT_HEAD_SETTINGS,
  type AuResult,
  type EmiResult,
  type ExprResult,
  type HeadSettings,
  type LabelledVideo,
  type StreamingSettings,
  type VaResult,
  type VideoFaces,
  type VideoLabelSet,
} from '../heads/tasks.ts';
import { untrainedReason, type SkippedTask } from '../heads/untrained.ts';
import type { LinearConfig } from '../heads/linear.ts';
import type { MlpConfig } from '../heads/mlp.ts';
import { renderReportHtml } from '../reports/html.ts';
import type { BackboneScores, EmbeddingIndex, RunReport, Stored } from '../reports/model.ts';
import type { ExecutionProvider } from '../models/onnxRuntime.ts';
import { backboneId, getBackbone } from '../models/registry.ts';
import { committedObject, listCommitted, type CommitRecord } from '../storage/commit.ts';
import { commonFolder, keyFolder, storeKeys } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { CommittedShardFile, floatVectors } from '../storage/shardReader.ts';
import { embeddingShardKeys } from './embed.ts';
import { framesShardKey, type FramesSettings } from './frames.ts';
import { classifyErrors, manifestReader, reportProgress, type ActivityDeps } from './context.ts';
import { SpillDirectory } from './trainSpill.ts';

export interface TrainAndEvaluateInput {
  readonly manifestKey: string;
  readonly backbone: string;
  readonly runId: string;
  /** The run's frame settings, which locate its frames and embedding shards. */
  readonly frames: FramesSettings;
  /** Overrides of the SPEC §4 settings per head. */
  readonly expr?: Partial<MlpConfig>;
  readonly va?: Partial<LinearConfig>;
  readonly au?: Partial<MlpConfig>;
  readonly emi?: Partial<LinearConfig & { frameStride: number }>;
  /** Overrides of the smoothing half-widths (SPEC §5 reference windows otherwise). */
  readonly windows?: Partial<HeadSettings['windows']>;
  /** Overrides of how the EXPR and AU rows are spilled and streamed (heads/tasks.ts DEFAULT_STREAMING). */
  readonly streaming?: Partial<StreamingSettings>;
}

export type {
  AuReport,
  CeReport,
  EmbeddingIndex,
  EmiReport,
  ExprReport,
  RunReport,
  SkippedTask,
  VaReport,
} from '../reports/model.ts';

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

async function readJson(store: ObjectStore, key: string): Promise<string | undefined> {
  if (!(await store.head(key))) return undefined;
  return new TextDecoder().decode(await store.get(key));
}

function splitOf(video: ManifestVideo, task: Task): Split {
  return video.taskSplits?.[task] ?? video.split;
}

/** What one pass over the committed shards leaves: keys and scores per video, embeddings spilled. */
export interface FaceRowsRead {
  /** Per manifest video: its face rows' keys and scores, sorted by frame and face (no embeddings). */
  readonly videos: Map<string, VideoFaces>;
  /** The EXPR and AU heads' embedding rows, spilled under the activity's state directory. */
  readonly embeddings: EmbeddingRows;
  readonly shards: number;
  /** Rows of the shards read (no-face rows included). */
  readonly rows: number;
  /** The data objects of the shards read, as their markers name them, in key order. */
  readonly objects: readonly string[];
  /** Wall seconds of the pass (store reads, Parquet decoding, spill writes). */
  readonly seconds: number;
}

interface ShardKeys {
  /** Index of the row's video in the manifest; -1 for a video the manifest does not list. */
  readonly video: Int32Array;
  readonly frame: Int32Array;
  /** 1 for the first face (lowest face index) of its frame, 2 for any other face, 0 for no face. */
  readonly face: Int32Array;
  readonly faceIndex: Int32Array;
}

const KEY_COLUMNS = ['video', 'frame', 'face_index', 'no_face'] as const;

/** The key columns of a shard file (a few int32 a row), and which row is the first face of its frame. */
async function shardKeys(
  file: CommittedShardFile,
  videoIndex: ReadonlyMap<string, number>,
): Promise<ShardKeys> {
  const video: number[] = [];
  const frame: number[] = [];
  const faceIndex: number[] = [];
  const isFace: boolean[] = [];
  for await (const table of file.batches({ columns: KEY_COLUMNS, batchSize: 8192 })) {
    const [names, frames, faces, noFace] = KEY_COLUMNS.map((c) => table.getChild(c)!);
    let last: { name: string; index: number } | undefined;
    for (let i = 0; i < table.numRows; i++) {
      const name = String(names!.get(i));
      if (last?.name !== name) last = { name, index: videoIndex.get(name) ?? -1 };
      video.push(last.index);
      frame.push(Number(frames!.get(i)));
      faceIndex.push(Number(faces!.get(i)));
      isFace.push(noFace!.get(i) !== true);
    }
  }
  // The first face of a frame: the lowest face index among the frame's rows in this shard (a
  // shard holds whole frames of one video).
  const lowest = new Map<number, number>();
  const slot = (i: number): number => video[i]! * 2 ** 24 + frame[i]!;
  isFace.forEach((f, i) => {
    if (f) lowest.set(slot(i), Math.min(lowest.get(slot(i)) ?? Infinity, faceIndex[i]!));
  });
  return {
    video: Int32Array.from(video),
    frame: Int32Array.from(frame),
    face: Int32Array.from(isFace, (f, i) => (!f ? 0 : lowest.get(slot(i)) === faceIndex[i] ? 1 : 2)),
    faceIndex: Int32Array.from(faceIndex),
  };
}

interface FacePart {
  readonly frames: Int32Array;
  readonly faces: Int32Array;
  scores: Float32Array;
  filled: number;
}

/** The committed shards among `keys`, one listing per key folder (most runs have one). */
async function* committedAmong(store: ObjectStore, keys: readonly string[]): AsyncIterable<CommitRecord> {
  const wanted = new Set(keys);
  const folders = new Set(keys.map(keyFolder));
  for (const folder of folders) {
    for await (const record of listCommitted(store, folder)) if (wanted.has(record.key)) yield record;
  }
}

/**
 * One pass over the run's committed embedding shards (`embeddingKeys`: the manifest's shards
 * under the run's settings), one shard file at a time: the key columns first, then the embedding
 * and scores in batches of 1,024 rows. Each face row's key and
 * scores are kept per video; the first face of each frame goes to the EXPR and AU row sets
 * (EmbeddingRowRouter) in `spill`. Memory: one shard's keys, one batch, the spill writers' stages.
 */
export async function readFaceRows(
  store: ObjectStore,
  manifest: Manifest,
  embeddingKeys: readonly string[],
  labelled: readonly Pick<LabelledVideo, 'labels' | 'splits'>[],
  settings: HeadSettings,
  spill: SpillDirectory,
): Promise<FaceRowsRead> {
  const started = process.hrtime.bigint();
  const videoIndex = new Map(manifest.videos.map((v, i) => [v.name, i]));
  const router = new EmbeddingRowRouter(
    labelled,
    settings.streaming,
    { EXPR: settings.expr.seed, AU: settings.au.seed },
    (name, layout) => spill.writer(name, layout),
  );
  const parts = manifest.videos.map((): FacePart[] => []);
  let shards = 0;
  let rows = 0;
  let scoresDim = 0;
  const objects: string[] = [];
  for await (const record of committedAmong(store, embeddingKeys)) {
    objects.push(committedObject(record));
    const file = await CommittedShardFile.open(store, record, { tempDir: spill.path });
    try {
      const keys = await shardKeys(file, videoIndex);
      const shardParts = new Map<number, FacePart>();
      const counts = new Map<number, number>();
      keys.video.forEach((v, i) => {
        if (v >= 0 && keys.face[i] !== 0) counts.set(v, (counts.get(v) ?? 0) + 1);
      });
      for (const [v, count] of counts) {
        const part = {
          frames: new Int32Array(count),
          faces: new Int32Array(count),
          scores: new Float32Array(0),
          filled: 0,
        };
        shardParts.set(v, part);
        parts[v]!.push(part);
      }
      let base = 0;
      for await (const table of file.batches({ columns: ['embedding', 'scores'], batchSize: 1024 })) {
        const embedding = floatVectors(table, 'embedding');
        const scores = floatVectors(table, 'scores');
        scoresDim = scores.dim;
        for (let r = 0; r < table.numRows; r++) {
          const i = base + r;
          const part = shardParts.get(keys.video[i]!);
          if (!part || keys.face[i] === 0) continue;
          if (part.scores.length === 0) part.scores = new Float32Array(part.frames.length * scoresDim);
          part.frames[part.filled] = keys.frame[i]!;
          part.faces[part.filled] = keys.faceIndex[i]!;
          part.scores.set(
            scores.values.subarray(r * scoresDim, (r + 1) * scoresDim),
            part.filled * scoresDim,
          );
          part.filled++;
          if (keys.face[i] === 1) {
            const d = embedding.dim;
            await router.add(keys.video[i]!, keys.frame[i]!, embedding.values.subarray(r * d, (r + 1) * d));
          }
        }
        base += table.numRows;
      }
    } finally {
      await file.close();
    }
    shards++;
    rows += record.rows;
    reportProgress({ stage: 'read', shards });
  }
  const embeddings = await router.finish();
  const videos = new Map<string, VideoFaces>();
  manifest.videos.forEach((video, v) => {
    const list = parts[v]!;
    const n = list.reduce((a, p) => a + p.filled, 0);
    const frames = new Int32Array(n);
    const faces = new Int32Array(n);
    const scores = new Float32Array(n * scoresDim);
    let o = 0;
    for (const p of list) {
      frames.set(p.frames.subarray(0, p.filled), o);
      faces.set(p.faces.subarray(0, p.filled), o);
      scores.set(p.scores.subarray(0, p.filled * scoresDim), o * scoresDim);
      o += p.filled;
    }
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => frames[a]! - frames[b]! || faces[a]! - faces[b]!,
    );
    const sortedScores = new Float32Array(n * scoresDim);
    order.forEach((from, to) =>
      sortedScores.set(scores.subarray(from * scoresDim, (from + 1) * scoresDim), to * scoresDim),
    );
    videos.set(video.name, {
      video: video.name,
      frameCount: video.frameCount,
      frames: Int32Array.from(order, (i) => frames[i]!),
      faceIndex: Int32Array.from(order, (i) => faces[i]!),
      scores: sortedScores,
    });
    parts[v] = [];
  });
  return {
    videos,
    embeddings,
    shards,
    rows,
    objects,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
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
        const embeddingKey = await embeddingShardKeys(deps, input.backbone);
        const embeddingKeys = manifest.shards.map(
          (shard) => embeddingKey(framesShardKey(manifest, shard, input.frames).framesKey).key,
        );
        const folders = [...new Set(embeddingKeys.map(keyFolder))];
        // Where the embeddings are: their one folder, or the folder every one of them is under.
        const prefix = commonFolder(folders);
        // The task in training, repeated by the heartbeats of its chunks.
        let stage = 'read';
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
            heartbeat: () => reportProgress({ stage }),
          },
          streaming: { ...DEFAULT_HEAD_SETTINGS.streaming, ...input.streaming },
        };
        const labelled: Pick<LabelledVideo, 'labels' | 'splits'>[] = [];
        for (const video of manifest.videos) {
          const splits: Partial<Record<Task, Split>> = {};
          for (const task of TASKS) splits[task] = splitOf(video, task);
          labelled.push({ labels: await loadLabels(deps.store, manifest, video), splits });
        }
        const spill = await SpillDirectory.create(deps.config.stateDir);
        try {
          const faces = await readFaceRows(deps.store, manifest, embeddingKeys, labelled, settings, spill);
          deps.log(
            `trainAndEvaluate ${input.runId}: read ${faces.rows} rows of ${faces.shards} shards in ${faces.seconds.toFixed(1)} s`,
          );
          const videos: LabelledVideo[] = manifest.videos.map((video, i) => ({
            faces: faces.videos.get(video.name)!,
            ...labelled[i]!,
          }));

          reportProgress({ stage: (stage = 'EXPR') });
          const expr = await runExpr(videos, faces.embeddings.EXPR, settings);
          reportProgress({ stage: (stage = 'VA') });
          const va = runVa(videos, settings);
          reportProgress({ stage: (stage = 'AU') });
          const au = await runAu(videos, faces.embeddings.AU, settings);
          const ce = runCe(videos, descriptor.scoreLabels, settings);
          reportProgress({ stage: (stage = 'EMI') });
          const emi = runEmi(videos, settings);
          // A dataset labels some of the tasks (C-EXPR-DB only CE, Hume-Vidmimic2 only EMI) or
          // none (extraction only): every task without a head is reported with its reason.
          const results: Record<Task, unknown> = { EXPR: expr, VA: va, AU: au, CE: ce, EMI: emi };
          const skipped: SkippedTask[] = TASKS.filter((task) => !results[task]).map((task) => ({
            task,
            reason: untrainedReason(task, videos),
          }));
          for (const s of skipped)
            deps.log(`trainAndEvaluate ${input.runId}: ${s.task} not trained: ${s.reason}`);

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
              shortHash(
                folders.join(' '),
                task,
                JSON.stringify(config),
                JSON.stringify(settings.windows),
                JSON.stringify(settings.streaming),
                trainSamples,
              ),
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
          const exprKey = expr
            ? await saveHead('EXPR', expr.config, expr.trainSamples, expr.head, {
                bestEpoch: expr.bestEpoch,
                window: expr.window,
                score: expr.score,
              })
            : undefined;
          const vaKey = va
            ? await saveHead('VA', va.config, va.trainSamples, va.head, {
                window: va.window,
                score: va.score,
              })
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
          const predictionKeys = await writeTestPredictions(deps.store, manifest, faces, runFolder, {
            expr,
            va,
            au,
            ce: ce ? { scoreLabels: descriptor.scoreLabels } : undefined,
            emi,
            settings,
          });

          const scores: Record<string, number> = {};
          if (expr) scores['EXPR'] = expr.score;
          if (va) scores['VA'] = va.score;
          if (au) scores['AU'] = au.score;
          if (ce) scores['CE'] = ce.score;
          if (emi) scores['EMI'] = emi.score;
          const comparison = await earlierBackbones(deps.store, input.runId);
          comparison.push({ backbone: backboneId(descriptor), scores });
          const htmlKey = `${runFolder}report.html`;
          const indexKey = `${runFolder}embeddings.json`;
          const index: EmbeddingIndex = {
            format: 'affectflow-embedding-index/1',
            datasetId: manifest.datasetId,
            backbone: backboneId(descriptor),
            prefix,
            shards: faces.shards,
            rows: faces.rows,
            objects: faces.objects,
          };
          await deps.store.put(indexKey, JSON.stringify(index, null, 1));
          const report: RunReport = {
            runId: input.runId,
            datasetId: manifest.datasetId,
            backbone: backboneId(descriptor),
            embeddingShards: faces.shards,
            embeddingRows: faces.rows,
            createdAt: new Date().toISOString(),
            provider: (expr ?? au)?.provider === 'cuda' ? 'cuda' : 'cpu',
            tasks: {
              ...(expr && exprKey ? { EXPR: stripHead(expr, exprKey) } : {}),
              ...(va && vaKey ? { VA: stripHead(va, vaKey) } : {}),
              ...(au && auKey ? { AU: stripHead(au, auKey) } : {}),
              ...(ce ? { CE: ce } : {}),
              ...(emi && emiKey ? { EMI: stripHead(emi, emiKey) } : {}),
            },
            skipped,
            embeddings: { prefix, indexKey },
            comparison,
            htmlKey,
            predictionKeys,
          };
          await deps.store.put(htmlKey, renderReportHtml(report));
          await deps.store.put(reportKey, JSON.stringify(report, null, 2));
          return { reportKey, scores };
        } finally {
          await spill.dispose();
        }
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
  faces: FaceRowsRead,
  runFolder: string,
  heads: {
    expr: ExprResult | undefined;
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
  // Head outputs per Test frame (8 or 12 floats a frame) in memory; the embeddings stream.
  const runtime = heads.settings.runtime;
  const exprOutputs = heads.expr
    ? await predictKeyed(heads.expr.head, faces.embeddings.EXPR.test, runtime)
    : undefined;
  const auOutputs = heads.au
    ? await predictKeyed(heads.au.head, faces.embeddings.AU.test, runtime)
    : undefined;
  for (const [index, video] of manifest.videos.entries()) {
    const videoFaces = faces.videos.get(video.name);
    if (!videoFaces) continue;
    const tested = (task: Task): boolean => splitOf(video, task) === 'Test';
    if (!TASKS.some(tested)) continue;
    const predicted = predictVideo(
      videoFaces,
      {
        expr:
          tested('EXPR') && heads.expr ? { result: heads.expr, outputs: exprOutputs?.get(index) } : undefined,
        va: tested('VA') ? heads.va : undefined,
        au: tested('AU') && heads.au ? { result: heads.au, outputs: auOutputs?.get(index) } : undefined,
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
