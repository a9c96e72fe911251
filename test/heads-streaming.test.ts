/**
 * Head training in bounded memory: spilled row sets read back every row once in chunks of at most
 * chunkRows, with label sums and moments from the write pass; streaming from files trains the
 * same head as the same chunks in memory; what the batch loop and the spill writers hold does not
 * grow with the rows; the store pass keeps exactly the shards' keys and scores and spills exactly
 * the first-face annotated rows; the activity removes its spill folder (and a dead process's) and
 * falls back from CUDA (its absence injected, so this holds on GPU machines too).
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { readFaceRows } from '../activities/faceRows.ts';
import { createTrainActivities, type RunReport } from '../activities/train.ts';
import { SpillDirectory, type SpillWriter } from '../activities/trainSpill.ts';
import { decodeStoredLabels, TASKS, type Split, type Task } from '../datasets/labels.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { seededRandom } from '../base/random.ts';
import { oneHot, trainExprHeadOnRows } from '../heads/expr.ts';
import { openMlpPredictor, type MlpConfig } from '../heads/mlp.ts';
import { memoryRowSet, type RowSet } from '../heads/rowset.ts';
import { DEFAULT_HEAD_SETTINGS, type LabelledVideo } from '../heads/tasks.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { listCommitted, readCommitted } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { MISSING_CUDA_MESSAGE, withoutCuda } from './helpers/cuda.ts';
import {
  buildHeadsDataset,
  HEADS_DATASET,
  HEADS_FRAME_SETTINGS,
  headsEmbeddingKeys,
} from './helpers/headsDataset.ts';
import { decodeEmbeddingShard } from './helpers/embeddingShards.ts';
import { tempDir } from './helpers/env.ts';

/** n rows of dim floats in 8 noisy clusters; labels one-hot over the 8 classes. */
function clusterRows(n: number, dim: number, seed: number): { x: Float32Array; y: Int32Array } {
  const rand = seededRandom(seed);
  const centres = Array.from({ length: 8 }, () => Float32Array.from({ length: dim }, () => rand() * 4 - 2));
  const y = Int32Array.from({ length: n }, () => Math.floor(rand() * 8));
  const x = Float32Array.from(
    { length: n * dim },
    (_, i) => centres[y[Math.floor(i / dim)]!]![i % dim]! + rand() - 0.5,
  );
  return { x, y };
}

async function spillRows(
  spill: SpillDirectory,
  name: string,
  x: Float32Array,
  y: Int32Array,
  dim: number,
  layout: { chunkRows: number; buckets: number },
): Promise<{ set: RowSet; writer: SpillWriter }> {
  const writer = await spill.writer(name, { dim, labelWidth: 8, seed: 5, moments: true, ...layout });
  const labels = oneHot(y, 8);
  for (let i = 0; i < y.length; i++) {
    await writer.append(x.subarray(i * dim, (i + 1) * dim), labels.subarray(i * 8, (i + 1) * 8));
  }
  return { set: await writer.finish(), writer };
}

async function allRows(set: RowSet): Promise<Float32Array[]> {
  const rows: Float32Array[] = [];
  const scratch = new Float32Array(set.chunkRows * set.width);
  for (let c = 0; c < set.chunks.length; c++) {
    const chunk = await set.read(c, scratch);
    for (let o = 0; o < chunk.length; o += set.width) rows.push(chunk.slice(o, o + set.width));
  }
  return rows;
}

const byValues = (a: Float32Array, b: Float32Array): number => {
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return a[i]! - b[i]!;
  return 0;
};

