/** Embedding shards into and out of the local store: 1280-d rows through Parquet and the commit protocol. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../datasets/synthetic.ts';
import { commitShard, readCommitted } from '../storage/commit.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { decodeEmbeddingShard, encodeEmbeddingShard, type FaceRowKey } from '../storage/shards.ts';
import { peakRss, timed, type Benchmark } from './harness.ts';

const ROWS_PER_SHARD = 2_000;
const SHARDS = 5;
const DIM = 1280;

export const benchmarks: Benchmark[] = [
  {
    name: 'store',
    async run() {
      const root = mkdtempSync(join(tmpdir(), 'affectflow-bench-store-'));
      const store = new LocalDirStore(root);
      const rand = seededRandom(5);
      const keys: FaceRowKey[] = Array.from({ length: ROWS_PER_SHARD }, (_, i) => ({
        video: 'bench-video',
        frame: i + 1,
        faceIndex: 0,
        trackId: 0,
        noFace: i % 50 === 0,
        box: [0, 0, 112, 112],
        detScore: 0.9,
      }));
      const embedding = Float32Array.from({ length: ROWS_PER_SHARD * DIM }, () => rand());
      const scores = Float32Array.from({ length: ROWS_PER_SHARD * 10 }, () => rand());
      const identity = {
        dataset: 'bench',
        split: 'Train',
        backbone: 'bench',
        backboneVersion: '1',
        modelSha256: '0'.repeat(64),
        embeddingDim: DIM,
        scoresDim: 10,
      };
      const write = await peakRss(() =>
        timed(async () => {
          for (let s = 0; s < SHARDS; s++) {
            const bytes = encodeEmbeddingShard(identity, keys, embedding, scores, {
              'affectflow.shard_id': String(s),
            });
            await commitShard(store, `embeddings/bench/${s}.parquet`, bytes, ROWS_PER_SHARD, { shardId: s });
          }
        }),
      );
      const read = await timed(async () => {
        let rows = 0;
        for (let s = 0; s < SHARDS; s++) {
          const { bytes } = (await readCommitted(store, `embeddings/bench/${s}.parquet`))!;
          rows += decodeEmbeddingShard(bytes).keys.length;
        }
        return rows;
      });
      rmSync(root, { recursive: true, force: true });
      const rows = ROWS_PER_SHARD * SHARDS;
      return {
        'store.write_1280d.rows_per_s': { value: rows / write.result.seconds, unit: 'rows/s' },
        'store.read_1280d.rows_per_s': { value: read.result / read.seconds, unit: 'rows/s' },
        'store.write.peak_rss_mb': { value: write.peakMb, unit: 'MB' },
      };
    },
  },
];
