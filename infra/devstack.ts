/**
 * The local development stack: a real Temporal CLI dev server (SQLite file, UI) and a real
 * S3-compatible server (SeaweedFS), both from the project-local Python environment, on loopback.
 */
import { randomUUID } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { ensureBucket, S3Store, s3Client } from '../storage/objectStore.ts';
import { venvBin } from '../base/paths.ts';
import {
  freePorts,
  PortTakenError,
  ServiceError,
  serviceStatus,
  startService,
  stopService,
  type ServiceState,
  type ServiceStatus,
} from './services.ts';

export interface DevStackOptions {
  /** Holds temporal/ (SQLite file, log) and s3/ (data, identities, log). */
  readonly stateDir: string;
  readonly temporalPort: number;
  readonly temporalUiPort: number;
  readonly s3Port: number;
  /** Tests run headless; the persistent stack serves the Temporal UI. */
  readonly ui: boolean;
  /** In-memory Temporal (tests) instead of the persistent SQLite file. */
  readonly ephemeral?: boolean;
}

/** Credentials of the local S3 dev server only; production uses the standard AWS chain. */
export interface DevS3Credentials {
  readonly accessKeyId: string;
  readonly secretAccessKey: string;
}

export interface DevStackEndpoints {
  readonly temporalAddress: string;
  readonly temporalUiUrl: string | undefined;
  readonly s3Endpoint: string;
  readonly s3Bucket: string;
  readonly s3Credentials: DevS3Credentials;
}

export const DEV_BUCKET = 'affectflow';

const temporalDir = (stateDir: string): string => join(stateDir, 'temporal');
const s3Dir = (stateDir: string): string => join(stateDir, 's3');

export async function temporalReady(address: string): Promise<boolean> {
  const connection = await Connection.connect({ address, connectTimeout: 1_000 });
  try {
    const response = await connection.healthService.check({});
    return response.status === proto.grpc.health.v1.HealthCheckResponse.ServingStatus.SERVING;
  } finally {
    await connection.close();
  }
}

export async function startTemporalDevServer(opts: DevStackOptions): Promise<ServiceState> {
  const runDir = temporalDir(opts.stateDir);
  mkdirSync(runDir, { recursive: true });
  const [httpPort, metricsPort] = await freePorts(2);
  const address = `127.0.0.1:${opts.temporalPort}`;
  const args = [
    'server',
    'start-dev',
    '--ip',
    '127.0.0.1',
    '--port',
    String(opts.temporalPort),
    '--http-port',
    String(httpPort),
    '--metrics-port',
    String(metricsPort),
    '--namespace',
    'default',
    '--log-level',
    'warn',
  ];
  if (!opts.ephemeral) args.push('--db-filename', join(runDir, 'temporal.sqlite'));
  if (opts.ui)
    args.push('--ui-port', String(opts.temporalUiPort), '--ui-ip', '127.0.0.1', '--ui-disable-news-fetch');
  else args.push('--headless');
  return startService({
    name: 'temporal',
    command: venvBin('temporal'),
    args,
    runDir,
    ready: () => temporalReady(address),
    readyTimeoutMs: 60_000,
    ports: [opts.temporalPort],
    env: serviceEnv(),
  });
}

/**
 * This environment without AWS credentials. SeaweedFS makes AWS_ACCESS_KEY_ID and
 * AWS_SECRET_ACCESS_KEY in its environment an admin identity (and logs the key id), so a stack
 * started from a shell holding someone's real keys must not pass them on.
 */
export function serviceEnv(env: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  return Object.fromEntries(Object.entries(env).filter(([name]) => !/^AWS_/.test(name)));
}

/** Creates (or re-locks) a file only its owner may read: credentials, identities. */
function writePrivate(path: string, text: string): void {
  writeFileSync(path, text, { mode: 0o600 });
  chmodSync(path, 0o600);
}

function devCredentials(runDir: string): DevS3Credentials {
  const path = join(runDir, 'credentials.json');
  if (existsSync(path)) {
    chmodSync(path, 0o600);
    return JSON.parse(readFileSync(path, 'utf8')) as DevS3Credentials;
  }
  // Dev-only keys, made per state directory; they never leave this machine.
  const random = (n: number): string =>
    Array.from({ length: n }, () => Math.floor(Math.random() * 36).toString(36)).join('');
  const credentials = { accessKeyId: `af${random(14)}`, secretAccessKey: random(32) };
  writePrivate(path, JSON.stringify(credentials));
  return credentials;
}

