/**
 * The notebook protocol as options (heads/protocol.ts) and the zero-shot EXPR baseline: which
 * frames are scored and how far filling and the mean filter run, the notebooks' best-epoch losses
 * against numpy, AU thresholds tuned once on raw outputs, heads fitted on Train + Validation, the
 * CLI flags that choose them, and, on the train activity, reports that say which protocol they
 * used and head keys that differ between protocols.
 */
import test from 'ava';
import { Command } from 'commander';
import { createTrainActivities, type RunReport } from '../activities/train.ts';
import { addRunFlags, inputFrom, type RunFlags } from '../cli/runFlags.ts';
import { AFFECTNET_EXPRESSIONS } from '../datasets/labels.ts';
import { classDecisions, scoredOutputs, type VideoOutputs } from '../heads/evaluation.ts';
import { CHALLENGE_PROTOCOL, REFERENCE_PROTOCOL, type HeadProtocol } from '../heads/protocol.ts';
import { referenceAuLoss, referenceVaLoss } from '../heads/referenceLosses.ts';
import { runVa } from '../heads/taskRuns.ts';
import { DEFAULT_HEAD_SETTINGS, type LabelledVideo } from '../heads/tasks.ts';
import { AFFECTNET_TO_AFFWILD2, zeroShotExpr, zeroShotProbabilities } from '../heads/zeroShot.ts';
import { seededRandom } from '../base/random.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { storeKeys } from '../storage/keys.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { python, tempDir } from './helpers/env.ts';
import { buildHeadsDataset, HEADS_DATASET, HEADS_FRAME_SETTINGS } from './helpers/headsDataset.ts';

const AFFECTNET_VA = [...AFFECTNET_EXPRESSIONS, 'Valence', 'Arousal'];

/** A video of `frameCount` frames with one face on each of `faceFrames` and the given labels. */
function video(
  name: string,
  frameCount: number,
  faceFrames: number[],
  scores: number[],
  labels: LabelledVideo['labels'],
  split: 'Train' | 'Validation',
): LabelledVideo {
  return {
    faces: {
      video: name,
      frameCount,
      frames: Int32Array.from(faceFrames),
      faceIndex: new Int32Array(faceFrames.length),
      scores: Float32Array.from(scores),
    },
    labels,
    splits: { EXPR: split, VA: split, AU: split, CE: split, EMI: split },
  };
}

test('zero-shot EXPR: softmax of the AffectNet logits through [5,0,2,3,4,6,7,1]; Other is Contempt, 0 without it', (t) => {
  t.deepEqual([...AFFECTNET_TO_AFFWILD2], [5, 0, 2, 3, 4, 6, 7, 1]);
  // Logits 0..7 in AffectNet order, then valence and arousal (excluded from the softmax).
  const row = [0, 1, 2, 3, 4, 5, 6, 7, 100, -100];
  const p = zeroShotProbabilities(row, 1, AFFECTNET_VA)!;
  const z = [0, 1, 2, 3, 4, 5, 6, 7].reduce((s, v) => s + Math.exp(v), 0);
  const expected = [5, 0, 2, 3, 4, 6, 7, 1].map((a) => Math.exp(a) / z);
  expected.forEach((e, i) => t.true(Math.abs(p[i]! - e) < 1e-12, `class ${i}: ${p[i]} vs ${e}`));
  // A 7-class backbone (no Contempt): Other can never be predicted.
  const seven = AFFECTNET_EXPRESSIONS.filter((l) => l !== 'Contempt');
  const q = zeroShotProbabilities([0, 2, 3, 4, 5, 6, 7], 1, seven)!;
  t.is(q[7], 0);
  t.true(Math.abs(q.reduce((a, b) => a + b, 0) - 1) < 1e-12);
  t.is(zeroShotProbabilities([1, 2], 1, ['Valence', 'Arousal']), undefined);
});

test('zero-shot EXPR on known logits scores the macro F1 of the mapped argmax', (t) => {
  // 8 frames, Aff-Wild2 class f-1 on frame f; the logits raise AffectNet class map[f-1] except on
  // frame 8 (Other), whose logits raise Anger: 7 classes right, Other never predicted, Anger
  // predicted twice: macro F1 = (6 * 1 + F1(Anger) 2/3 + F1(Other) 0) / 8.
  const frames = [1, 2, 3, 4, 5, 6, 7, 8];
  const scores = frames.flatMap((f) => {
    const logits = new Array<number>(10).fill(0);
    logits[f === 8 ? 0 : AFFECTNET_TO_AFFWILD2[f - 1]!] = 5;
    return logits;
  });
  const v = video('v', 8, frames, scores, { EXPR: Int8Array.from([0, 1, 2, 3, 4, 5, 6, 7]) }, 'Validation');
  const result = zeroShotExpr([v], AFFECTNET_VA, 0)!;
  t.is(result.window, 0);
  t.true(Math.abs(result.score - (6 + 2 / 3) / 8) < 1e-12, `${result.score}`);
  t.deepEqual(result.windowScores[0], { window: 0, score: result.score });
});

