/**
 * Activity stubs per pool, with each pool's timeouts and retry policy. Task queues can be
 * overridden per run (a GPU pool with its own queue, an isolated test deployment).
 */
import { proxyActivities, type ActivityOptions } from '@temporalio/workflow';
import type { EmbedPoolActivities, FramesPoolActivities, TrainPoolActivities } from '../activities/index.ts';
import { PERMANENT_ERRORS } from '../base/permanentErrors.ts';
import { TASK_QUEUES, type Pool } from './taskQueues.ts';

export type TaskQueueOverrides = Partial<Record<Pool, string>>;

export interface ActivityTuning {
  readonly taskQueues?: TaskQueueOverrides;
  /** Heartbeat timeout of shard activities: how fast a lost worker's shard moves elsewhere. */
  readonly heartbeatTimeoutSeconds?: number;
  /** Attempts per shard activity before the shard is recorded as failed. */
  readonly maxAttempts?: number;
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
  const maximumAttempts = tuning.maxAttempts ?? 5;
  const shardRetry = { initialInterval: '1 second', maximumInterval: '1 minute', maximumAttempts };
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
    retry: { initialInterval: '5 seconds', maximumInterval: '5 minutes', maximumAttempts: 3 },
  });
  return {
    frames: proxyActivities<FramesPoolActivities>(framesOptions),
    embed: proxyActivities<EmbedPoolActivities>(embedOptions),
    train: proxyActivities<TrainPoolActivities>(trainOptions),
    /** The same options, for calls that add a summary (`executeWithOptions`). */
    options: { frames: framesOptions, embed: embedOptions, train: trainOptions },
  };
}
