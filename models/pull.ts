/**
 * `affectflow models pull`: downloads a backbone's ONNX file into the local model cache
 * (config.stateDir/models), resumably (HTTP Range from a .part file), verifies its sha256 against
 * the descriptor or the one recorded in the store registry (recording it on the first pull), checks
 * its input/output signature against the descriptor, and performs the embedding surgery when the
 * file holds only the classifier's scores. The result is the file the embed workers open.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { fileSha256, sha256Hex } from '../base/hashing.ts';
import { download, DownloadError, type DownloadProgress } from './download.ts';
import {
  buildGeneratedModel,
  modelPaths,
  readModelRecord,
  storeModelFile,
  type VerifiedModel,
} from './modelFiles.ts';
import { checkDeclaredSignature, checkRunSignature, signatureError } from './modelSignature.ts';
import { openGraph } from './onnxRuntime.ts';
import {
  backboneId,
  expectedSha256,
  recordSha256,
  type BackboneDescriptor,
  type RegistryStore,
} from './registry.ts';
import { exposeGemmInput } from './surgery.ts';
import { storeModelOriginal, type ModelObjectStore } from './modelStore.ts';

export class ChecksumMismatchError extends Error {
  constructor(
    readonly backbone: string,
    readonly file: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(`backbone ${backbone}: ${file}: sha256 expected ${expected}, got ${got}; file refused and removed`);
    this.name = 'ChecksumMismatchError';
  }
}
export interface PullOptions {
  /** The local model cache (config.stateDir/models). */
  readonly cacheDir: string;
  /**
   * The store holding the registry: where the first pull records the sha256, and where the
   * original is kept for embed workers with an empty cache (models/modelStore.ts).
   */
  readonly store: RegistryStore & Partial<ModelObjectStore>;
  /** Bytes received so far and the total (undefined when the server does not say). */
  readonly progress?: DownloadProgress;
  readonly log?: (line: string) => void;
  /** Download attempts; each one after the first resumes from the .part file. */
  readonly attempts?: number;
}

export interface PullResult {
  /** The file the embed workers open: the original, plus the embedding output when surgery was needed. */
  readonly path: string;
  /** The downloaded original, as published (for a generated backbone, `path`). */
  readonly sourcePath: string;
  /** sha256 of the original. */
  readonly sha256: string;
  /** sha256 of `path`, as the cache's record holds it. */
  readonly modelSha256: string;
  /** True when this pull recorded the sha256 in the store (the descriptor had none). */
  readonly recorded: boolean;
  /** True when the file was already cached and only verified. */
  readonly cached: boolean;
  /** Byte offsets at which downloads resumed (empty when none did). */
  readonly resumedAt: readonly number[];
  /** True when the embedding output was added by graph surgery. */
  readonly surgery: boolean;
}

export { modelPaths };

/**
 * Downloads (or re-verifies) a backbone's model file; refuses one that disagrees with the
 * descriptor. A cached original that no longer has its sha256 is downloaded again, once. A
 * generated backbone is rebuilt unless its cached file still matches the cache's record.
 */
export async function pullBackbone(
  descriptor: BackboneDescriptor,
  options: PullOptions,
): Promise<PullResult> {
  const id = backboneId(descriptor);
  mkdirSync(options.cacheDir, { recursive: true });
  const paths = modelPaths(descriptor, options.cacheDir);
  if (descriptor.source.kind !== 'url') return pullGenerated(descriptor, options.cacheDir);
  const url = descriptor.source.url;
  const expected = await expectedSha256(options.store, descriptor);
  let fetched: FetchedSource;
  try {
    fetched = await fetchSource(descriptor, url, expected, true, options);
  } catch (err) {
    if (err instanceof ChecksumMismatchError) rmSync(paths.path, { force: true });
    throw err;
  }
  const installed = await installModel(descriptor, options.cacheDir, url, fetched.sha256);
  const recorded = expected === undefined;
  if (recorded) {
    await recordSha256(options.store, descriptor, fetched.sha256);
    options.log?.(`backbone ${id}: recorded sha256 ${fetched.sha256} in the registry (first pull)`);
  }
  const { store } = options;
  if (store.head && store.putFile && store.getStream && store.uri) {
    const size = statSync(paths.sourcePath).size;
    const objects = store as ModelObjectStore;
    if (await storeModelOriginal(objects, descriptor, paths.sourcePath, fetched.sha256, size))
      options.log?.(`backbone ${id}: stored the model file in ${store.uri} for the embed workers`);
  }
  return {
    path: paths.path,
    sourcePath: paths.sourcePath,
    sha256: fetched.sha256,
    modelSha256: installed.sha256,
    recorded,
    cached: fetched.cached,
    resumedAt: fetched.resumedAt,
    surgery: installed.surgery,
  };
}

