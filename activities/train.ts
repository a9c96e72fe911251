/**
 * Head training and evaluation (train pool): reads the committed embedding shards of a dataset
 * and backbone, trains the EXPR head on the Train split, scores the Validation split with the
 * challenge metric and writes the head and a JSON report to the store.
 */
import { shortHash } from '../datasets/manifest.ts';
import { AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import { macroF1 } from '../heads/metrics.ts';
import { EXPR_DEFAULTS, trainExprHead, type ClassSamples } from '../heads/expr.ts';
import { openMlpPredictor, type MlpConfig } from '../heads/mlp.ts';
import { argmaxRows } from '../heads/rows.ts';
import { backboneId, getBackbone } from '../models/registry.ts';
import { listCommitted, readCommitted } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { decodeEmbeddingShard } from '../storage/shards.ts';
import { embeddingConfigHash } from './embed.ts';
import { classifyErrors, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

export interface TrainAndEvaluateInput {
  readonly manifestKey: string;
  readonly backbone: string;
  readonly runId: string;
  readonly expr?: Partial<MlpConfig>;
}

export interface ExprReport {
  readonly task: 'EXPR';
  readonly metric: 'macro F1 over 8 classes';
  readonly score: number;
  /** Macro F1 of always predicting the most frequent training class: the chance level. */
  readonly majorityBaseline: number;
  readonly trainSamples: number;
  readonly validationSamples: number;
  readonly bestEpoch: number;
  readonly history: readonly { epoch: number; trainLoss: number; validScore: number }[];
  readonly confusion: readonly (readonly number[])[];
  readonly classes: readonly string[];
  readonly headKey: string;
  readonly config: MlpConfig;
}

export interface RunReport {
  readonly runId: string;
  readonly datasetId: string;
  readonly backbone: string;
  readonly embeddingShards: number;
  readonly embeddingRows: number;
  readonly createdAt: string;
  readonly tasks: { readonly EXPR: ExprReport };
}

export interface TrainAndEvaluateResult {
  readonly reportKey: string;
  readonly scores: Readonly<Record<string, number>>;
}

export function createTrainActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    async trainAndEvaluate(input: TrainAndEvaluateInput): Promise<TrainAndEvaluateResult> {
      return classifyErrors(async () => {
        const manifest = await readManifest(input.manifestKey);
        const descriptor = getBackbone(input.backbone);
        const shardIds = new Set(manifest.shards.map((s) => s.shardId));
        const prefix = storeKeys.embeddingPrefix(
          manifest.datasetId,
          backboneId(descriptor),
          embeddingConfigHash(input.backbone),
        );
        const labelCache = new Map<string, Promise<number[] | undefined>>();
        const labelsOf = (video: string): Promise<number[] | undefined> => {
          let labels = labelCache.get(video);
          if (!labels) {
            const key = storeKeys.labels(manifest.datasetId, 'EXPR', video);
            labels = deps.store
              .head(key)
              .then(async (found) =>
                found
                  ? (JSON.parse(new TextDecoder().decode(await deps.store.get(key))) as number[])
                  : undefined,
              );
            labelCache.set(video, labels);
          }
          return labels;
        };
        const split = {
          Train: { x: [] as Float32Array[], y: [] as number[] },
          Validation: { x: [] as Float32Array[], y: [] as number[] },
        };
        let shards = 0;
        let rows = 0;
        for await (const record of listCommitted(deps.store, prefix)) {
          const shardId = String(record.meta['shardId']);
          if (!shardIds.has(shardId)) continue;
          const target =
            record.meta['split'] === 'Train'
              ? split.Train
              : record.meta['split'] === 'Validation'
                ? split.Validation
                : undefined;
          shards++;
          rows += record.rows;
          if (!target) continue;
          const committed = await readCommitted(deps.store, record.key);
          if (!committed) continue;
          const shard = decodeEmbeddingShard(committed.bytes);
          for (let i = 0; i < shard.keys.length; i++) {
            const key = shard.keys[i]!;
            if (key.noFace) continue;
            const label = (await labelsOf(key.video))?.[key.frame - 1];
            if (label === undefined || label < 0) continue;
            target.x.push(shard.embedding.subarray(i * shard.dim, (i + 1) * shard.dim));
            target.y.push(label);
          }
          reportProgress({ shards });
        }
        const samples = (s: { x: Float32Array[]; y: number[] }): ClassSamples => {
          const dim = descriptor.embeddingDim;
          const x = new Float32Array(s.x.length * dim);
          s.x.forEach((v, i) => x.set(v, i * dim));
          return { x, y: Int32Array.from(s.y), n: s.y.length, dim };
        };
        const train = samples(split.Train);
        const valid = samples(split.Validation);
        if (train.n === 0 || valid.n === 0) {
          throw new Error(
            `trainAndEvaluate: dataset ${manifest.datasetId}: expected annotated EXPR frames in Train and Validation, got ${train.n} and ${valid.n}`,
          );
        }
        const classes = AFFWILD2_EXPRESSIONS.length;
        const config: MlpConfig = { ...EXPR_DEFAULTS, ...input.expr };
        const trained = await trainExprHead(train, valid, classes, config);
        const predictor = await openMlpPredictor(trained.head);
        const predicted = argmaxRows(await predictor.predict(valid.x, valid.n), classes);
        await predictor.release();
        const score = macroF1(valid.y, predicted, classes);
        const counts = new Array<number>(classes).fill(0);
        train.y.forEach((c) => counts[c]!++);
        const majority = counts.indexOf(Math.max(...counts));
        const majorityBaseline = macroF1(valid.y, new Int32Array(valid.n).fill(majority), classes);
        const confusion = Array.from({ length: classes }, () => new Array<number>(classes).fill(0));
        valid.y.forEach((t, i) => confusion[t]![predicted[i]!]!++);

        const w = trained.head;
        const headHash = shortHash(prefix, JSON.stringify(config), train.n, valid.n);
        const headKey = storeKeys.head(manifest.datasetId, 'EXPR', headHash);
        await deps.store.put(
          headKey,
          JSON.stringify({
            task: 'EXPR',
            backbone: backboneId(descriptor),
            config,
            bestEpoch: trained.bestEpoch,
            weights: {
              ...w.shape,
              mean: Array.from(w.mean),
              scale: Array.from(w.scale),
              w1: Array.from(w.w1),
              b1: Array.from(w.b1),
              w2: Array.from(w.w2),
              b2: Array.from(w.b2),
            },
          }),
        );
        const report: RunReport = {
          runId: input.runId,
          datasetId: manifest.datasetId,
          backbone: backboneId(descriptor),
          embeddingShards: shards,
          embeddingRows: rows,
          createdAt: new Date().toISOString(),
          tasks: {
            EXPR: {
              task: 'EXPR',
              metric: 'macro F1 over 8 classes',
              score,
              majorityBaseline,
              trainSamples: train.n,
              validationSamples: valid.n,
              bestEpoch: trained.bestEpoch,
              history: trained.history,
              confusion,
              classes: AFFWILD2_EXPRESSIONS,
              headKey,
              config,
            },
          },
        };
        const reportKey = storeKeys.report(input.runId);
        await deps.store.put(reportKey, JSON.stringify(report, null, 2));
        return { reportKey, scores: { EXPR: score } };
      });
    },
  };
}
