/**
 * An Aff-Wild2-shaped run through the real activities: the real manifest, frames, embed and
 * (optionally) train activities on real pool workers against a Temporal server and a
 * local-directory store, then the invariants a full-dataset run must hold: every frame of the
 * manifest embedded exactly once (counted by DuckDB in the project venv, independently of the
 * project's reader), every history under 10,240 events and every history event (so every
 * payload) under 2 MB. Shared by `npm run bench -- --only scale` and test/scale-real.test.ts.
 *
 * Choices that make it fit a 2-core machine (bench/scaleDataset.ts): one small video hard-linked
 * under every name, whole-frame faces (no detector), the generated tiny backbone (64-pixel input),
 * four pools in this process.
 */
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import protos from '@temporalio/proto';
import { venvBin } from '../base/paths.ts';
import { loadConfig } from '../config/index.ts';
import { ensureModelFile } from '../models/onnxRuntime.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import {
  installQuietRuntime,
  quietBundlerLogger,
  runPoolWorkers,
  workflowsPath,
  WORKER_ROLES,
} from '../workers/pools.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { spawnSync } from 'node:child_process';
import { writeScaleDataset } from './scaleDataset.ts';

export interface ScaleRunSettings {
  readonly address: string;
  /** Dataset, store and model cache live here, kept between parts of a resumed run. */
  readonly workDir: string;
  readonly videos: number;
  readonly framesPerVideo: number;
  /** Frame side in pixels. */
  readonly size: number;
  readonly shardFrames: number;
  readonly train: boolean;
  /** Cancel the run after this many seconds (committed shards stay; run again to resume). */
  readonly stopAfterSeconds?: number;
  readonly maxShardsInFlight?: number;
  readonly partitionShards?: number;
}

export interface ScaleRunFigures {
  readonly status: ExtractionRunResult['status'] | 'stopped';
  readonly frames: number;
  readonly shards: number;
  readonly failed: number;
  readonly shardsSkipped: number;
  readonly wallSeconds: number;
  readonly executions: number;
  readonly maxHistoryEvents: number;
  /** The largest history event: an upper bound of every payload in the run. */
  readonly maxPayloadBytes: number;
  /** This process (all four pools). */
  readonly peakRssMb: number;
  /** Manifest frames without an embedding row, and rows beyond the first per (video, frame). */
  readonly lost: number;
  readonly duplicated: number;
}

/**
 * Counts with DuckDB, straight from the store's files: the manifest's frames against the rows of
 * every committed embedding shard of the dataset (the run embeds with one backbone).
 */
export function countEmbeddedFrames(
  storeRoot: string,
  manifestKey: string,
): { expected: number; rows: number; lost: number; duplicated: number } {
  const code = `
import json, os, sys, duckdb
root, manifest_key = sys.argv[1:3]
manifest = json.load(open(os.path.join(root, manifest_key)))
base = os.path.join(root, 'embeddings', manifest['datasetId'])
files = []
for folder, _, names in os.walk(base):
    for name in names:
        if name.endswith('.commit.json'):
            marker = json.load(open(os.path.join(folder, name)))
            files.append(os.path.join(root, marker.get('object') or marker['key']))
con = duckdb.connect()
con.execute('SET enable_progress_bar = false')
con.execute('CREATE TABLE expected (video VARCHAR, frame INTEGER)')
con.executemany('INSERT INTO expected SELECT ?, range FROM range(?, ?)',
    [(s['video'], s['firstFrame'], s['lastFrame'] + 1) for s in manifest['shards']])
if files:
    con.execute('CREATE TABLE got AS SELECT video, frame FROM read_parquet(?)', [files])
else:
    con.execute('CREATE TABLE got (video VARCHAR, frame INTEGER)')
expected = con.execute('SELECT count(*) FROM expected').fetchone()[0]
rows = con.execute('SELECT count(*) FROM got').fetchone()[0]
lost = con.execute('SELECT count(*) FROM expected e ANTI JOIN got g ON e.video = g.video AND e.frame = g.frame').fetchone()[0]
distinct = con.execute('SELECT count(*) FROM (SELECT DISTINCT video, frame FROM got)').fetchone()[0]
print(json.dumps({'expected': expected, 'rows': rows, 'lost': lost, 'duplicated': rows - distinct}))
`;
  const out = spawnSync(venvBin('python'), ['-c', code, storeRoot, manifestKey], {
    encoding: 'utf8',
    maxBuffer: 16 * 1024 * 1024,
  });
  if (out.status !== 0)
    throw new Error(`scale count: DuckDB failed (exit ${out.status}): ${out.stderr.trim()}`);
  return JSON.parse(out.stdout) as { expected: number; rows: number; lost: number; duplicated: number };
}

