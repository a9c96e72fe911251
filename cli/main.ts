/** The `affectflow` command line. */
import { existsSync } from 'node:fs';
import { basename, dirname, join, resolve } from 'node:path';
import { screenshot } from '../reports/chromium.ts';
import { Command } from 'commander';
import { describeConfig, loadConfig, type AffectflowConfig } from '../config/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { devStackStatus, startDevStack, stopDevStack } from '../infra/devstack.ts';
import { getBackbone, listBackbones, loadRegistry, UnknownBackboneError } from '../models/registry.ts';
import { progressRenderer } from '../models/download.ts';
import { pullBackbone } from '../models/pull.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput } from '../workflows/index.ts';
import { WORKER_ROLES, type WorkerRole } from '../workers/pools.ts';
import { openTemporal } from './embedded.ts';
import { explain, UsageError } from './errors.ts';
import { checkDataset, checkStore } from './preflight.ts';
import { pushDataset, pushSummaryLine } from './datasetsPush.ts';
import { isS3Uri } from '../datasets/source.ts';
import { addBackbone } from './backbones.ts';
import { runSettings } from './reevaluate.ts';
import { addRunFlags, inputFrom, type RunFlags } from './runFlags.ts';
import { createSchedule, manageSchedule } from './schedule.ts';
import { serveDetached, serveForeground, serveStop } from './serve.ts';
import { showStatus } from './status.ts';
import {
  describeRun,
  exitCodeOf,
  resumeExtraction,
  runExtraction,
  summarise,
  type RunOutcome,
} from './run.ts';

const say = (line: string): void => console.log(line);
const warn = (line: string): void => console.error(`affectflow: warning: ${line}`);

function config(): AffectflowConfig {
  return loadConfig();
}

const program = new Command('affectflow')
  .description(
    'HSEmotion (ABAW-6) emotion features and challenge scores for whole facial-video datasets, on Temporal',
  )
  .showHelpAfterError()
  // Usage errors end in exit code 2 (docs/ERRORS.md); subcommands inherit this.
  .exitOverride()
  .option('--verbose', 'print the stack trace of an error (also accepted after the command)');

function reportOutcome(outcome: RunOutcome): void {
  for (const line of summarise(outcome)) say(line);
  process.exitCode = exitCodeOf(outcome.result);
}

/** Every backbone of a run must be built in or registered in the store. */
async function checkBackbones(cfg: AffectflowConfig, names: readonly string[]): Promise<void> {
  const store = openStore(cfg.store);
  try {
    await checkStore(store, cfg);
    await loadRegistry(store);
    for (const name of names) {
      try {
        getBackbone(name);
      } catch (err) {
        if (!(err instanceof UnknownBackboneError)) throw err;
        throw new UsageError(
          `${err.message}: pass one of those to --backbone, or register yours with \`affectflow backbones add DESCRIPTOR.json\``,
        );
      }
    }
  } finally {
    store.close();
  }
}

/**
 * The generated tiny backbones are test networks fitted to the synthetic faces: on any other
 * dataset their features mean nothing, and a newcomer should hear so before the run.
 */
function warnTinyBackbone(input: ExtractionRunInput): void {
  const tiny = input.backbones.filter((b) => getBackbone(b).source.kind === 'generated');
  if (tiny.length === 0 || existsSync(join(input.datasetPath, 'affectflow-synthetic.json'))) return;
  warn(
    `backbone ${tiny.join(', ')} is a small generated test network fitted to the synthetic sample, not an emotion model: its features and scores mean nothing on ${input.datasetPath}; for HSEmotion features run \`affectflow models pull enet_b0_8_best_vgaf\` and then \`affectflow run ${input.datasetPath} --backbone enet_b0_8_best_vgaf\` (\`affectflow backbones list\` shows the others)`,
  );
}

async function runAndReport(
  cfg: AffectflowConfig,
  input: ExtractionRunInput,
  flags: RunFlags,
): Promise<RunOutcome> {
  // The embedded frames worker reads the dataset here; external ones see their own file system.
  if (!flags.externalWorkers && !isS3Uri(input.datasetPath)) checkDataset(input.datasetPath);
  await checkBackbones(cfg, input.backbones);
  warnTinyBackbone(input);
  const outcome = await runExtraction(cfg, {
    input,
    embeddedWorkers: !flags.externalWorkers,
    watch: !!flags.watch,
    say,
  });
  reportOutcome(outcome);
  return outcome;
}

