/**
 * A new backbone lands, as a user meets it on the command line: on the embedded default (the CLI's
 * own dev server on free ports) `backbones add` runs the re-evaluation to a comparison, reusing
 * every frames shard; with `affectflow serve --detach` up, a schedule's trigger runs to a result
 * that `schedule describe` shows and `serve --stop` leaves no process; `status` of a workflow that
 * no worker polls says so in one line.
 */
import test from 'ava';
import { existsSync, readFileSync, watch } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { Client, Connection } from '@temporalio/client';
import type { BackboneComparison } from '../activities/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { freePorts, stopService } from '../infra/services.ts';
import { TINY_BACKBONE, TINY_BACKBONE_B } from '../models/registry.ts';
import { affectflow, cliHome } from './helpers/cli.ts';
import { tempDir, testServices } from './helpers/env.ts';

/** Small shards and heads on a small labelled synthetic dataset. */
const RUN_FLAGS = [
  '--shard-frames',
  '16',
  '--face-source',
  'whole-frame',
  '--max-crop-side',
  '96',
  '--epochs',
  '5',
  '--hidden',
  '16',
  '--head-batch-size',
  '32',
];

async function labelledDataset(label: string): Promise<string> {
  const root = join(tempDir(label), 'ds');
  await generateSyntheticDataset(root, {
    ...TINY_SYNTHETIC,
    trainVideos: 2,
    validationVideos: 1,
    framesPerVideo: 32,
  });
  return root;
}

/** Resolves with the first line of the file matching `pattern`, waiting for it to be written. */
function lineInFile(path: string, pattern: RegExp, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const check = (): boolean => {
      const line = existsSync(path)
        ? readFileSync(path, 'utf8')
            .split('\n')
            .find((l) => pattern.test(l))
        : undefined;
      if (line === undefined) return false;
      clearTimeout(timer);
      watcher.close();
      resolve(line);
      return true;
    };
    const watcher = watch(path, () => void check());
    const timer = setTimeout(() => {
      watcher.close();
      reject(
        new Error(
          `no line matching ${pattern} in ${path} after ${timeoutMs} ms:\n${readFileSync(path, 'utf8')}`,
        ),
      );
    }, timeoutMs);
    check();
  });
}

const isAlive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

