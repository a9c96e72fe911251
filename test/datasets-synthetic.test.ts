/**
 * The synthetic datasets: deterministic from the seed, clean unless malformed files are asked for,
 * and labelled so that a simple model learns every task from the pixels (scikit-learn, run by the
 * test, on frames decoded from the written files).
 */
import test from 'ava';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { buildManifest } from '../datasets/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC, type SyntheticOptions } from '../datasets/synthetic.ts';
import { decodeFrames } from '../media/decodeFrames.ts';
import { python } from './helpers/env.ts';

const SIDE = 16;

function tempRoot(t: { teardown(fn: () => void): void }, label: string): string {
  const dir = mkdtempSync(join(tmpdir(), `affectflow-synthetic-${label}-`));
  t.teardown(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** Every frame of every manifest video, box-averaged to SIDE x SIDE RGB (0..255), in frame order. */
async function pixels(root: string): Promise<Record<string, number[][]>> {
  const { manifest } = await buildManifest(root, { shardFrames: 1000 });
  const out: Record<string, number[][]> = {};
  for (const video of manifest.videos) {
    if (video.source.kind !== 'video') throw new Error(`${video.name}: expected a video source`);
    const frames: number[][] = [];
    const block = video.width / SIDE;
    for await (const f of decodeFrames(join(root, video.source.path), video, {
      first: 1,
      last: video.frameCount,
    })) {
      const small = new Array<number>(SIDE * SIDE * 3).fill(0);
      for (let y = 0; y < f.height; y++)
        for (let x = 0; x < f.width; x++)
          for (let c = 0; c < 3; c++)
            small[(Math.floor(y / block) * SIDE + Math.floor(x / block)) * 3 + c]! +=
              f.rgb[(y * f.width + x) * 3 + c]! / (block * block);
      frames.push(small);
    }
    out[video.name] = frames;
  }
  return out;
}

test('same seed, same files; the clean layouts manifest without errors', async (t) => {
  const options: SyntheticOptions = {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    testVideos: 1,
    pairs: 1,
    framesPerVideo: 20,
  };
  const a = tempRoot(t, 'a');
  const b = tempRoot(t, 'b');
  const first = await generateSyntheticDataset(a, options);
  await generateSyntheticDataset(b, options);
  t.true(first.written);
  t.false((await generateSyntheticDataset(a, options)).written, 'an identical dataset is not written twice');
  const file = 'annotations/AU_Detection_Challenge/Train_Set/pair-001_left.txt';
  t.is(readFileSync(join(a, file), 'utf8'), readFileSync(join(b, file), 'utf8'));
  t.deepEqual(readdirSync(join(a, 'videos')).sort(), [
    'pair-001.mp4',
    'synth-001.mp4',
    'synth-002.mp4',
    'synth-003.mp4',
    'synth-t01.mp4',
  ]);
  const built = await buildManifest(a, { shardFrames: 8 });
  t.deepEqual(built.manifest.findings, []);
  t.deepEqual(built.manifest.splits, { Train: 4, Validation: 1, Test: 1 });
  const again = await buildManifest(b, { shardFrames: 8 });
  t.deepEqual(
    again.manifest.shards.map((s) => s.shardId),
    built.manifest.shards.map((s) => s.shardId),
    'identical files give identical shard ids wherever they lie',
  );

  for (const layout of ['cexprdb', 'hume', 'generic'] as const) {
    const root = tempRoot(t, layout);
    await generateSyntheticDataset(root, {
      ...options,
      layout,
      frameFolders: layout !== 'cexprdb',
      noFaceShare: 0.1,
    });
    const m = (await buildManifest(root, { shardFrames: 8 })).manifest;
    t.is(m.dataset, layout);
    t.deepEqual(
      m.findings.filter((f) => !f.startsWith('note: ')),
      [],
      layout,
    );
    t.is(m.videos.length, 4, layout);
  }
});

test('malformed files give exactly the documented findings', async (t) => {
  const root = tempRoot(t, 'malformed');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 1,
    validationVideos: 1,
    framesPerVideo: 12,
    malformed: true,
  });
  const { manifest } = await buildManifest(root, { shardFrames: 8 });
  const ann = 'annotations';
  t.deepEqual(manifest.findings, [
    'error: annotation names_of_videos_in_each_test_set/Malformed_test_set_release.txt line 1: expected a video name, got the path "../outside"; the list is ignored',
    'error: dataset: duplicate video name "dup" (videos/dup.mp4 and videos/extra/dup.mp4); left out',
    `error: annotation ${ann}/VA_Estimation_Challenge/Train_Set/bad-columns.txt line 4: expected 2 comma-separated values (valence,arousal), got 3; VA labels of bad-columns left out`,
    `error: annotation ${ann}/AU_Detection_Challenge/Train_Set/bad-number.txt line 3: expected AU1 to be 0, 1 or -1, got "x"; AU labels of bad-number left out`,
    `error: annotation ${ann}/EXPR_Recognition_Challenge/Train_Set/bad-value.txt line 5: expected an integer in -1..7, got "9"; EXPR labels of bad-value left out`,
    'error: video videos/broken.mp4: cannot be probed, left out: ffprobe failed (exit 1): Invalid data found when processing input',
    `error: annotation ${ann}/EXPR_Recognition_Challenge/Train_Set/off-by-five.txt line 18: expected 12 frame lines after the header (videos/off-by-five.mp4 has 12 frames), got 17; EXPR labels of off-by-five left out`,
    `warning: annotation ${ann}/EXPR_Recognition_Challenge/Train_Set/off-by-one.txt line 14: expected 12 frame lines after the header (videos/off-by-one.mp4 has 12 frames), got 13; the last line is dropped`,
  ]);
  t.true(
    ['synth-001', 'synth-002'].every((n) => manifest.videos.some((v) => v.name === n && v.labels?.EXPR)),
  );
});