addRunFlags(
  program
    .command('run')
    .description(
      'extract frames and embeddings for a dataset (Aff-Wild2 layout), then train and evaluate the heads',
    )
    .argument('<dataset>', 'dataset root: a folder, or s3://bucket/prefix on the configured S3 endpoint'),
).action(async (dataset: string, flags: RunFlags) => {
  await runAndReport(config(), inputFrom(dataset, flags), flags);
});

addRunFlags(
  program
    .command('demo')
    .description('generate the sample dataset (once) and run the main job on it with the embedded default'),
).action(async (flags: RunFlags) => {
  const cfg = config();
  const root = join(cfg.stateDir, 'datasets', 'sample');
  const { written, videos } = await generateSyntheticDataset(root, TINY_SYNTHETIC);
  say(
    `demo: sample dataset ${root} (${videos.length} videos, ${written ? 'generated now' : 'already there'})`,
  );
  // The sample is tiny: small shards show the fan-out, the heads need more, smaller steps, and
  // its expression segments last 6-15 frames, so SPEC's 101-frame EXPR/VA windows would flatten them.
  const demoFlags: RunFlags = {
    ...flags,
    // The drawn faces fill the frame: YuNet (the default for videos) misses many of them.
    faceSource: flags.faceSource ?? 'whole-frame',
    shardFrames: 16,
    epochs: flags.epochs ?? 40,
    headBatchSize: flags.headBatchSize ?? 32,
    hidden: flags.hidden ?? 64,
    smooth: { EXPR: 2, VA: 5, AU: 1, CE: 0, ...flags.smooth },
  };
  // The VA and AU heads get the same small steps (SPEC's batches of 1,024 and 512 would be 5 steps).
  const input = {
    ...inputFrom(root, demoFlags),
    va: { epochs: 40, batchSize: 32, learningRate: 1e-2 },
    au: { epochs: 20, batchSize: 32, hidden: 64, learningRate: 3e-3 },
  };
  const outcome = await runAndReport(cfg, input, demoFlags);
  if (outcome.report?.htmlKey && outcome.reportPath && !outcome.reportPath.startsWith('s3://')) {
    const html = join(dirname(outcome.reportPath), basename(outcome.report.htmlKey));
    const png = join(cfg.stateDir, 'demo-report.png');
    try {
      await screenshot(html, png);
      say(`report: screenshot ${png}`);
    } catch (err) {
      say(`report: no screenshot of ${html}: ${(err as Error).message.split('\n')[0]}`);
    }
  }
});

program
  .command('status')
  .description(
    'show the progress or result of a run or re-evaluation (exit code as the run itself: docs/ERRORS.md)',
  )
  .argument('<run>', 'the workflow id (printed by run, backbones add, schedule describe)')
  .action((workflowId: string) => showStatus(config(), workflowId, say));

program
  .command('serve')
  .description(
    'run the embedded stack (or use TEMPORAL_ADDRESS) and one worker per pool until Ctrl-C or SIGTERM, so queued re-evaluations and schedules run',
  )
  .option('--detach', 'run in the background (pid and log files under AFFECTFLOW_HOME/serve)')
  .option('--stop', 'stop the background serve (it drains first)')
  .action(async (flags: { detach?: boolean; stop?: boolean }) => {
    const cfg = config();
    if (flags.stop) await serveStop(cfg, say);
    else if (flags.detach) await serveDetached(cfg, say);
    else await serveForeground(cfg, say);
  });

program
  .command('cancel')
  .description('cancel a run: activities stop at their next heartbeat; committed shards stay')
  .argument('<run>', "the run's workflow id")
  .action(async (workflowId: string) => {
    const cfg = config();
    const temporal = await openTemporal(cfg, say);
    try {
      await describeRun(temporal, cfg, workflowId);
      await temporal.client.workflow.getHandle(workflowId).cancel();
      say(`run ${workflowId}: cancellation requested`);
    } finally {
      await temporal.close();
    }
  });

