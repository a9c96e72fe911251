/**
 * A dataset under an S3 prefix (`s3://bucket/prefix`, on the configured endpoint with the
 * configured credentials), read through storage/objectStore.ts. The prefix is listed once, with
 * sizes, when the source opens; folders are the '/'-separated key prefixes. A file's sha256 is
 * the `sha256` metadata `affectflow datasets push` records, else computed from its bytes, so
 * content hashes (and shard ids) equal those of the same dataset read from a folder.
 */
import { createHash } from 'node:crypto';
import { createWriteStream, rmSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { basename, posix } from 'node:path';
import { Transform, type Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ObjectNotFoundError, type ByteRange, type ObjectStore } from '../storage/objectStore.ts';
import { makeScratchDir } from './scratch.ts';
import type { DatasetSource, FolderName, LocalCopy } from './source.ts';
import type { TreeEntry } from './tree.ts';

/** An object whose bytes disagree with the sha256 recorded at push: the object changed or is damaged. */
export class DatasetObjectChecksumError extends Error {
  constructor(
    readonly uri: string,
    readonly recorded: string,
    readonly computed: string,
  ) {
    super(
      `dataset object ${uri}: expected sha256 ${recorded} (recorded at push), got ${computed}; push the dataset again`,
    );
    this.name = 'DatasetObjectChecksumError';
  }
}

/** How long a downloaded object no shard holds is kept for the next shard of the same video. */
export const COPY_KEEP_SECONDS = 10;
/** Downloaded objects kept beyond those in use, at most. */
const KEPT_IDLE = 2;

interface SharedCopy {
  readonly dir: string;
  file: Promise<string>;
  users: number;
  idle?: NodeJS.Timeout;
}

const normal = (path: string): string => (path === '' ? '' : posix.normalize(path).replace(/\/+$/, ''));

export class S3DatasetSource implements DatasetSource {
  private readonly files = new Map<string, number>();
  private readonly folders = new Map<string, Map<string, boolean>>([['', new Map()]]);
  private readonly hashes = new Map<string, Promise<string>>();
  /** Downloaded objects by path, the most recently let go last. */
  private readonly copies = new Map<string, SharedCopy>();

  private constructor(
    readonly root: string,
    private readonly store: ObjectStore,
    private readonly stateDir: string,
    private readonly keepSeconds: number,
  ) {}

  /**
   * `store` is rooted at the dataset's prefix, `root` is its s3:// URI. Listed once unless
   * `listed` is false (a reader of known files: the frames pool), then the listing is empty.
   */
  static async open(
    root: string,
    store: ObjectStore,
    stateDir: string,
    listed = true,
    keepSeconds = COPY_KEEP_SECONDS,
  ): Promise<S3DatasetSource> {
    const source = new S3DatasetSource(root.replace(/\/+$/, ''), store, stateDir, keepSeconds);
    if (listed) for await (const { key, size } of store.list('')) source.add(key, size);
    return source;
  }

  private add(key: string, size: number): void {
    if (key.endsWith('/')) return;
    this.files.set(key, size);
    const parts = key.split('/');
    for (let i = 0; i < parts.length; i++) {
      const dir = parts.slice(0, i).join('/');
      let children = this.folders.get(dir);
      if (!children) this.folders.set(dir, (children = new Map<string, boolean>()));
      children.set(parts[i]!, i < parts.length - 1);
    }
  }

  exists(path: string): boolean {
    const p = normal(path);
    return this.files.has(p) || this.folders.has(p);
  }

  isDir(path: string): boolean {
    return this.folders.has(normal(path));
  }

  names(dir: string): FolderName[] {
    const children = this.folders.get(normal(dir));
    if (!children) return [];
    return [...children]
      .map(([name, isDir]) => ({ name, isFile: !isDir, isDir }))
      .sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  }

  listFolder(dir: string): TreeEntry[] {
    const d = normal(dir);
    return this.names(d)
      .sort((a, b) => Buffer.compare(Buffer.from(a.name), Buffer.from(b.name)))
      .map(({ name, isDir }) => ({ kind: isDir ? 'dir' : 'file', path: d ? `${d}/${name}` : name }));
  }

  size(path: string): number {
    const size = this.files.get(normal(path));
    if (size === undefined) throw new Error(`dataset ${this.display(path)}: expected a file, found none`);
    return size;
  }

  insideRoot(path: string): boolean {
    const p = posix.normalize(path);
    return !posix.isAbsolute(p) && p !== '..' && !p.startsWith('../');
  }

  read(path: string): Promise<Uint8Array> {
    return this.store.get(normal(path));
  }

  async readIfExists(path: string): Promise<Uint8Array | null> {
    try {
      return await this.read(path);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) return null;
      throw err;
    }
  }

  async readText(path: string): Promise<string> {
    return new TextDecoder().decode(await this.read(path));
  }

  stream(path: string, range?: ByteRange): Promise<Readable> {
    return this.store.getStream(normal(path), range);
  }

  sha256(path: string): Promise<string> {
    const p = normal(path);
    let hash = this.hashes.get(p);
    if (!hash) {
      hash = (async () => {
        const recorded = (await this.store.head(p))?.sha256;
        if (recorded) return recorded;
        const digest = createHash('sha256');
        for await (const chunk of await this.stream(p)) digest.update(chunk as Buffer);
        return digest.digest('hex');
      })();
      this.hashes.set(p, hash);
    }
    return hash;
  }

  /**
   * Downloads the object into a scratch folder of its own (datasets/scratch.ts), checking it
   * against the sha256 recorded at push. Copies are shared: the shards of one video that a worker
   * runs at once or one after another read the same download, since each shard decodes only its
   * own part of the file and a download per shard would move a video's bytes once per shard. A
   * copy no one holds is removed after `keepSeconds` (and at once past KEPT_IDLE such copies),
   * on close, and on any failure of its download.
   */
  async localCopy(path: string): Promise<LocalCopy> {
    const p = normal(path);
    let copy = this.copies.get(p);
    if (!copy) {
      copy = this.download(p);
      this.copies.set(p, copy);
    }
    const held = copy;
    clearTimeout(held.idle);
    held.users++;
    try {
      const file = await held.file;
      let released = false;
      return {
        path: file,
        release: async () => {
          if (released) return;
          released = true;
          await this.letGo(p, held);
        },
      };
    } catch (err) {
      held.users--;
      throw err;
    }
  }

  private download(p: string): SharedCopy {
    const dir = makeScratchDir(this.stateDir);
    const copy: SharedCopy = { dir, users: 0, file: Promise.resolve('') };
    copy.file = (async () => {
      try {
        const file = `${dir}/${basename(p)}`;
        const digest = createHash('sha256');
        const hashing = new Transform({
          transform(chunk: Buffer, _encoding, done) {
            digest.update(chunk);
            done(null, chunk);
          },
        });
        await pipeline(await this.store.getStream(p), hashing, createWriteStream(file));
        const computed = digest.digest('hex');
        const recorded = (await this.hashes.get(p)) ?? (await this.store.head(p))?.sha256 ?? computed;
        if (!this.hashes.has(p)) this.hashes.set(p, Promise.resolve(recorded));
        if (recorded !== computed) throw new DatasetObjectChecksumError(this.display(p), recorded, computed);
        return file;
      } catch (err) {
        if (this.copies.get(p) === copy) this.copies.delete(p);
        await rm(dir, { recursive: true, force: true });
        throw err;
      }
    })();
    return copy;
  }

  private async letGo(p: string, copy: SharedCopy): Promise<void> {
    if (--copy.users > 0) return;
    if (this.keepSeconds <= 0) return this.drop(p, copy);
    this.copies.delete(p);
    this.copies.set(p, copy);
    copy.idle = setTimeout(() => void this.drop(p, copy), this.keepSeconds * 1000);
    copy.idle.unref();
    const idle = [...this.copies].filter(([, c]) => c.users === 0);
    for (const [q, c] of idle.slice(0, Math.max(0, idle.length - KEPT_IDLE))) await this.drop(q, c);
  }

  /** Removes a copy no one holds. */
  private async drop(p: string, copy: SharedCopy): Promise<void> {
    if (copy.users > 0) return;
    clearTimeout(copy.idle);
    if (this.copies.get(p) === copy) this.copies.delete(p);
    await rm(copy.dir, { recursive: true, force: true });
  }

  display(path: string): string {
    return `${this.root}/${normal(path)}`;
  }

  close(): void {
    for (const copy of this.copies.values()) {
      clearTimeout(copy.idle);
      rmSync(copy.dir, { recursive: true, force: true });
    }
    this.copies.clear();
    this.store.close();
  }
}
