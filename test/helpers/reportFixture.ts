/** A hand-made run report with every task section, for rendering tests (values are arbitrary). */
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
} from '../../datasets/labels.ts';
import { seededRandom } from '../../base/random.ts';
import type { RunReport } from '../../reports/model.ts';

const rand = seededRandom(31);
const windows = [0, 1, 2, 3, 5, 10, 25, 50, 100].map((window) => ({ window, score: 0.3 + 0.2 * rand() }));
const history = [1, 2, 3].map((epoch) => ({ epoch, trainLoss: 1 / epoch, validScore: 0.2 * epoch }));
const square = (k: number, scale: number): number[][] =>
  Array.from({ length: k }, (_, r) =>
    Array.from({ length: k }, (_, c) => Math.floor(rand() * scale * (r === c ? 8 : 1))),
  );
const density = Array.from({ length: 20 }, (_, r) =>
  Array.from({ length: 20 }, (_, c) => (Math.abs(r - c) < 3 ? 30 : 1)),
);

export function sampleReport(): RunReport {
  const trained = { bestEpoch: 3, history, trainSamples: 1000, validationSamples: 400, trainSeconds: 0.5 };
  return {
    runId: 'run-x/affectflow-tiny@1',
    datasetId: 'dataset <&> "quoted"',
    backbone: 'affectflow-tiny@1',
    embeddingShards: 4,
    embeddingRows: 1400,
    createdAt: '2026-11-30T03:00:00.000Z',
    provider: 'cpu',
    tasks: {
      EXPR: {
        ...trained,
        task: 'EXPR',
        metric: 'macro F1 over 8 classes',
        score: 0.42,
        window: 50,
        windowScores: windows,
        bestWindow: windows[5]!,
        majorityBaseline: 0.05,
        classes: AFFWILD2_EXPRESSIONS,
        confusion: square(8, 10),
        perClassF1: AFFWILD2_EXPRESSIONS.map(() => rand()),
        config: { hidden: 128, epochs: 10, batchSize: 256, learningRate: 1e-3, seed: 1 },
        classWeights: [1, 2, 3, 4, 5, 6, 7, 8],
        provider: 'cpu',
        headKey: 'heads/d/EXPR/x.json',
      },
      VA: {
        ...trained,
        task: 'VA',
        metric: 'mean CCC of valence and arousal',
        score: 0.55,
        valence: 0.6,
        arousal: 0.5,
        window: 50,
        windowScores: windows,
        bestWindow: windows[5]!,
        chance: 0,
        density: { bins: 20, valence: density, arousal: density },
        config: { epochs: 5, batchSize: 1024, learningRate: 1e-3, l2: 1 / 1024, seed: 1 },
        headKey: 'heads/d/VA/x.json',
      },
      AU: {
        ...trained,
        task: 'AU',
        metric: 'mean F1 over 12 AUs',
        score: 0.53,
        scoreAtHalf: 0.5,
        thresholds: AFFWILD2_ACTION_UNITS.map((_, i) => 0.1 + (i % 9) / 10),
        perAuF1: AFFWILD2_ACTION_UNITS.map(() => rand()),
        aus: AFFWILD2_ACTION_UNITS,
        window: 5,
        windowScores: windows,
        bestWindow: windows[5]!,
        allPresentBaseline: 0.3,
        trainPrevalence: AFFWILD2_ACTION_UNITS.map(() => 0.2),
        config: { hidden: 128, epochs: 5, batchSize: 512, learningRate: 1e-3, seed: 1 },
        provider: 'cpu',
        headKey: 'heads/d/AU/x.json',
      },
      CE: {
        task: 'CE',
        metric: 'macro F1 over 7 classes',
        score: 0.3,
        window: 0,
        windowScores: windows,
        bestWindow: windows[5]!,
        majorityBaseline: 0.04,
        evaluatedSamples: 700,
        videos: 3,
        classes: COMPOUND_EXPRESSIONS,
        confusion: square(7, 10),
        perClassF1: COMPOUND_EXPRESSIONS.map(() => rand()),
      },
      EMI: {
        ...trained,
        task: 'EMI',
        metric: 'mean Pearson r over 6 emotions',
        score: 0.18,
        perDim: [0.3, -0.2, 0.1, 0.25, -0.05, 0.4],
        dims: EMI_DIMENSIONS,
        chance: 0,
        config: { epochs: 100, batchSize: 64, learningRate: 1e-2, l2: 0, seed: 1, frameStride: 5 },
        headKey: 'heads/d/EMI/x.json',
      },
    },
    comparison: [
      { backbone: 'affectflow-tiny@1', scores: { EXPR: 0.42, VA: 0.55, AU: 0.53, CE: 0.3, EMI: 0.18 } },
      { backbone: 'enet_b0_8_va_mtl@1', scores: { EXPR: 0.45, VA: 0.5 } },
    ],
    htmlKey: 'reports/run-x/report.html',
    predictionKeys: {},
  };
}