test('a spilled row set reads back every row once, in chunks of at most chunkRows, with label sums and moments', async (t) => {
  const spill = await SpillDirectory.create(tempDir('spill'));
  const [n, dim] = [333, 6];
  const rand = seededRandom(3);
  // Column 0 is the row's id; the others sit far from 0, where a naive sum of squares would cancel.
  const x = Float32Array.from({ length: n * dim }, (_, i) =>
    i % dim === 0 ? Math.floor(i / dim) : 1e4 + rand(),
  );
  const y = Int32Array.from({ length: n }, (_, i) => i % 3);
  const { set, writer } = await spillRows(spill, 'roundtrip', x, y, dim, { chunkRows: 50, buckets: 4 });
  t.is(set.n, n);
  t.is(set.width, dim + 8);
  t.is(
    set.chunks.reduce((a, b) => a + b, 0),
    n,
  );
  t.true(set.chunks.every((rows) => rows > 0 && rows <= 50));
  t.true(set.chunks.length > 4, 'the buckets are read in several chunks each');

  const rows = await allRows(set);
  t.deepEqual(
    rows.map((r) => r[0]).sort((a, b) => a! - b!),
    Array.from({ length: n }, (_, i) => i),
  );
  for (const row of rows) {
    const id = row[0]!;
    t.deepEqual(Array.from(row.subarray(0, dim)), Array.from(x.subarray(id * dim, (id + 1) * dim)));
    t.deepEqual(Array.from(row.subarray(dim)), Array.from(oneHot([y[id]!], 8)));
  }
  t.deepEqual(Array.from(set.labelSums), [111, 111, 111, 0, 0, 0, 0, 0]);
  for (let j = 0; j < dim; j++) {
    let mean = 0;
    for (let i = 0; i < n; i++) mean += x[i * dim + j]! / n;
    let variance = 0;
    for (let i = 0; i < n; i++) variance += (x[i * dim + j]! - mean) ** 2 / n;
    t.true(Math.abs(set.moments!.mean[j]! - mean) < 1e-9 * Math.max(1, Math.abs(mean)), `mean ${j}`);
    t.true(Math.abs(set.moments!.variance[j]! - variance) < 1e-9 * Math.max(1, variance), `variance ${j}`);
  }

  // The bucket draw is seeded: the same rows and seed give the same chunks.
  const again = await spillRows(spill, 'again', x, y, dim, { chunkRows: 50, buckets: 4 });
  t.deepEqual(again.set.chunks, set.chunks);
  t.deepEqual(
    (await allRows(again.set)).map((r) => r[0]),
    rows.map((r) => r[0]),
  );

  await t.throwsAsync(() => writer.append(new Float32Array(dim), new Float32Array(8)), {
    message: 'row set roundtrip: append after finished',
  });
  const bad = await spill.writer('bad', {
    dim,
    labelWidth: 8,
    chunkRows: 10,
    buckets: 1,
    seed: 1,
    moments: false,
  });
  await t.throwsAsync(() => bad.append(new Float32Array(dim - 1), new Float32Array(8)), {
    message: 'row set bad: expected 6 embedding and 8 label values, got 5 and 8',
  });
  await t.throwsAsync(() => set.read(set.chunks.length, new Float32Array(50 * (dim + 8))), {
    message: `row set roundtrip: expected a chunk in 0..${set.chunks.length - 1}, got ${set.chunks.length}`,
  });

  await set.close();
  t.false(
    readdirSync(spill.path).some((f) => f.startsWith('roundtrip.')),
    'close() deletes the set files',
  );
  await spill.dispose();
  t.false(existsSync(spill.path));
});

const SMALL: MlpConfig = { hidden: 16, epochs: 3, batchSize: 32, learningRate: 3e-3, seed: 2 };

test('streaming from spill files trains the same head as the same chunks in memory', async (t) => {
  const spill = await SpillDirectory.create(tempDir('spill-same'));
  const [n, dim] = [700, 24];
  const { x, y } = clusterRows(n, dim, 7);
  const memory = memoryRowSet(x, n, dim, { labels: oneHot(y, 8), labelWidth: 8, chunkRows: 128 });
  const { set: spilled } = await spillRows(spill, 'same', x, y, dim, { chunkRows: 128, buckets: 1 });
  t.deepEqual(spilled.chunks, memory.chunks);
  const noValidation = () => Promise.resolve(NaN);
  const a = await trainExprHeadOnRows(memory, noValidation, SMALL);
  const b = await trainExprHeadOnRows(spilled, noValidation, SMALL);
  t.deepEqual(Array.from(b.head.w1), Array.from(a.head.w1));
  t.deepEqual(Array.from(b.head.mean), Array.from(a.head.mean));
  t.deepEqual(
    b.history.map((h) => h.trainLoss),
    a.history.map((h) => h.trainLoss),
  );
  const predictor = await openMlpPredictor(a.head);
  const direct = await predictor.predict(x, n);
  t.deepEqual(Array.from(await predictor.predictRows(spilled)), Array.from(direct));
  await predictor.release();
  // The head learned: most training rows are classified right.
  let right = 0;
  for (let i = 0; i < n; i++) {
    const p = direct.subarray(i * 8, (i + 1) * 8);
    if (p.indexOf(Math.max(...p)) === y[i]) right++;
  }
  t.true(right / n > 0.9, `training accuracy ${right / n}`);
  await spill.dispose();
});

