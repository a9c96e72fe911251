/**
 * The one module that talks to object storage: a small interface with an S3 implementation
 * (any S3-compatible endpoint, credentials from the standard AWS chain) and a local-directory
 * implementation (the zero-setup default). Keys are '/'-separated and relative to the store root.
 */
import { createReadStream, createWriteStream } from 'node:fs';
import {
  copyFile,
  link,
  mkdir,
  readdir,
  readFile,
  rename,
  rm,
  stat,
  unlink,
  writeFile,
} from 'node:fs/promises';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { dirname, join, relative, sep } from 'node:path';
import { randomUUID } from 'node:crypto';
import {
  CreateBucketCommand,
  DeleteObjectCommand,
  GetObjectCommand,
  HeadBucketCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  S3Client,
} from '@aws-sdk/client-s3';
import { Upload } from '@aws-sdk/lib-storage';
import type { StoreConfig } from '../config/index.ts';

// The pinned SDK release supports Node 20 (the project's runtime); its notice about later
// releases needing Node 22 is for whoever upgrades the pin, not for every command's output.
process.env['AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED'] ??= 'true';

export interface ObjectInfo {
  readonly key: string;
  readonly size: number;
  /** The content's sha256 recorded at upload (S3 metadata `sha256`), from head() only. */
  readonly sha256?: string;
}

/** Bytes [start, end) of an object; end absent: to its end. */
export interface ByteRange {
  readonly start: number;
  readonly end?: number;
}

export interface ObjectStore {
  /** Printable location, without credentials. */
  readonly uri: string;
  /** Writes the whole object; readers see the old object or the new one, never a part. */
  put(key: string, body: Uint8Array | string): Promise<void>;
  /**
   * Streams a local file into the object (multipart on S3), atomically as put(). With `sha256`
   * (the file's, hex) S3 records it as metadata and checks every part's SHA-256 on arrival.
   */
  putFile(key: string, path: string, options?: { readonly sha256?: string }): Promise<void>;
  /**
   * Moves a finished local file into the object (multipart on S3), atomically as put(); the
   * file is gone afterwards. The local store renames it when it lies on the same file system.
   */
  adoptFile(key: string, path: string): Promise<void>;
  /**
   * Creates the object only when the key is free; false (and nothing written) when it exists.
   * Two racing callers cannot both get true: the commit point of the shard protocol.
   */
  putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean>;
  /** Throws ObjectNotFoundError when the key does not exist. */
  get(key: string): Promise<Uint8Array>;
  /** The object's bytes (or a range of them) as a stream; ObjectNotFoundError when absent. */
  getStream(key: string, range?: ByteRange): Promise<Readable>;
  head(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with prefix, in key order. */
  list(prefix: string): AsyncIterable<ObjectInfo>;
  delete(key: string): Promise<void>;
  /**
   * The file on this machine that holds the object, for readers that open it in place instead of
   * copying it; only stores that keep objects as local files have it.
   */
  filePath?(key: string): string;
  close(): void;
}

export class ObjectNotFoundError extends Error {
  constructor(
    readonly storeUri: string,
    readonly key: string,
  ) {
    super(`store ${storeUri}: object ${key} not found`);
    this.name = 'ObjectNotFoundError';
  }
}

export class InvalidKeyError extends Error {
  constructor(readonly key: string) {
    super(
      `store: invalid key ${JSON.stringify(key)}: expected '/'-separated segments without '.', '..' or empty parts`,
    );
    this.name = 'InvalidKeyError';
  }
}

function checkKey(key: string): string {
  if (key === '' || key.startsWith('/') || key.split('/').some((p) => p === '' || p === '.' || p === '..')) {
    throw new InvalidKeyError(key);
  }
  return key;
}

export class LocalDirStore implements ObjectStore {
  readonly uri: string;
  constructor(readonly root: string) {
    this.uri = `file://${root}`;
  }

  private path(key: string): string {
    return join(this.root, ...checkKey(key).split('/'));
  }

