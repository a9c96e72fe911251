/** Challenge metrics against scikit-learn and scipy, run by the test, on random and edge-case inputs. */
import test from 'ava';
import {
  auF1,
  ccc,
  emiScore,
  macroF1,
  MetricInputError,
  pearson,
  perClassF1,
  vaScore,
} from '../heads/metrics.ts';
import { seededRandom } from '../base/random.ts';
import { python } from './helpers/env.ts';

const rand = seededRandom(3);
const ints = (n: number, k: number): number[] => Array.from({ length: n }, () => Math.floor(rand() * k));
const floats = (n: number, lo = -1, hi = 1): number[] =>
  Array.from({ length: n }, () => lo + rand() * (hi - lo));

const classCases = (classes: number): { truth: number[]; pred: number[] }[] => [
  { truth: ints(500, classes), pred: ints(500, classes) },
  { truth: Array.from({ length: classes }, (_, i) => i), pred: new Array<number>(classes).fill(0) },
  { truth: [1, 1, 2, 2], pred: [1, 2, 2, 1] },
  { truth: [3, 3, 3], pred: [3, 3, 3] },
  { truth: ints(200, 2), pred: ints(200, classes) },
];

const exprCases = classCases(8);
const ceCases = classCases(7);
const valence = floats(400);
const correlated = valence.map((v) => 0.6 * v + 0.3 * (rand() - 0.5) + 0.1);
const regressionCases: { truth: number[]; pred: number[] }[] = [
  { truth: valence, pred: correlated },
  { truth: floats(300), pred: floats(300) },
  { truth: [0.1, 0.2, 0.3], pred: [0.5, 0.5, 0.5] },
  { truth: floats(50), pred: floats(50).map((x) => -x * 1e-3 + 5) },
];

const auTruth = ints(300 * 12, 2);
const auPred = ints(300 * 12, 2);
for (let i = 0; i < 300; i++) {
  auPred[i * 12 + 3] = 0; // an AU never predicted
  auTruth[i * 12 + 5] = 0; // an AU never present
  auPred[i * 12 + 5] = 0;
  auPred[i * 12 + 7] = 1; // constant prediction
}
const emiTruth = floats(40 * 6, 0, 1);
const emiPred = emiTruth.map((v) => v * 0.5 + rand() * 0.5);

interface Reference {
  expr: number[];
  exprPerClass: number[][];
  ce: number[];
  ccc: number[];
  pearson: (number | null)[];
  au: number[];
  auMean: number;
  emi: number[];
}

const reference = python<Reference>(
  `
import json, sys, warnings
warnings.simplefilter('ignore')
import numpy as np
from sklearn.metrics import f1_score
from scipy.stats import pearsonr
d = json.load(sys.stdin)
def concordance(x, y):
    x, y = np.asarray(x, float), np.asarray(y, float)
    return 2 * np.cov(x, y, bias=True)[0, 1] / (x.var() + y.var() + (x.mean() - y.mean()) ** 2)
f1 = lambda c, k, avg: f1_score(c['truth'], c['pred'], average=avg, labels=list(range(k)), zero_division=0)
au_t = np.array(d['auTruth']).reshape(-1, 12); au_p = np.array(d['auPred']).reshape(-1, 12)
au = [f1_score(au_t[:, j], au_p[:, j], zero_division=0) for j in range(12)]
emi_t = np.array(d['emiTruth']).reshape(-1, 6); emi_p = np.array(d['emiPred']).reshape(-1, 6)
print(json.dumps({
  'expr': [f1(c, 8, 'macro') for c in d['expr']],
  'exprPerClass': [list(f1(c, 8, None)) for c in d['expr']],
  'ce': [f1(c, 7, 'macro') for c in d['ce']],
  'ccc': [concordance(c['truth'], c['pred']) for c in d['reg']],
  'pearson': [None if np.isnan(r) else float(r) for r in (pearsonr(c['truth'], c['pred'])[0] for c in d['reg'])],
  'au': au, 'auMean': float(np.mean(au)),
  'emi': [pearsonr(emi_t[:, j], emi_p[:, j])[0] for j in range(6)],
}))
`,
  {
    expr: exprCases,
    ce: ceCases,
    reg: regressionCases,
    auTruth,
    auPred,
    emiTruth,
    emiPred,
  },
);

const near = (ours: number, theirs: number | undefined): boolean => Math.abs(ours - theirs!) < 1e-9;

