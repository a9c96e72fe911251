/**
 * The one typed configuration of affectflow, read from environment variables and an optional
 * JSON config file (AFFECTFLOW_CONFIG, or ./affectflow.config.json when present).
 * Environment variables win over the file. Credentials are never part of it: S3 access uses the
 * standard AWS credential chain, so nothing secret is printed or put into a workflow input.
 */
import { existsSync, readFileSync } from 'node:fs';
import { isAbsolute, join, resolve } from 'node:path';
import { DEFAULT_RETRY_BUDGET_SECONDS } from '../base/backoff.ts';
import { canonicalHash } from '../base/canonicalJson.ts';
import { projectRoot } from '../base/paths.ts';

export interface StoreConfig {
  /** `file:///abs/dir`, a plain directory path, or `s3://bucket/prefix`. */
  readonly uri: string;
  /** S3 endpoint for S3-compatible servers; undefined means AWS itself. */
  readonly s3Endpoint: string | undefined;
  readonly s3Region: string;
  /** Path-style addressing (http://host/bucket/key), which most self-hosted servers need. */
  readonly s3ForcePathStyle: boolean;
}

export interface PoolConcurrency {
  readonly frames: number;
  readonly embed: number;
  readonly train: number;
}

export interface EmbedRuntimeConfig {
  /**
   * Embedder threads, each decoding, preprocessing and inferring with its own sessions; 'auto' =
   * one per core on the CPU provider, up to 4 on CUDA (models/embedder.ts).
   */
  readonly threads: number | 'auto';
  /** Threads inside one operator of each session; 0 = the cores divided among the embedder threads. */
  readonly intraOpThreads: number;
  /** Threads running independent operators in parallel. */
  readonly interOpThreads: number;
  /**
   * Most crops per ONNX Runtime run; an activity batch is run in pieces this size. 'auto' = 2 on
   * the CPU provider (faster per image than one large run), the whole batch on CUDA.
   */
  readonly runBatch: number | 'auto';
}

export interface AffectflowConfig {
  /** host:port of a Temporal frontend; undefined selects the embedded local dev server. */
  readonly temporalAddress: string | undefined;
  readonly temporalNamespace: string;
  readonly store: StoreConfig;
  readonly concurrency: PoolConcurrency;
  /** ONNX Runtime execution provider of the embed and train pools; 'cuda' falls back to the CPU with a log line. */
  readonly executionProvider: 'cpu' | 'cuda';
  /** The embed pool's embedder: its threads, their ONNX Runtime sessions' threads, and run size. */
  readonly embedRuntime: EmbedRuntimeConfig;
  /** Where the embedded stack keeps its SQLite file, logs, sample data and local store. */
  readonly stateDir: string;
  /** Ports of the embedded dev stack (loopback only). */
  readonly devPorts: { readonly temporal: number; readonly temporalUi: number; readonly s3: number };
  /** How long outages are outlasted (docs/FAULTS.md). */
  readonly faults: FaultTolerance;
}

export interface FaultTolerance {
  /**
   * Seconds of retrying (capped exponential backoff) a shard or training activity gets before it
   * is recorded as failed, and the longest the CLI keeps reconnecting to a lost Temporal: an
   * object-store or Temporal outage shorter than this fails nothing. Permanent input errors fail
   * at once whatever it is.
   */
  readonly retryBudgetSeconds: number;
  /** Seconds a worker told to stop (SIGINT/SIGTERM) lets in-flight activities finish before cancelling them. */
  readonly shutdownGraceSeconds: number;
}

export class ConfigError extends Error {
  constructor(
    readonly key: string,
    readonly expected: string,
    readonly got: unknown,
    readonly source: string,
  ) {
    super(`config ${key} (from ${source}): expected ${expected}, got ${JSON.stringify(got)}`);
    this.name = 'ConfigError';
  }
}

/** Every setting: its environment variable, its config file key and how to parse it. */
const KEYS = {
  temporalAddress: { env: 'TEMPORAL_ADDRESS', file: 'temporal.address' },
  temporalNamespace: { env: 'TEMPORAL_NAMESPACE', file: 'temporal.namespace' },
  storeUri: { env: 'AFFECTFLOW_STORE', file: 'store.uri' },
  s3Endpoint: { env: 'AFFECTFLOW_S3_ENDPOINT', file: 'store.s3.endpoint' },
  s3Region: { env: 'AWS_REGION', file: 'store.s3.region' },
  s3ForcePathStyle: { env: 'AFFECTFLOW_S3_PATH_STYLE', file: 'store.s3.forcePathStyle' },
  framesConcurrency: { env: 'AFFECTFLOW_FRAMES_CONCURRENCY', file: 'workers.frames.concurrency' },
  embedConcurrency: { env: 'AFFECTFLOW_EMBED_CONCURRENCY', file: 'workers.embed.concurrency' },
  trainConcurrency: { env: 'AFFECTFLOW_TRAIN_CONCURRENCY', file: 'workers.train.concurrency' },
  stateDir: { env: 'AFFECTFLOW_HOME', file: 'stateDir' },
  executionProvider: { env: 'AFFECTFLOW_EXECUTION_PROVIDER', file: 'workers.executionProvider' },
  intraOpThreads: { env: 'AFFECTFLOW_INTRA_OP_THREADS', file: 'workers.embed.intraOpThreads' },
  interOpThreads: { env: 'AFFECTFLOW_INTER_OP_THREADS', file: 'workers.embed.interOpThreads' },
  embedThreads: { env: 'AFFECTFLOW_EMBED_THREADS', file: 'workers.embed.threads' },
  runBatch: { env: 'AFFECTFLOW_RUN_BATCH', file: 'workers.embed.runBatch' },
  temporalPort: { env: 'AFFECTFLOW_TEMPORAL_PORT', file: 'dev.temporalPort' },
  temporalUiPort: { env: 'AFFECTFLOW_TEMPORAL_UI_PORT', file: 'dev.temporalUiPort' },
  s3Port: { env: 'AFFECTFLOW_S3_PORT', file: 'dev.s3Port' },
  retryBudgetSeconds: { env: 'AFFECTFLOW_RETRY_BUDGET_SECONDS', file: 'faults.retryBudgetSeconds' },
  shutdownGraceSeconds: { env: 'AFFECTFLOW_SHUTDOWN_GRACE_SECONDS', file: 'faults.shutdownGraceSeconds' },
} as const;

