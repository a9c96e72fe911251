/**
 * Audio heads and late fusion (issue 17): the fusion of frame and video outputs and the weight
 * search against numpy and scikit-learn on fixed arrays; then the train activity on the generated
 * heads dataset (test/helpers/headsDataset.ts) with audio embedding shards written through the
 * production writer as the audio contract lays them out (one row per video frame, face index 0,
 * track -1, scores of width 0; frames without audio no-face rows), carrying the labels with noise.
 * Audio-only must beat chance by the stated margins and fused must reach the better single
 * modality on Validation (where the weights are chosen), for EXPR, VA and EMI.
 */
import test from 'ava';
import { AudioEmbeddingsError, audioEmbeddingKeys } from '../activities/trainAudio.ts';
import { createTrainActivities, type RunReport } from '../activities/train.ts';
import { gaussian, seededRandom } from '../base/random.ts';
import { decodeStoredLabels, type Task } from '../datasets/labels.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { FUSION_GRID, fuseFrames, fuseVideos, searchWeights } from '../heads/fusion.ts';
import { ccc, emiScore, macroF1 } from '../heads/metrics.ts';
import { argmaxRows } from '../heads/rows.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { storeKeys } from '../storage/keys.ts';
import { renderReportHtml } from '../reports/html.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import type { FaceRowKey } from '../storage/shards.ts';
import { macroF1Chance } from './helpers/chance.ts';
import { writeEmbeddingShard } from './helpers/embeddingShards.ts';
import { python, tempDir } from './helpers/env.ts';
import {
  buildHeadsDataset,
  HEADS_DATASET,
  HEADS_FRAME_SETTINGS,
  HEADS_FRAMES,
} from './helpers/headsDataset.ts';

/** Margins asserted here and stated in docs/HEADS.md ("Audio heads and late fusion"). */
const AUDIO_MARGINS = Object.freeze({ EXPR: 0.2, VA: 0.2, EMI: 0.2 });

const FRAMES = HEADS_FRAMES;
const AUDIO = 'test-audio';
const AUDIO_DIM = 16;

/** Fixed arrays: n frames, 8 classes, visual missing on some frames and audio on others. */
function fixedFrames(n: number, dims: number, seed: number) {
  const rand = seededRandom(seed);
  const truth = Array.from({ length: n }, () => Math.floor(rand() * dims));
  const hasVisual = Array.from({ length: n }, () => rand() > 0.15);
  const hasAudio = Array.from({ length: n }, (_, i) => !hasVisual[i] || rand() > 0.1);
  const draw = (signal: number) =>
    Array.from({ length: n }, (_, i) =>
      Array.from({ length: dims }, (_, c) => (c === truth[i] ? signal : 0) + rand()),
    );
  return { truth, hasVisual, hasAudio, visual: draw(0.6), audio: draw(0.4) };
}