test('on the embedded default, backbones add runs the re-evaluation to a comparison of both backbones, reusing every frames shard', async (t) => {
  const home = cliHome('serve-embedded');
  const dataset = await labelledDataset('serve-embedded-data');
  const [temporalPort, uiPort] = await freePorts(2);
  const env = {
    TEMPORAL_ADDRESS: undefined,
    AFFECTFLOW_TEMPORAL_PORT: String(temporalPort),
    AFFECTFLOW_TEMPORAL_UI_PORT: String(uiPort),
    AFFECTFLOW_HOME: home,
    AFFECTFLOW_STORE: join(home, 'store'),
  };
  // Each command stops the dev server it started; this one is for a test that fails half-way.
  t.teardown(() => stopService(join(home, 'temporal'), 'temporal').then(() => {}));
  const run = await affectflow(['run', dataset, ...RUN_FLAGS], env);
  t.is(run.code, 0, run.stderr);

  const add = await affectflow(['backbones', 'add', TINY_BACKBONE_B.name, '--dataset', dataset], env);
  t.is(add.code, 0, add.stderr + add.stdout);
  t.notRegex(add.stderr, /\n\s+at /, 'no stack trace');
  const lines = add.stdout.split('\n');
  const workflowId = /^backbones: \S+ queued on (\S+) for /.exec(
    lines.find((l) => l.includes(' queued on ')) ?? '',
  )?.[1];
  t.truthy(workflowId, add.stdout);
  t.true(
    lines.includes(
      `backbones: ${TINY_BACKBONE_B.name} queued on ${workflowId} for ${dataset}; compared with ${TINY_BACKBONE.name}`,
    ),
    add.stdout,
  );
  const reused =
    /^backbones: affectflow-tiny-b: frames shards reused (\d+)\/(\d+) \(none decoded again\), embedding shards written (\d+)$/.exec(
      lines.find((l) => l.includes('frames shards reused')) ?? '',
    );
  t.truthy(reused, add.stdout);
  t.is(reused![1], reused![2]);
  t.true(Number(reused![2]) > 0);
  t.is(reused![3], reused![2], 'every shard embedded with the new backbone');
  t.true(
    lines.some(
      (l) =>
        l.startsWith(`comparison: dataset `) &&
        l.endsWith(
          `, backbones ${TINY_BACKBONE.name}, ${TINY_BACKBONE_B.name} (deltas against ${TINY_BACKBONE.name})`,
        ),
    ),
    add.stdout,
  );
  const expr = lines.find((l) => l.startsWith('comparison: EXPR: '));
  t.regex(
    expr ?? '',
    /^comparison: EXPR: affectflow-tiny \d\.\d{3}, affectflow-tiny-b \d\.\d{3} \([+-]\d\.\d{3}\); best affectflow-tiny(-b)?$/,
    add.stdout,
  );
  const jsonPath = lines
    .find((l) => l.startsWith('report: comparison /'))!
    .slice('report: comparison '.length);
  const comparison = JSON.parse(readFileSync(jsonPath, 'utf8')) as BackboneComparison;
  t.deepEqual(
    comparison.rows.map((r) => r.backbone),
    [TINY_BACKBONE.name, TINY_BACKBONE_B.name],
  );
  const [base, added] = comparison.rows;
  t.is(comparison.baseline, TINY_BACKBONE.name);
  t.is(added!.deltas['EXPR'], added!.scores['EXPR']! - base!.scores['EXPR']!);
  t.is(base!.deltas['EXPR'], 0);
  const html = readFileSync(
    lines.find((l) => l.startsWith('report: comparison HTML '))!.slice('report: comparison HTML '.length),
    'utf8',
  );
  t.true(html.includes('data-table="deltas"'));
  t.true(html.includes('data-list="reports"'));

  const status = await affectflow(['status', workflowId!], env);
  t.is(status.code, 0, status.stderr);
  t.regex(status.stdout, new RegExp(`^re-evaluation ${workflowId}: COMPLETED \\(run `));
  t.true(
    status.stdout.includes(`\nre-evaluation: evaluated ${TINY_BACKBONE.name}, ${TINY_BACKBONE_B.name}\n`),
    status.stdout,
  );
  t.true(status.stdout.includes(`\ncomparison: EXPR: `), status.stdout);

  const schedule = await affectflow(['schedule', 'create', dataset, ...RUN_FLAGS], env);
  t.is(schedule.code, 0, schedule.stderr);
  t.true(
    schedule.stdout
      .split('\n')
      .includes(
        'schedule: on the embedded dev server a schedule fires only while `affectflow serve` (or a cluster, TEMPORAL_ADDRESS) runs: start `affectflow serve --detach`',
      ),
    schedule.stdout,
  );
});

