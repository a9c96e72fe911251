/**
 * The walking skeleton end to end on the real Temporal dev server and the real S3 server:
 * manifest, frames, embeddings, head, report; then a second run that reuses every shard.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore } from '../storage/objectStore.ts';
import { listCommitted, readCommitted } from '../storage/commit.ts';
import { embeddingShardKeys, framesShardKey, type RunReport } from '../activities/index.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { startEmbeddedWorkers } from '../cli/embedded.ts';
import { runScope, withStoreQueues } from '../cli/runIdentity.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { venvBin } from '../base/paths.ts';
import { decodeEmbeddingShard } from './helpers/embeddingShards.ts';
import { python, tempDir, testConfig, testServices } from './helpers/env.ts';

test.serial(
  'extraction run: every frame embedded exactly once, head trained, report written; a re-run reuses every shard',
  async (t) => {
    const config = testConfig('s3', 'e2e');
    const datasetRoot = join(tempDir('dataset'), 'synthetic');
    const synthetic = { ...TINY_SYNTHETIC, trainVideos: 3, validationVideos: 2, framesPerVideo: 40 };
    const { videos } = await generateSyntheticDataset(datasetRoot, synthetic);
    const store = openStore(config.store);
    const workers = await startEmbeddedWorkers(config, testServices.temporalAddress(), store, (line) =>
      t.log(line),
    );
    const connection = await Connection.connect({ address: testServices.temporalAddress() });
    const client = new Client({ connection });
    t.teardown(async () => {
      await workers.stop();
      await connection.close();
      store.close();
    });

    // The embedded workers poll this store's queues; the run goes there as the CLI sends it.
    const scope = runScope(config);
    const input: ExtractionRunInput = {
      datasetPath: datasetRoot,
      backbones: [TINY_BACKBONE.name],
      shardFrames: 16,
      maxShardsInFlight: 4,
      embedBatchSize: 8,
      maxCropSide: 128,
      // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
      faceSource: 'whole-frame',
      expr: { epochs: 30, batchSize: 32, hidden: 64 },
    };
    const workflowId = `test-e2e-${randomUUID()}`;
    const run = (): Promise<ExtractionRunResult> =>
      client.workflow.execute('extractionRun', {
        taskQueue: scope.queues.orchestrator,
        workflowId,
        args: [withStoreQueues(input, scope)],
      });

    const first = await run();
    const shardsPerVideo = Math.ceil(synthetic.framesPerVideo / 16);
    t.is(first.shards, videos.length * shardsPerVideo);
    t.deepEqual(first.failedShards, []);
    t.is(first.framesShardsReused, 0);
    t.is(first.embeddingShardsReused, 0);
    t.is(first.embeddingRows, videos.length * synthetic.framesPerVideo);

    // Read the Parquet rows back from the store: every frame of every video exactly once.
    const manifest = JSON.parse(new TextDecoder().decode(await store.get(first.manifestKey))) as Manifest;
    const embeddingKey = await embeddingShardKeys({ store, config }, TINY_BACKBONE.name);
    const { key } = embeddingKey(framesShardKey(manifest, manifest.shards[0]!, input).framesKey);
    const prefix = key.slice(0, key.lastIndexOf('/') + 1);
    const seen = new Map<string, number[]>();
    let firstShard: { bytes: Uint8Array; frames: number[]; embedding: Float32Array } | undefined;
    for await (const record of listCommitted(store, prefix)) {
      const { bytes } = (await readCommitted(store, record.key))!;
      const shard = decodeEmbeddingShard(bytes);
      t.is(shard.dim, 256);
      t.is(shard.scoresDim, TINY_BACKBONE.scoresDim);
      t.true(shard.embedding.every(Number.isFinite));
      for (const key of shard.keys) {
        t.false(key.noFace);
        seen.set(key.video, [...(seen.get(key.video) ?? []), key.frame]);
      }
      firstShard ??= { bytes, frames: shard.keys.map((k) => k.frame), embedding: shard.embedding };
    }
    for (const video of videos) {
      t.deepEqual(
        (seen.get(video.name) ?? []).sort((a, b) => a - b),
        Array.from({ length: synthetic.framesPerVideo }, (_, i) => i + 1),
        `frames of ${video.name}`,
      );
    }

    // An independent reader (pyarrow) sees the same rows, types and values.
    const path = join(tempDir('pyarrow'), 'shard.parquet');
    writeFileSync(path, firstShard!.bytes);
    const viaArrow = python<{
      rows: number;
      frames: number[];
      type: string;
      first: number[];
      meta: string[];
    }>(`
import json, pyarrow.parquet as pq
t = pq.read_table(${JSON.stringify(path)})
print(json.dumps({'rows': t.num_rows, 'frames': t.column('frame').to_pylist(), 'type': str(t.schema.field('embedding').type),
  'first': t.column('embedding')[0].as_py()[:5], 'meta': sorted(k.decode() for k in pq.read_metadata(${JSON.stringify(path)}).metadata)}))
`);
    t.is(viaArrow.rows, firstShard!.frames.length);
    t.deepEqual(viaArrow.frames, firstShard!.frames);
    t.regex(viaArrow.type, /^fixed_size_list<item: float( not null)?>\[256\]$/);
    t.deepEqual(
      viaArrow.first.map((v) => Math.fround(v)),
      Array.from(firstShard!.embedding.subarray(0, 5)),
    );
    t.true(viaArrow.meta.includes('affectflow.shard_id'));

    const report = JSON.parse(new TextDecoder().decode(await store.get(first.reportKey))) as RunReport;
    t.is(report.datasetId, first.datasetId);
    t.is(report.tasks.EXPR!.score, first.scores['EXPR']!);
    t.true(
      report.tasks.EXPR!.score > report.tasks.EXPR!.majorityBaseline,
      'the head beats the majority-class baseline',
    );
    t.true(report.tasks.EXPR!.trainSamples > 0 && report.tasks.EXPR!.validationSamples > 0);

    const second = await run();
    t.is(second.framesShardsReused, second.shards);
    t.is(second.embeddingShardsReused, second.shards);
    t.is(second.datasetId, first.datasetId);

    // The run is visible to the Temporal CLI.
    const listed = spawnSync(
      venvBin('temporal'),
      [
        'workflow',
        'list',
        '--address',
        testServices.temporalAddress(),
        '--query',
        `WorkflowId="${workflowId}"`,
      ],
      {
        encoding: 'utf8',
      },
    );
    t.is(listed.status, 0, listed.stderr);
    t.regex(listed.stdout, new RegExp(workflowId));
    t.is(listed.stdout.split('\n').filter((l) => l.includes(workflowId)).length, 2);
  },
);