test('face-frames scores only frames with a face and fills and filters up to the last one; every-frame scores all', (t) => {
  // 10 frames, faces on 2, 3 and 5 with one output each; frames after 5 exist only for every-frame.
  const v = video('v', 10, [2, 3, 5], [], { EXPR: new Int8Array(10).fill(0) }, 'Validation');
  const outputs: VideoOutputs = {
    video: v,
    frames: Int32Array.from([2, 3, 5]),
    values: Float64Array.from([0, 3, 9]),
  };
  const every = scoredOutputs(outputs, 1, 1, [0], CHALLENGE_PROTOCOL);
  const faces = scoredOutputs(outputs, 1, 1, [0], REFERENCE_PROTOCOL);
  t.deepEqual(every.frames, [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]);
  t.deepEqual(faces.frames, [2, 3, 5]);
  // Filled: 0 0 3 6 9 (9 9 9 9 9); the mean filter of half-width 1 at frame 5 sees frames 4..6
  // (6, 9, 9) for every-frame, 4..5 (6, 9) for face-frames.
  t.is(faces.values.length, 5);
  t.is(every.values[4], 8);
  t.is(faces.values[4], 7.5);
  t.is(every.values[1], 1);
  t.is(faces.values[1], 1);
  // Class decisions count the annotated frames that are scored; a faceless video drops out.
  const none: VideoOutputs = {
    video: video('w', 4, [], [], { EXPR: new Int8Array(4).fill(1) }, 'Validation'),
    frames: new Int32Array(0),
    values: new Float64Array(0),
  };
  const twoClass: VideoOutputs = { ...outputs, values: Float64Array.from([1, 0, 1, 0, 0, 1]) };
  t.is(classDecisions([twoClass, none], 'EXPR', 2, 0, CHALLENGE_PROTOCOL).truth.length, 14);
  t.deepEqual(classDecisions([twoClass, none], 'EXPR', 2, 0, REFERENCE_PROTOCOL), {
    truth: [0, 0, 0],
    predicted: [0, 0, 1],
  });
});

test('the notebooks’ validation losses equal numpy: VA 1 - mean CCC per batch weighted by size, AU weighted BCE', (t) => {
  const rand = seededRandom(4);
  const n = 23;
  const truth = Array.from({ length: n * 2 }, () => rand() * 2 - 1);
  const predicted = truth.map((v) => Math.tanh(v + rand() - 0.5));
  const aus = 3;
  const y = Array.from({ length: 7 * aus }, () => (rand() < 0.4 ? 1 : 0));
  const p = y.map((v) => (v ? 0.6 : 0.3) + rand() * 0.3);
  p[0] = 1; // clipped to 1 - 1e-7 as Keras does
  const w0 = [0.7, 0.8, 1.1];
  const w1 = [1.9, 1.4, 0.9];
  const reference = python<{ va: number; au: number }>(
    `
import json, sys, numpy as np
d = json.load(sys.stdin)
t = np.array(d['truth']).reshape(-1, 2); p = np.array(d['predicted']).reshape(-1, 2)
def ccc(a, b):
    va, vb = a.var(), b.var()
    den = va + vb + (a.mean() - b.mean()) ** 2
    return 0.0 if den == 0 else 2 * ((a - a.mean()) * (b - b.mean())).mean() / den
losses, sizes = [], []
for s in range(0, len(t), 10):
    tb, pb = t[s:s+10], p[s:s+10]
    losses.append(1 - (ccc(pb[:, 0], tb[:, 0]) + ccc(pb[:, 1], tb[:, 1])) / 2); sizes.append(len(tb))
y = np.array(d['y']).reshape(-1, 3); q = np.clip(np.array(d['p']).reshape(-1, 3), 1e-7, 1 - 1e-7)
w0 = np.array(d['w0']); w1 = np.array(d['w1'])
au = -(w1 * y * np.log(q) + w0 * (1 - y) * np.log(1 - q)).mean()
print(json.dumps({'va': float(np.average(losses, weights=sizes)), 'au': float(au)}))
`,
    { truth, predicted, y, p, w0, w1 },
  );
  const va = referenceVaLoss(truth, predicted, n, 10);
  const au = referenceAuLoss(y, p, aus, { w0, w1 });
  t.true(Math.abs(va - reference.va) < 1e-12, `VA ${va} vs ${reference.va}`);
  t.true(Math.abs(au - reference.au) < 1e-12, `AU ${au} vs ${reference.au}`);
});