type Key = keyof typeof KEYS;
type Raw = { value: unknown; source: string } | undefined;

function lookupFile(file: Record<string, unknown>, dotted: string): unknown {
  let node: unknown = file;
  for (const part of dotted.split('.')) {
    if (node === null || typeof node !== 'object') return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return node;
}

function readConfigFile(
  env: NodeJS.ProcessEnv,
  cwd: string,
): { data: Record<string, unknown>; path: string } {
  const explicit = env['AFFECTFLOW_CONFIG'];
  const path = explicit ? resolve(cwd, explicit) : join(cwd, 'affectflow.config.json');
  if (!existsSync(path)) {
    if (explicit)
      throw new ConfigError('AFFECTFLOW_CONFIG', 'an existing JSON file', explicit, 'environment');
    return { data: {}, path };
  }
  let data: unknown;
  try {
    data = JSON.parse(readFileSync(path, 'utf8'));
  } catch (err) {
    throw new ConfigError('(file)', 'valid JSON', (err as Error).message, path);
  }
  if (data === null || typeof data !== 'object' || Array.isArray(data)) {
    throw new ConfigError('(file)', 'a JSON object', data, path);
  }
  return { data: data as Record<string, unknown>, path };
}

/** Reads and validates the configuration; throws ConfigError naming the bad key. */
export function loadConfig(
  env: NodeJS.ProcessEnv = process.env,
  cwd: string = process.cwd(),
): AffectflowConfig {
  const file = readConfigFile(env, cwd);
  const raw = (key: Key): Raw => {
    const spec = KEYS[key];
    const fromEnv = env[spec.env];
    if (fromEnv !== undefined && fromEnv !== '') return { value: fromEnv, source: `environment ${spec.env}` };
    const fromFile = lookupFile(file.data, spec.file);
    if (fromFile !== undefined) return { value: fromFile, source: `${file.path} ${spec.file}` };
    return undefined;
  };
  const str = (key: Key, fallback: string | undefined): string | undefined => {
    const r = raw(key);
    if (r === undefined) return fallback;
    if (typeof r.value !== 'string' || r.value.trim() === '') {
      throw new ConfigError(KEYS[key].env, 'a non-empty string', r.value, r.source);
    }
    return r.value.trim();
  };
  const int = (key: Key, fallback: number, min: number, max: number): number => {
    const r = raw(key);
    if (r === undefined) return fallback;
    const n = typeof r.value === 'number' ? r.value : Number(r.value);
    if (!Number.isInteger(n) || n < min || n > max) {
      throw new ConfigError(KEYS[key].env, `an integer in ${min}..${max}`, r.value, r.source);
    }
    return n;
  };
  /** An integer, or 'auto' (also when unset) for a default that depends on the machine. */
  const intOrAuto = (key: Key, min: number, max: number): number | 'auto' =>
    [undefined, 'auto'].includes(raw(key)?.value as string) ? 'auto' : int(key, min, min, max);
  const bool = (key: Key, fallback: boolean): boolean => {
    const r = raw(key);
    if (r === undefined) return fallback;
    if (typeof r.value === 'boolean') return r.value;
    if (r.value === 'true' || r.value === '1') return true;
    if (r.value === 'false' || r.value === '0') return false;
    throw new ConfigError(KEYS[key].env, 'true or false', r.value, r.source);
  };

  const provider = (): 'cpu' | 'cuda' => {
    const value = str('executionProvider', 'cpu');
    if (value !== 'cpu' && value !== 'cuda') {
      throw new ConfigError(
        KEYS.executionProvider.env,
        '"cpu" or "cuda"',
        value,
        raw('executionProvider')!.source,
      );
    }
    return value;
  };
  const stateDir = resolve(cwd, str('stateDir', join(projectRoot, '.affectflow'))!);
  const temporalAddress = str('temporalAddress', undefined);
  if (temporalAddress !== undefined && !/^[^\s:/]+:\d{1,5}$/.test(temporalAddress)) {
    throw new ConfigError(
      KEYS.temporalAddress.env,
      'host:port',
      temporalAddress,
      raw('temporalAddress')!.source,
    );
  }
  const storeUri = str('storeUri', join(stateDir, 'store'))!;
  validateStoreUri(storeUri, raw('storeUri')?.source ?? 'default');
  const s3Endpoint = str('s3Endpoint', undefined);
  if (s3Endpoint !== undefined && !/^https?:\/\/[^\s]+$/.test(s3Endpoint)) {
    throw new ConfigError(KEYS.s3Endpoint.env, 'an http(s):// URL', s3Endpoint, raw('s3Endpoint')!.source);
  }
  return {
    temporalAddress,
    temporalNamespace: str('temporalNamespace', 'default')!,
    store: {
      uri: storeUri,
      s3Endpoint,
      s3Region: str('s3Region', 'us-east-1')!,
      s3ForcePathStyle: bool('s3ForcePathStyle', s3Endpoint !== undefined),
    },
    concurrency: {
      frames: int('framesConcurrency', 2, 1, 256),
      // Two: the embedder's threads are shared, so one activity keeps them busy while another
      // reads its frames shard or writes its embeddings (docs/MODELS.md).
      embed: int('embedConcurrency', 2, 1, 256),
      train: int('trainConcurrency', 1, 1, 64),
    },
    executionProvider: provider(),
    embedRuntime: {
      threads: intOrAuto('embedThreads', 0, 256),
      intraOpThreads: int('intraOpThreads', 0, 0, 1024),
      interOpThreads: int('interOpThreads', 1, 1, 1024),
      runBatch: intOrAuto('runBatch', 0, 4096),
    },
    stateDir,
    devPorts: {
      temporal: int('temporalPort', 7233, 1, 65535),
      temporalUi: int('temporalUiPort', 8233, 1, 65535),
      s3: int('s3Port', 8333, 1, 65535),
    },
    faults: {
      retryBudgetSeconds: int('retryBudgetSeconds', DEFAULT_RETRY_BUDGET_SECONDS, 0, 7 * 24 * 3600),
      shutdownGraceSeconds: int('shutdownGraceSeconds', 60, 0, 24 * 3600),
    },
  };
}

function validateStoreUri(uri: string, source: string): void {
  if (uri.startsWith('s3://')) {
    if (!/^s3:\/\/[a-z0-9][a-z0-9.-]{1,61}[a-z0-9](\/.*)?$/.test(uri)) {
      throw new ConfigError(KEYS.storeUri.env, 's3://bucket[/prefix] with a valid bucket name', uri, source);
    }
    return;
  }
  const path = uri.startsWith('file://') ? uri.slice('file://'.length) : uri;
  if (!isAbsolute(path)) {
    throw new ConfigError(
      KEYS.storeUri.env,
      'an absolute directory path, file:///dir or s3://bucket/prefix',
      uri,
      source,
    );
  }
}

/** Which store a configuration names, whatever the spelling: what run ids and task queue names derive from. */
export interface StoreIdentity {
  /**
   * `file:///abs/dir` (resolved, no trailing slash) or `s3://bucket/prefix` (prefix without
   * leading, trailing or doubled slashes), followed for an S3-compatible server by
   * `@<endpoint origin and path>` (two servers may hold buckets of the same name).
   */
  readonly uri: string;
  /** 12 hex digits of a sha256 of uri: the suffix of this store's task queue names. */
  readonly tag: string;
}

export function storeIdentity(store: StoreConfig): StoreIdentity {
  let uri: string;
  if (store.uri.startsWith('s3://')) {
    const [bucket = '', ...prefix] = store.uri.slice('s3://'.length).split('/');
    uri = `s3://${bucket}/${prefix.filter((part) => part !== '').join('/')}`;
    if (store.s3Endpoint !== undefined) {
      const endpoint = new URL(store.s3Endpoint);
      uri += `@${endpoint.origin}${endpoint.pathname.replace(/\/+$/, '')}`;
    }
  } else {
    uri = `file://${resolve(store.uri.startsWith('file://') ? store.uri.slice('file://'.length) : store.uri)}`;
  }
  return { uri, tag: canonicalHash(uri, 12) };
}

/** A printable summary: no credentials, which the AWS chain supplies and affectflow never reads. */
export function describeConfig(config: AffectflowConfig): Record<string, unknown> {
  return {
    temporal: config.temporalAddress ?? `embedded dev server on 127.0.0.1:${config.devPorts.temporal}`,
    namespace: config.temporalNamespace,
    store: config.store.uri,
    s3Endpoint: config.store.s3Endpoint,
    // What run ids and queue names derive from: the CLI and every worker must agree on it.
    storeIdentity: storeIdentity(config.store).uri,
    taskQueueSuffix: storeIdentity(config.store).tag,
    concurrency: config.concurrency,
    executionProvider: config.executionProvider,
    embedRuntime: config.embedRuntime,
    stateDir: config.stateDir,
    faults: config.faults,
  };
}
