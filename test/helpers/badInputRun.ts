/**
 * Runs a bad-input corpus dataset through the real pipeline once per test file: an extraction run
 * (manifest, frames, embed; no training) on the test dev server and the test S3 store, with
 * workers on queues of their own. The cases then read what it left: the manifest and its
 * findings, and each shard's committed frames, fetched again through extractFrames (which finds
 * the commit and decodes nothing: finished work is kept).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import { createFramesActivities } from '../../activities/frames.ts';
import type { Manifest } from '../../datasets/manifest.ts';
import { TINY_BACKBONE } from '../../models/registry.ts';
import { findCommit, readCommitted, type CommitRecord } from '../../storage/commit.ts';
import { openStore, type ObjectStore } from '../../storage/objectStore.ts';
import { parquetFileMetadata } from '../../storage/parquet.ts';
import { decodeFramesShard, type FrameRow } from '../../storage/shards.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../../workflows/index.ts';
import { testConfig } from './env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './workers.ts';

export interface CommittedShard {
  readonly firstFrame: number;
  readonly lastFrame: number;
  readonly rows: readonly FrameRow[];
  readonly record: CommitRecord;
  /** What the frames activity said about the shard (kept in the Parquet footer). */
  readonly findings: readonly string[];
}

export interface CorpusRun {
  readonly result: ExtractionRunResult;
  readonly manifest: Manifest;
  readonly store: ObjectStore;
  /** Committed frames shards of each manifest video, in frame order. */
  readonly shards: ReadonlyMap<string, readonly CommittedShard[]>;
  close(): void;
}

export const MAX_CROP_SIDE = 256;

export async function runCorpus(label: string, datasetPath: string, shardFrames: number): Promise<CorpusRun> {
  const config = testConfig('s3', label);
  const store = openStore(config.store);
  const queues = uniqueQueues(label);
  const workers = await startTestWorkers(config, store, queues);
  let result: ExtractionRunResult;
  try {
    const input: ExtractionRunInput = {
      datasetPath,
      backbones: [TINY_BACKBONE.name],
      shardFrames,
      maxShardsInFlight: 2,
      embedBatchSize: 8,
      maxCropSide: MAX_CROP_SIDE,
      taskQueues: activityQueues(queues),
      skipTraining: true,
    };
    result = (await workers.client.workflow.execute('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId: `test-${label}-${queues.frames}`,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    })) as ExtractionRunResult;
  } finally {
    await workers.stop();
  }
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(result.manifestKey))) as Manifest;
  const frames = createFramesActivities({ store, config, log: () => {} });
  const shards = new Map<string, CommittedShard[]>();
  for (const shard of manifest.shards) {
    const again = await frames.extractFrames({
      manifestKey: result.manifestKey,
      shardId: shard.shardId,
      maxCropSide: MAX_CROP_SIDE,
    });
    if (!again.reused)
      throw new Error(`shard ${shard.shardId} of ${shard.video} was not committed by the run`);
    const record = (await findCommit(store, again.framesKey))!;
    const bytes = (await readCommitted(store, again.framesKey))!.bytes;
    const footer = join(config.stateDir, `${shard.shardId}.parquet`);
    writeFileSync(footer, bytes);
    const findings = JSON.parse(
      (await parquetFileMetadata(footer))['affectflow.findings'] ?? '[]',
    ) as string[];
    const list = shards.get(shard.video) ?? [];
    list.push({
      firstFrame: shard.firstFrame,
      lastFrame: shard.lastFrame,
      rows: decodeFramesShard(bytes),
      record,
      findings,
    });
    shards.set(shard.video, list);
  }
  return { result, manifest, store, shards, close: () => store.close() };
}

/** Every committed row of a video, in frame order. */
export function videoRows(run: CorpusRun, video: string): FrameRow[] {
  return (run.shards.get(video) ?? []).flatMap((s) => s.rows);
}