test('with serve --detach running, a triggered schedule runs to a result that describe shows; serve --stop leaves no process', async (t) => {
  const home = cliHome('serve-detach');
  const dataset = await labelledDataset('serve-detach-data');
  const env = { AFFECTFLOW_HOME: home, AFFECTFLOW_STORE: join(home, 'store') };
  t.teardown(() => affectflow(['serve', '--stop'], env).then(() => {}));
  const serve = await affectflow(['serve', '--detach'], env);
  t.is(serve.code, 0, serve.stderr);
  const started =
    /^serve: started in the background \(pid (\d+), pid file (\S+), log (\S+)\); stop it with `affectflow serve --stop`$/.exec(
      serve.stdout.trim(),
    );
  t.truthy(started, serve.stdout);
  const pid = Number(started![1]);
  const log = started![3]!;
  t.true(isAlive(pid));
  t.is(readFileSync(started![2]!, 'utf8').includes(`"pid":${pid}`), true);

  const create = await affectflow(['schedule', 'create', dataset, ...RUN_FLAGS], env);
  t.is(create.code, 0, create.stderr);
  const id = /^schedule (\S+): on trigger only, backbones affectflow-tiny, overlap BUFFER_ONE$/.exec(
    create.stdout.trim(),
  )?.[1];
  t.truthy(id, create.stdout);
  const trigger = await affectflow(['schedule', 'trigger', dataset], env);
  t.is(trigger.code, 0, trigger.stderr);
  const finished = await lineInFile(log, /^serve: reevaluateDataset \S+-scheduled\S* /, 480_000);
  t.regex(finished, / COMPLETED at /);

  const describe = await affectflow(['schedule', 'describe', dataset], env);
  t.is(describe.code, 0, describe.stderr);
  const lines = describe.stdout.split('\n');
  t.is(lines[0], `schedule ${id}: active; next on trigger only`);
  t.true(
    lines.some((l) => /^schedule: last result: \S+-scheduled\S* COMPLETED$/.test(l)),
    describe.stdout,
  );
  t.true(
    lines.some((l) => l.startsWith('comparison: dataset ') && l.includes(`backbones ${TINY_BACKBONE.name}`)),
    describe.stdout,
  );
  t.true(
    lines.some((l) => /^comparison: EXPR: affectflow-tiny \d\.\d{3}; best affectflow-tiny$/.test(l)),
    describe.stdout,
  );

  // With serve running the workers, --wait follows a new backbone to its comparison with the first.
  const add = await affectflow(
    ['backbones', 'add', TINY_BACKBONE_B.name, '--dataset', dataset, '--wait'],
    env,
  );
  t.is(add.code, 0, add.stderr + add.stdout);
  const added = add.stdout.split('\n');
  t.true(
    added.some(
      (l) =>
        l.startsWith(`backbones: ${TINY_BACKBONE_B.name} queued on reevaluate-`) &&
        l.endsWith(`; compared with ${TINY_BACKBONE.name}`),
    ),
    add.stdout,
  );
  t.true(
    added.some((l) =>
      /^backbones: affectflow-tiny-b: frames shards reused (\d+)\/\1 \(none decoded again\)/.test(l),
    ),
    add.stdout,
  );
  t.true(
    added.some((l) =>
      /^comparison: EXPR: affectflow-tiny \d\.\d{3}, affectflow-tiny-b \d\.\d{3} \([+-]\d\.\d{3}\); best /.test(
        l,
      ),
    ),
    add.stdout,
  );

  // Without run flags, a schedule takes the dataset's latest run's settings and compares the
  // scheduled backbone with the others evaluated with them.
  const again = await affectflow(['schedule', 'create', dataset, '--backbone', TINY_BACKBONE_B.name], env);
  t.is(again.code, 0, again.stderr);
  t.is(
    again.stdout.trim().split('\n')[0],
    `schedule ${id}: on trigger only, backbones ${TINY_BACKBONE_B.name}, overlap BUFFER_ONE; settings of the dataset's latest run; compared with ${TINY_BACKBONE.name}`,
  );

  const stop = await affectflow(['serve', '--stop'], env);
  t.is(stop.code, 0, stop.stderr);
  t.is(stop.stdout.trim().split('\n')[0], `serve: stopped (pid ${pid}); log ${log}`);
  t.false(isAlive(pid), 'the serve process is gone');
  t.regex(readFileSync(log, 'utf8'), /serve: SIGTERM: draining the tasks in flight\nserve: stopped\n/);
});

test('status of a running workflow that no worker polls is one line naming the queue and the command', async (t) => {
  const connection = await Connection.connect({ address: testServices.temporalAddress() });
  t.teardown(() => connection.close());
  const client = new Client({ connection });
  const queue = `serve-unserved-${randomUUID().slice(0, 8)}`;
  const workflowId = `test-${queue}`;
  const handle = await client.workflow.start('reevaluateDataset', {
    taskQueue: queue,
    workflowId,
    args: [{ run: {}, backbones: [] }],
  });
  t.teardown(() => handle.terminate('test done').then(() => {}));
  const status = await affectflow(['status', workflowId], { AFFECTFLOW_HOME: tempDir('serve-unserved') });
  t.is(status.code, 2, status.stdout);
  t.is(
    status.stderr.trim(),
    `affectflow: run ${workflowId} is running, but no worker polls its task queue ${queue} on Temporal ${testServices.temporalAddress()}: start one with \`affectflow worker orchestrator --task-queue ${queue}\``,
  );
});
