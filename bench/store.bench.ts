/**
 * Embedding shards into and out of the local store: 1280-d rows streamed through
 * EmbeddingShardWriter (Parquet row groups, temporary file, rename, commit marker) and read back
 * through the shard reader (checksum, column batches).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../base/random.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { embeddingBatches, floatVectors, listEmbeddingShards } from '../storage/shardReader.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { storeKeys } from '../storage/keys.ts';
import type { FaceRowKey } from '../storage/shards.ts';
import { peakRss, timed, type Benchmark } from './harness.ts';

const ROWS_PER_SHARD = 2_000;
const SHARDS = 5;
const DIM = 1280;
const SCORES = 10;
/** Rows handed to the writer per call, like one inference batch of the embed activity. */
const APPEND_ROWS = 64;

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
        box: i % 50 === 0 ? null : [0, 0, 112, 112],
        detScore: i % 50 === 0 ? null : 0.9,
      }));
      const embedding = Float32Array.from({ length: ROWS_PER_SHARD * DIM }, () => rand());
      const scores = Float32Array.from({ length: ROWS_PER_SHARD * SCORES }, () => rand());
      const identity = {
        dataset: 'bench',
        split: 'Train',
        backbone: 'bench',
        backboneVersion: '1',
        modelSha256: '0'.repeat(64),
        embeddingDim: DIM,
        scoresDim: SCORES,
      };
      const writeShard = async (configHash: string, shardId: string): Promise<void> => {
        const writer = EmbeddingShardWriter.open(
          store,
          storeKeys.embeddingShard('bench', 'bench@1', configHash, shardId),
          identity,
          { shardId, configHash, backbone: '{}', preprocessing: 'none' },
        );
        for (let start = 0; start < ROWS_PER_SHARD; start += APPEND_ROWS) {
          const end = Math.min(ROWS_PER_SHARD, start + APPEND_ROWS);
          await writer.append(
            keys.slice(start, end),
            embedding.subarray(start * DIM, end * DIM),
            scores.subarray(start * SCORES, end * SCORES),
          );
        }
        await writer.commit();
      };
      // A worker writes shard after shard: one untimed shard first lets V8 tier up the WebAssembly encoder.
      await writeShard('warm-up', 'shard-0');
      const write = await peakRss(() =>
        timed(async () => {
          for (let s = 0; s < SHARDS; s++) await writeShard('cfg', `shard-${s}`);
        }),
      );
      const read = await timed(async () => {
        const shards = await listEmbeddingShards(store, {
          datasetId: 'bench',
          backboneId: 'bench@1',
          configHash: 'cfg',
          split: 'Train',
        });
        let rows = 0;
        for await (const { table } of embeddingBatches(store, shards, {
          columns: ['video', 'frame', 'no_face', 'embedding'],
        })) {
          rows += floatVectors(table, 'embedding').valid.length;
        }
        return rows;
      });
      rmSync(root, { recursive: true, force: true });
      const rows = ROWS_PER_SHARD * SHARDS;
      if (read.result !== rows)
        throw new Error(`bench store: expected ${rows} rows read back, got ${read.result}`);
      return {
        'store.write_1280d.rows_per_s': { value: rows / write.result.seconds, unit: 'rows/s' },
        'store.read_1280d.rows_per_s': { value: read.result / read.seconds, unit: 'rows/s' },
        'store.write.peak_rss_mb': { value: write.peakMb, unit: 'MB' },
      };
    },
  },
];
