/**
 * What a chaos run (test/helpers/chaos.ts) stands on and knocks over: a Temporal dev server and a
 * SeaweedFS of its own (own ports, SQLite file and data folder, so restarting or stopping them
 * hurts no other test), and external worker processes, two per pool, restarted by a supervisor
 * when they die, as a process manager would.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { closeSync, mkdirSync, openSync } from 'node:fs';
import { join } from 'node:path';
import { projectRoot } from '../../base/paths.ts';
import {
  DEV_BUCKET,
  startS3DevServer,
  startTemporalDevServer,
  type DevS3Credentials,
} from '../../infra/devstack.ts';
import { freePorts, stopService } from '../../infra/services.ts';
import type { WorkerRole } from '../../workers/pools.ts';

export interface ChaosStack {
  readonly temporalAddress: string;
  readonly s3Endpoint: string;
  readonly bucket: string;
  readonly credentials: DevS3Credentials;
  startTemporal(): Promise<void>;
  stopTemporal(): Promise<void>;
  startS3(): Promise<void>;
  stopS3(): Promise<void>;
  stop(): Promise<void>;
}

/** Starts both services under stateDir; each can be stopped and started again on the same port and data. */
export async function startChaosStack(stateDir: string): Promise<ChaosStack> {
  const [temporalPort, temporalUiPort, s3Port] = await freePorts(3);
  const options = {
    stateDir,
    temporalPort: temporalPort!,
    temporalUiPort: temporalUiPort!,
    s3Port: s3Port!,
    ui: false,
  };
  const s3 = await startS3DevServer(options);
  await startTemporalDevServer(options);
  const stopTemporal = async (): Promise<void> => {
    await stopService(join(stateDir, 'temporal'), 'temporal');
  };
  const stopS3 = async (): Promise<void> => {
    await stopService(join(stateDir, 's3'), 'seaweedfs');
  };
  return {
    temporalAddress: `127.0.0.1:${temporalPort}`,
    s3Endpoint: `http://127.0.0.1:${s3Port}`,
    bucket: DEV_BUCKET,
    credentials: s3.credentials,
    startTemporal: async () => {
      await startTemporalDevServer(options);
    },
    stopTemporal,
    startS3: async () => {
      await startS3DevServer(options);
    },
    stopS3,
    stop: async () => {
      await Promise.all([stopTemporal(), stopS3()]);
    },
  };
}

/** Pids of the ffmpeg processes whose parent is one of `parents` (and whose arguments name `file`). */
export function ffmpegChildren(parents: readonly number[], file?: string): number[] {
  if (parents.length === 0) return [];
  const ps = spawnSync('ps', ['-o', 'pid=,comm=,args=', '--ppid', parents.join(',')], { encoding: 'utf8' });
  return ps.stdout
    .split('\n')
    .map((l) => /^\s*(\d+)\s+(\S+)\s+(.*)$/.exec(l))
    .filter((m) => m !== null && m[2] === 'ffmpeg' && (file === undefined || m[3]!.includes(file)))
    .map((m) => Number(m![1]));
}

export const POOLS: readonly WorkerRole[] = ['orchestrator', 'frames', 'embed', 'train'];

interface Slot {
  readonly pool: WorkerRole;
  readonly index: number;
  child: ChildProcess;
  /** Times this slot's process was started. */
  starts: number;
}

/**
 * Worker processes (`workers/<pool>.ts` under tsx, as kill.test.ts runs them), `perPool` of each
 * pool, each on its pool's task queue; a process that exits is started again at once unless the
 * supervisor is stopping. Each process logs to logs/<pool>-<index>.<start>.log under logDir.
 */
export class WorkerSupervisor {
  private readonly slots: Slot[] = [];
  private stopping = false;

  constructor(
    private readonly env: NodeJS.ProcessEnv,
    private readonly queues: Readonly<Record<WorkerRole, string>>,
    private readonly logDir: string,
    perPool = 2,
  ) {
    mkdirSync(logDir, { recursive: true });
    for (const pool of POOLS)
      for (let index = 0; index < perPool; index++) {
        const slot = { pool, index, starts: 0 } as Slot;
        this.slots.push(slot);
        this.launch(slot);
      }
  }

  private launch(slot: Slot): void {
    slot.starts++;
    const log = openSync(join(this.logDir, `${slot.pool}-${slot.index}.${slot.starts}.log`), 'a');
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', join(projectRoot, 'workers', `${slot.pool}.ts`)],
      {
        cwd: projectRoot,
        env: { ...this.env, AFFECTFLOW_TASK_QUEUE: this.queues[slot.pool] },
        stdio: ['ignore', log, log],
      },
    );
    closeSync(log);
    slot.child = child;
    child.once('exit', () => {
      if (!this.stopping) this.launch(slot);
    });
  }

  /** Live processes of a pool (started, not yet exited). */
  pids(pool: WorkerRole): number[] {
    return this.slots
      .filter((s) => s.pool === pool && s.child.exitCode === null && s.child.signalCode === null)
      .map((s) => s.child.pid!)
      .filter((pid) => pid !== undefined);
  }

  /** Processes started after a death, over all pools. */
  restarts(): number {
    return this.slots.reduce((n, s) => n + s.starts - 1, 0);
  }

  /** ffmpeg processes the frames workers run now. */
  ffmpegPids(): number[] {
    return ffmpegChildren(this.pids('frames'));
  }

  /** Ends every worker process at once (SIGKILL; the run is over) and waits for them. */
  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      this.slots.map(async (s) => {
        if (s.child.exitCode !== null || s.child.signalCode !== null) return;
        const exited = new Promise((resolve) => s.child.once('exit', resolve));
        s.child.kill('SIGCONT');
        s.child.kill('SIGKILL');
        await exited;
      }),
    );
  }
}