/** VA videos whose valence and arousal are a noisy linear function of the scores. */
function vaVideos(): LabelledVideo[] {
  const rand = seededRandom(9);
  return Array.from({ length: 12 }, (_, v) => {
    const frames = Array.from({ length: 40 }, (_, i) => i + 1).filter((f) => f % 7 !== 0);
    const scores: number[] = [];
    const va = new Float64Array(40 * 2).fill(-5);
    for (const f of frames) {
      const row = Array.from({ length: 10 }, () => rand() * 2 - 1);
      scores.push(...row);
      va[(f - 1) * 2] = Math.tanh(row[0]! - row[1]! + (rand() - 0.5) * 0.3);
      va[(f - 1) * 2 + 1] = Math.tanh(row[2]! + (rand() - 0.5) * 0.3);
    }
    // Frames without a face are annotated too: only every-frame scores them.
    for (let f = 7; f <= 40; f += 7) va.set([0.1, -0.1], (f - 1) * 2);
    return video(`va-${v}`, 40, frames, scores, { VA: va }, v < 8 ? 'Train' : 'Validation');
  });
}

test('VA: face-frames, the reference best epoch and Train + Validation change what runVa fits and scores', (t) => {
  const videos = vaVideos();
  const va = { epochs: 6, batchSize: 64, learningRate: 1e-2, l2: 1 / 1024, seed: 1 };
  const run = (protocol: Partial<HeadProtocol>) =>
    runVa(videos, { ...DEFAULT_HEAD_SETTINGS, va, protocol: { ...CHALLENGE_PROTOCOL, ...protocol } })!;
  const challenge = run({});
  // 4 validation videos x 40 annotated frames; 35 of them with a face.
  t.is(challenge.validationSamples, 160);
  t.is(run({ scoredFrames: 'face-frames' }).validationSamples, 140);
  t.is(challenge.trainSamples, 8 * 35);

  const reference = run({ bestEpoch: 'reference' });
  const losses = reference.history.map((h) => -h.validScore);
  t.true(
    losses.every((l) => l > 0 && l < 2),
    `losses ${losses.join(', ')}`,
  );
  t.is(reference.bestEpoch, 1 + losses.indexOf(Math.min(...losses)));
  t.notDeepEqual(
    reference.history.map((h) => h.validScore),
    challenge.history.map((h) => h.validScore),
  );

  const both = run({ fitOn: 'Train+Validation' });
  t.is(both.trainSamples, 12 * 35);
  t.is(both.bestEpoch, va.epochs, 'fitted on Validation too: the last epoch, no selection');
  t.true(both.history.every((h) => Number.isNaN(h.validScore)));
});

function parse(args: string[]): RunFlags {
  const command = addRunFlags(new Command()).exitOverride();
  command.parse(args, { from: 'user' });
  return command.opts<RunFlags>();
}

test('run flags choose the protocol; only departures from the challenge protocol enter the run input', (t) => {
  t.false('protocol' in inputFrom('/data', parse([])));
  t.deepEqual(inputFrom('/data', parse(['--protocol', 'reference'])).protocol, {
    scoredFrames: 'face-frames',
    bestEpoch: 'reference',
    auThresholds: 'raw-once',
  });
  t.deepEqual(
    inputFrom(
      '/data',
      parse(['--protocol', 'reference', '--au-thresholds', 'per-window', '--fit-on', 'Train+Validation']),
    ).protocol,
    { fitOn: 'Train+Validation', scoredFrames: 'face-frames', bestEpoch: 'reference' },
  );
  t.false('emi' in inputFrom('/data', parse(['--emi-head', 'reference'])));
  t.deepEqual(inputFrom('/data', parse(['--emi-head', 'linear'])).emi, {
    head: 'linear',
    batchSize: 64,
    learningRate: 1e-2,
    l2: 0,
  });
  const error = t.throws(() => parse(['--fit-on', 'Validation']));
  t.regex(error.message, /expected one of Train, Train\+Validation, got Validation/);
});