  /** Temporary files live beside their target so that rename() stays on one file system. */
  private async atomicWrite(key: string, write: (tmp: string) => Promise<void>): Promise<void> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomUUID()}`;
    try {
      await write(tmp);
      await rename(tmp, target);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    await this.atomicWrite(key, (tmp) => writeFile(tmp, body));
  }

  async putFile(key: string, path: string): Promise<void> {
    await this.atomicWrite(key, (tmp) => pipeline(createReadStream(path), createWriteStream(tmp)));
  }

  async adoptFile(key: string, path: string): Promise<void> {
    await this.atomicWrite(key, async (tmp) => {
      try {
        await rename(path, tmp);
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EXDEV') throw err;
        await copyFile(path, tmp);
        await rm(path, { force: true });
      }
    });
  }

  /** link() fails when the target exists, so exactly one of several racing writers creates it. */
  async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    const target = this.path(key);
    await mkdir(dirname(target), { recursive: true });
    const tmp = `${target}.tmp-${randomUUID()}`;
    try {
      await writeFile(tmp, body);
      await link(tmp, target);
      return true;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
      throw err;
    } finally {
      await unlink(tmp).catch(() => undefined);
    }
  }

  filePath(key: string): string {
    return this.path(key);
  }

  async getStream(key: string, range?: ByteRange): Promise<Readable> {
    const path = this.path(key);
    if (!(await this.head(key))) throw new ObjectNotFoundError(this.uri, key);
    if (range?.end !== undefined && range.end <= range.start) return Readable.from([]);
    return createReadStream(path, {
      ...(range ? { start: range.start } : {}),
      ...(range?.end === undefined ? {} : { end: range.end - 1 }),
    });
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      return new Uint8Array(await readFile(this.path(key)));
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new ObjectNotFoundError(this.uri, key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.path(key));
      return s.isFile() ? { key, size: s.size } : undefined;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const walk = async function* (dir: string, root: string): AsyncIterable<ObjectInfo> {
      let entries;
      try {
        entries = await readdir(dir, { withFileTypes: true });
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
        throw err;
      }
      entries.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
      for (const entry of entries) {
        const full = join(dir, entry.name);
        if (entry.isDirectory()) yield* walk(full, root);
        else if (entry.isFile() && !entry.name.includes('.tmp-')) {
          yield { key: relative(root, full).split(sep).join('/'), size: (await stat(full)).size };
        }
      }
    };
    // Walk from the deepest directory that the prefix names, then filter by the full prefix.
    const dirPart = prefix.includes('/') ? prefix.slice(0, prefix.lastIndexOf('/')) : '';
    const start = dirPart ? join(this.root, ...dirPart.split('/')) : this.root;
    for await (const info of walk(start, this.root)) {
      if (info.key.startsWith(prefix)) yield info;
    }
  }

  async delete(key: string): Promise<void> {
    await rm(this.path(key), { force: true });
  }

  close(): void {}
}

export class S3Store implements ObjectStore {
  readonly uri: string;
  constructor(
    private readonly client: S3Client,
    readonly bucket: string,
    readonly prefix: string,
  ) {
    this.uri = `s3://${bucket}/${prefix}`;
  }

  private objectKey(key: string): string {
    return this.prefix ? `${this.prefix}/${checkKey(key)}` : checkKey(key);
  }

  async put(key: string, body: Uint8Array | string): Promise<void> {
    await this.client.send(
      new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body }),
    );
  }

  async putFile(key: string, path: string, options: { readonly sha256?: string } = {}): Promise<void> {
    // An S3 object (multipart included) becomes visible only when the upload completes.
    const upload = new Upload({
      client: this.client,
      params: {
        Bucket: this.bucket,
        Key: this.objectKey(key),
        Body: createReadStream(path),
        ...(options.sha256 ? { Metadata: { sha256: options.sha256 }, ChecksumAlgorithm: 'SHA256' } : {}),
      },
      partSize: 8 * 1024 * 1024,
      queueSize: 4,
    });
    await upload.done();
  }

  async adoptFile(key: string, path: string): Promise<void> {
    await this.putFile(key, path);
    await rm(path, { force: true });
  }

  async putIfAbsent(key: string, body: Uint8Array | string): Promise<boolean> {
    try {
      await this.client.send(
        new PutObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key), Body: body, IfNoneMatch: '*' }),
      );
      return true;
    } catch (err) {
      const status = (err as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
      if (status === 412) return false;
      throw err;
    }
  }

  async getStream(key: string, range?: ByteRange): Promise<Readable> {
    if (range?.end !== undefined && range.end <= range.start) return Readable.from([]);
    const bytes = range && `bytes=${range.start}-${range.end === undefined ? '' : range.end - 1}`;
    try {
      const out = await this.client.send(
        new GetObjectCommand({
          Bucket: this.bucket,
          Key: this.objectKey(key),
          ...(bytes ? { Range: bytes } : {}),
        }),
      );
      if (!out.Body) throw new ObjectNotFoundError(this.uri, key);
      return out.Body as Readable;
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') throw new ObjectNotFoundError(this.uri, key);
      throw err;
    }
  }

  async get(key: string): Promise<Uint8Array> {
    try {
      const out = await this.client.send(
        new GetObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      if (!out.Body) throw new ObjectNotFoundError(this.uri, key);
      return await out.Body.transformToByteArray();
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NoSuchKey' || name === 'NotFound') throw new ObjectNotFoundError(this.uri, key);
      throw err;
    }
  }

  async head(key: string): Promise<ObjectInfo | undefined> {
    try {
      const out = await this.client.send(
        new HeadObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }),
      );
      const sha256 = out.Metadata?.['sha256'];
      return { key, size: out.ContentLength ?? 0, ...(sha256 ? { sha256 } : {}) };
    } catch (err) {
      const name = (err as { name?: string }).name;
      if (name === 'NotFound' || name === 'NoSuchKey') return undefined;
      throw err;
    }
  }

  async *list(prefix: string): AsyncIterable<ObjectInfo> {
    const base = this.prefix ? `${this.prefix}/` : '';
    let token: string | undefined;
    do {
      const out = await this.client.send(
        new ListObjectsV2Command({ Bucket: this.bucket, Prefix: base + prefix, ContinuationToken: token }),
      );
      for (const object of out.Contents ?? []) {
        if (object.Key) yield { key: object.Key.slice(base.length), size: object.Size ?? 0 };
      }
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
  }

  async delete(key: string): Promise<void> {
    await this.client.send(new DeleteObjectCommand({ Bucket: this.bucket, Key: this.objectKey(key) }));
  }

  close(): void {
    this.client.destroy();
  }
}

