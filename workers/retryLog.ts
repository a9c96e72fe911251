/**
 * One warn line per failed activity attempt that Temporal will retry, naming the activity, the
 * shard (or dataset, or backbone) it works on, the attempt and the cause: an outage shows in the
 * worker's log while the retry budget (workflows/activities.ts) outlasts it.
 */
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { PERMANENT_ERRORS } from '../base/permanentErrors.ts';

/** What an activity call works on, from its input: `shard S`, `dataset D`, ... */
function subject(args: readonly unknown[]): string {
  const input = (args[0] ?? {}) as Record<string, unknown>;
  for (const [field, label] of [
    ['shardId', 'shard'],
    ['backbone', 'backbone'],
    ['datasetPath', 'dataset'],
    ['manifestKey', 'manifest'],
  ] as const) {
    if (typeof input[field] === 'string') return ` of ${label} ${input[field]}`;
  }
  return '';
}

function permanent(err: unknown): boolean {
  if (err instanceof ApplicationFailure) return err.nonRetryable || PERMANENT_ERRORS.includes(err.type ?? '');
  return err instanceof Error && PERMANENT_ERRORS.includes(err.name);
}

const cause = (err: unknown): string => {
  const e = err instanceof Error ? err : new Error(String(err));
  const name = e instanceof ApplicationFailure && e.type ? e.type : e.name;
  return `${name}: ${e.message.split('\n')[0]!.trim()}`;
};

/** The activities, each logging (`warn: ...`) an attempt that failed and will be retried. */
export function withRetryLog<A extends object>(
  activities: A,
  worker: string,
  log: (line: string) => void,
): A {
  return Object.fromEntries(
    Object.entries(activities).map(([name, fn]) => [
      name,
      async (...args: unknown[]): Promise<unknown> => {
        try {
          return await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
        } catch (err) {
          let info: Context['info'] | undefined;
          try {
            info = Context.current().info;
          } catch {
            // Called outside an activity (a test calling it directly): nothing retries it.
          }
          if (info && !permanent(err) && !info.isLocal) {
            const max = info.retryPolicy?.maximumAttempts ?? 0;
            const left = max === 0 || info.attempt < max;
            log(
              `warn: ${worker} worker: ${info.activityType}${subject(args)} attempt ${info.attempt}${max ? `/${max}` : ''} failed (${cause(err)}); ` +
                (left
                  ? 'Temporal retries it with backoff'
                  : 'no attempts left within the retry budget (AFFECTFLOW_RETRY_BUDGET_SECONDS): recorded as failed'),
            );
          }
          throw err;
        }
      },
    ]),
  ) as A;
}
