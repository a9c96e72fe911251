/**
 * Deterministic embedding shards for the store tests and the crash writer: rows, vectors and
 * identity all follow from (shard id, row count, dimension), so any process can rebuild what a
 * shard must hold and compare.
 */
import { createHash } from 'node:crypto';
import { seededRandom } from '../../base/random.ts';
import type { EmbeddingIdentity, FaceRowKey } from '../../storage/shards.ts';

/** Where the crash test's writer processes (storeCrashWriter.ts) put their shards. */
export const CRASH_BACKBONE_ID = 'fixture@1';
export const CRASH_CONFIG_HASH = 'crash';

export interface ShardFixture {
  readonly shardId: string;
  readonly identity: EmbeddingIdentity;
  readonly rows: FaceRowKey[];
  /** Float32 [rows, embeddingDim]; zeros on no-face rows. */
  readonly embedding: Float32Array;
  /** Float32 [rows, scoresDim]; zeros on no-face rows. */
  readonly scores: Float32Array;
}

function seedOf(text: string): number {
  return createHash('sha256').update(text).digest().readUInt32LE(0);
}

/**
 * One shard of `frames` frames of video `<shardId>-video`: every 5th frame has no face, every
 * 3rd frame has two faces (tracks 0 and 1), the rest one.
 */
export function shardFixture(
  shardId: string,
  frames: number,
  embeddingDim: number,
  options: { split?: string; scoresDim?: number; seed?: string } = {},
): ShardFixture {
  const scoresDim = options.scoresDim ?? 8;
  const rand = seededRandom(seedOf(`${shardId}/${options.seed ?? ''}`));
  const rows: FaceRowKey[] = [];
  for (let frame = 1; frame <= frames; frame++) {
    if (frame % 5 === 0) {
      rows.push({
        video: `${shardId}-video`,
        frame,
        faceIndex: 0,
        trackId: -1,
        noFace: true,
        box: null,
        detScore: null,
      });
      continue;
    }
    const faces = frame % 3 === 0 ? 2 : 1;
    for (let face = 0; face < faces; face++) {
      rows.push({
        video: `${shardId}-video`,
        frame,
        faceIndex: face,
        trackId: face,
        noFace: false,
        box: [Math.fround(10.5 + frame), Math.fround(20.25 + face * 100), 64, Math.fround(64.75)],
        detScore: Math.fround(0.5 + rand() / 2),
      });
    }
  }
  const embedding = new Float32Array(rows.length * embeddingDim);
  const scores = new Float32Array(rows.length * scoresDim);
  rows.forEach((row, i) => {
    if (row.noFace) return;
    for (let j = 0; j < embeddingDim; j++) embedding[i * embeddingDim + j] = rand() * 2 - 1;
    for (let j = 0; j < scoresDim; j++) scores[i * scoresDim + j] = rand();
  });
  return {
    shardId,
    identity: {
      dataset: 'store-test',
      split: options.split ?? 'Train',
      backbone: 'fixture',
      backboneVersion: '1',
      modelSha256: createHash('sha256').update('fixture model').digest('hex'),
      embeddingDim,
      scoresDim,
    },
    rows,
    embedding,
    scores,
  };
}

/** sha256 of a float32 vector's little-endian bytes, as Python computes it with numpy '<f4'. */
export function vectorDigest(values: Float32Array): string {
  return createHash('sha256')
    .update(Buffer.from(values.buffer, values.byteOffset, values.byteLength))
    .digest('hex');
}
