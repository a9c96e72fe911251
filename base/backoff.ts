/**
 * Capped exponential backoff: the wait before each retry, and how many attempts it takes for the
 * waits to cover a time budget. Pure arithmetic (workflows compute retry policies with it).
 */

export interface Backoff {
  /** Wait before the first retry, in seconds. */
  readonly initialSeconds: number;
  readonly coefficient: number;
  /** No wait is longer than this, in seconds. */
  readonly maximumSeconds: number;
}

/** Seconds of retrying, per shard or training activity and for a CLI following a run, by default: 15 minutes. */
export const DEFAULT_RETRY_BUDGET_SECONDS = 900;

/** The wait before retry number `retry` (1 = the first retry), in seconds. */
export function backoffSeconds(backoff: Backoff, retry: number): number {
  return Math.min(
    backoff.maximumSeconds,
    backoff.initialSeconds * backoff.coefficient ** Math.max(0, retry - 1),
  );
}

/**
 * The fewest attempts whose waits between them add up to at least `budgetSeconds` (at least 1):
 * an outage shorter than the budget ends before the last attempt is made.
 */
export function attemptsWithin(backoff: Backoff, budgetSeconds: number): number {
  let attempts = 1;
  for (let waited = 0; waited < budgetSeconds; attempts++) waited += backoffSeconds(backoff, attempts);
  return attempts;
}
