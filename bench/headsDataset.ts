/**
 * The EXPR dataset of the heads benchmark: 1280-d face rows with labels, committed as embedding
 * shards through the real EmbeddingShardWriter into a LocalDirStore. `benchVideos` describes it
 * (names, splits, labels) without the embeddings; run as a script
 * (`node --import tsx bench/headsDataset.ts <store root> [train videos]`) it writes the shards, one at a time, so
 * the benchmark process that reads them back starts with none of the writer's memory.
 */
import { pathToFileURL } from 'node:url';
import { seededRandom } from '../base/random.ts';
import type { Split } from '../datasets/labels.ts';
import { MANIFEST_FORMAT, type Manifest, type ManifestVideo } from '../datasets/manifest.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { storeKeys } from '../storage/keys.ts';
import type { FaceRowKey } from '../storage/shards.ts';

export const BENCH_DIM = 1280;
const SCORES = 10;
const FRAMES = 2_000;
const SHARD_FRAMES = 1_000;
/** Train videos of 2,000 frames by default: 120,000 training rows, 614 MB of float32 embeddings. */
export const BENCH_TRAIN_VIDEOS = 60;
const splitsOf = (trainVideos: number): Split[] => [
  ...new Array<Split>(trainVideos).fill('Train'),
  'Validation',
  'Validation',
];
export const BENCH_DATASET = 'bench-heads';
export const BENCH_BACKBONE = 'bench@1';
export const BENCH_CONFIG = 'bench-config';
export const BENCH_PREFIX = storeKeys.embeddingPrefix(BENCH_DATASET, BENCH_BACKBONE, BENCH_CONFIG);

/** Class of frame f (1-based) of video v: runs of 50 frames. */
const exprClass = (v: number, f: number): number => (v + Math.floor((f - 1) / 50)) % 8;

export interface BenchVideos {
  readonly manifest: Manifest;
  /** EXPR labels per video, in manifest order. */
  readonly expr: readonly Int8Array[];
  readonly trainRows: number;
}

export function benchVideos(trainVideos = BENCH_TRAIN_VIDEOS): BenchVideos {
  const videos: ManifestVideo[] = [];
  const shards: Manifest['shards'][number][] = [];
  const splits = splitsOf(trainVideos);
  splits.forEach((split, v) => {
    const name = `bench-${String(v).padStart(3, '0')}`;
    videos.push({
      name,
      split,
      taskSplits: { EXPR: split },
      source: { kind: 'video', path: `${name}.mp4` },
      frameCount: FRAMES,
      fps: 25,
      width: 112,
      height: 112,
      contentHash: name,
    });
    for (let first = 1; first <= FRAMES; first += SHARD_FRAMES) {
      shards.push({
        shardId: `${name}-${first}`,
        video: name,
        split,
        firstFrame: first,
        lastFrame: first + SHARD_FRAMES - 1,
      });
    }
  });
  return {
    manifest: {
      format: MANIFEST_FORMAT,
      datasetId: BENCH_DATASET,
      version: 'bench',
      root: '/nonexistent',
      shardFrames: SHARD_FRAMES,
      videos,
      shards,
      findings: [],
    },
    expr: splits.map((_, v) => Int8Array.from({ length: FRAMES }, (_, i) => exprClass(v, i + 1))),
    trainRows: trainVideos * FRAMES,
  };
}

/** Writes every shard of benchVideos() into a LocalDirStore at root. */
export async function writeBenchShards(root: string, trainVideos = BENCH_TRAIN_VIDEOS): Promise<void> {
  const store = new LocalDirStore(root);
  const rand = seededRandom(31);
  const centres = Array.from({ length: 8 }, () =>
    Float32Array.from({ length: BENCH_DIM }, () => rand() * 2 - 1),
  );
  const { manifest } = benchVideos(trainVideos);
  for (const shard of manifest.shards) {
    const v = manifest.videos.findIndex((video) => video.name === shard.video);
    const identity = {
      dataset: BENCH_DATASET,
      split: shard.split,
      backbone: 'bench',
      backboneVersion: '1',
      modelSha256: '0'.repeat(64),
      embeddingDim: BENCH_DIM,
      scoresDim: SCORES,
    };
    const writer = EmbeddingShardWriter.open(store, `${BENCH_PREFIX}${shard.shardId}.parquet`, identity, {
      shardId: shard.shardId,
      configHash: BENCH_CONFIG,
      backbone: '{}',
      preprocessing: 'none',
    });
    const rows = shard.lastFrame - shard.firstFrame + 1;
    const keys: FaceRowKey[] = [];
    const embedding = new Float32Array(rows * BENCH_DIM);
    const scores = new Float32Array(rows * SCORES);
    for (let i = 0; i < rows; i++) {
      const frame = shard.firstFrame + i;
      keys.push({
        video: shard.video,
        frame,
        faceIndex: 0,
        trackId: 0,
        noFace: false,
        box: [0, 0, 112, 112],
        detScore: 0.9,
      });
      const centre = centres[exprClass(v, frame)]!;
      for (let j = 0; j < BENCH_DIM; j++) embedding[i * BENCH_DIM + j] = centre[j]! + 2 * (rand() - 0.5);
      for (let k = 0; k < SCORES; k++) scores[i * SCORES + k] = rand();
    }
    await writer.append(keys, embedding, scores);
    await writer.commit({ shardId: shard.shardId, split: shard.split });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) {
  await writeBenchShards(process.argv[2]!, Number(process.argv[3] ?? BENCH_TRAIN_VIDEOS));
}