test('train activity: the report names its protocol and shows the zero-shot row; protocols never share a head key', async (t) => {
  const store = new LocalDirStore(tempDir('heads-protocol'));
  const stateDir = tempDir('heads-protocol-state');
  await buildHeadsDataset(store, stateDir);
  const activities = createTrainActivities({ store, config: { stateDir }, log: () => {} });
  const input = {
    manifestKey: storeKeys.manifest(HEADS_DATASET, 'test'),
    backbone: TINY_BACKBONE.name,
    frames: HEADS_FRAME_SETTINGS,
    expr: { epochs: 4, batchSize: 64 },
    va: { epochs: 10, batchSize: 256, learningRate: 1e-2 },
    au: { epochs: 4, batchSize: 64, learningRate: 3e-3 },
    windows: { EXPR: 2, VA: 5, AU: 1, CE: 0 },
  };
  const report = async (runId: string, protocol?: Partial<HeadProtocol>): Promise<RunReport> => {
    const done = await activities.trainAndEvaluate({ ...input, runId, ...(protocol ? { protocol } : {}) });
    return JSON.parse(new TextDecoder().decode(await store.get(done.reportKey))) as RunReport;
  };
  const challenge = await report('run-c/tiny');
  t.deepEqual(challenge.protocol, CHALLENGE_PROTOCOL);
  const zeroShot = challenge.tasks.EXPR!.zeroShot!;
  t.log(`EXPR head ${challenge.tasks.EXPR!.score.toFixed(3)}, zero-shot ${zeroShot.score.toFixed(3)}`);
  // The generated logits carry the compound classes and valence/arousal, not the basic expressions:
  // the zero-shot row is a real baseline here, well below the trained head.
  t.true(
    zeroShot.score >= 0 && zeroShot.score < challenge.tasks.EXPR!.score - 0.3,
    `zero-shot ${zeroShot.score}`,
  );
  t.deepEqual(zeroShot.mapping, [5, 0, 2, 3, 4, 6, 7, 1]);
  t.is(zeroShot.window, 2);
  const html = new TextDecoder().decode(await store.get(challenge.htmlKey));
  t.regex(
    html,
    /<td>EXPR zero-shot<\/td><td>macro F1 over 8 classes, backbone logits mapped \[5,0,2,3,4,6,7,1\]<\/td><td>\d\.\d{3}<\/td>/,
  );
  t.true(
    html.includes(
      'protocol: fit on Train; scored frames every-frame; best epoch challenge-metric; AU thresholds per-window',
    ),
  );

  const notebooks = await report('run-r/tiny', REFERENCE_PROTOCOL);
  t.deepEqual(notebooks.protocol, REFERENCE_PROTOCOL);
  // 8 % of the frames have no face: the notebooks' protocol scores fewer frames.
  t.true(notebooks.tasks.EXPR!.validationSamples < challenge.tasks.EXPR!.validationSamples);
  t.true(notebooks.tasks.AU!.validationSamples < challenge.tasks.AU!.validationSamples);
  // Their best epochs: EXPR by accuracy (not macro F1), AU by validation loss (a negated loss is < 0).
  t.notDeepEqual(
    notebooks.tasks.EXPR!.history.map((h) => h.validScore),
    challenge.tasks.EXPR!.history.map((h) => h.validScore),
  );
  t.true(notebooks.tasks.AU!.history.every((h) => h.validScore < 0));
  t.true(challenge.tasks.AU!.history.every((h) => h.validScore > 0));
  const auScores = notebooks.tasks.AU!.history.map((h) => h.validScore);
  t.is(notebooks.tasks.AU!.bestEpoch, 1 + auScores.indexOf(Math.max(...auScores)));
  // Thresholds tuned once on the raw outputs: the same whichever window is reported.
  const otherWindow = await activities.trainAndEvaluate({
    ...input,
    windows: { ...input.windows, AU: 4 },
    runId: 'run-r2/tiny',
    protocol: REFERENCE_PROTOCOL,
  });
  const other = JSON.parse(new TextDecoder().decode(await store.get(otherWindow.reportKey))) as RunReport;
  t.deepEqual(other.tasks.AU!.thresholds, notebooks.tasks.AU!.thresholds);

  const final = await report('run-f/tiny', { fitOn: 'Train+Validation' });
  t.is(final.protocol!.fitOn, 'Train+Validation');
  t.true(final.tasks.EXPR!.trainSamples > challenge.tasks.EXPR!.trainSamples);
  t.is(final.tasks.EXPR!.bestEpoch, input.expr.epochs);
  t.is(
    final.tasks.EMI!.trainSamples,
    challenge.tasks.EMI!.trainSamples + challenge.tasks.EMI!.validationSamples,
  );
  const finalHtml = new TextDecoder().decode(await store.get(final.htmlKey));
  t.true(finalHtml.includes('heads fitted on Validation too: its scores are in-sample'));

  for (const task of ['EXPR', 'VA', 'AU', 'EMI'] as const) {
    const keys = [challenge, notebooks, final].map((r) => r.tasks[task]!.headKey);
    t.is(new Set(keys).size, 3, `${task}: ${keys.join(' ')}`);
  }
});
