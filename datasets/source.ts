/**
 * Where a dataset's files are read from: a folder on this machine, or an S3 prefix
 * (`s3://bucket/prefix`, sourceS3.ts). The adapters list and read a dataset only through this
 * interface, so every layout reads the same from either, and a video's content hash (and so its
 * shard ids) is the same from both. Paths are '/'-separated and relative to the root.
 */
import { createReadStream, existsSync, readdirSync, statSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { Readable } from 'node:stream';
import { fileSha256 } from '../base/hashing.ts';
import type { ByteRange } from '../storage/objectStore.ts';
import { insideRoot, listFolder, type TreeEntry } from './tree.ts';

/** One name in a folder, as readdir with file types sees it (a link is neither file nor folder). */
export interface FolderName {
  readonly name: string;
  readonly isFile: boolean;
  readonly isDir: boolean;
}

/** A file of the dataset as a local path for tools that open files (ffprobe, ffmpeg, sharp). */
export interface LocalCopy {
  readonly path: string;
  /** Removes a scratch copy; a no-op for a file that is the dataset's own. */
  release(): Promise<void>;
}

export interface DatasetSource {
  /** Printable root, recorded in the manifest: an absolute folder or `s3://bucket/prefix`. */
  readonly root: string;
  /** A file or folder ('' is the root). */
  exists(path: string): boolean;
  isDir(path: string): boolean;
  /** A folder's names, in code-unit order; [] for a folder that is not there. */
  names(dir: string): FolderName[];
  /** A folder's entries by name bytes, with what cannot be read and why (tree.ts). */
  listFolder(dir: string): TreeEntry[];
  /** Size in bytes of a file. */
  size(path: string): number;
  /** True when the path stays inside the root (symbolic links followed for a local folder). */
  insideRoot(path: string): boolean;
  read(path: string): Promise<Uint8Array>;
  /** The file's bytes, or null when there is no such file. */
  readIfExists(path: string): Promise<Uint8Array | null>;
  readText(path: string): Promise<string>;
  /** The file's bytes, or bytes [start, end) of it. */
  stream(path: string, range?: ByteRange): Promise<Readable>;
  /** sha256 of the file's content, hex. */
  sha256(path: string): Promise<string>;
  /** The file as a local path; call release() when done, also on failure. */
  localCopy(path: string): Promise<LocalCopy>;
  /** How a path is shown in messages: the local path, or the object's s3:// URI. */
  display(path: string): string;
  /** Releases the connection to the store (a no-op for a folder). */
  close(): void;
}

/** A dataset folder on this machine. */
export class LocalDatasetSource implements DatasetSource {
  readonly root: string;
  constructor(root: string) {
    this.root = root;
  }

  private abs(path: string): string {
    return join(this.root, path);
  }

  exists(path: string): boolean {
    return existsSync(this.abs(path));
  }

  isDir(path: string): boolean {
    return this.exists(path) && statSync(this.abs(path)).isDirectory();
  }

  names(dir: string): FolderName[] {
    if (!this.isDir(dir)) return [];
    return readdirSync(this.abs(dir), { withFileTypes: true })
      .map((d) => ({ name: d.name, isFile: d.isFile(), isDir: d.isDirectory() }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  listFolder(dir: string): TreeEntry[] {
    return listFolder(this.root, dir);
  }

  size(path: string): number {
    return statSync(this.abs(path)).size;
  }

  insideRoot(path: string): boolean {
    return insideRoot(this.root, path);
  }

  async read(path: string): Promise<Uint8Array> {
    return new Uint8Array(await readFile(this.abs(path)));
  }

  async readIfExists(path: string): Promise<Uint8Array | null> {
    try {
      return await this.read(path);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
      throw err;
    }
  }

  async readText(path: string): Promise<string> {
    return readFile(this.abs(path), 'utf8');
  }

  stream(path: string, range?: ByteRange): Promise<Readable> {
    return Promise.resolve(
      createReadStream(this.abs(path), {
        ...(range ? { start: range.start } : {}),
        ...(range?.end === undefined ? {} : { end: range.end - 1 }),
      }),
    );
  }

  sha256(path: string): Promise<string> {
    return fileSha256(this.abs(path));
  }

  localCopy(path: string): Promise<LocalCopy> {
    return Promise.resolve({ path: this.abs(path), release: () => Promise.resolve() });
  }

  display(path: string): string {
    return this.abs(path);
  }

  close(): void {}
}

/** Whether a dataset argument names an S3 prefix rather than a local folder. */
export const isS3Uri = (root: string): boolean => root.startsWith('s3://');
