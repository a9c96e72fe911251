/**
 * The train activity end to end on a local store: a manifest, label files of all five tasks and
 * committed embedding shards of generated face rows whose embeddings and scores carry the labels
 * (with noise, frames without a face and frames with two faces; test/helpers/headsDataset.ts). Every task must beat its chance
 * level by the margins docs/HEADS.md states; heads, reports and Test-split submissions are written.
 */
import test from 'ava';
import { createTrainActivities, type RunReport } from '../activities/train.ts';
import { decodeStoredLabels } from '../datasets/labels.ts';
import { backboneId, TINY_BACKBONE } from '../models/registry.ts';
import { storeKeys } from '../storage/keys.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { auChance, macroF1Chance } from './helpers/chance.ts';
import { tempDir } from './helpers/env.ts';
import {
  buildHeadsDataset,
  HEADS_DATASET,
  HEADS_FRAME_SETTINGS,
  HEADS_FRAMES,
} from './helpers/headsDataset.ts';

/** Margins above chance asserted here and stated in docs/HEADS.md. */
export const MARGINS = Object.freeze({ EXPR: 0.3, VA: 0.3, AU: 0.15, CE: 0.3, EMI: 0.3 });

const FRAMES = HEADS_FRAMES;
const DATASET = HEADS_DATASET;

test('every task trains and scores above chance by the stated margins; heads, reports and submissions are written', async (t) => {
  const store = new LocalDirStore(tempDir('heads-activity'));
  const stateDir = tempDir('heads-activity-state');
  const manifest = await buildHeadsDataset(store, stateDir);
  const activities = createTrainActivities({ store, config: { stateDir }, log: () => {} });
  /** The annotated labels the test wrote for a task, over the videos of `split` (every labelled video when absent). */
  const labels = async (task: 'EXPR' | 'AU' | 'CE', split?: string): Promise<number[]> => {
    const values: number[] = [];
    for (const video of manifest.videos) {
      if (split !== undefined && video.split !== split) continue;
      const key = storeKeys.labels(DATASET, task, video.name);
      if (!(await store.head(key))) continue;
      values.push(...decodeStoredLabels(task, key, new TextDecoder().decode(await store.get(key))));
    }
    return values;
  };
  const chance = {
    EXPR: macroF1Chance(await labels('EXPR', 'Validation'), 8),
    AU: auChance(await labels('AU', 'Validation'), 12),
    // Zero-shot: every labelled video is scored, whatever its split.
    CE: macroF1Chance(await labels('CE'), 7),
  };
  const input = {
    manifestKey: storeKeys.manifest(DATASET, 'test'),
    backbone: TINY_BACKBONE.name,
    frames: HEADS_FRAME_SETTINGS,
    expr: { epochs: 8, batchSize: 64 },
    va: { epochs: 40, batchSize: 256, learningRate: 1e-2 },
    au: { epochs: 8, batchSize: 64, learningRate: 3e-3 },
    windows: { EXPR: 2, VA: 5, AU: 1, CE: 0 },
  };
  const first = await activities.trainAndEvaluate({ ...input, runId: 'run-1/backbone-a' });
  const report = JSON.parse(new TextDecoder().decode(await store.get(first.reportKey))) as RunReport;
  const tasks = report.tasks;
  t.log(
    `EXPR ${tasks.EXPR!.score.toFixed(3)} (chance ${chance.EXPR.toFixed(3)}), VA ${tasks.VA?.score.toFixed(3)}, ` +
      `AU ${tasks.AU?.score.toFixed(3)} (chance ${chance.AU.toFixed(3)}), ` +
      `CE ${tasks.CE?.score.toFixed(3)} (chance ${chance.CE.toFixed(3)}), EMI ${tasks.EMI?.score.toFixed(3)}`,
  );
  t.true(
    tasks.EXPR!.score > chance.EXPR + MARGINS.EXPR,
    `EXPR ${tasks.EXPR!.score} vs chance ${chance.EXPR}`,
  );
  t.true(tasks.VA!.score > MARGINS.VA, `VA ${tasks.VA!.score}`);
  t.true(tasks.AU!.score > chance.AU + MARGINS.AU, `AU ${tasks.AU!.score} vs chance ${chance.AU}`);
  t.true(tasks.CE!.score > chance.CE + MARGINS.CE, `CE ${tasks.CE!.score} vs chance ${chance.CE}`);
  t.true(tasks.EMI!.score > MARGINS.EMI, `EMI ${tasks.EMI!.score}`);
  t.deepEqual(first.scores, {
    EXPR: tasks.EXPR!.score,
    VA: tasks.VA!.score,
    AU: tasks.AU!.score,
    CE: tasks.CE!.score,
    EMI: tasks.EMI!.score,
  });
  t.is(tasks.EXPR!.trainSamples > 0 && tasks.EXPR!.validationSamples > 0, true);
  t.is(tasks.EXPR!.windowScores.find((w) => w.window === 2)!.score, tasks.EXPR!.score);

  for (const key of [tasks.EXPR!.headKey, tasks.VA!.headKey, tasks.AU!.headKey, tasks.EMI!.headKey]) {
    t.truthy(await store.head(key), key);
  }
  const html = new TextDecoder().decode(await store.get(report.htmlKey));
  for (const id of [
    'expr-confusion',
    'expr-f1',
    'va-valence',
    'va-arousal',
    'au-f1',
    'ce-confusion',
    'ce-f1',
    'emi-pearson',
    'smoothing',
  ]) {
    t.true(html.includes(`data-plot="${id}"`), id);
  }

  // Test split: every listed frame gets a prediction, in the submission format.
  const exprFile = report.predictionKeys.EXPR!.find((k) => k.endsWith('video-28.txt'))!;
  const lines = new TextDecoder()
    .decode(await store.get(exprFile))
    .trim()
    .split('\n');
  t.is(lines[0], 'image_location,Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other');
  t.is(lines.length, FRAMES + 1);
  t.regex(lines[1]!, /^video-28\/00001\.jpg,[0-7]$/);
  const au = new TextDecoder()
    .decode(await store.get(report.predictionKeys.AU![0]!))
    .trim()
    .split('\n');
  t.is(au.length, FRAMES + 1);
  t.regex(au[FRAMES]!, /^video-2[89]\/00060\.jpg(,[01]){12}$/);
  const emi = new TextDecoder()
    .decode(await store.get(report.predictionKeys.EMI![0]!))
    .trim()
    .split('\n');
  t.is(emi[0], 'Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy');
  t.is(emi.length, 3);

  // A second backbone of the same run sees the first in its comparison; the same inputs give the same head.
  const second = await activities.trainAndEvaluate({ ...input, runId: 'run-1/backbone-b' });
  const again = JSON.parse(new TextDecoder().decode(await store.get(second.reportKey))) as RunReport;
  t.deepEqual(
    again.comparison.map((c) => c.backbone),
    [backboneId(TINY_BACKBONE), backboneId(TINY_BACKBONE)],
  );
  t.is(again.tasks.EXPR!.headKey, tasks.EXPR!.headKey);
  t.deepEqual(second.scores, first.scores);
});

