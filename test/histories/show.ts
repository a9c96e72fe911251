/**
 * One workflow execution's history as the Temporal CLI prints it (proto JSON, the format the
 * replayer reads); shared by the two history recorders, record.ts and recordReal.ts.
 */
import { execFileSync } from 'node:child_process';
import { venvBin } from '../../base/paths.ts';

export function showHistory(address: string, execution: { workflowId: string; runId: string }): string {
  return execFileSync(
    venvBin('temporal'),
    [
      'workflow',
      'show',
      '--address',
      address,
      '--workflow-id',
      execution.workflowId,
      '--run-id',
      execution.runId,
      '--output',
      'json',
    ],
    { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024 },
  );
}