/** An S3 client for an S3-compatible endpoint; credentials from the given pair or the AWS chain. */
export function s3Client(options: {
  endpoint?: string | undefined;
  region: string;
  forcePathStyle: boolean;
  credentials?: { accessKeyId: string; secretAccessKey: string };
}): S3Client {
  return new S3Client({
    region: options.region,
    forcePathStyle: options.forcePathStyle,
    ...(options.endpoint ? { endpoint: options.endpoint } : {}),
    ...(options.credentials ? { credentials: options.credentials } : {}),
  });
}

/** The S3 server answered that these credentials may not use the bucket: no wait or retry changes that. */
export class BucketAccessError extends Error {
  constructor(
    readonly bucket: string,
    readonly seen: string,
  ) {
    super(
      `bucket ${bucket}: the S3 server refused access (${seen}); expected credentials allowed to read and create it: check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the dev stack's are in its s3/credentials.json)`,
    );
    this.name = 'BucketAccessError';
  }
}

/**
 * True once the bucket exists (created when the server answers that it is missing); false while
 * the server is not answering. A refusal (HTTP 401/403: AccessDenied, a wrong key or signature) is
 * an answer, not a missing bucket and not a server still starting: it throws BucketAccessError.
 */
export async function ensureBucket(client: S3Client, bucket: string): Promise<boolean> {
  try {
    await client.send(new HeadBucketCommand({ Bucket: bucket }));
    return true;
  } catch (err) {
    const { name, $metadata } = err as { name?: string; $metadata?: { httpStatusCode?: number } };
    const status = $metadata?.httpStatusCode;
    if (
      status === 401 ||
      status === 403 ||
      /^(AccessDenied|Forbidden|InvalidAccessKeyId|SignatureDoesNotMatch)$/.test(name ?? '')
    ) {
      throw new BucketAccessError(bucket, `${name ?? 'error'}, HTTP ${status ?? '?'}`);
    }
    if (status === 404 || name === 'NotFound' || name === 'NoSuchBucket') {
      await client.send(new CreateBucketCommand({ Bucket: bucket }));
      return true;
    }
    return false;
  }
}

/** Opens the store that the configuration names. */
export function openStore(config: StoreConfig): ObjectStore {
  if (config.uri.startsWith('s3://')) {
    const rest = config.uri.slice('s3://'.length);
    const slash = rest.indexOf('/');
    const bucket = slash < 0 ? rest : rest.slice(0, slash);
    const prefix = slash < 0 ? '' : rest.slice(slash + 1).replace(/\/+$/, '');
    const client = s3Client({
      endpoint: config.s3Endpoint,
      region: config.s3Region,
      forcePathStyle: config.s3ForcePathStyle,
    });
    return new S3Store(client, bucket, prefix);
  }
  const root = config.uri.startsWith('file://') ? config.uri.slice('file://'.length) : config.uri;
  return new LocalDirStore(root.replace(/\/+$/, ''));
}