test('stored label files decode per task; a malformed one names its key', (t) => {
  t.deepEqual(Array.from(decodeStoredLabels('VA', 'k', '[[0.5,-0.2],[-5,-5]]')), [0.5, -0.2, -5, -5]);
  t.deepEqual(
    Array.from(decodeStoredLabels('AU', 'k', JSON.stringify([new Array(12).fill(1)]))),
    new Array(12).fill(1),
  );
  t.throws(() => decodeStoredLabels('EXPR', 'datasets/d/labels/EXPR/v.json', '[0, "x"]'), {
    message: 'labels datasets/d/labels/EXPR/v.json: value 1: expected a finite number, got "x"',
  });
  t.throws(() => decodeStoredLabels('EMI', 'e', '[0.1, 0.2]'), {
    message: 'labels e: expected 6 intensities, got 2',
  });
});

test('a task whose Validation labels are all "not annotated" is reported as skipped with its reason, not dropped', async (t) => {
  const store = new LocalDirStore(tempDir('heads-skipped'));
  const stateDir = tempDir('heads-skipped-state');
  const manifest = await buildHeadsDataset(store, stateDir);
  for (const video of manifest.videos.filter((v) => v.split === 'Validation')) {
    await store.put(
      storeKeys.labels(DATASET, 'VA', video.name),
      JSON.stringify(new Array(FRAMES).fill([-5, -5])),
    );
    await store.put(
      storeKeys.labels(DATASET, 'EXPR', video.name),
      JSON.stringify(new Array(FRAMES).fill(-1)),
    );
  }
  const activities = createTrainActivities({ store, config: { stateDir }, log: () => {} });
  const result = await activities.trainAndEvaluate({
    manifestKey: storeKeys.manifest(DATASET, 'test'),
    backbone: TINY_BACKBONE.name,
    frames: HEADS_FRAME_SETTINGS,
    runId: 'run-skipped/backbone-a',
    expr: { epochs: 1 },
    va: { epochs: 1 },
    au: { epochs: 1 },
    emi: { epochs: 1 },
  });
  const report = JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport;
  t.deepEqual(report.skipped, [
    { task: 'VA', reason: 'every Validation VA label is -5 (not annotated)' },
    { task: 'EXPR', reason: 'every Validation EXPR label is -1 (not annotated)' },
  ]);
  t.deepEqual(Object.keys(report.tasks).sort(), ['AU', 'CE', 'EMI']);
  const html = new TextDecoder().decode(await store.get(report.htmlKey));
  t.true(html.includes('<td>VA</td><td>every Validation VA label is -5 (not annotated)</td>'));
});
