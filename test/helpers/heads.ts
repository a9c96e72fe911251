/**
 * Head training on rows held in memory, for the head tests: the production heads train on row
 * sets (heads/expr.ts trainExprHeadOnRows, heads/au.ts trainAuHeadOnRows); these wrap arrays in a
 * memory row set and choose the best epoch on in-memory validation rows.
 */
import { AU_DEFAULTS, trainAuHeadOnRows, type TrainedAuHead } from '../../heads/au.ts';
import { EXPR_DEFAULTS, oneHot, trainExprHeadOnRows, type TrainedExprHead } from '../../heads/expr.ts';
import { auF1, macroF1 } from '../../heads/metrics.ts';
import { CPU_RUNTIME, type MlpConfig, type TrainingRuntime } from '../../heads/mlp.ts';
import { memoryRowSet } from '../../heads/rowset.ts';
import { argmaxRows, thresholdRows } from '../../heads/rows.ts';

/** Rows with one class label each: x float32 [n, dim], y class indices [n]. */
export interface ClassSamples {
  readonly x: Float32Array;
  readonly y: Int32Array;
  readonly n: number;
  readonly dim: number;
}

/** Rows with 0/1 labels per AU: x float32 [n, dim], y [n, aus]. */
export interface MultiLabelSamples {
  readonly x: Float32Array;
  readonly y: Uint8Array;
  readonly n: number;
  readonly dim: number;
  readonly aus: number;
}

/** Trains on rows in memory; the best epoch is chosen by frame-level macro F1 on `valid` (last epoch without it). */
export async function trainExprHead(
  train: ClassSamples,
  valid: ClassSamples | undefined,
  classes: number,
  config: MlpConfig = EXPR_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedExprHead> {
  const rows = memoryRowSet(train.x, train.n, train.dim, {
    labels: oneHot(train.y, classes),
    labelWidth: classes,
  });
  return trainExprHeadOnRows(
    rows,
    async (predictor) =>
      valid && valid.n > 0
        ? macroF1(valid.y, argmaxRows(await predictor.predict(valid.x, valid.n), classes), classes)
        : NaN,
    config,
    runtime,
  );
}

/** Trains on rows in memory; the best epoch by mean F1 at threshold 0.5 on `valid` (last epoch without it). */
export async function trainAuHead(
  train: MultiLabelSamples,
  valid: MultiLabelSamples | undefined,
  config: MlpConfig = AU_DEFAULTS,
  runtime: TrainingRuntime = CPU_RUNTIME,
): Promise<TrainedAuHead> {
  const rows = memoryRowSet(train.x, train.n, train.dim, {
    labels: Float32Array.from(train.y),
    labelWidth: train.aus,
  });
  const half = new Array<number>(train.aus).fill(0.5);
  return trainAuHeadOnRows(
    rows,
    async (predictor) =>
      valid && valid.n > 0
        ? auF1(valid.y, thresholdRows(await predictor.predict(valid.x, valid.n), half), valid.aus).mean
        : NaN,
    config,
    runtime,
  );
}
