/**
 * The run and partition workflows at scale on the real dev server, with activities that only
 * report: every shard is accounted for and every history stays far below Temporal's limits.
 * (The 20,000-shard version runs in `npm run bench -- --only orchestration`.)
 */
import test from 'ava';
import { runReportingScale } from '../bench/orchestrationScale.ts';
import { testServices } from './helpers/env.ts';

test('1,200 shards over 4 partitions that continue as new: all done, every history under 10,240 events', async (t) => {
  const run = await runReportingScale({
    address: testServices.temporalAddress(),
    shards: 1_200,
    partitionShards: 300,
    pageShards: 100,
    window: 50,
    partitionsInFlight: 4,
    historyBudget: 600,
  });
  t.is(run.result.status, 'completed');
  t.is(run.result.shards, 1_200);
  t.is(run.result.embeddingShardsWritten, 1_200);
  t.is(run.result.failedCount, 0);
  t.true(run.executions > 5, `continue-as-new happened (${run.executions} executions)`);
  t.true(run.maxHistoryLength < 10_240, `longest history ${run.maxHistoryLength} events`);
  t.log(
    `${run.executions} executions, longest history ${run.maxHistoryLength} events, ${run.seconds.toFixed(1)} s`,
  );
});