test('frame fusion (each modality filled, then blended) and the EXPR / VA weight search equal numpy and scikit-learn on fixed arrays', (t) => {
  const n = 240;
  const x = fixedFrames(n, 8, 5);
  const outputs = (has: boolean[], values: number[][]) => {
    const frames = has.flatMap((h, i) => (h ? [i + 1] : []));
    return {
      frames: Int32Array.from(frames),
      values: Float64Array.from(frames.flatMap((f) => values[f - 1]!)),
    };
  };
  const visual = outputs(x.hasVisual, x.visual);
  const audio = outputs(x.hasAudio, x.audio);
  const fusedAt = (weights: number[]) => fuseFrames(visual, audio, weights, 8);
  const truthAt = (frames: Int32Array) => Array.from(frames, (f) => x.truth[f - 1]!);
  const expr = searchWeights(FUSION_GRID, (w) => {
    const fused = fusedAt(new Array<number>(8).fill(w));
    return [macroF1(truthAt(fused.frames), argmaxRows(fused.values, 8), 8)];
  });
  // VA: the first two columns as valence and arousal, truth their noisy sum.
  const vaTruth = Array.from({ length: n }, (_, i) => [x.visual[i]![0]! - x.audio[i]![0]!, x.audio[i]![1]!]);
  const va = searchWeights(FUSION_GRID, (w) => {
    const fused = fusedAt(new Array<number>(8).fill(w));
    const col = (c: number) => Array.from(fused.frames, (_, r) => fused.values[r * 8 + c]!);
    const truth = (c: number) => Array.from(fused.frames, (f) => vaTruth[f - 1]![c]!);
    return [ccc(truth(0), col(0)), ccc(truth(1), col(1))];
  });
  const mixed = fusedAt([0.3, 0.7, 0, 1, 0.5, 0.5, 0.1, 0.9]);
  const reference = python<{
    exprScores: number[];
    exprWeight: number;
    vaScores: number[][];
    vaWeights: number[];
    mixed: number[][];
    counts: number[];
  }>(
    `
import json, sys
import numpy as np
from sklearn.metrics import f1_score
d = json.load(sys.stdin)
V, A = np.array(d['visual']), np.array(d['audio'])
hv, ha = np.array(d['hasVisual']), np.array(d['hasAudio'])
y = np.array(d['truth'])
grid = np.array(d['grid'])
keep = hv | ha
t = np.arange(1, len(y) + 1)
# Each modality filled over its own gaps (np.interp holds the ends), then blended.
Vi = np.stack([np.interp(t, t[hv], V[hv, c]) for c in range(V.shape[1])], 1)
Ai = np.stack([np.interp(t, t[ha], A[ha, c]) for c in range(A.shape[1])], 1)
def fuse(w):
    w = np.broadcast_to(np.asarray(w, dtype=float), V.shape[1:])
    return (w * Vi + (1 - w) * Ai)[keep]
def ccc(a, b):
    return 2 * np.mean((a - a.mean()) * (b - b.mean())) / (a.var() + b.var() + (a.mean() - b.mean()) ** 2)
expr = [f1_score(y[keep], fuse(w).argmax(1), labels=list(range(8)), average='macro', zero_division=0) for w in grid]
T = np.array(d['vaTruth'])[keep]
va = [[ccc(T[:, c], fuse(w)[:, c]) for c in range(2)] for w in grid]
vaa = np.array(va)
print(json.dumps({
  'exprScores': expr, 'exprWeight': float(grid[int(np.argmax(expr))]),
  'vaScores': va, 'vaWeights': [float(grid[int(np.argmax(vaa[:, c]))]) for c in range(2)],
  'mixed': fuse(d['mixedWeights']).tolist(),
  'counts': [int((hv & ha).sum()), int((hv & ~ha).sum()), int((~hv & ha).sum())],
}))
`,
    { ...x, grid: FUSION_GRID, vaTruth, mixedWeights: [0.3, 0.7, 0, 1, 0.5, 0.5, 0.1, 0.9] },
  );
  t.deepEqual([mixed.counts.both, mixed.counts.visualOnly, mixed.counts.audioOnly], reference.counts);
  t.is(mixed.frames.length, reference.mixed.length);
  reference.mixed
    .flat()
    .forEach((v, i) => t.true(Math.abs(mixed.values[i]! - v) < 1e-12, `fused value ${i}`));
  expr.searched.forEach((s, i) =>
    t.true(Math.abs(s.scores[0]! - reference.exprScores[i]!) < 1e-12, `EXPR w=${s.weight}`),
  );
  t.deepEqual(expr.weights, [reference.exprWeight]);
  va.searched.forEach((s, i) =>
    s.scores.forEach((v, c) =>
      t.true(Math.abs(v - reference.vaScores[i]![c]!) < 1e-12, `VA w=${s.weight} dim ${c}`),
    ),
  );
  t.deepEqual(va.weights, reference.vaWeights);
  // The search is not trivial on these arrays: neither modality alone is best.
  t.true(expr.weights[0]! > 0 && expr.weights[0]! < 1, `EXPR weight ${expr.weights[0]}`);
});

