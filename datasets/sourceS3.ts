/**
 * A dataset under an S3 prefix (`s3://bucket/prefix`, on the configured endpoint with the
 * configured credentials), read through storage/objectStore.ts. The prefix is listed once, with
 * sizes, when the source opens; folders are the '/'-separated key prefixes. A file's sha256 is
 * the `sha256` metadata `affectflow datasets push` records, else computed from its bytes, so
 * content hashes (and shard ids) equal those of the same dataset read from a folder.
 */
import { createHash } from 'node:crypto';
import { createWriteStream } from 'node:fs';
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

const normal = (path: string): string => (path === '' ? '' : posix.normalize(path).replace(/\/+$/, ''));

export class S3DatasetSource implements DatasetSource {
  private readonly files = new Map<string, number>();
  private readonly folders = new Map<string, Map<string, boolean>>([['', new Map()]]);
  private readonly hashes = new Map<string, Promise<string>>();

  private constructor(
    readonly root: string,
    private readonly store: ObjectStore,
    private readonly stateDir: string,
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
  ): Promise<S3DatasetSource> {
    const source = new S3DatasetSource(root.replace(/\/+$/, ''), store, stateDir);
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
   * against the sha256 recorded at push; the folder is removed on release and on any failure.
   */
  async localCopy(path: string): Promise<LocalCopy> {
    const p = normal(path);
    const dir = makeScratchDir(this.stateDir);
    const release = () => rm(dir, { recursive: true, force: true });
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
      return { path: file, release };
    } catch (err) {
      await release();
      throw err;
    }
  }

  display(path: string): string {
    return `${this.root}/${normal(path)}`;
  }

  close(): void {
    this.store.close();
  }
}
