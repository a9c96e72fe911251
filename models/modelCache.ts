/**
 * Loading a backbone's model file from a worker's cache, verified. The file's sha256 must be the
 * one the cache recorded when the file was put there (models/modelFiles.ts); a file without a
 * record (a cache from before records, a file copied in) must load in ONNX Runtime and is then
 * recorded. A file that fails is repaired once: a published model is fetched again from where it
 * was pulled and checked against the sha256 its original had (the descriptor's, else the
 * record's), a generated one is rebuilt. A file that stays bad fails with ModelFileError (one line:
 * the file, what was wrong, the command that fixes it), which no retry on this worker can help.
 *
 * Each file version (path, inode, size, modification time) is verified once per process (thread),
 * so the embedder's threads and every shard after the first pay one stat, and a damaged file is
 * fetched again once, not once per shard.
 */
import { existsSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { sha256Hex } from '../base/hashing.ts';
import {
  buildGeneratedModel,
  ModelFileError,
  modelPaths,
  readModelRecord,
  writeModelRecord,
  type ModelRecord,
  type VerifiedModel,
} from './modelFiles.ts';
import { ModelNotCachedError, ModelSignatureError, onnxLoadProblem } from './onnxRuntime.ts';
import { fetchStoredOriginal, modelObjectKey, type ModelObjectStore } from './modelStore.ts';
import { ChecksumMismatchError, fetchModelAgain, installModel } from './pull.ts';
import { backboneId, type BackboneDescriptor } from './registry.ts';

/** Verdicts per file version; failures that another look could change (a network error) are dropped. */
const verdicts = new Map<string, Promise<VerifiedModel>>();

/**
 * The model file a backbone's sessions may open, verified (see the module comment). Generated
 * models missing from the cache are built; a published one missing is a ModelNotCachedError.
 * `log` hears one line per repair.
 */
export async function loadVerifiedModel(
  descriptor: BackboneDescriptor,
  cacheDir: string,
  log?: (line: string) => void,
): Promise<VerifiedModel> {
  const { path } = modelPaths(descriptor, cacheDir);
  if (!existsSync(path)) {
    if (descriptor.source.kind === 'generated') return buildGeneratedModel(descriptor, cacheDir);
    throw new ModelNotCachedError(descriptor.name, backboneId(descriptor), path);
  }
  const file = statSync(path);
  const version = `${path}\0${file.ino}:${file.size}:${file.mtimeMs}`;
  let verdict = verdicts.get(version);
  if (!verdict) {
    verdict = verify(descriptor, cacheDir, log);
    verdict.catch((err: unknown) => {
      if (!(err instanceof ModelFileError || err instanceof ModelSignatureError)) verdicts.delete(version);
    });
    verdicts.set(version, verdict);
  }
  return verdict;
}

/**
 * Fills an empty cache from the object store: a published backbone whose file this worker lacks
 * is fetched from `registry/models/` (put there by `models pull`), checked against the registry's
 * sha256 and installed; nothing happens when the cache has the file or the store has none.
 */
export async function cacheFromStore(
  descriptor: BackboneDescriptor,
  cacheDir: string,
  store: ModelObjectStore,
  log?: (line: string) => void,
): Promise<void> {
  if (descriptor.source.kind !== 'url' || existsSync(modelPaths(descriptor, cacheDir).path)) return;
  const fetched = await fetchStoredOriginal(store, descriptor, cacheDir);
  if (!fetched) return;
  await installModel(descriptor, cacheDir, descriptor.source.url, fetched.sha256);
  log?.(
    `backbone ${backboneId(descriptor)}: model file fetched from ${store.uri}/${modelObjectKey(descriptor)} (sha256 ${fetched.sha256}) into ${cacheDir}`,
  );
}

async function verify(
  descriptor: BackboneDescriptor,
  cacheDir: string,
  log: ((line: string) => void) | undefined,
): Promise<VerifiedModel> {
  const paths = modelPaths(descriptor, cacheDir);
  const bytes = new Uint8Array(await readFile(paths.path));
  const sha256 = sha256Hex(bytes);
  const record = readModelRecord(paths.recordPath);
  let problem: string | undefined;
  if (record) {
    if (record.sha256 !== sha256) problem = `expected sha256 ${record.sha256}, got ${sha256}`;
  } else {
    problem = await onnxLoadProblem(bytes, backboneId(descriptor));
    if (!problem) writeModelRecord(paths.recordPath, sha256, recordSource(descriptor));
  }
  if (!problem) return { path: paths.path, sha256 };
  return repair(descriptor, cacheDir, record, problem, log);
}

/** What a record made for a file found without one can say of its source: only what the descriptor vouches for. */
function recordSource(descriptor: BackboneDescriptor): ModelRecord['source'] {
  return descriptor.source.kind === 'url'
    ? { kind: 'url', url: descriptor.source.url, sha256: descriptor.source.sha256 }
    : { kind: 'generated' };
}

async function repair(
  descriptor: BackboneDescriptor,
  cacheDir: string,
  record: ModelRecord | undefined,
  problem: string,
  log: ((line: string) => void) | undefined,
): Promise<VerifiedModel> {
  const { path } = modelPaths(descriptor, cacheDir);
  const found = `backbone ${backboneId(descriptor)}: model file ${path}: ${problem}`;
  if (descriptor.source.kind === 'generated') {
    log?.(`${found}; rebuilding it`);
    return buildGeneratedModel(descriptor, cacheDir);
  }
  const pulled = record?.source.kind === 'url' ? record.source : undefined;
  const url = pulled?.url ?? descriptor.source.url;
  const expected = descriptor.source.sha256 ?? pulled?.sha256;
  if (expected === undefined) {
    throw new ModelFileError(descriptor, path, `${problem}; no sha256 is recorded to fetch it again against`);
  }
  log?.(`${found}; fetching it again from ${url}`);
  try {
    return await fetchModelAgain(descriptor, {
      cacheDir,
      url,
      expectedSha256: expected,
      ...(log ? { log } : {}),
    });
  } catch (err) {
    if (!(err instanceof ChecksumMismatchError)) throw err;
    throw new ModelFileError(
      descriptor,
      path,
      `${problem}; fetched it again from ${url}: expected sha256 ${err.expected}, got ${err.got}`,
    );
  }
}