test('video fusion and the per-emotion EMI weight search equal numpy (a video in one modality keeps it)', (t) => {
  const rand = seededRandom(9);
  const names = Array.from({ length: 30 }, (_, i) => `v${i}`);
  const target = names.map(() => Array.from({ length: 6 }, () => rand()));
  const noisy = (s: number) => target.map((row) => row.map((v) => v + s * gaussian(rand)));
  const [V, A] = [noisy(0.3), noisy(0.4)];
  const visualNames = names.filter((_, i) => i % 7 !== 3);
  const audioNames = names.filter((_, i) => i % 5 !== 1);
  const level = (chosen: string[], values: number[][]) => ({
    videos: chosen,
    values: chosen.flatMap((n) => values[names.indexOf(n)]!),
    target: chosen.flatMap((n) => target[names.indexOf(n)]!),
  });
  const visual = level(visualNames, V);
  const audio = level(audioNames, A);
  const choice = searchWeights(FUSION_GRID, (w) => {
    const fused = fuseVideos(visual, audio, new Array<number>(6).fill(w), 6);
    return emiScore(fused.target, fused.values, 6).perDim;
  });
  const reference = python<{ scores: number[][]; weights: number[] }>(
    `
import json, sys
import numpy as np
d = json.load(sys.stdin)
names, T = d['names'], np.array(d['target'])
V, A = np.array(d['V']), np.array(d['A'])
hv = np.array([n in d['visualNames'] for n in names]); ha = np.array([n in d['audioNames'] for n in names])
order = [i for i in range(len(names)) if hv[i]] + [i for i in range(len(names)) if ha[i] and not hv[i]]
def fuse(w):
    F = np.where((hv & ha)[:, None], w * V + (1 - w) * A, np.where(hv[:, None], V, A))
    return F[order]
scores = [[float(np.corrcoef(T[order][:, c], fuse(w)[:, c])[0, 1]) for c in range(6)] for w in d['grid']]
s = np.array(scores)
print(json.dumps({'scores': scores, 'weights': [d['grid'][int(np.argmax(s[:, c]))] for c in range(6)]}))
`,
    { names, target, V, A, visualNames, audioNames, grid: FUSION_GRID },
  );
  choice.searched.forEach((s, i) =>
    s.scores.forEach((v, c) =>
      t.true(Math.abs(v - reference.scores[i]![c]!) < 1e-12, `w=${s.weight} dim ${c}`),
    ),
  );
  t.deepEqual(choice.weights, reference.weights);
  const fused = fuseVideos(visual, audio, [0.5, 0.5, 0.5, 0.5, 0.5, 0.5], 6);
  t.deepEqual(fused.counts, {
    both: visualNames.filter((n) => audioNames.includes(n)).length,
    visualOnly: visualNames.filter((n) => !audioNames.includes(n)).length,
    audioOnly: audioNames.filter((n) => !visualNames.includes(n)).length,
  });
});

/** Stored labels of a task for one video, or undefined where the video has none. */
async function storedLabels(store: LocalDirStore, task: Task, video: string) {
  const key = storeKeys.labels(HEADS_DATASET, task, video);
  if (!(await store.head(key))) return undefined;
  return decodeStoredLabels(task, key, new TextDecoder().decode(await store.get(key)));
}

/**
 * Audio embedding shards of every manifest shard, under `embeddings/<dataset>/test-audio@1/<config>/`,
 * through the production writer: per frame a class tone (one of 8 directions), valence and arousal
 * levels and the video's mimicry intensities, each with noise; the last 6 frames of every video and
 * every frame of the first Validation video without audio (no-face rows).
 */
