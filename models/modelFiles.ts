/**
 * The files of a worker's model cache (config.stateDir/models): where a backbone's model lives
 * (`<name@version>.onnx`, the file the sessions open; `<name@version>.source.onnx`, a published
 * model as downloaded), the record written beside a model file whenever one is put there
 * (`<name@version>.record.json`: its sha256 and where it came from, what loading checks it
 * against), and building generated models into the cache. No network and no ONNX Runtime here:
 * models/pull.ts fetches, models/modelCache.ts verifies on load.
 */
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { sha256Hex } from '../base/hashing.ts';
import { backboneId, cachedModelName, type BackboneDescriptor } from './registry.ts';
import { buildTinyBackboneModel } from './tinyBackbone.ts';

/** A model file whose bytes were checked: the path and the sha256 they had. */
export interface VerifiedModel {
  readonly path: string;
  readonly sha256: string;
}

/** What the cache knows of a model file it holds. */
export interface ModelRecord {
  readonly format: 1;
  /** sha256 of the model file the sessions open (after any graph surgery). */
  readonly sha256: string;
  readonly source:
    | {
        readonly kind: 'url';
        /** Where the published file was fetched from. */
        readonly url: string;
        /** sha256 of the file as published (`.source.onnx`); undefined when nothing vouched for it. */
        readonly sha256: string | undefined;
      }
    | { readonly kind: 'generated' };
}

export interface ModelPaths {
  /** The file the sessions open. */
  readonly path: string;
  /** A published model as downloaded. */
  readonly sourcePath: string;
  /** The cache's record of `path`. */
  readonly recordPath: string;
}

export function modelPaths(descriptor: BackboneDescriptor, cacheDir: string): ModelPaths {
  const name = cachedModelName(descriptor);
  return {
    path: join(cacheDir, `${name}.onnx`),
    sourcePath: join(cacheDir, `${name}.source.onnx`),
    recordPath: join(cacheDir, `${name}.record.json`),
  };
}

/** The end of every model-cache error: the command that puts a good file in place, then the resume. */
export function modelPullHint(backbone: string): string {
  return `run \`affectflow models pull ${backbone}\` on this embed worker's machine (same AFFECTFLOW_HOME), then \`affectflow resume <run>\``;
}

/** A cached model file that is damaged and could not be repaired; no retry on this worker can help. */
export class ModelFileError extends Error {
  readonly backbone: string;
  constructor(
    descriptor: BackboneDescriptor,
    readonly path: string,
    readonly problem: string,
  ) {
    super(
      `backbone ${backboneId(descriptor)}: model file ${path}: ${problem}; ${modelPullHint(descriptor.name)}`,
    );
    this.name = 'ModelFileError';
    this.backbone = descriptor.name;
  }
}

/** The record beside a model file; undefined when there is none or it cannot be read as one. */
export function readModelRecord(recordPath: string): ModelRecord | undefined {
  if (!existsSync(recordPath)) return undefined;
  try {
    const record = JSON.parse(readFileSync(recordPath, 'utf8')) as Partial<ModelRecord>;
    const valid =
      record.format === 1 &&
      typeof record.sha256 === 'string' &&
      (record.source?.kind === 'generated' || record.source?.kind === 'url');
    return valid ? (record as ModelRecord) : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Writes a file through a temporary one and a rename, so readers see the old file or the whole
 * new one; the temporary name is per process and thread (an embed worker's threads may write at once).
 */
export function writeFileAtomically(path: string, bytes: Uint8Array | string): void {
  const tmp = `${path}.tmp-${process.pid}-${threadId}`;
  writeFileSync(tmp, bytes);
  renameSync(tmp, path);
}

/** Records a model file of the cache: its sha256 and where it came from. */
export function writeModelRecord(recordPath: string, sha256: string, source: ModelRecord['source']): void {
  const record: ModelRecord = { format: 1, sha256, source };
  writeFileAtomically(recordPath, `${JSON.stringify(record, null, 2)}\n`);
}

/** Puts a model file and its record into the cache: the file first, so a record never describes a file not there. */
export function storeModelFile(
  paths: ModelPaths,
  bytes: Uint8Array,
  source: ModelRecord['source'],
): VerifiedModel {
  const sha256 = sha256Hex(bytes);
  writeFileAtomically(paths.path, bytes);
  writeModelRecord(paths.recordPath, sha256, source);
  return { path: paths.path, sha256 };
}

/** Builds a generated backbone's model (seconds of CPU) into the cache, with its record. */
export function buildGeneratedModel(descriptor: BackboneDescriptor, cacheDir: string): VerifiedModel {
  if (descriptor.source.kind !== 'generated')
    throw new Error(`backbone ${backboneId(descriptor)}: not a generated backbone`);
  mkdirSync(cacheDir, { recursive: true });
  const { pool, seed } = descriptor.source;
  const bytes = buildTinyBackboneModel(descriptor.inputSize, pool, descriptor.scoresDim, seed);
  return storeModelFile(modelPaths(descriptor, cacheDir), bytes, { kind: 'generated' });
}
