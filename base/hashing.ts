/** sha256 digests, in hex, for content checksums and for the short ids derived from names and settings. */
import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';

export function sha256Hex(bytes: Uint8Array | string): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** sha256 of a file, read as a stream (model files and videos can be large). */
export async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
}

/** 16 hex digits of the sha256 of the parts joined by NUL: ids of shards, settings and scratch keys. */
export function shortHash(...parts: readonly (string | number)[]): string {
  return sha256Hex(parts.join('\u0000')).slice(0, 16);
}
