/**
 * Shards waiting on a retry: Temporal keeps each pending activity's attempt and last failure, so
 * the run's own activities and those of its running partitions (pending children) say how many
 * shards are between a failed attempt and the next one, during an outage most of those in flight.
 */
import type { Client } from '@temporalio/client';
import { firstLine } from './errors.ts';

export interface RetryState {
  /** Pending activities past their first attempt: one per shard at most (and the run's manifest or training). */
  readonly waiting: number;
  /** The one retried most, e.g. "extractFrames attempt 7: connect ECONNREFUSED 127.0.0.1:8333". */
  readonly worst: string | undefined;
}

export async function retryState(client: Client, workflowId: string): Promise<RetryState> {
  const run = await client.workflow.getHandle(workflowId).describe();
  const pending = [...(run.raw.pendingActivities ?? [])];
  const children = await Promise.allSettled(
    (run.raw.pendingChildren ?? []).map((child) =>
      client.workflow.getHandle(child.workflowId ?? '').describe(),
    ),
  );
  for (const child of children)
    if (child.status === 'fulfilled') pending.push(...(child.value.raw.pendingActivities ?? []));
  const retried = pending
    .filter((a) => (a.attempt ?? 1) > 1)
    .sort((a, b) => (b.attempt ?? 0) - (a.attempt ?? 0));
  const worst = retried[0];
  return {
    waiting: retried.length,
    worst: worst
      ? `${worst.activityType?.name ?? 'activity'} attempt ${worst.attempt}` +
        (worst.lastFailure?.message ? `: ${firstLine(worst.lastFailure.message)}` : '')
      : undefined,
  };
}