test('EXPR macro F1 over 8 classes equals sklearn f1_score(average="macro") to 1e-9, edge cases included', (t) => {
  exprCases.forEach((c, i) => {
    const ours = macroF1(c.truth, c.pred, 8);
    t.true(near(ours, reference.expr[i]), `case ${i}: ${ours} vs sklearn ${reference.expr[i]}`);
    perClassF1(c.truth, c.pred, 8).forEach((f, k) =>
      t.true(near(f, reference.exprPerClass[i]![k]), `case ${i} class ${k}`),
    );
  });
});

test('CE macro F1 over 7 classes equals sklearn to 1e-9', (t) => {
  ceCases.forEach((c, i) => {
    const ours = macroF1(c.truth, c.pred, 7);
    t.true(near(ours, reference.ce[i]), `case ${i}: ${ours} vs sklearn ${reference.ce[i]}`);
  });
});

test('CCC (population moments) and VA score equal the numpy formula to 1e-9; a constant prediction included', (t) => {
  regressionCases.forEach((c, i) => {
    const ours = ccc(c.truth, c.pred);
    t.true(near(ours, reference.ccc[i]), `case ${i}: ${ours} vs numpy ${reference.ccc[i]}`);
  });
  const va = vaScore(
    { valence: regressionCases[0]!.truth, arousal: regressionCases[1]!.truth },
    { valence: regressionCases[0]!.pred, arousal: regressionCases[1]!.pred },
  );
  t.true(near(va.mean, (reference.ccc[0]! + reference.ccc[1]!) / 2));
  t.is(ccc([0.5, 0.5], [0.5, 0.5]), 0);
});

test('Pearson and the EMI score equal scipy.stats.pearsonr to 1e-9; a constant series scores 0', (t) => {
  regressionCases.forEach((c, i) => {
    const ours = pearson(c.truth, c.pred);
    const theirs = reference.pearson[i];
    if (theirs === null || theirs === undefined || Number.isNaN(theirs)) t.is(ours, 0, `case ${i}`);
    else t.true(near(ours, theirs), `case ${i}: ${ours} vs scipy ${theirs}`);
  });
  const emi = emiScore(emiTruth, emiPred);
  emi.perDim.forEach((r, j) => t.true(near(r, reference.emi[j]), `dim ${j}`));
  t.true(near(emi.mean, reference.emi.reduce((a, b) => a + b, 0) / 6));
});

test('AU mean F1 over 12 AUs equals sklearn binary F1 per AU to 1e-9 (never predicted, never present, constant)', (t) => {
  const ours = auF1(auTruth, auPred);
  ours.perAu.forEach((f, j) => t.true(near(f, reference.au[j]), `AU ${j}: ${f} vs ${reference.au[j]}`));
  t.true(near(ours.mean, reference.auMean));
});

test('metrics reject NaN, non-finite values, bad labels and mismatched lengths with a clear error', (t) => {
  t.throws(() => macroF1([0, NaN], [0, 1], 8), {
    instanceOf: MetricInputError,
    message: /sample 1: expected class indices in 0\.\.7, got truth NaN/,
  });
  t.throws(() => macroF1([0], [0, 1], 8), {
    message: 'metric: expected equal lengths, got 1 truths and 2 predictions',
  });
  t.throws(() => macroF1([], [], 8), { message: 'metric: expected at least one sample, got none' });
  t.throws(() => ccc([0.1, 0.2], [0.3, NaN]), {
    instanceOf: MetricInputError,
    message: 'metric: CCC: sample 1: expected finite values, got truth 0.2, prediction NaN',
  });
  t.throws(() => pearson([Infinity, 0.2], [0.3, 0.1]), {
    message: 'metric: Pearson: sample 0: expected finite values, got truth Infinity, prediction 0.3',
  });
  t.throws(() => auF1([1, 0, 1], [1, 0, 1]), {
    message: 'metric: AU: expected a multiple of 12 values, got 3',
  });
  const badAu = new Array<number>(12).fill(0);
  badAu[4] = NaN;
  t.throws(() => auF1(badAu, new Array<number>(12).fill(0)), {
    message: 'metric: AU 4: sample 0: expected 0 or 1, got truth NaN, prediction 0',
  });
  const badEmi = new Array<number>(12).fill(0.5);
  badEmi[7] = NaN;
  t.throws(() => emiScore(badEmi, new Array<number>(12).fill(0.4)), {
    message:
      'metric: EMI dimension 1: Pearson: sample 1: expected finite values, got truth NaN, prediction 0.4',
  });
});
