/**
 * The label codec is one module (issue 18): datasets/labels.ts writes the stored label files and
 * reads them back, and a file that does not hold what it writes is the permanent LabelFileError
 * naming the key, malformed JSON included (a SyntaxError would be retried).
 */
import test from 'ava';
import { PERMANENT_ERRORS } from '../base/permanentErrors.ts';
import { decodeStoredLabels, encodeLabels, LabelFileError, type TaskLabels } from '../datasets/labels.ts';

const LABELS: readonly TaskLabels[] = [
  { task: 'EXPR', values: Int8Array.from([0, 7, -1, 3]) },
  { task: 'VA', values: Float64Array.from([0.5, -0.25, -5, -5, 1, -1]) },
  {
    task: 'AU',
    values: Int8Array.from([...new Array<number>(12).fill(1), ...new Array<number>(12).fill(-1)]),
  },
  { task: 'CE', values: Int8Array.from([6, -1, 0]) },
  { task: 'EMI', values: Float64Array.from([0.1, 0.2, 0.3, 0.4, 0.5, 0.6]) },
];

for (const labels of LABELS) {
  test(`${labels.task} labels read back what encodeLabels wrote`, (t) => {
    const decoded = decodeStoredLabels(labels.task, 'k', encodeLabels(labels));
    t.is(decoded.constructor, labels.values.constructor);
    t.deepEqual(Array.from(decoded), Array.from(labels.values));
  });
}

test('a label file that is not JSON is the permanent LabelFileError naming its key', (t) => {
  const key = 'datasets/d/labels/VA/v.json';
  const err = t.throws(() => decodeStoredLabels('VA', key, '[[0.5, -0.2], [0.1'), {
    instanceOf: LabelFileError,
  });
  t.regex(
    err.message,
    /^labels datasets\/d\/labels\/VA\/v\.json: expected JSON, got a parse error \(.+\); re-run/,
  );
  t.true(PERMANENT_ERRORS.includes(err.name));
});

test('a VA file with a frame of three values says how many it expected', (t) => {
  t.throws(() => decodeStoredLabels('VA', 'v.json', '[[0.5, -0.2, 0.1]]'), {
    instanceOf: LabelFileError,
    message: 'labels v.json: expected 2 values per frame',
  });
});
