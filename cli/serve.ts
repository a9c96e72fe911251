/**
 * `affectflow serve`: the embedded stack (or TEMPORAL_ADDRESS) with one worker per pool kept up in
 * the foreground, so queued re-evaluations and schedules run; a line per finished workflow; it
 * drains on SIGINT/SIGTERM. `--detach` runs the same command in the background with pid and log
 * files under AFFECTFLOW_HOME/serve; `--stop` ends it.
 */
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { AffectflowConfig } from '../config/index.ts';
import { logPath, serviceStatus, startService, stopService } from '../infra/services.ts';
import { openStore } from '../storage/objectStore.ts';
import { openTemporal, startEmbeddedWorkers } from './embedded.ts';
import { checkStore } from './preflight.ts';
import { runScope } from './runIdentity.ts';

const SERVICE = 'serve';
/** Workflows whose ends `serve` reports (partitions are parts of runs). */
const REPORTED_TYPES = new Set(['extractionRun', 'reevaluateDataset']);

const serveDir = (config: Pick<AffectflowConfig, 'stateDir'>): string => join(config.stateDir, SERVICE);
const readyFile = (config: Pick<AffectflowConfig, 'stateDir'>): string =>
  join(serveDir(config), 'serve.ready');

/** The background `serve` of this AFFECTFLOW_HOME, when one runs. */
export function runningServe(config: Pick<AffectflowConfig, 'stateDir'>): { pid: number } | undefined {
  const status = serviceStatus(serveDir(config), SERVICE);
  return status.running && status.pid !== undefined ? { pid: status.pid } : undefined;
}

/** Runs the workers in this process until SIGINT or SIGTERM, then drains them. */
export async function serveForeground(config: AffectflowConfig, say: (line: string) => void): Promise<void> {
  const store = openStore(config.store);
  await checkStore(store, config);
  const temporal = await openTemporal(config, say);
  const workers = await startEmbeddedWorkers(config, temporal.address, store, say);
  const queue = runScope(config).queues.orchestrator;
  const stopping = new Promise<NodeJS.Signals>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  const since = new Date();
  const seen = new Set<string>();
  const reportFinished = async (): Promise<void> => {
    const query = `TaskQueue = '${queue}' AND CloseTime >= '${since.toISOString()}'`;
    for await (const w of temporal.client.workflow.list({ query })) {
      const key = `${w.workflowId}/${w.runId}`;
      if (seen.has(key) || !REPORTED_TYPES.has(w.type)) continue;
      seen.add(key);
      say(
        `serve: ${w.type} ${w.workflowId} ${w.status.name} at ${w.closeTime?.toISOString() ?? '?'}; details: \`affectflow status ${w.workflowId}\``,
      );
    }
  };
  let polling = Promise.resolve();
  const timer = setInterval(() => {
    polling = polling.then(reportFinished).catch(() => {
      // Visibility lags or the server restarts: the next poll catches up.
    });
  }, 2_000);
  mkdirSync(serveDir(config), { recursive: true, mode: 0o700 });
  writeFileSync(readyFile(config), `${process.pid}\n`);
  say(
    `serve: workers of every pool polling ${queue} (and its pools' queues) on ${temporal.address}, store ${store.uri}; Ctrl-C or SIGTERM drains and stops`,
  );
  try {
    const signal = await stopping;
    say(`serve: ${signal}: draining the tasks in flight`);
  } finally {
    clearInterval(timer);
    await polling;
    rmSync(readyFile(config), { force: true });
    await workers.stop();
    await temporal.close();
    store.close();
    say('serve: stopped');
  }
}

/** Starts `affectflow serve` in the background (or finds it running) and says where its files are. */
export async function serveDetached(config: AffectflowConfig, say: (line: string) => void): Promise<void> {
  rmSync(readyFile(config), { force: true });
  const dir = serveDir(config);
  const state = await startService({
    name: SERVICE,
    command: process.execPath,
    args: [...process.execArgv, process.argv[1]!, SERVICE],
    runDir: dir,
    ready: () => Promise.resolve(existsSync(readyFile(config))),
    // Starting the dev server and bundling the workflow code take a while on a busy machine.
    readyTimeoutMs: 300_000,
  });
  say(
    `serve: ${state.reused ? 'already running' : 'started'} in the background (pid ${state.pid}, pid file ${join(dir, `${SERVICE}.pid`)}, log ${state.logFile}); stop it with \`affectflow serve --stop\``,
  );
}

/** Ends the background `serve`: SIGTERM (it drains), SIGKILL after two minutes. */
export async function serveStop(config: AffectflowConfig, say: (line: string) => void): Promise<void> {
  const dir = serveDir(config);
  const running = runningServe(config);
  await stopService(dir, SERVICE, 120_000);
  rmSync(readyFile(config), { force: true });
  say(
    running
      ? `serve: stopped (pid ${running.pid}); log ${logPath(dir, SERVICE)}`
      : `serve: not running (no live pid in ${join(dir, `${SERVICE}.pid`)})`,
  );
}