async function writeAudioShards(store: LocalDirStore, stateDir: string, manifest: Manifest, config: string) {
  const rand = seededRandom(31);
  const silent = manifest.videos.find((v) => v.split === 'Validation')!.name;
  for (const shard of manifest.shards) {
    const video = shard.video;
    const expr = await storedLabels(store, 'EXPR', video);
    const va = await storedLabels(store, 'VA', video);
    const emi = await storedLabels(store, 'EMI', video);
    const rows: FaceRowKey[] = [];
    const embedding = new Float32Array(FRAMES * AUDIO_DIM);
    for (let f = 1; f <= FRAMES; f++) {
      const heard = video !== silent && f <= FRAMES - 6;
      rows.push({ video, frame: f, faceIndex: 0, trackId: -1, noFace: !heard, box: null, detScore: null });
      if (!heard) continue;
      const row = Float32Array.from({ length: AUDIO_DIM }, () => 0.9 * gaussian(rand));
      const e = expr ? expr[f - 1]! : -1;
      if (e >= 0) row[e]! += 1.2;
      if (va && va[(f - 1) * 2]! >= -1) {
        row[8]! += 1.5 * va[(f - 1) * 2]!;
        row[9]! += 1.5 * va[(f - 1) * 2 + 1]!;
      }
      for (let k = 0; k < 6; k++) row[10 + k]! += 2 * (emi?.[k] ?? 0);
      embedding.set(row, (f - 1) * AUDIO_DIM);
    }
    const key = storeKeys.embeddingShard(HEADS_DATASET, `${AUDIO}@1`, config, shard.shardId);
    const file = {
      shardId: shard.shardId,
      configHash: config,
      backbone: JSON.stringify({ name: AUDIO, version: '1' }),
      preprocessing: 'none (generated audio vectors)',
    };
    const identity = {
      dataset: HEADS_DATASET,
      split: shard.split,
      backbone: AUDIO,
      backboneVersion: '1',
      modelSha256: '0'.repeat(64),
      embeddingDim: AUDIO_DIM,
      scoresDim: 0,
    };
    await writeEmbeddingShard(
      store,
      key,
      { identity, file, rows, embedding, scores: new Float32Array(0) },
      { tempDir: stateDir },
    );
  }
  return silent;
}

