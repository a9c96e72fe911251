/**
 * How the command line ends: exit codes, and one line per failure naming the cause, the object
 * (file, run, setting, store) and what to do. Stack traces only with --verbose. Every line
 * produced here is listed in docs/ERRORS.md and asserted by test/cli.test.ts.
 */
import { WorkflowFailedError, WorkflowNotFoundError } from '@temporalio/client';
import {
  ActivityFailure,
  ApplicationFailure,
  CancelledFailure,
  ChildWorkflowFailure,
  TerminatedFailure,
  TimeoutFailure,
} from '@temporalio/common';
import { CommanderError } from 'commander';
import { ConfigError } from '../config/index.ts';

/** Exit codes of every command (docs/ERRORS.md). */
export const EXIT = Object.freeze({
  done: 0,
  failed: 1,
  /** A usage or configuration problem: a wrong argument, path, setting, run id or service address. */
  usage: 2,
  completedWithFailures: 3,
  /** Ctrl-C while following a run: the command let go of it; the run was not cancelled. */
  detached: 130,
});

/** The user's input or setup is wrong; the message says what was seen, expected and what to do. */
export class UsageError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'UsageError';
  }
}

/** A run ended without completing (failed, cancelled, terminated, timed out). */
export class RunEndedError extends Error {
  constructor(
    readonly workflowId: string,
    readonly failure: Error,
  ) {
    super(`run ${workflowId} ${failureLine(failure)}`);
    this.name = 'RunEndedError';
  }
}

/**
 * Ctrl-C while following a run: the command already said on one line what becomes of the run
 * and how to follow it again, so nothing more is printed.
 */
export class DetachedError extends Error {
  constructor(readonly workflowId: string) {
    super(`detached from run ${workflowId}`);
    this.name = 'DetachedError';
  }
}

/** Temporal stayed unreachable longer than the retry budget while the CLI followed a run. */
export class TemporalLostError extends Error {
  constructor(
    readonly workflowId: string,
    readonly address: string,
    readonly seconds: number,
    readonly seen: string,
  ) {
    super(
      `lost Temporal at ${address} for ${seconds} s (${seen}), longer than the retry budget (AFFECTFLOW_RETRY_BUDGET_SECONDS): run ${workflowId} was not cancelled and goes on once Temporal and its workers are back; follow it then with \`affectflow status ${workflowId}\``,
    );
    this.name = 'TemporalLostError';
  }
}

export const firstLine = (text: string): string => text.split('\n')[0]!.trim();

/**
 * What a workflow failure comes down to: where (the activity or child workflow) and the innermost
 * cause's message, e.g. "failed in manifestDataset: dataset /data/x: ...".
 */
export function failureLine(err: Error): string {
  let where = '';
  let e: Error = err;
  for (;;) {
    if (e instanceof ActivityFailure && e.activityType) where = ` in ${e.activityType}`;
    if (e instanceof ChildWorkflowFailure && !where) where = ` in ${e.execution.workflowId}`;
    if (!(e.cause instanceof Error)) break;
    e = e.cause;
  }
  if (e instanceof CancelledFailure) return 'was cancelled';
  if (e instanceof TerminatedFailure) return `was terminated${e.message ? ` (${firstLine(e.message)})` : ''}`;
  if (e instanceof TimeoutFailure) return `timed out${where} (${e.timeoutType})`;
  const type = e instanceof ApplicationFailure && e.type ? `${e.type}: ` : '';
  return `failed${where}: ${type}${firstLine(e.message)}`;
}

/** The one line and exit code for an error that ends a command. */
export function explain(err: unknown): { line: string; code: number } {
  if (err instanceof CommanderError) return { line: '', code: err.exitCode === 0 ? EXIT.done : EXIT.usage };
  if (err instanceof DetachedError) return { line: '', code: EXIT.detached };
  if (err instanceof TemporalLostError) return { line: `affectflow: ${err.message}`, code: EXIT.failed };
  if (err instanceof UsageError || err instanceof ConfigError)
    return { line: `affectflow: ${err.message}`, code: EXIT.usage };
  if (err instanceof RunEndedError) {
    const next = err.message.endsWith('was cancelled')
      ? `resume it with \`affectflow resume ${err.workflowId}\``
      : `details: \`affectflow status ${err.workflowId}\`; after fixing the cause, \`affectflow resume ${err.workflowId}\` redoes only what is missing`;
    return { line: `affectflow: ${err.message}; ${next}`, code: EXIT.failed };
  }
  if (err instanceof WorkflowFailedError)
    return { line: `affectflow: run ${failureLine(err)}`, code: EXIT.failed };
  if (err instanceof WorkflowNotFoundError)
    return {
      line: `affectflow: run ${err.workflowId} not found on this Temporal server: check the id that \`affectflow run\` printed`,
      code: EXIT.usage,
    };
  const e = err instanceof Error ? err : new Error(String(err));
  return {
    line: `affectflow: ${e.name}: ${firstLine(e.message)} (run again with --verbose for the stack trace)`,
    code: EXIT.failed,
  };
}
