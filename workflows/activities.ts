/**
 * Activity stubs per pool, with each pool's timeouts and retry policy. Task queues can be
 * overridden per run (a GPU pool with its own queue, an isolated test deployment).
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { EmbedPoolActivities, FramesPoolActivities, TrainPoolActivities } from '../activities/index.ts';
import { attemptsWithin, DEFAULT_RETRY_BUDGET_SECONDS, type Backoff } from '../base/backoff.ts';
import { PERMANENT_ERRORS } from '../base/permanentErrors.ts';
import { TASK_QUEUES, type Pool } from './taskQueues.ts';

export type TaskQueueOverrides = Partial<Record<Pool, string>>;

export interface ActivityTuning {
  readonly taskQueues?: TaskQueueOverrides;
  /** Heartbeat timeout of shard activities: how fast a lost worker's shard moves elsewhere. */
  readonly heartbeatTimeoutSeconds?: number;
  /**
   * Attempts per shard activity before the shard is recorded as failed; when absent, as many as
   * the retry budget holds.
   */
  readonly maxAttempts?: number;
  /**
   * Seconds of retrying a shard or training activity gets (capped exponential backoff) before it
   * fails: an object-store or Temporal outage shorter than this fails nothing (default 900).
   */
  readonly retryBudgetSeconds?: number;
}

/** Shard activities: retries after 1, 2, 4, 8, 16 s, then every 30 s. */
export const SHARD_BACKOFF: Backoff = Object.freeze({
  initialSeconds: 1,
  coefficient: 2,
  maximumSeconds: 30,
});
/** Training (minutes per attempt): retries after 5, 10, 20, 40 s, then every minute. */
export const TRAIN_BACKOFF: Backoff = Object.freeze({
  initialSeconds: 5,
  coefficient: 2,
  maximumSeconds: 60,
});

/** A Temporal retry policy with this backoff whose attempts last at least the budget. */
function retryWithin(backoff: Backoff, budgetSeconds: number, maximumAttempts?: number) {
  return {
    initialInterval: `${backoff.initialSeconds} seconds`,
    backoffCoefficient: backoff.coefficient,
    maximumInterval: `${backoff.maximumSeconds} seconds`,
    maximumAttempts: maximumAttempts ?? attemptsWithin(backoff, budgetSeconds),
  };
}

function options(pool: Pool, tuning: ActivityTuning, overrides: ActivityOptions): ActivityOptions {
  return {
    taskQueue: tuning.taskQueues?.[pool] ?? TASK_QUEUES[pool],
    ...overrides,
    retry: { backoffCoefficient: 2, nonRetryableErrorTypes: [...PERMANENT_ERRORS], ...overrides.retry },
  };
}

export function poolActivities(tuning: ActivityTuning) {
  const heartbeatTimeout = `${tuning.heartbeatTimeoutSeconds ?? 60} seconds`;
  const budget = tuning.retryBudgetSeconds ?? DEFAULT_RETRY_BUDGET_SECONDS;
  const shardRetry = retryWithin(SHARD_BACKOFF, budget, tuning.maxAttempts);
  const framesOptions = options('frames', tuning, {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout,
    retry: shardRetry,
  });
  const embedOptions = options('embed', tuning, {
    startToCloseTimeout: '1 hour',
    heartbeatTimeout,
    retry: shardRetry,
  });
  const trainOptions = options('train', tuning, {
    startToCloseTimeout: '4 hours',
    heartbeatTimeout: '5 minutes',
    retry: retryWithin(TRAIN_BACKOFF, budget),
  });
  return {
    frames: proxyActivities<FramesPoolActivities>(framesOptions),
    embed: proxyActivities<EmbedPoolActivities>(embedOptions),
    train: proxyActivities<TrainPoolActivities>(trainOptions),
    /** The same options, for calls that add a summary (`executeWithOptions`). */
    options: { frames: framesOptions, embed: embedOptions, train: trainOptions },
  };
}
