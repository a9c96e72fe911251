/**
 * Records workflow histories for the replay test: `node --import tsx test/histories/record.ts`.
 * Runs the real workflows (reporting-only activities) on a fresh in-memory dev server and writes
 * one JSON history per execution: the run, a partition's first execution (which continues as
 * new) and its continuation. Re-record when a workflow change is deliberate and patched.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import {
  reportingRunInput,
  runReportingScale,
  startReportingWorker,
} from '../../bench/orchestrationScale.ts';
import { runSettings } from '../../cli/reevaluate.ts';
import type { ReevaluateInput } from '../../workflows/index.ts';
import { withThrowawayTemporal } from '../../infra/devstack.ts';
import { projectRoot } from '../../base/paths.ts';
import { showHistory } from './show.ts';

await withThrowawayTemporal(async (address) => {
  const options = {
    partitionShards: 20,
    pageShards: 10,
    window: 5,
    partitionsInFlight: 2,
    historyBudget: 100,
    train: true,
  };
  const run = await runReportingScale({ address, shards: 30, ...options });
  // The re-evaluation workflow, with two backbones, each evaluated by a child extraction run.
  const reporting = await startReportingWorker(address, 30);
  const reevaluation: ReevaluateInput = {
    run: runSettings(reportingRunInput(reporting.queue, options)),
    backbones: ['reporting', 'reporting-b'],
    idleMinutes: 0,
  };
  await reporting.client.workflow.execute('reevaluateDataset', {
    taskQueue: reporting.queue,
    workflowId: `${reporting.queue}-reevaluate`,
    args: [reevaluation],
  });
  await reporting.stop();
  const connection = await Connection.connect({ address });
  const client = new Client({ connection });
  const out = join(projectRoot, 'test', 'histories');
  // Histories recorded earlier stay: they replay the code paths that patches keep for them.
  const indexPath = join(out, 'index.json');
  const index = JSON.parse(readFileSync(indexPath, 'utf8')) as Record<string, string>;
  const recordedBefore = new Set(Object.keys(index));
  for await (const execution of client.workflow.list({ query: `WorkflowId STARTS_WITH 'scale-'` })) {
    // The Temporal CLI writes proto JSON, the format the replayer reads.
    const json = showHistory(address, execution);
    const history = JSON.parse(json) as {
      events?: { workflowExecutionStartedEventAttributes?: { continuedExecutionRunId?: string } }[];
    };
    const kind = execution.type;
    const first = history.events?.[0]?.workflowExecutionStartedEventAttributes;
    const label = first?.continuedExecutionRunId ? 'continued' : 'first';
    // One history per workflow type and start kind keeps the fixtures small.
    if (Object.keys(index).some((name) => !recordedBefore.has(name) && name.startsWith(`${kind}-${label}-`)))
      continue;
    const name = `${kind}-${label}-${execution.workflowId.split('/').pop()}-${execution.runId.slice(0, 8)}.json`;
    writeFileSync(join(out, name), json);
    index[name] = execution.workflowId;
  }
  // The replayer needs each history's workflow id.
  writeFileSync(indexPath, `${JSON.stringify(index, null, 2)}\n`);
  await connection.close();
  console.log(
    `recorded ${Object.keys(index).length} histories of ${run.executions} executions into test/histories/`,
  );
});