program
  .command('resume')
  .description('start an ended run again with the same inputs; only failed or unfinished shards are redone')
  .argument('<run>', "the run's workflow id")
  .option('--external-workers', 'do not start workers in this process; pools run elsewhere')
  .option('--watch', 'draw progress bars')
  .action(async (workflowId: string, flags: { externalWorkers?: boolean; watch?: boolean }) => {
    const cfg = config();
    reportOutcome(
      await resumeExtraction(cfg, workflowId, {
        embeddedWorkers: !flags.externalWorkers,
        watch: !!flags.watch,
        say,
      }),
    );
  });

program
  .command('datasets')
  .description('datasets in object storage (docs/DATASETS.md, Datasets in S3)')
  .command('push')
  .description(
    'upload a dataset folder to s3://bucket/prefix (resumable, sha256-checked, skips what is there)',
  )
  .argument('<dir>', 'local dataset folder')
  .argument('<target>', 's3://bucket/prefix on the configured S3 endpoint')
  .action(async (dir: string, target: string) => {
    const summary = await pushDataset(dir, target, {
      store: config().store,
      say,
      progress: progressRenderer(process.stderr, 'push'),
    });
    for (const finding of summary.findings) warn(finding);
    say(pushSummaryLine(dir, target, summary));
  });

const models = program
  .command('models')
  .description("backbones' model files in this machine's cache (stateDir/models)");
models
  .command('pull')
  .description(
    "download a backbone's ONNX file (resumable), verify its sha256 and signature, add the embedding output",
  )
  .argument('<name>', 'backbone name from the registry')
  .action(async (name: string) => {
    const cfg = config();
    const store = openStore(cfg.store);
    try {
      await loadRegistry(store);
      const descriptor = getBackbone(name);
      const result = await pullBackbone(descriptor, {
        cacheDir: join(cfg.stateDir, 'models'),
        store,
        progress: progressRenderer(process.stderr, `pull ${name}`),
        log: say,
      });
      say(
        `models: ${name} ${result.cached ? 'already cached, verified' : 'pulled'}: ${result.path} (sha256 ${result.sha256}${result.surgery ? ', embedding output added' : ''})`,
      );
    } finally {
      store.close();
    }
  });

/** Flags of `backbones add` that do not change the extraction run's settings. */
/** Whether the command line gave a run setting (an option other than `others`, --watch, ...). */
function explicitRunSettings(command: Command, others: readonly string[]): boolean {
  const notSettings = new Set([...others, 'externalWorkers', 'watch']);
  return command.options.some(
    (o) => !notSettings.has(o.attributeName()) && command.getOptionValueSource(o.attributeName()) === 'cli',
  );
}

const backbones = program
  .command('backbones')
  .description('the backbone registry (built-in and registered in the store)');
backbones
  .command('list')
  .description('list the backbones every worker can use')
  .action(async () => {
    const store = openStore(config().store);
    try {
      await loadRegistry(store);
      for (const d of listBackbones()) {
        say(
          `${d.name}@${d.version}  ${d.inputSize}px  embedding ${d.embeddingDim}  scores ${d.scoresDim}  (${d.source.kind})`,
        );
      }
    } finally {
      store.close();
    }
  });
addRunFlags(
  backbones
    .command('add')
    .description(
      'register a backbone (a descriptor JSON file, or a known name) and re-evaluate datasets with it',
    )
    .argument('<descriptor>', 'descriptor JSON file, or the name of a registered backbone')
    .option(
      '--dataset <path...>',
      "datasets to re-evaluate (default: every dataset with a manifest in the store); run flags default to the dataset's latest run's",
    )
    .option('--wait', 'with `affectflow serve` or a cluster running the workers: follow to the comparison'),
).action(
  async (descriptor: string, flags: RunFlags & { dataset?: string[]; wait?: boolean }, command: Command) => {
    await addBackbone(config(), {
      descriptor,
      datasets: flags.dataset?.map((d) => resolve(d)),
      settingsFor: (dataset) => runSettings(inputFrom(dataset, flags)),
      explicitSettings: explicitRunSettings(command, ['dataset', 'wait']),
      wait: !!flags.wait,
      say,
    });
  },
);

