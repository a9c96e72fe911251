/** Challenge metrics against scikit-learn, run by the test. */
import test from 'ava';
import { macroF1, MetricInputError } from '../heads/metrics.ts';
import { seededRandom } from '../datasets/synthetic.ts';
import { python } from './helpers/env.ts';

test('macro F1 over 8 classes equals sklearn f1_score(average="macro") to 1e-9, edge cases included', (t) => {
  const rand = seededRandom(3);
  const cases: { truth: number[]; pred: number[] }[] = [
    {
      truth: Array.from({ length: 500 }, () => Math.floor(rand() * 8)),
      pred: Array.from({ length: 500 }, () => Math.floor(rand() * 8)),
    },
    { truth: [0, 1, 2, 3, 4, 5, 6, 7], pred: [0, 0, 0, 0, 0, 0, 0, 0] }, // constant prediction
    { truth: [1, 1, 2, 2], pred: [1, 2, 2, 1] }, // classes never present nor predicted
    { truth: [3, 3, 3], pred: [3, 3, 3] },
  ];
  const reference = python<number[]>(
    `
import json, sys
from sklearn.metrics import f1_score
cases = json.load(sys.stdin)
print(json.dumps([f1_score(c['truth'], c['pred'], average='macro', labels=list(range(8)), zero_division=0) for c in cases]))
`,
    cases,
  );
  cases.forEach((c, i) => {
    const ours = macroF1(c.truth, c.pred, 8);
    t.true(Math.abs(ours - reference[i]!) < 1e-9, `case ${i}: ${ours} vs sklearn ${reference[i]}`);
  });
});

test('macro F1 rejects NaN and mismatched lengths with a clear error', (t) => {
  t.throws(() => macroF1([0, NaN], [0, 1], 8), {
    instanceOf: MetricInputError,
    message: /sample 1: expected class indices in 0\.\.7, got truth NaN/,
  });
  t.throws(() => macroF1([0], [0, 1], 8), {
    message: 'metric: expected equal lengths, got 1 truths and 2 predictions',
  });
});