/** Delegates to a set and records what the batch loop asks of it. */
function recording(set: RowSet) {
  const seen = { scratch: new Set<Float32Array>(), maxRows: 0, reads: 0, rows: 0 };
  const wrapped: RowSet = {
    ...set,
    moments: set.moments,
    async read(c, scratch) {
      seen.scratch.add(scratch);
      const rows = await set.read(c, scratch);
      seen.maxRows = Math.max(seen.maxRows, rows.length / set.width);
      seen.reads++;
      seen.rows += rows.length / set.width;
      return rows;
    },
    close: () => set.close(),
  };
  return { wrapped, seen };
}

test('what training holds is bounded by the chunk size: 4x the rows, the same buffers', async (t) => {
  const spill = await SpillDirectory.create(tempDir('spill-bounded'));
  const dim = 32;
  const layout = { chunkRows: 100, buckets: 8 };
  const runs = [];
  for (const n of [600, 2400]) {
    const { x, y } = clusterRows(n, dim, n);
    const { set, writer } = await spillRows(spill, `n${n}`, x, y, dim, layout);
    const { wrapped, seen } = recording(set);
    const trained = await trainExprHeadOnRows(wrapped, () => Promise.resolve(NaN), SMALL);
    runs.push({ n, set, writer, seen, trained });
  }
  const width = dim + 8;
  for (const { n, set, seen, trained } of runs) {
    // Two chunk buffers (one read ahead), each chunkRows rows, reused for every read of every epoch.
    t.is(seen.scratch.size, 2, `n ${n}`);
    for (const scratch of seen.scratch) t.is(scratch.length, layout.chunkRows * width);
    t.true(seen.maxRows <= layout.chunkRows);
    t.is(seen.reads, SMALL.epochs * set.chunks.length);
    t.is(seen.rows, SMALL.epochs * n, 'every row once per epoch');
    t.is(trained.footprint.chunkReads, seen.reads);
  }
  const [small, large] = runs;
  t.is(large!.trained.footprint.bufferFloats, small!.trained.footprint.bufferFloats);
  t.is(small!.trained.footprint.bufferFloats, 2 * layout.chunkRows * width + SMALL.batchSize * (dim + 2 * 8));
  t.is(large!.writer.stagedFloats, small!.writer.stagedFloats);
  t.true(large!.set.chunks.length > small!.set.chunks.length, 'more rows, more chunks, not bigger ones');
  await spill.dispose();
});

async function labelledVideos(store: LocalDirStore, manifest: Manifest) {
  const labelled: Pick<LabelledVideo, 'labels' | 'splits'>[] = [];
  for (const video of manifest.videos) {
    const labels: Record<string, Int8Array | Float64Array> = {};
    for (const task of TASKS) {
      const key = storeKeys.labels(manifest.datasetId, task, video.name);
      if (await store.head(key))
        labels[task] = decodeStoredLabels(task, key, new TextDecoder().decode(await store.get(key)));
    }
    const splits: Partial<Record<Task, Split>> = {};
    for (const task of TASKS) splits[task] = video.taskSplits?.[task] ?? video.split;
    labelled.push({ labels, splits });
  }
  return labelled;
}