test('audio heads and late fusion through the train activity: audio beats chance, fused reaches the better modality; keys hash the audio configuration', async (t) => {
  const store = new LocalDirStore(tempDir('fusion'));
  const stateDir = tempDir('fusion-state');
  const manifest = await buildHeadsDataset(store, stateDir);

  await t.throwsAsync(() => audioEmbeddingKeys(store, manifest, AUDIO), {
    instanceOf: AudioEmbeddingsError,
    message: `audio embeddings of ${AUDIO} for dataset ${HEADS_DATASET}: expected committed shards of this dataset's manifest under embeddings/${HEADS_DATASET}/${AUDIO}@…, found none; run the extraction with --audio-backbone ${AUDIO} first`,
  });
  await writeAudioShards(store, stateDir, manifest, 'cfg-a');
  const located = await audioEmbeddingKeys(store, manifest, AUDIO);
  t.is(located.folder, `embeddings/${HEADS_DATASET}/${AUDIO}@1/cfg-a/`);
  t.is(located.backbone, `${AUDIO}@1`);

  const activities = createTrainActivities({ store, config: { stateDir }, log: () => {} });
  const input = {
    manifestKey: storeKeys.manifest(HEADS_DATASET, 'test'),
    backbone: TINY_BACKBONE.name,
    frames: HEADS_FRAME_SETTINGS,
    expr: { epochs: 8, batchSize: 64 },
    va: { epochs: 40, batchSize: 256, learningRate: 1e-2 },
    au: { epochs: 4, batchSize: 64, learningRate: 3e-3 },
    windows: { EXPR: 2, VA: 5, AU: 1, CE: 0 },
    audioBackbone: AUDIO,
  };
  const result = await activities.trainAndEvaluate({ ...input, runId: 'fusion-1/tiny' });
  const report = JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport;
  const audio = report.audio!;
  t.truthy(audio, 'report.audio');
  t.is(audio.embeddingShards, manifest.shards.length);
  t.is(audio.embeddingRows, manifest.shards.length * FRAMES);

  const exprLabels: number[] = [];
  for (const v of manifest.videos.filter((v) => v.split === 'Validation'))
    exprLabels.push(...(await storedLabels(store, 'EXPR', v.name))!);
  const chance = {
    EXPR: macroF1Chance(
      exprLabels.filter((y) => y >= 0),
      8,
    ),
    VA: 0,
    EMI: 0,
  };
  for (const task of ['EXPR', 'VA', 'EMI'] as const) {
    const visual = report.tasks[task]!.score;
    const heard = audio.tasks[task]!.score;
    const fused = audio.fused[task]!;
    t.log(
      `${task}: visual ${visual.toFixed(3)}, audio ${heard.toFixed(3)} (chance ${chance[task].toFixed(3)}), fused ${fused.score.toFixed(3)} at w=${fused.weights.map((w) => w.toFixed(1)).join(',')}`,
    );
    t.true(heard > chance[task] + AUDIO_MARGINS[task], `${task} audio ${heard} vs chance ${chance[task]}`);
    t.true(
      fused.score >= Math.max(visual, heard) - 1e-9,
      `${task} fused ${fused.score} vs ${visual}, ${heard}`,
    );
    t.is(fused.chosenOn, 'Validation');
    t.is(fused.weights.length, task === 'EXPR' ? 1 : task === 'VA' ? 2 : 6);
    for (const w of fused.weights) t.true(FUSION_GRID.includes(w), `weight ${w} on the grid`);
    t.truthy(await store.head(audio.tasks[task]!.headKey));
    t.truthy(await store.head(fused.headKey));
  }
  // Frames without audio (the silent video, every video's last 6) come from the visual side alone.
  t.true(
    audio.fused.EXPR!.counts.visualOnly > 50,
    `visual-only frames ${audio.fused.EXPR!.counts.visualOnly}`,
  );
  t.true(audio.fused.EXPR!.counts.audioOnly > 0, 'frames without a face use the audio output');
  t.is(audio.fused.EMI!.counts.visualOnly, 1, 'the silent Validation video keeps its visual EMI prediction');

  const html = new TextDecoder().decode(await store.get(report.htmlKey));
  t.true(html.includes('data-table="modalities"'));
  const row = new RegExp(
    `<tr><td>EXPR</td><td>macro F1 over 8 classes</td><td>${report.tasks.EXPR!.score.toFixed(3)}</td><td>${audio.tasks.EXPR!.score.toFixed(3)}</td><td><span class="best">${audio.fused.EXPR!.score.toFixed(3)}</span></td><td>${audio.fused.EXPR!.weights[0]!.toFixed(1)}</td><td>Validation / Validation</td>`,
  );
  t.regex(html, row);
  // An audio task without a head is listed with its reason, as a visual one is.
  const skippedHtml = renderReportHtml({
    ...report,
    audio: { ...audio, skipped: [{ task: 'AU', reason: 'no annotated frame with audio' }] },
  });
  t.true(skippedHtml.includes('<td>AU (audio)</td><td>no annotated frame with audio</td>'));

  // Another audio embedding configuration: the visual heads' keys stay, the audio heads' and fusion keys change.
  await writeAudioShards(store, stateDir, manifest, 'cfg-b');
  await t.throwsAsync(() => audioEmbeddingKeys(store, manifest, AUDIO), {
    instanceOf: AudioEmbeddingsError,
    message: new RegExp(
      `expected one embedding configuration, found 2 .*name the one to use with audioEmbeddingPrefix$`,
    ),
  });
  const second = await activities.trainAndEvaluate({
    ...input,
    runId: 'fusion-2/tiny',
    audioEmbeddingPrefix: `embeddings/${HEADS_DATASET}/${AUDIO}@1/cfg-b/`,
  });
  const again = JSON.parse(new TextDecoder().decode(await store.get(second.reportKey))) as RunReport;
  t.is(again.tasks.EXPR!.headKey, report.tasks.EXPR!.headKey);
  t.is(again.audio!.prefix, `embeddings/${HEADS_DATASET}/${AUDIO}@1/cfg-b/`);
  for (const task of ['EXPR', 'VA', 'AU', 'EMI'] as const) {
    t.not(again.audio!.tasks[task]!.headKey, audio.tasks[task]!.headKey, `${task} audio head key`);
    t.not(again.audio!.fused[task]!.headKey, audio.fused[task]!.headKey, `${task} fusion key`);
  }
});
