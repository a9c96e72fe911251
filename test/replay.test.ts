/**
 * Determinism: recorded histories of every workflow (test/histories/, made by
 * test/histories/record.ts) replay against the current workflow code. A change that would break
 * running workflows fails here; such changes go behind patched().
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundleWorkflowCode, Worker } from '@temporalio/worker';
import { projectRoot } from '../base/paths.ts';
import { installQuietRuntime, quietBundlerLogger, workflowsPath } from '../workers/pools.ts';

const dir = join(projectRoot, 'test', 'histories');
const index = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as Record<string, string>;
const files = readdirSync(dir).filter((f) => f.endsWith('.json') && f !== 'index.json');

test('recorded histories of every workflow replay without nondeterminism', async (t) => {
  installQuietRuntime();
  t.true(files.some((f) => f.startsWith('extractionRun-first-')));
  t.true(files.some((f) => f.startsWith('extractPartition-continued-')));
  t.true(files.some((f) => f.startsWith('reevaluateDataset-')));
  const workflowBundle = await bundleWorkflowCode({
    workflowsPath,
    logger: quietBundlerLogger,
  });
  const histories = files.map((file) => ({
    workflowId: index[file] ?? file,
    history: JSON.parse(readFileSync(join(dir, file), 'utf8')) as unknown,
  }));
  let replayed = 0;
  for await (const result of Worker.runReplayHistories({ workflowBundle }, histories)) {
    t.is(result.error, undefined, `${result.workflowId}: ${String(result.error)}`);
    replayed++;
  }
  t.is(replayed, files.length);
  t.deepEqual(Object.keys(index).sort(), [...files].sort());
});