async function historyFigures(
  client: Client,
  workflowId: string,
): Promise<{ executions: number; maxEvents: number; maxEventBytes: number }> {
  let executions = 0;
  let maxEvents = 0;
  let maxEventBytes = 0;
  for await (const execution of client.workflow.list({ query: `WorkflowId STARTS_WITH '${workflowId}'` })) {
    executions++;
    const history = await client.workflow.getHandle(execution.workflowId, execution.runId).fetchHistory();
    const events = history.events ?? [];
    maxEvents = Math.max(maxEvents, events.length);
    for (const event of events) {
      const bytes = protos.temporal.api.history.v1.HistoryEvent.encode(event).finish().length;
      maxEventBytes = Math.max(maxEventBytes, bytes);
    }
  }
  return { executions, maxEvents, maxEventBytes };
}

export async function runScale(settings: ScaleRunSettings): Promise<ScaleRunFigures> {
  const datasetPath = await writeScaleDataset(join(settings.workDir, 'dataset'), {
    videos: settings.videos,
    framesPerVideo: settings.framesPerVideo,
    size: settings.size,
    labels: settings.train,
  });
  const stateDir = join(settings.workDir, 'state');
  const storeRoot = join(settings.workDir, 'store');
  const config = loadConfig(
    {
      TEMPORAL_ADDRESS: settings.address,
      AFFECTFLOW_STORE: storeRoot,
      AFFECTFLOW_HOME: stateDir,
    },
    stateDir,
  );
  installQuietRuntime();
  ensureModelFile(TINY_BACKBONE, join(config.stateDir, 'models'));
  const store = openStore(config.store);
  const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
  const id = randomUUID().slice(0, 8);
  const queue = (role: string): string => `scale-${id}-${role}`;
  const pools = await runPoolWorkers(WORKER_ROLES, {
    config,
    address: settings.address,
    store,
    workflowBundle,
    taskQueue: queue,
    log: () => {},
  });
  const clientConnection = await Connection.connect({ address: settings.address });
  const client = new Client({ connection: clientConnection });
  const workflowId = `scale-${id}`;
  try {
    const input: ExtractionRunInput = {
      datasetPath,
      backbones: [TINY_BACKBONE.name],
      shardFrames: settings.shardFrames,
      maxShardsInFlight: settings.maxShardsInFlight ?? 8,
      embedBatchSize: 64,
      maxCropSide: settings.size,
      faceSource: 'whole-frame',
      expr: { epochs: 2, batchSize: 256, hidden: 16 },
      skipTraining: !settings.train,
      ...(settings.partitionShards ? { partitionShards: settings.partitionShards } : {}),
      taskQueues: { frames: queue('frames'), embed: queue('embed'), train: queue('train') },
    };
    const started = process.hrtime.bigint();
    const handle = await client.workflow.start('extractionRun', {
      taskQueue: queue('orchestrator'),
      workflowId,
      args: [input],
    });
    let stopped = false;
    const stopper =
      settings.stopAfterSeconds === undefined
        ? undefined
        : setTimeout(() => {
            stopped = true;
            void handle.cancel();
          }, settings.stopAfterSeconds * 1000);
    const result = (await handle.result().catch((err: unknown) => {
      if (stopped) return undefined;
      throw err;
    })) as ExtractionRunResult | undefined;
    clearTimeout(stopper);
    const wallSeconds = Number(process.hrtime.bigint() - started) / 1e9;
    const histories = await historyFigures(client, workflowId);
    // A stopped part counts nothing: the part that completes the run counts every frame.
    const counted = result
      ? countEmbeddedFrames(storeRoot, result.manifestKey)
      : { expected: 0, rows: 0, lost: Number.NaN, duplicated: Number.NaN };
    return {
      status: result?.status ?? 'stopped',
      frames: counted.expected,
      shards: result?.shards ?? 0,
      failed: result?.failedCount ?? 0,
      shardsSkipped: result?.shardsSkipped ?? 0,
      wallSeconds,
      executions: histories.executions,
      maxHistoryEvents: histories.maxEvents,
      maxPayloadBytes: histories.maxEventBytes,
      peakRssMb: process.resourceUsage().maxRSS / 1024,
      lost: counted.lost,
      duplicated: counted.duplicated,
    };
  } finally {
    await pools.stop();
    await clientConnection.close();
    store.close();
  }
}
