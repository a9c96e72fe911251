/**
 * A new backbone lands: signal-with-start of the dataset's re-evaluation workflow embeds the
 * existing frames shards with it (no decoding again), trains and evaluates, and compares it with
 * the earlier backbone; a Temporal Schedule re-evaluates on trigger.
 */
import test from 'ava';
import { join } from 'node:path';
import { setTimeout as pollInterval } from 'node:timers/promises';
import { ScheduleOverlapPolicy } from '@temporalio/client';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { openStore } from '../storage/objectStore.ts';
import type { BackboneComparison } from '../activities/index.ts';
import { TINY_BACKBONE, TINY_BACKBONE_B } from '../models/registry.ts';
import type { ReevaluateResult, ReevaluationState } from '../workflows/index.ts';
import {
  runSettings,
  scheduleId,
  signalBackbone,
  upsertSchedule,
  type RunSettings,
} from '../cli/reevaluate.ts';
import { runScope, type RunScope } from '../cli/runIdentity.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, aroundExtractFrames, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const SYNTHETIC = { ...TINY_SYNTHETIC, trainVideos: 2, validationVideos: 1, framesPerVideo: 32 };

async function setUp(label: string) {
  const config = testConfig('local', label);
  const datasetPath = join(tempDir(`${label}-data`), 'ds');
  await generateSyntheticDataset(datasetPath, SYNTHETIC);
  const store = openStore(config.store);
  const queues = uniqueQueues(label);
  const decoded: string[] = [];
  const workers = await startTestWorkers(config, store, queues, {
    frames: aroundExtractFrames(async (real, input) => {
      const result = await real(input);
      if (!result.reused) decoded.push(input.shardId);
      return result;
    }),
  });
  const settings: RunSettings = runSettings({
    datasetPath,
    backbones: [],
    shardFrames: 16,
    maxShardsInFlight: 2,
    embedBatchSize: 8,
    maxCropSide: 96,
    // Synthetic faces fill the frame; YuNet (the default for videos) misses many of them.
    faceSource: 'whole-frame',
    expr: { epochs: 5, batchSize: 32, hidden: 16 },
    taskQueues: activityQueues(queues),
  });
  // The config's store identity with the test's own queues.
  const scope: RunScope = { store: runScope(config).store, queues };
  return { store, scope, workers, decoded, settings };
}

test('a second backbone re-embeds the existing frames shards and is compared with the first', async (t) => {
  const { store, scope, workers, decoded, settings } = await setUp('reeval');
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const client = workers.client;
  const workflowId = await signalBackbone(client, settings, TINY_BACKBONE.name, scope);
  const handle = client.workflow.getHandle(workflowId);
  const waitFor = async (evaluated: number): Promise<ReevaluationState> => {
    // Until the workflow's state shows it (the test's timeout bounds the wait, not a count here).
    for (;;) {
      const state = await handle.query<ReevaluationState>('reevaluation').catch(() => undefined);
      if (state && state.compared >= evaluated && state.comparisonKey) return state;
      await pollInterval(100);
    }
  };
  await waitFor(1);
  const shards = decoded.length;
  t.true(shards > 0);

  // The same id: signal-with-start joins the running workflow.
  t.is(await signalBackbone(client, settings, TINY_BACKBONE_B.name, scope), workflowId);
  const state = await waitFor(2);
  t.is(decoded.length, shards, 'no frames decoded again for the second backbone');
  const comparison = JSON.parse(
    new TextDecoder().decode(await store.get(state.comparisonKey!)),
  ) as BackboneComparison;
  t.deepEqual(
    comparison.rows.map((r) => r.backbone).sort(),
    [TINY_BACKBONE.name, TINY_BACKBONE_B.name].sort(),
  );
  t.true(comparison.tasks.includes('EXPR'));
  for (const row of comparison.rows) t.is(typeof row.scores['EXPR'], 'number');
  t.true([TINY_BACKBONE.name, TINY_BACKBONE_B.name].includes(comparison.best['EXPR']!));
  await handle.terminate('test done');
});

test('a schedule with overlap BUFFER_ONE re-evaluates a dataset when triggered', async (t) => {
  const { store, scope, workers, settings } = await setUp('sched');
  t.teardown(async () => {
    await workers.stop();
    store.close();
  });
  const client = workers.client;
  const id = await upsertSchedule(client, {
    settings,
    backbones: [TINY_BACKBONE.name],
    every: undefined,
    scope,
  });
  t.is(id, scheduleId(settings.datasetPath, scope.store));
  const schedule = client.schedule.getHandle(id);
  t.teardown(() => schedule.delete().catch(() => {}));
  t.is((await schedule.describe()).policies.overlap, ScheduleOverlapPolicy.BUFFER_ONE);
  await schedule.trigger();
  let workflowId: string | undefined;
  // The schedule's first action has no event to wait on: poll until it is recorded.
  while (!workflowId) {
    workflowId = (await schedule.describe()).info.recentActions[0]?.action.workflow.workflowId;
    if (!workflowId) await pollInterval(100);
  }
  t.truthy(workflowId);
  const result = (await client.workflow.getHandle(workflowId).result()) as ReevaluateResult;
  t.deepEqual(
    result.evaluated.map((e) => e.backbone),
    [TINY_BACKBONE.name],
  );
  t.truthy(result.comparisonKey);
  // Updating the schedule keeps its id and policy.
  t.is(
    await upsertSchedule(client, {
      settings,
      backbones: [TINY_BACKBONE.name],
      every: '24h',
      scope,
    }),
    id,
  );
  const described = await schedule.describe();
  t.is(described.policies.overlap, ScheduleOverlapPolicy.BUFFER_ONE);
  t.is(described.info.nextActionTimes.length > 0, true);
});
