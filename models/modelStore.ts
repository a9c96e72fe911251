/**
 * Published model files in the object store, so no machine shares a disk with another: `models
 * pull` uploads the original as published to `registry/models/<name@version>.onnx` (with its
 * sha256 as metadata; the registry's checksum is recorded beside it), and an embed worker whose
 * cache lacks the file fetches it from there, checks it against the registry's sha256, and
 * installs it as a pull does (signature checks, embedding output added). The internet is only
 * reached by `models pull`.
 */
import { createWriteStream, mkdirSync, renameSync, rmSync } from 'node:fs';
import { pipeline } from 'node:stream/promises';
import { fileSha256 } from '../base/hashing.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { modelPaths } from './modelFiles.ts';
import { backboneId, expectedSha256, type BackboneDescriptor } from './registry.ts';

export const MODEL_OBJECT_PREFIX = 'registry/models/';

/** The store object holding a published backbone's original file. */
export const modelObjectKey = (descriptor: BackboneDescriptor): string =>
  `${MODEL_OBJECT_PREFIX}${backboneId(descriptor)}.onnx`;

/** What the store must offer for model files. */
export type ModelObjectStore = Pick<
  ObjectStore,
  'uri' | 'head' | 'putFile' | 'getStream' | 'get' | 'put' | 'list'
>;

/** A model object whose bytes disagree with the registry's sha256. */
export class StoredModelChecksumError extends Error {
  constructor(
    readonly uri: string,
    readonly expected: string,
    readonly got: string,
  ) {
    super(
      `model object ${uri}: expected sha256 ${expected} (the registry's), got ${got}; run \`affectflow models pull\` again to replace it`,
    );
    this.name = 'StoredModelChecksumError';
  }
}

/** Uploads the original unless the store already holds it with this size and sha256; true when uploaded. */
export async function storeModelOriginal(
  store: ModelObjectStore,
  descriptor: BackboneDescriptor,
  sourcePath: string,
  sha256: string,
  size: number,
): Promise<boolean> {
  const key = modelObjectKey(descriptor);
  const there = await store.head(key);
  if (there && there.size === size && there.sha256 === sha256) return false;
  await store.putFile(key, sourcePath, { sha256 });
  return true;
}

/**
 * Puts the store's copy of a published backbone's original into the cache (`.source.onnx`),
 * checked against the registry's sha256 (else the object's own); false when the store has none.
 * The caller installs it (models/pull.ts installModel).
 */
export async function fetchStoredOriginal(
  store: ModelObjectStore,
  descriptor: BackboneDescriptor,
  cacheDir: string,
): Promise<{ sha256: string } | undefined> {
  const key = modelObjectKey(descriptor);
  const there = await store.head(key);
  if (!there) return undefined;
  const expected = (await expectedSha256(store, descriptor)) ?? there.sha256;
  const { sourcePath } = modelPaths(descriptor, cacheDir);
  mkdirSync(cacheDir, { recursive: true });
  const part = `${sourcePath}.store-part`;
  try {
    await pipeline(await store.getStream(key), createWriteStream(part));
    const sha256 = await fileSha256(part);
    if (expected !== undefined && sha256 !== expected)
      throw new StoredModelChecksumError(`${store.uri}/${key}`, expected, sha256);
    renameSync(part, sourcePath);
    return { sha256 };
  } finally {
    rmSync(part, { force: true });
  }
}
