/**
 * The generated dataset of the train activity tests: a manifest, label files of all five tasks
 * and committed embedding shards (one per video, tiny-backbone shaped) of 30 videos of 60 frames
 * (20 Train, 8 Validation, 2 Test) whose embeddings and scores carry the labels with noise, 8 %
 * of frames without a face, 10 % with a bystander second face, 5 % unannotated frames.
 */
import { embeddingShardKeys } from '../../activities/embed.ts';
import { framesShardKey, type FramesSettings } from '../../activities/frames.ts';
import { encodeLabels, type Split, type Task } from '../../datasets/labels.ts';
import { MANIFEST_FORMAT, type Manifest, type ManifestVideo } from '../../datasets/manifest.ts';
import { gaussian, seededRandom } from '../../base/random.ts';
import { TINY_BACKBONE } from '../../models/registry.ts';
import { storeKeys } from '../../storage/keys.ts';
import type { LocalDirStore } from '../../storage/objectStore.ts';
import type { EmbeddingIdentity, FaceRowKey } from '../../storage/shards.ts';
import { writeEmbeddingShard } from './embeddingShards.ts';
import { prebuildGeneratedModels } from './workers.ts';

export const HEADS_FRAMES = 60;
export const HEADS_DATASET = 'heads-test-dataset';
/** The frame settings the dataset's embedding shards are keyed under (trainAndEvaluate's `frames`). */
export const HEADS_FRAME_SETTINGS: FramesSettings = Object.freeze({ maxCropSide: 64 });
const FRAMES = HEADS_FRAMES;
const DATASET = HEADS_DATASET;
const EMBED = TINY_BACKBONE.embeddingDim;
/** 8 AffectNet logits, then valence and arousal where the backbone has them. */
const SCORES = TINY_BACKBONE.scoresDim;

/** CE class -> the AffectNet logits it raises (Anger 0, Disgust 2, Fear 3, Happiness 4, Sadness 6, Surprise 7). */
const CE_LOGITS = [
  [3, 7],
  [4, 7],
  [6, 7],
  [2, 7],
  [0, 7],
  [6, 3],
  [6, 0],
];

/**
 * The embedding shard keys of the dataset's shards under HEADS_FRAME_SETTINGS, as the train
 * activity computes them (the generated backbone's model is built into `stateDir`'s cache).
 */
export async function headsEmbeddingKeys(
  store: LocalDirStore,
  stateDir: string,
  manifest: Pick<Manifest, 'datasetId' | 'videos' | 'shards'>,
): Promise<string[]> {
  prebuildGeneratedModels(stateDir);
  const keyFor = await embeddingShardKeys({ store, config: { stateDir } }, TINY_BACKBONE.name);
  return manifest.shards.map(
    (shard) => keyFor(framesShardKey(manifest, shard, HEADS_FRAME_SETTINGS).framesKey).key,
  );
}

/**
 * Writes the dataset into `store`, its embedding shards keyed as a run with HEADS_FRAME_SETTINGS
 * in `stateDir` finds them; returns its manifest (also stored under storeKeys.manifest(HEADS_DATASET, 'test')).
 */