test('the store pass keeps exactly the shards’ keys and scores and spills exactly the first-face annotated rows', async (t) => {
  const store = new LocalDirStore(tempDir('heads-pass'));
  const stateDir = tempDir('heads-pass-state');
  const manifest = await buildHeadsDataset(store, stateDir);
  const labelled = await labelledVideos(store, manifest);
  const keys = await headsEmbeddingKeys(store, stateDir, manifest);
  const prefix = keys[0]!.slice(0, keys[0]!.lastIndexOf('/') + 1);
  const spill = await SpillDirectory.create(stateDir);
  const settings = { ...DEFAULT_HEAD_SETTINGS, streaming: { chunkRows: 64, buckets: 4 } };
  const read = await readFaceRows(store, manifest, keys, labelled, settings, spill);

  // The independent reading: each shard decoded whole, as the in-memory path did.
  const expectedTrain: Float32Array[] = [];
  let expectedRows = 0;
  const videoIndex = new Map(manifest.videos.map((v, i) => [v.name, i]));
  for await (const record of listCommitted(store, prefix)) {
    const shard = decodeEmbeddingShard((await readCommitted(store, record.key))!.bytes);
    expectedRows += shard.keys.length;
    const faces = shard.keys.map((k, i) => ({ ...k, i })).filter((k) => !k.noFace);
    const name = faces[0]!.video;
    const got = read.videos.get(name)!;
    t.deepEqual(
      Array.from(got.frames),
      faces.map((f) => f.frame),
      name,
    );
    t.deepEqual(
      Array.from(got.faceIndex),
      faces.map((f) => f.faceIndex),
      name,
    );
    t.deepEqual(
      Array.from(got.scores),
      faces.flatMap((f) =>
        Array.from(shard.scores.subarray(f.i * shard.scoresDim, (f.i + 1) * shard.scoresDim)),
      ),
    );
    const { labels, splits } = labelled[videoIndex.get(name)!]!;
    if (splits.EXPR !== 'Train' || !labels.EXPR) continue;
    for (const f of faces) {
      const y = labels.EXPR[f.frame - 1]!;
      if (f.faceIndex !== 0 || y < 0) continue;
      const row = new Float32Array(shard.dim + 8);
      row.set(shard.embedding.subarray(f.i * shard.dim, (f.i + 1) * shard.dim));
      row[shard.dim + y] = 1;
      expectedTrain.push(row);
    }
  }
  t.is(read.rows, expectedRows);
  t.is(read.shards, manifest.shards.length);
  const train = read.embeddings.EXPR.train;
  t.true(train.chunks.every((rows) => rows <= 64));
  t.deepEqual((await allRows(train)).sort(byValues), expectedTrain.sort(byValues));

  // Validation rows: one per frame with a face, of the labelled Validation videos, keyed by video and frame.
  const validation = read.embeddings.EXPR.validation;
  const expectedKeys = manifest.videos.flatMap((video, v) =>
    labelled[v]!.splits.EXPR === 'Validation'
      ? [...new Set(read.videos.get(video.name)!.frames)].map((frame) => `${v}/${frame}`)
      : [],
  );
  t.deepEqual(
    Array.from(validation.video, (v, i) => `${v}/${validation.frame[i]}`).sort(),
    expectedKeys.sort(),
  );
  t.is(validation.rows.n, expectedKeys.length);
  await spill.dispose();
});

test('the train activity removes its spill folder and runs the head graphs on the CPU when CUDA is missing, saying so', async (t) => {
  const store = new LocalDirStore(tempDir('heads-cuda'));
  const stateDir = tempDir('heads-cuda-state');
  await buildHeadsDataset(store, stateDir);
  const lines: string[] = [];
  const activities = createTrainActivities(
    { store, config: { stateDir }, log: (line) => lines.push(line) },
    { provider: 'cuda' },
  );
  const result = await withoutCuda(() =>
    activities.trainAndEvaluate({
      manifestKey: storeKeys.manifest(HEADS_DATASET, 'test'),
      backbone: TINY_BACKBONE.name,
      frames: HEADS_FRAME_SETTINGS,
      runId: 'cuda-fallback',
      expr: { epochs: 4, batchSize: 64 },
      au: { epochs: 2, batchSize: 64 },
      streaming: { chunkRows: 64, buckets: 4 },
    }),
  );
  const report = JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport;
  t.is(report.provider, 'cpu');
  t.true(
    lines.some((l) =>
      l.includes(
        `CUDA execution provider unavailable for mlp softmax train (${MISSING_CUDA_MESSAGE}); falling back to cpu`,
      ),
    ),
    lines.join('\n'),
  );
  t.true(lines.some((l) => /CUDA execution provider unavailable for mlp sigmoid train/.test(l)));
  t.true(
    report.tasks.EXPR!.score > report.tasks.EXPR!.majorityBaseline + 0.3,
    `EXPR ${report.tasks.EXPR!.score}`,
  );
  t.deepEqual(readdirSync(join(stateDir, 'train-spill')), []);
});

test('a spill folder left by a process that no longer runs goes when the next one is created', async (t) => {
  const stateDir = tempDir('spill-stale');
  const dead = spawnSync(process.execPath, ['-e', '0']).pid;
  const left = join(stateDir, 'train-spill', `${dead}-left`);
  mkdirSync(left, { recursive: true });
  writeFileSync(join(left, 'EXPR-train.0.f32'), new Uint8Array(16));
  // Another activity of this very process may still be using its folder.
  const sibling = join(stateDir, 'train-spill', `${process.pid}-sibling`);
  mkdirSync(sibling);
  const spill = await SpillDirectory.create(stateDir);
  t.false(existsSync(left));
  t.true(existsSync(sibling));
  t.true(spill.path.startsWith(join(stateDir, 'train-spill', `${process.pid}-`)));
  await spill.dispose();
  t.deepEqual(readdirSync(join(stateDir, 'train-spill')), [`${process.pid}-sibling`]);
});
