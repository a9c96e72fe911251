/**
 * Datasets in, manifests out: picks the adapter for a dataset's layout (or the one asked for) and
 * assembles the manifest. See docs/DATASETS.md for the layouts, label encodings and messages.
 */
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { AFFWILD2_TASK_FOLDERS, FACE_FOLDERS, readAffWild2, type FacesChoice } from './affwild2.ts';
import { readCExprDb } from './cexprdb.ts';
import { readGeneric } from './generic.ts';
import { readHumeVidmimic } from './hume.ts';
import { assembleManifest } from './assemble.ts';
import type { AdapterResult, BuiltManifest, DatasetKind } from './manifest.ts';

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

const isDir = (path: string): boolean => existsSync(path) && statSync(path).isDirectory();

/**
 * The layout of a dataset root: Aff-Wild2 when annotations/ holds a challenge folder or cropped/
 * or cropped_aligned/ exists; Hume-Vidmimic2 when train_split.csv, valid_split.csv or
 * face_images/ exists; C-EXPR-DB when annotations/ holds .txt files directly; otherwise generic.
 */
export function detectDatasetKind(root: string): DatasetKind {
  if (!isDir(root)) throw new DatasetError(root, 'expected a folder, found none');
  if (
    AFFWILD2_TASK_FOLDERS.some(([folder]) => isDir(join(root, 'annotations', folder))) ||
    FACE_FOLDERS.some((f) => isDir(join(root, f)))
  )
    return 'affwild2';
  if (
    ['train_split.csv', 'valid_split.csv'].some((f) => existsSync(join(root, f))) ||
    isDir(join(root, 'face_images'))
  )
    return 'hume';
  if (
    isDir(join(root, 'annotations')) &&
    readdirSync(join(root, 'annotations')).some((f) => f.endsWith('.txt'))
  )
    return 'cexprdb';
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
  /** Called after each video is probed and hashed (an activity's heartbeat). */
  readonly onVideo?: () => void;
}

/** Reads, validates and manifests a dataset; the labels stream from `labels()` afterwards. */
export async function buildManifest(root: string, options: BuildManifestOptions): Promise<BuiltManifest> {
  if (!Number.isInteger(options.shardFrames) || options.shardFrames < 1)
    throw new DatasetError(root, `expected shardFrames to be a positive integer, got ${options.shardFrames}`);
  const kind = options.kind ?? detectDatasetKind(root);
  if (!isDir(root)) throw new DatasetError(root, 'expected a folder, found none');
  let adapter: AdapterResult;
  switch (kind) {
    case 'affwild2':
      adapter = readAffWild2(root, options.faces ?? 'auto');
      break;
    case 'cexprdb':
      adapter = readCExprDb(root);
      break;
    case 'hume':
      adapter = readHumeVidmimic(root);
      break;
    case 'generic':
      adapter = await readGeneric(root);
      break;
  }
  return assembleManifest(root, adapter, {
    shardFrames: options.shardFrames,
    ...(options.framesFps === undefined ? {} : { framesFps: options.framesFps }),
    ...(options.concurrency === undefined ? {} : { concurrency: options.concurrency }),
    ...(options.onVideo ? { onVideo: options.onVideo } : {}),
  });
}
