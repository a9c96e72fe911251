/**
 * One extraction run of the real pipeline on a generated dataset (the Temporal dev server, the
 * generated tiny backbone, whole-frame faces, local store), training included; for the end-to-end
 * tests that grade a run's report.
 */
import type { ExecutionContext } from 'ava';
import { join } from 'node:path';
import type { RunReport } from '../../activities/index.ts';
import {
  generateSyntheticDataset,
  type SyntheticOptions,
  type SyntheticVideo,
} from '../../datasets/synthetic.ts';
import { TINY_BACKBONE } from '../../models/registry.ts';
import { openStore } from '../../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../../workflows/index.ts';
import { tempDir, testConfig } from './env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './workers.ts';

/**
 * Runs extraction and training on a dataset generated with `options`; `extra` adds to the run
 * input (head settings, an audio backbone). label names the store, queues and workflow
 * (`<label>`). Returns the report and the generated videos.
 */
export async function runSyntheticPipeline(
  t: ExecutionContext,
  label: string,
  options: SyntheticOptions,
  extra: Partial<ExtractionRunInput>,
): Promise<{ report: RunReport; videos: SyntheticVideo[] }> {
  const config = testConfig('local', label);
  const datasetPath = join(tempDir(`${label}-data`), 'ds');
  const { videos } = await generateSyntheticDataset(datasetPath, options);
  const store = openStore(config.store);
  const queues = uniqueQueues(label);
  const workers = await startTestWorkers(config, store, queues);
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const input: ExtractionRunInput = {
    datasetPath,
    backbones: [TINY_BACKBONE.name],
    shardFrames: 64,
    maxShardsInFlight: 4,
    embedBatchSize: 32,
    maxCropSide: 128,
    // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
    faceSource: 'whole-frame',
    taskQueues: activityQueues(queues),
    ...extra,
  };
  const result = (await workers.client.workflow.execute('extractionRun', {
    taskQueue: queues.orchestrator,
    workflowId: `test-${label}-${queues.frames}`,
    args: [input],
  })) as ExtractionRunResult;
  t.is(result.status, 'completed');
  const report = JSON.parse(new TextDecoder().decode(await store.get(result.reportKey))) as RunReport;
  return { report, videos };
}
