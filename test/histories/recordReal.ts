/**
 * Records histories of runs through the real activities for the replay test:
 * `node --import tsx test/histories/recordReal.ts`. On a fresh in-memory dev server and a
 * local-directory store, a tiny synthetic dataset (3 videos, 6 shards, 3 partitions that continue
 * as new) runs twice with real pool workers: first with one shard's extraction failing
 * (non-retryable VideoError, injected), which ends `completed_with_failures`, then resumed with
 * the same workflow id, which redoes only that shard. Writes every execution's history as
 * `real-<failed|resumed>-<type>-...json` beside record.ts's and adds them to index.json.
 */
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/activity';
import { Client, Connection, WorkflowIdReusePolicy } from '@temporalio/client';
import { bundleWorkflowCode } from '@temporalio/worker';
import type { ExtractFramesInput, ExtractFramesResult } from '../../activities/index.ts';
import { projectRoot } from '../../base/paths.ts';
import { showHistory } from './show.ts';
import { loadConfig } from '../../config/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../../datasets/synthetic.ts';
import { withThrowawayTemporal } from '../../infra/devstack.ts';
import { ensureModelFile } from '../../models/onnxRuntime.ts';
import { TINY_BACKBONE } from '../../models/registry.ts';
import { openStore } from '../../storage/objectStore.ts';
import {
  installQuietRuntime,
  runPoolWorkers,
  quietBundlerLogger,
  workflowsPath,
  WORKER_ROLES,
} from '../../workers/pools.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../../workflows/index.ts';

type ExtractFrames = (input: ExtractFramesInput) => Promise<ExtractFramesResult>;

const work = mkdtempSync(join(tmpdir(), 'affectflow-record-real-'));
try {
  await withThrowawayTemporal(async (address) => {
    const datasetPath = join(work, 'ds');
    await generateSyntheticDataset(datasetPath, {
      ...TINY_SYNTHETIC,
      trainVideos: 2,
      validationVideos: 1,
      framesPerVideo: 32,
    });
    const config = loadConfig(
      { TEMPORAL_ADDRESS: address, AFFECTFLOW_STORE: join(work, 'store'), AFFECTFLOW_HOME: work },
      work,
    );
    installQuietRuntime();
    ensureModelFile(TINY_BACKBONE, join(config.stateDir, 'models'));
    const store = openStore(config.store);
    const workflowBundle = await bundleWorkflowCode({ workflowsPath, logger: quietBundlerLogger });
    let broken: string | undefined;
    let fixed = false;
    const failOne = <A extends object>(activities: A): A => {
      const real = (activities as unknown as { extractFrames: ExtractFrames }).extractFrames;
      return {
        ...activities,
        extractFrames: async (input: ExtractFramesInput) => {
          broken ??= input.shardId;
          if (input.shardId === broken && !fixed)
            throw ApplicationFailure.nonRetryable(
              `video for shard ${input.shardId}: corrupt (injected)`,
              'VideoError',
            );
          return real(input);
        },
      };
    };
    const queue = (role: string): string => `real-${role}`;
    const pools = await runPoolWorkers(WORKER_ROLES, {
      config,
      address,
      store,
      workflowBundle,
      taskQueue: queue,
      log: () => {},
      wrapActivities: { frames: failOne },
    });
    const clientConnection = await Connection.connect({ address });
    const client = new Client({ connection: clientConnection });
    const input: ExtractionRunInput = {
      datasetPath,
      backbones: [TINY_BACKBONE.name],
      shardFrames: 16,
      maxShardsInFlight: 2,
      embedBatchSize: 8,
      maxCropSide: 96,
      faceSource: 'whole-frame',
      expr: { epochs: 2, batchSize: 32, hidden: 8 },
      partitionShards: 2,
      pageShards: 1,
      partitionHistoryBudget: 20,
      maxAttempts: 2,
      taskQueues: { frames: queue('frames'), embed: queue('embed'), train: queue('train') },
    };
    const workflowId = 'real-run';
    const historiesDir = join(projectRoot, 'test', 'histories');
    const indexPath = join(historiesDir, 'index.json');
    const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, string>;
    // Histories from an earlier recording of this script are replaced.
    for (const name of Object.keys(index))
      if (name.startsWith('real-')) {
        rmSync(join(historiesDir, name), { force: true });
        delete index[name];
      }
    const recorded: Record<string, string> = {};
    const seen = new Set<string>();
    const record = async (label: string): Promise<void> => {
      for await (const execution of client.workflow.list({
        query: `WorkflowId STARTS_WITH '${workflowId}'`,
      })) {
        const json = showHistory(address, execution);
        if (seen.has(execution.runId)) continue;
        seen.add(execution.runId);
        const name = `real-${label}-${execution.type}-${execution.workflowId.split('/').pop()}-${execution.runId.slice(0, 8)}.json`;
        writeFileSync(join(historiesDir, name), json);
        recorded[name] = execution.workflowId;
      }
    };
    const start = (): Promise<ExtractionRunResult> =>
      client.workflow.execute('extractionRun', {
        taskQueue: queue('orchestrator'),
        workflowId,
        args: [input],
        workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
      }) as Promise<ExtractionRunResult>;
    const first = await start();
    if (first.status !== 'completed_with_failures' || first.failedCount !== 1)
      throw new Error(
        `record: the first run ended ${first.status} with ${first.failedCount} failed shards; expected 1`,
      );
    await record('failed');
    fixed = true;
    const resumed = await start();
    if (resumed.status !== 'completed' || resumed.embeddingShardsWritten !== 1)
      throw new Error(
        `record: the resumed run ended ${resumed.status}, wrote ${resumed.embeddingShardsWritten} shards; expected 1`,
      );
    await record('resumed');
    await pools.stop();
    await clientConnection.close();
    store.close();
    writeFileSync(indexPath, `${JSON.stringify({ ...index, ...recorded }, null, 2)}\n`);
    console.log(`recorded ${Object.keys(recorded).length} real-activity histories into test/histories/`);
  });
} finally {
  rmSync(work, { recursive: true, force: true });
}
