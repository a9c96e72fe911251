/**
 * Head training and evaluation (train pool): reads the committed embedding shards of a dataset and
 * backbone and the stored labels of every task, trains each task whose labels exist (EXPR, VA, AU
 * on Train, scored on Validation; CE zero-shot on every labelled video; EMI per video), writes the
 * heads to content-addressed keys, predictions for the Test split in the challenge's submission
 * format, and a JSON and a self-contained HTML report.
 */
import { shortHash } from '../base/hashing.ts';
import { TASKS, type Split, type Task } from '../datasets/labels.ts';
import {
  DEFAULT_HEAD_SETTINGS,
  type CeResult,
  type HeadSettings,
  type LabelledVideo,
  type StreamingSettings,
} from '../heads/tasks.ts';
import { runAu, runCe, runEmi, runExpr, runVa } from '../heads/taskRuns.ts';
import { CeRowCollector, chooseBackboneByKl, runCeVariants } from '../heads/ceRuns.ts';
import { untrainedReason, type SkippedTask } from '../heads/untrained.ts';
import type { EmiConfig } from '../heads/emi.ts';
import type { LinearConfig } from '../heads/linear.ts';
import { describeProtocol, type HeadProtocol } from '../heads/protocol.ts';
import type { MlpConfig } from '../heads/mlp.ts';
import { renderReportHtml } from '../reports/html.ts';
import type { CeReport, EmbeddingIndex, RunReport, Stored } from '../reports/model.ts';
import type { ExecutionProvider } from '../models/onnxRuntime.ts';
import { backboneId, getBackbone } from '../models/registry.ts';
import { commonFolder, keyFolder, storeKeys } from '../storage/keys.ts';
import { checkExprHeadInput, earlierCeFits, resolveExprHead } from './ceVariantSources.ts';
import type { AudioSelection } from './audio.ts';
import { embeddingShardKeys } from './embed.ts';
import { earlierBackbones } from './earlierBackbones.ts';
import { readFaceRows } from './faceRows.ts';
import { framesShardKey, type FramesSettings } from './frames.ts';
import { classifyErrors, manifestReader, reportProgress, type ActivityDeps } from './context.ts';
import { writeTestPredictions } from './submissions.ts';
import { loadLabels, splitOf } from './trainLabels.ts';
import { SpillDirectory } from './trainSpill.ts';
import { headDocument, ObservedOutputs, trainAudioHeads } from './trainAudio.ts';

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
  readonly emi?: Partial<EmiConfig>;
  /** Overrides of the smoothing half-widths (SPEC §5 reference windows otherwise). */
  readonly windows?: Partial<HeadSettings['windows']>;
  /** Overrides of how the EXPR and AU rows are spilled and streamed (heads/tasks.ts DEFAULT_STREAMING). */
  readonly streaming?: Partial<StreamingSettings>;
  /** Choices of the notebooks' protocol (heads/protocol.ts); the challenge's otherwise. */
  readonly protocol?: Partial<HeadProtocol>;
  /**
   * C-EXPR-DB variants: `exprHeadFrom` names an EXPR head trained elsewhere (a heads key, or the
   * run id of a report folder that holds one) to apply to the CE videos' embeddings.
   */
  readonly ce?: { readonly exprHeadFrom?: string };
  /**
   * The audio backbone (name, or name@version) whose committed audio embedding shards train audio
   * heads fused with the visual ones (activities/trainAudio.ts); none: visual only.
   */
  readonly audioBackbone?: string;
  /** The audio windows of the run, when other than the default (activities/audio.ts). */
  readonly audioWindow?: AudioSelection['audioWindow'];
  /**
   * The audio embedding folder to read (`embeddings/<datasetId>/<backbone@version>/<configHash>/`);
   * default: the one a registered audio backbone and audioWindow key, else the one committed.
   */
  readonly audioEmbeddingPrefix?: string;
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
          protocol: { ...DEFAULT_HEAD_SETTINGS.protocol, ...input.protocol },
        };
        deps.log(`trainAndEvaluate ${input.runId}: protocol: ${describeProtocol(settings.protocol)}`);
        const labelled: Pick<LabelledVideo, 'labels' | 'splits'>[] = [];
        for (const video of manifest.videos) {
          const splits: Partial<Record<Task, Split>> = {};
          for (const task of TASKS) splits[task] = splitOf(video, task);
          labelled.push({ labels: await loadLabels(deps.store, manifest, video), splits });
        }
        const exprHeadFrom = input.ce?.exprHeadFrom;
        // Resolved before the shards are read, so a wrong name fails at once.
        const exprHead = exprHeadFrom
          ? await resolveExprHead(deps.store, exprHeadFrom, {
              name: input.backbone,
              id: backboneId(descriptor),
            })
          : undefined;
        const spill = await SpillDirectory.create(deps.config.stateDir);
        try {
          const ceRows = labelled.some((v) => v.labels.CE)
            ? new CeRowCollector(
                labelled,
                (name, layout) => spill.writer(name, layout),
                settings.streaming.chunkRows,
              )
            : undefined;
          const faces = await readFaceRows(
            deps.store,
            manifest,
            embeddingKeys,
            labelled,
            settings,
            spill,
            'scores',
            ceRows,
          );
          deps.log(
            `trainAndEvaluate ${input.runId}: read ${faces.rows} rows of ${faces.shards} shards in ${faces.seconds.toFixed(1)} s`,
          );
          const videos: LabelledVideo[] = manifest.videos.map((video, i) => ({
            faces: faces.videos.get(video.name)!,
            ...labelled[i]!,
          }));

          const withCeVariants = async (zeroShot: CeResult): Promise<CeReport> => {
            const rows = await ceRows?.finish();
            if (exprHead && rows) checkExprHeadInput(exprHeadFrom!, exprHead, rows.rows.dim);
            const variants = await runCeVariants(
              videos,
              rows,
              descriptor.scoreLabels,
              settings,
              zeroShot,
              exprHead,
            );
            if (!variants.fit) return { ...zeroShot, variants };
            const candidates = [
              ...(await earlierCeFits(deps.store, input.runId)),
              { backbone: backboneId(descriptor), predicted: variants.fit.predicted, score: zeroShot.score },
            ];
            const backboneChoice = chooseBackboneByKl(variants.fit.frequencies, candidates);
            return { ...zeroShot, variants: { ...variants, backboneChoice } };
          };

          // The Validation outputs the fusion with the audio heads needs; kept only with audio.
          const seen = input.audioBackbone ? new ObservedOutputs() : undefined;
          reportProgress({ stage: (stage = 'EXPR') });
          const expr = await runExpr(
            videos,
            faces.embeddings.EXPR,
            descriptor.scoreLabels,
            settings,
            seen?.of('EXPR'),
          );
          reportProgress({ stage: (stage = 'VA') });
          const va = runVa(videos, settings, seen?.of('VA'));
          reportProgress({ stage: (stage = 'AU') });
          const au = await runAu(videos, faces.embeddings.AU, settings, seen?.of('AU'));
          const zeroShotCe = runCe(videos, descriptor.scoreLabels, settings);
          reportProgress({ stage: (stage = 'CE') });
          const ce = zeroShotCe && (await withCeVariants(zeroShotCe));
          reportProgress({ stage: (stage = 'EMI') });
          const emi = runEmi(videos, settings, seen?.ofEmi);
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
                JSON.stringify(settings.protocol),
                trainSamples,
              ),
            );
            await deps.store.put(
              key,
              headDocument({ task, backbone: backboneId(descriptor), config, extra, head }),
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
          const audio =
            input.audioBackbone && seen
              ? await trainAudioHeads(deps, {
                  runId: input.runId,
                  manifest,
                  audioBackbone: input.audioBackbone,
                  ...(input.audioEmbeddingPrefix ? { audioEmbeddingPrefix: input.audioEmbeddingPrefix } : {}),
                  ...(input.audioWindow ? { audioWindow: input.audioWindow } : {}),
                  labelled,
                  settings,
                  visualFolders: folders,
                  visualHeads: { EXPR: exprKey, VA: vaKey, AU: auKey, EMI: emiKey },
                  visual: seen,
                  ...(au ? { auPrior: au.trainPrevalence } : {}),
                  stage: (name) => reportProgress({ stage: (stage = name) }),
                })
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
            protocol: settings.protocol,
            tasks: {
              ...(expr && exprKey ? { EXPR: stripHead(expr, exprKey) } : {}),
              ...(va && vaKey ? { VA: stripHead(va, vaKey) } : {}),
              ...(au && auKey ? { AU: stripHead(au, auKey) } : {}),
              ...(ce ? { CE: ce } : {}),
              ...(emi && emiKey ? { EMI: stripHead(emi, emiKey) } : {}),
            },
            skipped,
            ...(audio ? { audio } : {}),
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
