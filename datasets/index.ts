/**
 * Datasets in, manifests out: picks the adapter for a dataset's layout (or the one asked for) and
 * assembles the manifest. See docs/DATASETS.md for the layouts, label encodings and messages.
 */
import type { StoreConfig } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import { AFFWILD2_TASK_FOLDERS, FACE_FOLDERS, readAffWild2, type FacesChoice } from './affwild2.ts';
import { readCExprDb } from './cexprdb.ts';
import { readGeneric } from './generic.ts';
import { readHumeVidmimic } from './hume.ts';
import { assembleManifest } from './assemble.ts';
import type { AdapterResult, BuiltManifest, DatasetKind } from './manifest.ts';
import { isS3Uri, LocalDatasetSource, type DatasetSource } from './source.ts';
import { S3DatasetSource } from './sourceS3.ts';

export { isS3Uri, type DatasetSource } from './source.ts';

export type { FacesChoice } from './affwild2.ts';
export type {
  BuiltManifest,
  DatasetKind,
  Finding,
  Manifest,
  ManifestVideo,
  StoredLabels,
} from './manifest.ts';

export class DatasetError extends Error {
  constructor(
    readonly root: string,
    readonly detail: string,
  ) {
    super(`dataset ${root}: ${detail}`);
    this.name = 'DatasetError';
  }
}

const sourceOf = (root: string | DatasetSource): DatasetSource =>
  typeof root === 'string' ? new LocalDatasetSource(root) : root;

/**
 * The dataset at `root`: a local folder, or `s3://bucket/prefix` on the configured S3 endpoint
 * with the configured credentials (listed once, now); S3 copies for ffprobe go under
 * `<stateDir>/dataset-scratch/`.
 */
export async function openDatasetSource(
  root: string,
  context: { readonly store?: StoreConfig; readonly stateDir: string },
  options: { readonly listed?: boolean } = {},
): Promise<DatasetSource> {
  if (!isS3Uri(root)) return new LocalDatasetSource(root);
  if (!context.store) throw new DatasetError(root, 'expected an S3 store configuration to read it, got none');
  const store = openStore({ ...context.store, uri: root });
  const listed = options.listed ?? true;
  const source = await S3DatasetSource.open(root, store, context.stateDir, listed);
  if (listed && !source.isDir(''))
    throw new DatasetError(root, 'expected objects under this prefix, found none');
  return source;
}

/**
 * The layout of a dataset root: Aff-Wild2 when annotations/ holds a challenge folder or cropped/
 * or cropped_aligned/ exists; Hume-Vidmimic2 when train_split.csv, valid_split.csv or
 * face_images/ exists; C-EXPR-DB when annotations/ holds .txt files directly; otherwise generic.
 */
export function detectDatasetKind(dataset: string | DatasetSource): DatasetKind {
  const source = sourceOf(dataset);
  const root = source.root;
  const isDir = (path: string): boolean => source.isDir(path);
  if (!isDir('')) throw new DatasetError(root, 'expected a folder, found none');
  if (
    AFFWILD2_TASK_FOLDERS.some(([folder]) => isDir(`annotations/${folder}`)) ||
    FACE_FOLDERS.some((f) => isDir(f))
  )
    return 'affwild2';
  if (['train_split.csv', 'valid_split.csv'].some((f) => source.exists(f)) || isDir('face_images'))
    return 'hume';
  if (source.names('annotations').some((f) => f.name.endsWith('.txt'))) return 'cexprdb';
  return 'generic';
}

export interface BuildManifestOptions {
  /** Target frames per shard. */
  readonly shardFrames: number;
  /** The layout; detected when absent. */
  readonly kind?: DatasetKind;
  /** Aff-Wild2: which frames to read (default auto: cropped/, then cropped_aligned/, then the video). */
  readonly faces?: FacesChoice;
  /** Frame rate recorded for frame folders (default 30). */
  readonly framesFps?: number;
  /** Videos probed at once (default 4). */
  readonly concurrency?: number;
}

/** Reads, validates and manifests a dataset; the labels stream from `labels()` afterwards. */
export async function buildManifest(
  dataset: string | DatasetSource,
  options: BuildManifestOptions,
): Promise<BuiltManifest> {
  const source = sourceOf(dataset);
  const root = source.root;
  if (!Number.isInteger(options.shardFrames) || options.shardFrames < 1)
    throw new DatasetError(root, `expected shardFrames to be a positive integer, got ${options.shardFrames}`);
  const kind = options.kind ?? detectDatasetKind(source);
  if (!source.isDir('')) throw new DatasetError(root, 'expected a folder, found none');
  let adapter: AdapterResult;
  switch (kind) {
    case 'affwild2':
      adapter = await readAffWild2(source, options.faces ?? 'auto');
      break;
    case 'cexprdb':
      adapter = readCExprDb(source);
      break;
    case 'hume':
      adapter = await readHumeVidmimic(source);
      break;
    case 'generic':
      adapter = await readGeneric(source);
      break;
  }
  return assembleManifest(source, adapter, {
    shardFrames: options.shardFrames,
    ...(options.framesFps === undefined ? {} : { framesFps: options.framesFps }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
  });
}