test('a linear model learns EXPR, VA, AU and CE from the synthetic pixels of frames it has not seen', async (t) => {
  // Each video's first 70% of frames train, the rest validate: labels must be readable from the
  // face drawn in a frame, not from which video it is (scikit-learn ridge models, closed form).
  const base = { ...TINY_SYNTHETIC, size: 64, trainVideos: 10, validationVideos: 0, framesPerVideo: 60 };
  const affRoot = tempRoot(t, 'learn-affwild2');
  const aff = await generateSyntheticDataset(affRoot, { ...base, seed: 21 });
  const ceRoot = tempRoot(t, 'learn-ce');
  const ce = await generateSyntheticDataset(ceRoot, { ...base, seed: 22, layout: 'cexprdb' });
  const [affPixels, cePixels] = [await pixels(affRoot), await pixels(ceRoot)];
  const input = {
    aff: aff.videos.map((v) => ({
      x: affPixels[v.name]!,
      expr: Array.from(v.expr),
      va: Array.from(v.va!),
      au: Array.from(v.au!),
    })),
    ce: ce.videos.map((v) => ({ x: cePixels[v.name]!, y: Array.from(v.ce!) })),
  };
  const scores = python<{ exprF1: number; ccc: number[]; auF1: number; ceF1: number }>(
    `
import json, sys, numpy as np
from sklearn.linear_model import Ridge, RidgeClassifier
from sklearn.metrics import f1_score
d = json.load(sys.stdin)
def split(videos, key, width):
    tx, ty, vx, vy = [], [], [], []
    for v in videos:
        x = np.array(v['x'], dtype=float) / 255
        y = np.array(v[key], dtype=float).reshape(len(x), width)
        n = int(len(x) * 0.7)
        tx.append(x[:n]); ty.append(y[:n]); vx.append(x[n:]); vy.append(y[n:])
    return np.concatenate(tx), np.concatenate(ty), np.concatenate(vx), np.concatenate(vy)
def classes(videos, key, n):
    x, y, vx, vy = split(videos, key, 1)
    k, vk = y[:, 0] >= 0, vy[:, 0] >= 0
    pred = RidgeClassifier(alpha=0.1).fit(x[k], y[k, 0].astype(int)).predict(vx[vk])
    return float(f1_score(vy[vk, 0].astype(int), pred, average='macro', labels=list(range(n)), zero_division=0))
def ccc(a, b): return float(2 * np.cov(a, b, bias=True)[0, 1] / (a.var() + b.var() + (a.mean() - b.mean()) ** 2))
x, y, vx, vy = split(d['aff'], 'va', 2)
k, vk = (y >= -1).all(1), (vy >= -1).all(1)
va = Ridge(alpha=0.1).fit(x[k], y[k]).predict(vx[vk])
cccs = [ccc(vy[vk, j], va[:, j]) for j in range(2)]
x, y, vx, vy = split(d['aff'], 'au', 12)
k, vk = (y >= 0).all(1), (vy >= 0).all(1)
au = Ridge(alpha=0.1).fit(x[k], y[k]).predict(vx[vk]) > 0.5
auF1 = float(np.mean([f1_score(vy[vk, j], au[:, j], zero_division=0) for j in range(12)]))
print(json.dumps({'exprF1': classes(d['aff'], 'expr', 8), 'ccc': cccs, 'auF1': auF1, 'ceF1': classes(d['ce'], 'y', 7)}))
`,
    input,
  );
  t.log(JSON.stringify(scores));
  // Chance levels: macro F1 about 0.12 (EXPR) and 0.14 (CE) for random guesses, CCC 0.
  t.true(scores.exprF1 > 0.5, 'EXPR macro F1');
  t.true(
    scores.ccc.every((c) => c > 0.5),
    'VA CCC',
  );
  t.true(scores.auF1 > 0.6, 'AU mean F1');
  t.true(scores.ceF1 > 0.35, 'CE macro F1 (compound classes share their Surprise half)');
});
