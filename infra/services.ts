/**
 * Long-running local services (the Temporal dev server, the S3 server) as detached processes
 * with a pid file, a log file and a readiness probe. The same code serves the persistent
 * embedded stack (`affectflow stack start`) and the throwaway instances that tests start.
 */
import { spawn } from 'node:child_process';
import {
  chmodSync,
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { createServer, type Server } from 'node:net';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { listensOn, portInUse } from './listeners.ts';

export interface ServiceSpec {
  readonly name: string;
  readonly command: string;
  readonly args: readonly string[];
  /** Holds `<name>.pid` and `<name>.log`. */
  readonly runDir: string;
  /** Resolves true once the service answers its clients. */
  readonly ready: () => Promise<boolean>;
  readonly readyTimeoutMs: number;
  /**
   * Ports clients reach the service on. A probe can be answered by another process that took a
   * port chosen free, so (where /proc tells) a started process counts as ready, and a running
   * one is reused, only when that process itself listens on each of them.
   */
  readonly ports?: readonly number[];
  /** Ports chosen for this start only (a server's internal ones): checked on a start, not on reuse. */
  readonly internalPorts?: readonly number[];
  /** The service's whole environment; default this process's. */
  readonly env?: NodeJS.ProcessEnv;
}

export interface ServiceState {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** True when an already running instance was found and reused. */
  readonly reused: boolean;
}

export class ServiceError extends Error {
  constructor(
    readonly service: string,
    message: string,
  ) {
    super(`service ${service}: ${message}`);
    this.name = 'ServiceError';
  }
}

/** Another process listens on a port the service was started on (it answered for the service). */
export class PortTakenError extends ServiceError {
  constructor(
    service: string,
    readonly port: number,
    logFile: string,
  ) {
    super(
      service,
      `another process listens on 127.0.0.1:${port}, the port it was started on; log ${logFile}`,
    );
    this.name = 'PortTakenError';
  }
}

interface PidFile {
  pid: number;
  command: string;
  args: readonly string[];
  startedAt: string;
}

const pidPath = (spec: Pick<ServiceSpec, 'runDir' | 'name'>): string => join(spec.runDir, `${spec.name}.pid`);
export const logPath = (runDir: string, name: string): string => join(runDir, `${name}.log`);

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function readPid(runDir: string, name: string): PidFile | undefined {
  const path = pidPath({ runDir, name });
  if (!existsSync(path)) return undefined;
  try {
    return JSON.parse(readFileSync(path, 'utf8')) as PidFile;
  } catch {
    return undefined;
  }
}

function tail(path: string, lines = 15): string {
  if (!existsSync(path)) return '(no log)';
  return readFileSync(path, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
}

/** The first of `ports` that process `pid` does not listen on, if any. */
function portNotHeld(ports: readonly number[] | undefined, pid: number): number | undefined {
  return (ports ?? []).find((port) => listensOn(pid, port) === false);
}

/** Starts the service unless a live, ready instance already runs from the same run directory. */
export async function startService(spec: ServiceSpec): Promise<ServiceState> {
  // Logs and pid files are the owner's: a service may log identities or paths of its data.
  mkdirSync(spec.runDir, { recursive: true, mode: 0o700 });
  chmodSync(spec.runDir, 0o700);
  const logFile = logPath(spec.runDir, spec.name);
  const existing = readPid(spec.runDir, spec.name);
  if (existing && isAlive(existing.pid)) {
    if ((await spec.ready().catch(() => false)) && portNotHeld(spec.ports, existing.pid) === undefined) {
      return { name: spec.name, pid: existing.pid, logFile, reused: true };
    }
    await stopService(spec.runDir, spec.name);
  }
  const out = openSync(logFile, 'a', 0o600);
  chmodSync(logFile, 0o600);
  const child = spawn(spec.command, [...spec.args], {
    detached: true,
    stdio: ['ignore', out, out],
    env: spec.env ?? process.env,
  });
  closeSync(out);
  const pid = child.pid;
  if (pid === undefined) throw new ServiceError(spec.name, `could not spawn ${spec.command}`);
  let exited: number | null | undefined;
  child.once('exit', (code) => {
    exited = code;
  });
  child.once('error', () => {
    exited = -1;
  });
  child.unref();
  const record: PidFile = {
    pid,
    command: spec.command,
    args: spec.args,
    startedAt: new Date().toISOString(),
  };
  writeFileSync(pidPath(spec), JSON.stringify(record), { mode: 0o600 });
  const deadline = Date.now() + spec.readyTimeoutMs;
  while (Date.now() < deadline) {
    if (exited !== undefined) {
      rmSync(pidPath(spec), { force: true });
      const taken = (spec.ports ?? []).find((port) => portInUse(port) === true);
      if (taken !== undefined) throw new PortTakenError(spec.name, taken, logFile);
      throw new ServiceError(
        spec.name,
        `exited with code ${exited} before it was ready; log ${logFile}:\n${tail(logFile)}`,
      );
    }
    if (await spec.ready().catch(() => false)) {
      const port = portNotHeld([...(spec.ports ?? []), ...(spec.internalPorts ?? [])], pid);
      if (port === undefined) return { name: spec.name, pid, logFile, reused: false };
      await stopService(spec.runDir, spec.name);
      if (portInUse(port) === true) throw new PortTakenError(spec.name, port, logFile);
      throw new ServiceError(
        spec.name,
        `answered, then its process (pid ${pid}) did not listen on 127.0.0.1:${port}; log ${logFile}:\n${tail(logFile)}`,
      );
    }
    await sleep(250);
  }
  await stopService(spec.runDir, spec.name);
  throw new ServiceError(
    spec.name,
    `not ready after ${spec.readyTimeoutMs} ms; log ${logFile}:\n${tail(logFile)}`,
  );
}

/** Stops the service's whole process group: SIGTERM, then SIGKILL after the grace period. */
export async function stopService(runDir: string, name: string, graceMs = 10_000): Promise<boolean> {
  const record = readPid(runDir, name);
  if (!record) return false;
  const signalGroup = (signal: NodeJS.Signals): void => {
    try {
      process.kill(-record.pid, signal);
    } catch {
      try {
        process.kill(record.pid, signal);
      } catch {
        // already gone
      }
    }
  };
  const wasAlive = isAlive(record.pid);
  if (wasAlive) {
    signalGroup('SIGTERM');
    const deadline = Date.now() + graceMs;
    while (isAlive(record.pid) && Date.now() < deadline) await sleep(100);
    if (isAlive(record.pid)) signalGroup('SIGKILL');
    while (isAlive(record.pid)) await sleep(50);
  }
  rmSync(pidPath({ runDir, name }), { force: true });
  return wasAlive;
}

export interface ServiceStatus {
  readonly name: string;
  readonly running: boolean;
  readonly pid: number | undefined;
  readonly logFile: string;
}

export function serviceStatus(runDir: string, name: string): ServiceStatus {
  const record = readPid(runDir, name);
  return {
    name,
    running: record !== undefined && isAlive(record.pid),
    pid: record?.pid,
    logFile: logPath(runDir, name),
  };
}

/** Distinct free ports; each is held until all are chosen so none is handed out twice. */
export async function freePorts(count: number): Promise<number[]> {
  const servers = await Promise.all(
    Array.from(
      { length: count },
      () =>
        new Promise<Server>((resolve, reject) => {
          const server = createServer();
          server.once('error', reject);
          server.listen(0, '127.0.0.1', () => resolve(server));
        }),
    ),
  );
  const ports = servers.map((s) => {
    const address = s.address();
    if (!address || typeof address !== 'object') throw new Error('no port');
    return address.port;
  });
  await Promise.all(servers.map((s) => new Promise((resolve) => s.close(resolve))));
  return ports;
}