export async function buildHeadsDataset(store: LocalDirStore, stateDir: string): Promise<Manifest> {
  const rand = seededRandom(77);
  const exprCentres = Array.from({ length: 8 }, () =>
    Float32Array.from({ length: EMBED }, () => gaussian(rand)),
  );
  const auDirections = Array.from({ length: 12 }, () =>
    Float32Array.from({ length: EMBED }, () => gaussian(rand)),
  );
  const splits: Split[] = [
    ...new Array<Split>(20).fill('Train'),
    ...new Array<Split>(8).fill('Validation'),
    'Test',
    'Test',
  ];
  const videos: ManifestVideo[] = [];
  const shards: Manifest['shards'][number][] = [];
  const written: {
    identity: EmbeddingIdentity;
    shardId: string;
    rows: FaceRowKey[];
    embedding: Float32Array;
    scores: Float32Array;
  }[] = [];
  for (const [v, split] of splits.entries()) {
    const name = `video-${String(v).padStart(2, '0')}`;
    const expr = new Int8Array(FRAMES);
    const ce = new Int8Array(FRAMES);
    const au = new Int8Array(FRAMES * 12);
    const va = new Float64Array(FRAMES * 2);
    const base = [rand() * 1.2 - 0.6, rand() * 1.2 - 0.6];
    for (let f = 0; f < FRAMES;) {
      const len = 8 + Math.floor(rand() * 12);
      const [e, c] = [Math.floor(rand() * 8), Math.floor(rand() * 7)];
      const bits = Array.from({ length: 12 }, () => (rand() < 0.35 ? 1 : 0));
      for (let i = 0; i < len && f < FRAMES; i++, f++) {
        expr[f] = rand() < 0.05 ? -1 : e;
        ce[f] = rand() < 0.05 ? -1 : c;
        au.set(rand() < 0.05 ? new Array<number>(12).fill(-1) : bits, f * 12);
        va[f * 2] = Math.max(-1, Math.min(1, base[0]! + 0.3 * Math.sin(f / 7 + v)));
        va[f * 2 + 1] = Math.max(-1, Math.min(1, base[1]! + 0.3 * Math.cos(f / 9 + v)));
        if (rand() < 0.05) va[f * 2] = -5;
      }
    }
    const meanV = va
      .filter((_, i) => i % 2 === 0 && va[i]! >= -1)
      .reduce((a, b, _, all) => a + b / all.length, 0);
    const emi = Float64Array.from(
      { length: 6 },
      (_, k) => 1 / (1 + Math.exp(-(3 * meanV * (k % 2 ? 1 : -1) + 0.2 * k))),
    );

    const rows: FaceRowKey[] = [];
    const embedding: number[] = [];
    const scores: number[] = [];
    for (let f = 1; f <= FRAMES; f++) {
      const faces = rand() < 0.08 ? 0 : rand() < 0.1 ? 2 : 1;
      if (faces === 0) {
        rows.push({
          video: name,
          frame: f,
          faceIndex: 0,
          trackId: 0,
          noFace: true,
          box: null,
          detScore: null,
        });
        embedding.push(...new Array<number>(EMBED).fill(0));
        scores.push(...new Array<number>(SCORES).fill(0));
        continue;
      }
      for (let face = 0; face < faces; face++) {
        rows.push({
          video: name,
          frame: f,
          faceIndex: face,
          trackId: face,
          noFace: false,
          box: [0, 0, 64, 64],
          detScore: 0.9,
        });
        // A second face is a bystander: unrelated embedding, weaker compound logits.
        const e = face === 0 ? Math.max(expr[f - 1]!, 0) : Math.floor(rand() * 8);
        const row = Float32Array.from(exprCentres[e]!, (x) => x + 0.9 * gaussian(rand));
        for (let j = 0; j < 12; j++) {
          if (face === 0 && au[(f - 1) * 12 + j] === 1)
            row.forEach((_, k) => (row[k]! += 0.9 * auDirections[j]![k]!));
        }
        embedding.push(...row);
        const logits = Array.from({ length: 8 }, () => 0.6 * gaussian(rand));
        const c = ce[f - 1]! >= 0 ? ce[f - 1]! : 0;
        if (face === 0) for (const k of CE_LOGITS[c]!) logits[k]! += 2.5;
        const [vv, aa] = [va[(f - 1) * 2]! >= -1 ? va[(f - 1) * 2]! : base[0]!, va[(f - 1) * 2 + 1]!];
        logits[1] = 2 * vv + 0.2 * gaussian(rand);
        logits[5] = 2 * aa + 0.2 * gaussian(rand);
        scores.push(...logits, ...[vv, aa].slice(0, SCORES - 8));
      }
    }
    const shardId = `shard-${name}`;
    written.push({
      identity: {
        dataset: DATASET,
        split,
        backbone: TINY_BACKBONE.name,
        backboneVersion: TINY_BACKBONE.version,
        modelSha256: '0'.repeat(64),
        embeddingDim: EMBED,
        scoresDim: SCORES,
      },
      shardId,
      rows,
      embedding: Float32Array.from(embedding),
      scores: Float32Array.from(scores),
    });
    shards.push({ shardId, video: name, split, firstFrame: 1, lastFrame: FRAMES });
    const labels: Partial<Record<Task, { file: string; annotated: number; hash: string }>> = {};
    const tasks =
      split === 'Test'
        ? []
        : ([
            ['EXPR', { task: 'EXPR', values: expr }],
            ['VA', { task: 'VA', values: va }],
            ['AU', { task: 'AU', values: au }],
            ['CE', { task: 'CE', values: ce }],
            ['EMI', { task: 'EMI', values: emi }],
          ] as const);
    for (const [task, set] of tasks) {
      await store.put(storeKeys.labels(DATASET, task, name), encodeLabels(set));
      labels[task] = { file: `${task}/${name}.txt`, annotated: 1, hash: 'x' };
    }
    videos.push({
      name,
      split,
      taskSplits: { EXPR: split, VA: split, AU: split, CE: split, EMI: split },
      source: { kind: 'video', path: `videos/${name}.mp4` },
      frameCount: FRAMES,
      fps: 25,
      width: 64,
      height: 64,
      contentHash: name,
      labels,
    });
  }
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId: DATASET,
    version: 'test',
    root: '/nonexistent',
    shardFrames: FRAMES,
    videos,
    shards,
    findings: [],
  };
  const keys = await headsEmbeddingKeys(store, stateDir, manifest);
  for (const [i, shard] of written.entries()) {
    const key = keys[i]!;
    // embeddings/<dataset>/<backbone>/<configHash>/<shard>.parquet
    const configHash = key.split('/')[3]!;
    const backbone = JSON.stringify({ name: TINY_BACKBONE.name, version: TINY_BACKBONE.version });
    const file = { shardId: shard.shardId, configHash, backbone, preprocessing: 'none (generated vectors)' };
    await writeEmbeddingShard(store, key, { ...shard, file }, { tempDir: stateDir });
  }
  await store.put(storeKeys.manifest(DATASET, 'test'), JSON.stringify(manifest));
  return manifest;
}