const schedule = program
  .command('schedule')
  .description("a dataset's re-evaluation schedule (a Temporal Schedule)");
addRunFlags(
  schedule
    .command('create')
    .description('create or update the schedule that re-evaluates a dataset with the given backbones')
    .argument('<dataset>', 'dataset root')
    .option('--every <interval>', 'how often, e.g. 24h or 7d (default: only when triggered)'),
).action(async (dataset: string, flags: RunFlags & { every?: string }, command: Command) => {
  const input = inputFrom(dataset, flags);
  await createSchedule(
    config(),
    {
      settings: runSettings(input),
      explicitSettings: explicitRunSettings(command, ['every', 'backbone']),
      backbones: input.backbones,
      every: flags.every,
    },
    say,
  );
});
for (const [verb, description] of [
  ['trigger', 'start a re-evaluation now'],
  ['pause', 'pause the schedule'],
  ['unpause', 'resume the schedule'],
  ['describe', 'show the next run times, the recent actions and the last result with its comparison'],
  ['delete', 'delete the schedule'],
] as const) {
  schedule
    .command(verb)
    .description(description)
    .argument('<dataset>', 'dataset root')
    .action((dataset: string) => manageSchedule(config(), verb, dataset, say));
}

const stack = program
  .command('stack')
  .description('the local dev stack: Temporal dev server and S3 server (SeaweedFS)');
stack
  .command('start')
  .description('start both services (reused when already running)')
  .action(async () => {
    const cfg = config();
    const dev = await startDevStack({
      stateDir: cfg.stateDir,
      temporalPort: cfg.devPorts.temporal,
      temporalUiPort: cfg.devPorts.temporalUi,
      s3Port: cfg.devPorts.s3,
      ui: true,
    });
    for (const s of dev.services)
      say(`${s.name}: ${s.reused ? 'already running' : 'started'} (pid ${s.pid}, log ${s.logFile})`);
    say(`temporal: ${dev.endpoints.temporalAddress}, UI ${dev.endpoints.temporalUiUrl}`);
    say(
      `s3: ${dev.endpoints.s3Endpoint}, bucket ${dev.endpoints.s3Bucket}; dev credentials in ${join(cfg.stateDir, 's3', 'credentials.json')}`,
    );
  });
stack
  .command('stop')
  .description('stop both services')
  .action(async () => {
    await stopDevStack(config().stateDir);
    say('stack: stopped');
  });
stack
  .command('status')
  .description('show whether the services run')
  .action(() => {
    for (const s of devStackStatus(config().stateDir)) {
      say(`${s.name}: ${s.running ? `running (pid ${s.pid})` : 'stopped'}, log ${s.logFile}`);
    }
  });

program
  .command('worker')
  .description(`run one pool worker until SIGINT/SIGTERM (${WORKER_ROLES.join(', ')})`)
  .argument('<pool>', 'orchestrator | frames | embed | train')
  .option(
    '--task-queue <name>',
    "serve this task queue instead of the pool's default (e.g. a GPU pool's own queue)",
  )
  .action(async (pool: string, flags: { taskQueue?: string }) => {
    if (!WORKER_ROLES.includes(pool as WorkerRole))
      throw new UsageError(`unknown pool ${pool}: expected one of ${WORKER_ROLES.join(', ')}`);
    const { runWorkerProcess } = await import('../workers/main.ts');
    await runWorkerProcess(pool as WorkerRole, flags.taskQueue);
  });

program
  .command('config')
  .description('print the effective configuration (never credentials)')
  .action(() => say(JSON.stringify(describeConfig(config()), null, 2)));

// --verbose is taken wherever it stands, before or after the command.
const verbose = process.argv.includes('--verbose');
try {
  await program.parseAsync(process.argv.filter((arg) => arg !== '--verbose'));
} catch (err) {
  const { line, code } = explain(err);
  if (line) console.error(line);
  if (verbose && err instanceof Error && err.stack) console.error(err.stack);
  process.exit(code);
}
