/**
 * `affectflow datasets push DIR s3://bucket/prefix`: uploads a local dataset folder to an S3
 * prefix on the configured endpoint (configured credentials), one object per file under the same
 * relative path. Each object carries its file's sha256 as metadata (`x-amz-meta-sha256`), which
 * the S3 dataset source takes as the content hash, so shard ids equal a local run's. Large files
 * go up in parts (SHA-256 checked per part by the server); an object already there with the same
 * size and sha256 is skipped, so a push that was stopped resumes where it was, file by file.
 */
import { fileSha256 } from '../base/hashing.ts';
import type { StoreConfig } from '../config/index.ts';
import { isS3Uri, LocalDatasetSource } from '../datasets/source.ts';
import { treeEntryProblem } from '../datasets/unusedFiles.ts';
import { FolderUnreadable } from '../datasets/tree.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import { UsageError } from './errors.ts';

export interface PushOptions {
  readonly store: StoreConfig;
  /** Files uploaded at once (default 4). */
  readonly concurrency?: number;
  /** One line per uploaded file. */
  readonly say: (line: string) => void;
  /** Bytes hashed or uploaded so far of the total. */
  readonly progress?: (done: number, total: number) => void;
}

export interface PushSummary {
  readonly files: number;
  readonly uploaded: number;
  readonly skipped: number;
  readonly uploadedBytes: number;
  /** What was not pushed and why, one line each. */
  readonly findings: readonly string[];
}

/** An object that reads back other than the file sent: the upload is not trusted. */
export class PushVerifyError extends Error {
  constructor(
    readonly uri: string,
    readonly detail: string,
  ) {
    super(`datasets push ${uri}: ${detail}; run the push again`);
    this.name = 'PushVerifyError';
  }
}

interface LocalFile {
  readonly path: string;
  readonly size: number;
}

/** Every regular file under the folder; links leaving it, odd names and special files are findings. */
function datasetFiles(source: LocalDatasetSource, findings: string[]): LocalFile[] {
  const files: LocalFile[] = [];
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = source.listFolder(dir);
    } catch (err) {
      if (!(err instanceof FolderUnreadable)) throw err;
      findings.push(`dataset ${err.path || '.'}: folder cannot be listed (${err.detail}); not pushed`);
      return;
    }
    for (const entry of entries) {
      if (entry.kind === 'dir') walk(entry.path);
      else if (entry.kind === 'file') files.push({ path: entry.path, size: source.size(entry.path) });
      else if (entry.kind === 'special')
        findings.push(`dataset ${entry.path}: not a regular file (a FIFO, socket or device); not pushed`);
      else if (entry.kind === 'link-dir')
        findings.push(`dataset ${entry.path}: symbolic link to a folder, not followed; not pushed`);
      else {
        const problem = treeEntryProblem(entry);
        if (problem) findings.push(problem.message.replace(/left out/, 'not pushed'));
      }
    }
  };
  walk('');
  return files;
}

export async function pushDataset(dir: string, target: string, options: PushOptions): Promise<PushSummary> {
  if (
    !isS3Uri(target) ||
    target
      .replace(/^s3:\/\//, '')
      .split('/')
      .filter(Boolean).length < 2
  )
    throw new UsageError(
      `datasets push: target ${JSON.stringify(target)}: expected s3://bucket/prefix (the prefix's last part names the dataset, as a folder's name does)`,
    );
  const source = new LocalDatasetSource(dir);
  if (!source.isDir(''))
    throw new UsageError(`datasets push: ${dir}: expected a dataset folder, found none; check the path`);
  const findings: string[] = [];
  const files = datasetFiles(source, findings);
  const total = files.reduce((a, f) => a + f.size, 0);
  const store = openStore({ ...options.store, uri: target.replace(/\/+$/, '') });
  let done = 0;
  let uploaded = 0;
  let skipped = 0;
  let uploadedBytes = 0;
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < files.length) {
      const file = files[next++]!;
      let sha256: string;
      try {
        sha256 = await fileSha256(source.display(file.path));
      } catch (err) {
        findings.push(`dataset ${file.path}: cannot be read (${(err as Error).message}); not pushed`);
        continue;
      }
      if (await pushFile(store, source, file, sha256)) {
        uploaded++;
        uploadedBytes += file.size;
        options.say(`push: uploaded ${file.path} (${(file.size / 1e6).toFixed(1)} MB)`);
      } else skipped++;
      done += file.size;
      options.progress?.(done, total);
    }
  };
  try {
    await Promise.all(
      Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, files.length)) }, lane),
    );
  } finally {
    store.close();
  }
  return { files: files.length, uploaded, skipped, uploadedBytes, findings };
}

/** Uploads one file unless the object is already there with its size and sha256; true when uploaded. */
async function pushFile(
  store: ObjectStore,
  source: LocalDatasetSource,
  file: LocalFile,
  sha256: string,
): Promise<boolean> {
  const there = await store.head(file.path);
  if (there && there.size === file.size && there.sha256 === sha256) return false;
  await store.putFile(file.path, source.display(file.path), { sha256 });
  const after = await store.head(file.path);
  if (!after || after.size !== file.size || after.sha256 !== sha256)
    throw new PushVerifyError(
      `${store.uri}/${file.path}`,
      `expected ${file.size} bytes with sha256 ${sha256} after the upload, got ${after ? `${after.size} bytes with sha256 ${after.sha256 ?? 'none'}` : 'no object'}`,
    );
  return true;
}

/** The summary line of a push. */
export function pushSummaryLine(dir: string, target: string, s: PushSummary): string {
  return `datasets push: ${dir} -> ${target}: ${s.files} files, ${s.uploaded} uploaded (${(s.uploadedBytes / 1e6).toFixed(1)} MB), ${s.skipped} already there${s.findings.length ? `, ${s.findings.length} not pushed (listed above)` : ''}`;
}
