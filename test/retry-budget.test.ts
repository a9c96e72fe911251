/**
 * The retry budget of issue 15: how many attempts a budget buys, its settings, and the worker's
 * warn line per retried attempt (in a mock activity context with Temporal's attempt and policy).
 */
import test from 'ava';
import { ApplicationFailure } from '@temporalio/common';
import { MockActivityEnvironment } from '@temporalio/testing';
import { attemptsWithin, backoffSeconds } from '../base/backoff.ts';
import { ConfigError, loadConfig } from '../config/index.ts';
import { withRetryLog } from '../workers/retryLog.ts';
import { SHARD_BACKOFF, TRAIN_BACKOFF } from '../workflows/activities.ts';
import { tempDir } from './helpers/env.ts';

test('the budget buys attempts whose waits cover it: 35 per shard and 19 for training in 15 minutes', (t) => {
  t.deepEqual(
    [1, 2, 3, 4, 5, 6, 7].map((retry) => backoffSeconds(SHARD_BACKOFF, retry)),
    [1, 2, 4, 8, 16, 30, 30],
  );
  t.is(attemptsWithin(SHARD_BACKOFF, 900), 35);
  t.is(attemptsWithin(TRAIN_BACKOFF, 900), 19);
  // A one-minute outage needs 7 shard attempts (waits 1+2+4+8+16+30 = 61 s); the old 5 waited 15 s.
  t.is(attemptsWithin(SHARD_BACKOFF, 60), 7);
  t.is(attemptsWithin(SHARD_BACKOFF, 0), 1);
});

test('settings: 900 s budget and 60 s grace by default, from env or file, bad values named', (t) => {
  const dir = tempDir('faults-config');
  t.deepEqual(loadConfig({}, dir).faults, { retryBudgetSeconds: 900, shutdownGraceSeconds: 60 });
  t.deepEqual(
    loadConfig({ AFFECTFLOW_RETRY_BUDGET_SECONDS: '120', AFFECTFLOW_SHUTDOWN_GRACE_SECONDS: '5' }, dir)
      .faults,
    { retryBudgetSeconds: 120, shutdownGraceSeconds: 5 },
  );
  const error = t.throws(() => loadConfig({ AFFECTFLOW_RETRY_BUDGET_SECONDS: '15m' }, dir), {
    instanceOf: ConfigError,
  });
  t.is(
    error.message,
    'config AFFECTFLOW_RETRY_BUDGET_SECONDS (from environment AFFECTFLOW_RETRY_BUDGET_SECONDS): expected an integer in 0..604800, got "15m"',
  );
});

test('a worker logs each failed attempt with a retry coming, the last one as failed, and no permanent error', async (t) => {
  const lines: string[] = [];
  const activities = withRetryLog(
    {
      extractFrames: (input: { shardId: string }): Promise<void> =>
        Promise.reject(new Error(`connect ECONNREFUSED 127.0.0.1:8333\n    at ${input.shardId}`)),
      manifestDataset: (_input: { datasetPath: string }): Promise<void> =>
        Promise.reject(ApplicationFailure.nonRetryable('dataset /d: no videos', 'DatasetError')),
    },
    'frames',
    (line) => lines.push(line),
  );
  const policy = { retryPolicy: { maximumAttempts: 35 }, activityType: 'extractFrames' };
  await t.throwsAsync(
    new MockActivityEnvironment({ ...policy, attempt: 3 }).run(activities.extractFrames, { shardId: 's1' }),
  );
  await t.throwsAsync(
    new MockActivityEnvironment({ ...policy, attempt: 35 }).run(activities.extractFrames, { shardId: 's1' }),
  );
  await t.throwsAsync(
    new MockActivityEnvironment({ ...policy, activityType: 'manifestDataset', attempt: 1 }).run(
      activities.manifestDataset,
      { datasetPath: '/d' },
    ),
  );
  t.deepEqual(lines, [
    'warn: frames worker: extractFrames of shard s1 attempt 3/35 failed (Error: connect ECONNREFUSED 127.0.0.1:8333); Temporal retries it with backoff',
    'warn: frames worker: extractFrames of shard s1 attempt 35/35 failed (Error: connect ECONNREFUSED 127.0.0.1:8333); no attempts left within the retry budget (AFFECTFLOW_RETRY_BUDGET_SECONDS): recorded as failed',
  ]);
});