export async function startS3DevServer(
  opts: DevStackOptions,
): Promise<ServiceState & { credentials: DevS3Credentials }> {
  const runDir = s3Dir(opts.stateDir);
  const dataDir = join(runDir, 'data');
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  chmodSync(runDir, 0o700);
  const credentials = devCredentials(runDir);
  const identities = join(runDir, 'identities.json');
  writePrivate(
    identities,
    JSON.stringify({
      identities: [
        {
          name: 'affectflow',
          credentials: [{ accessKey: credentials.accessKeyId, secretKey: credentials.secretAccessKey }],
          actions: ['Admin', 'Read', 'Write', 'List', 'Tagging'],
        },
      ],
    }),
  );
  const endpoint = `http://127.0.0.1:${opts.s3Port}`;
  const client = s3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  // Ready when an object round-trips: a write needs the volume server as well as the filer, and
  // the gateway answers bucket requests before the volume server has started (or failed to).
  const probe = new S3Store(client, DEV_BUCKET, '.affectflow-ready');
  const ready = async (): Promise<boolean> => {
    if (!(await ensureBucket(client, DEV_BUCKET))) return false;
    const key = randomUUID(); // its own key: other processes may probe the same server
    await probe.put(key, key);
    const back = new TextDecoder().decode(await probe.get(key));
    await probe.delete(key);
    return back === key;
  };
  // The internal ports are picked free just before the start; another process can take one in
  // between (a panic on bind), so a failed start is retried with fresh ports.
  const attempt = async (): Promise<ServiceState> => {
    const [master, masterGrpc, volume, volumeGrpc, filer, filerGrpc, s3Grpc] = await freePorts(7);
    return startService({
      name: 'seaweedfs',
      command: venvBin('weed'),
      args: [
        'server',
        `-dir=${dataDir}`,
        '-ip=127.0.0.1',
        '-ip.bind=127.0.0.1',
        `-master.port=${master}`,
        `-master.port.grpc=${masterGrpc}`,
        '-master.volumeSizeLimitMB=256',
        `-volume.port=${volume}`,
        `-volume.port.grpc=${volumeGrpc}`,
        '-volume.max=0',
        '-filer',
        `-filer.port=${filer}`,
        `-filer.port.grpc=${filerGrpc}`,
        '-s3',
        `-s3.port=${opts.s3Port}`,
        `-s3.port.grpc=${s3Grpc}`,
        '-s3.port.iceberg=0',
        '-s3.port.lance=0',
        `-s3.config=${identities}`,
      ],
      env: serviceEnv(),
      runDir,
      ready,
      readyTimeoutMs: 60_000,
      ports: [opts.s3Port],
      internalPorts: [master!, volume!, filer!],
    });
  };
  try {
    for (let tries = 1; ; tries++) {
      try {
        return { ...(await attempt()), credentials };
      } catch (err) {
        // Fresh internal ports can help; the client port someone else holds cannot.
        const clientPortTaken = err instanceof PortTakenError && err.port === opts.s3Port;
        if (!(err instanceof ServiceError) || clientPortTaken || tries >= 3) throw err;
      }
    }
  } finally {
    client.destroy();
  }
}

export interface DevStack {
  readonly endpoints: DevStackEndpoints;
  readonly services: readonly ServiceState[];
  /** Stops what this call started (not instances it merely reused). */
  stop(): Promise<void>;
}

export async function startDevStack(opts: DevStackOptions): Promise<DevStack> {
  // One after the other: the Temporal dev server binds internal ports of its own choosing, which
  // must not race with the S3 server's.
  const s3 = await startS3DevServer(opts);
  const temporal = await startTemporalDevServer(opts);
  return {
    endpoints: {
      temporalAddress: `127.0.0.1:${opts.temporalPort}`,
      temporalUiUrl: opts.ui ? `http://127.0.0.1:${opts.temporalUiPort}` : undefined,
      s3Endpoint: `http://127.0.0.1:${opts.s3Port}`,
      s3Bucket: DEV_BUCKET,
      s3Credentials: s3.credentials,
    },
    services: [temporal, s3],
    async stop() {
      await Promise.all([
        temporal.reused ? undefined : stopService(temporalDir(opts.stateDir), 'temporal'),
        s3.reused ? undefined : stopService(s3Dir(opts.stateDir), 'seaweedfs'),
      ]);
    },
  };
}

export async function stopDevStack(stateDir: string): Promise<void> {
  await Promise.all([
    stopService(temporalDir(stateDir), 'temporal'),
    stopService(s3Dir(stateDir), 'seaweedfs'),
  ]);
}

export function devStackStatus(stateDir: string): ServiceStatus[] {
  return [serviceStatus(temporalDir(stateDir), 'temporal'), serviceStatus(s3Dir(stateDir), 'seaweedfs')];
}

/**
 * Runs fn against a fresh in-memory, headless Temporal dev server on free ports, and stops the
 * server afterwards whatever fn does (benchmarks, history recording).
 */
export async function withThrowawayTemporal<T>(fn: (address: string) => Promise<T>): Promise<T> {
  const stateDir = mkdtempSync(join(tmpdir(), 'affectflow-temporal-'));
  try {
    const [port, uiPort, s3Port] = await freePorts(3);
    await startTemporalDevServer({
      stateDir,
      temporalPort: port!,
      temporalUiPort: uiPort!,
      s3Port: s3Port!,
      ui: false,
      ephemeral: true,
    });
    return await fn(`127.0.0.1:${port}`);
  } finally {
    await stopService(temporalDir(stateDir), 'temporal');
    rmSync(stateDir, { recursive: true, force: true });
  }
}