function pullGenerated(descriptor: BackboneDescriptor, cacheDir: string): PullResult {
  const paths = modelPaths(descriptor, cacheDir);
  const record = readModelRecord(paths.recordPath);
  const current = existsSync(paths.path) ? sha256Hex(readFileSync(paths.path)) : undefined;
  const cached = record !== undefined && record.sha256 === current;
  const model = cached ? { path: paths.path, sha256: current } : buildGeneratedModel(descriptor, cacheDir);
  return {
    path: model.path,
    sourcePath: model.path,
    sha256: model.sha256,
    modelSha256: model.sha256,
    recorded: false,
    cached,
    resumedAt: [],
    surgery: false,
  };
}

/**
 * Fetches a published backbone's original again from `url` (where it was pulled from) into the
 * cache, refusing it unless its sha256 is `expectedSha256`, and installs it as the file the
 * sessions open, with its record. The cached original is replaced only by a verified download.
 */
export async function fetchModelAgain(
  descriptor: BackboneDescriptor,
  options: {
    readonly cacheDir: string;
    readonly url: string;
    readonly expectedSha256: string;
    readonly log?: (line: string) => void;
  },
): Promise<VerifiedModel> {
  const fetched = await fetchSource(descriptor, options.url, options.expectedSha256, false, options);
  const { path, sha256 } = await installModel(descriptor, options.cacheDir, options.url, fetched.sha256);
  return { path, sha256 };
}

interface FetchedSource {
  readonly sha256: string;
  readonly cached: boolean;
  readonly resumedAt: readonly number[];
}

/**
 * The original of a published backbone in the cache (`.source.onnx`): the cached one when `reuse`
 * and it has the expected sha256, else downloaded (resuming from a `.part` file) and checked
 * before it replaces the cached one. Throws ChecksumMismatchError for a download that disagrees.
 */
async function fetchSource(
  descriptor: BackboneDescriptor,
  url: string,
  expected: string | undefined,
  reuse: boolean,
  options: Pick<PullOptions, 'cacheDir' | 'progress' | 'log' | 'attempts'>,
): Promise<FetchedSource> {
  const { sourcePath } = modelPaths(descriptor, options.cacheDir);
  if (reuse && existsSync(sourcePath)) {
    const sha256 = await fileSha256(sourcePath);
    if (expected === undefined || sha256 === expected) return { sha256, cached: true, resumedAt: [] };
    options.log?.(
      `backbone ${backboneId(descriptor)}: ${sourcePath}: sha256 expected ${expected}, got ${sha256}; downloading it again from ${url}`,
    );
    rmSync(sourcePath, { force: true });
  }
  mkdirSync(options.cacheDir, { recursive: true });
  const part = `${sourcePath}.part`;
  const attempts = options.attempts ?? 3;
  const resumedAt: number[] = [];
  for (let attempt = 1; ; attempt++) {
    const offset = existsSync(part) ? statSync(part).size : 0;
    if (offset > 0) resumedAt.push(offset);
    try {
      await download(url, part, offset, options);
      break;
    } catch (err) {
      if (attempt >= attempts || !(err instanceof DownloadError)) throw err;
      options.log?.(`${(err as Error).message}; retrying (${attempt + 1}/${attempts})`);
    }
  }
  const sha256 = await fileSha256(part);
  if (expected !== undefined && expected !== sha256) {
    rmSync(part, { force: true });
    throw new ChecksumMismatchError(backboneId(descriptor), sourcePath, expected, sha256);
  }
  renameSync(part, sourcePath);
  return { sha256, cached: false, resumedAt };
}

/**
 * Checks a cached original against its descriptor (declared and run signatures), adds the
 * embedding output when it has none, and stores the result as the file the sessions open, with the
 * cache's record. A signature mismatch removes the original.
 */
export async function installModel(
  descriptor: BackboneDescriptor,
  cacheDir: string,
  url: string,
  sourceSha256: string,
): Promise<VerifiedModel & { surgery: boolean }> {
  const id = backboneId(descriptor);
  const paths = modelPaths(descriptor, cacheDir);
  const { sourcePath } = paths;
  const original = new Uint8Array(await readFile(sourcePath));
  try {
    checkDeclaredSignature(descriptor, original);
  } catch (err) {
    rmSync(sourcePath, { force: true });
    throw err;
  }
  const session = await openGraph(original, { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 }, id);
  const names = { inputs: session.inputNames, outputs: session.outputNames };
  await session.release();
  const surgery = !names.outputs.includes(descriptor.embeddingOutput);
  if (!names.inputs.includes(descriptor.inputName) || !names.outputs.includes(descriptor.scoresOutput)) {
    rmSync(sourcePath, { force: true });
    throw signatureError(
      descriptor,
      `inputs [${names.inputs.join(', ')}] outputs [${names.outputs.join(', ')}]`,
    );
  }
  const model = surgery
    ? exposeGemmInput(original, {
        scoresOutput: descriptor.scoresOutput,
        embeddingOutput: descriptor.embeddingOutput,
        label: sourcePath,
      }).model
    : original;
  try {
    await checkRunSignature(descriptor, model);
  } catch (err) {
    rmSync(sourcePath, { force: true });
    throw err;
  }
  const stored = storeModelFile(paths, model, { kind: 'url', url, sha256: sourceSha256 });
  return { ...stored, surgery };
}
