/** Gap filling and smoothing (SPEC §5) against a small independent numpy implementation run by the test. */
import test from 'ava';
import { seededRandom } from '../base/random.ts';
import { fillAndSmooth, fillGaps, meanFilter, SmoothingInputError } from '../heads/smoothing.ts';
import { python } from './helpers/env.ts';

interface Case {
  frames: number[];
  values: number[];
  dims: number;
  frameCount: number;
  d: number;
}

const rand = seededRandom(11);
function randomCase(frameCount: number, faceShare: number, dims: number, d: number): Case {
  const frames: number[] = [];
  for (let f = 1; f <= frameCount; f++) if (rand() < faceShare) frames.push(f);
  if (frames.length === 0) frames.push(1 + Math.floor(rand() * frameCount));
  const values = Array.from({ length: frames.length * dims }, () => rand());
  return { frames, values, dims, frameCount, d };
}

const cases: Case[] = [
  randomCase(300, 0.6, 8, 50),
  randomCase(120, 0.2, 2, 5),
  randomCase(80, 0.9, 12, 3),
  randomCase(40, 0.5, 7, 0),
  randomCase(25, 0.3, 3, 100),
  { frames: [7], values: [0.2, 0.8], dims: 2, frameCount: 12, d: 2 },
  { frames: [1, 10], values: [0, 1, 1, 0], dims: 2, frameCount: 10, d: 1 },
];

test('fillGaps + meanFilter equal an independent numpy implementation (ends held, linear between faces, truncated window)', (t) => {
  const reference = python<{ filled: number[]; smoothed: number[] }[]>(
    `
import json, sys
import numpy as np
out = []
for c in json.load(sys.stdin):
    n, k, d = c['frameCount'], c['dims'], c['d']
    frames = np.array(c['frames']) - 1
    vals = np.array(c['values'], float).reshape(-1, k)
    idx = np.arange(n)
    filled = np.stack([np.interp(idx, frames, vals[:, j]) for j in range(k)], axis=1)
    smoothed = np.stack([filled[max(i - d, 0):min(i + d, n - 1) + 1].mean(axis=0) for i in range(n)])
    out.append({'filled': filled.ravel().tolist(), 'smoothed': smoothed.ravel().tolist()})
print(json.dumps(out))
`,
    cases,
  );
  cases.forEach((c, i) => {
    const filled = fillGaps(c.frames, c.values, c.dims, c.frameCount);
    const smoothed = fillAndSmooth(c.frames, c.values, c.dims, c.frameCount, c.d);
    const ref = reference[i]!;
    t.is(filled.length, c.frameCount * c.dims);
    const worst = (ours: Float64Array, theirs: number[]): number =>
      ours.reduce((m, v, j) => Math.max(m, Math.abs(v - theirs[j]!)), 0);
    t.true(worst(filled, ref.filled) < 1e-12, `case ${i} fill: max error ${worst(filled, ref.filled)}`);
    t.true(
      worst(smoothed, ref.smoothed) < 1e-9,
      `case ${i} smooth: max error ${worst(smoothed, ref.smoothed)}`,
    );
  });
});

test('the hand-worked example: hold before the first face, interpolate between, hold after the last', (t) => {
  const filled = fillGaps([3, 5], [1, 3], 1, 7);
  t.deepEqual(Array.from(filled), [1, 1, 1, 2, 3, 3, 3]);
  t.deepEqual(Array.from(meanFilter(filled, 1, 1)), [1, 1, 4 / 3, 2, 8 / 3, 3, 3]);
});

test('a video without faces takes the fallback; bad inputs are rejected with a clear error', (t) => {
  t.deepEqual(Array.from(fillGaps([], [], 2, 3, [0.5, 0.5])), [0.5, 0.5, 0.5, 0.5, 0.5, 0.5]);
  t.throws(() => fillGaps([], [], 2, 3), {
    instanceOf: SmoothingInputError,
    message: 'smoothing: video without face frames: expected a fallback of 2 values, got none',
  });
  t.throws(() => fillGaps([4, 2], [0, 1], 1, 5), {
    message: 'smoothing: face frame 1: expected strictly ascending frame numbers in 1..5, got 2',
  });
  t.throws(() => fillGaps([1], [0, 1, 2], 2, 5), { message: 'smoothing: expected 1 x 2 = 2 values, got 3' });
  t.throws(() => meanFilter([1, 2], 1, -1), { message: 'smoothing: expected a window d >= 0, got -1' });
});
