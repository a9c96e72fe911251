/**
 * What a video file or photo must be before it is probed and hashed: readable by this process,
 * and written out whole. A sparse file (truncate -s, a preallocated or interrupted copy) reads as
 * zeros where nothing is stored; hashing 100 GiB of them would hold the manifest for minutes to
 * hours, and no decoder finds frames there, so it is left out after one stat.
 */
import { open } from 'node:fs/promises';

/** Files this large are checked for holes; smaller ones cost little to hash whatever they hold. */
export const SPARSE_CHECK_BYTES = 2 ** 30;

const GIB = 2 ** 30;
const MIB = 2 ** 20;

function sizeText(bytes: number): string {
  return bytes >= GIB ? `${(bytes / GIB).toFixed(1)} GiB` : `${(bytes / MIB).toFixed(1)} MiB`;
}

/**
 * Why the file at `path` cannot be a source, as the rest of a finding ("cannot be read (EACCES:
 * permission denied), ..."), or undefined when it can be probed.
 */
export async function sourceFileProblem(path: string): Promise<string | undefined> {
  let stats;
  try {
    const file = await open(path, 'r');
    try {
      stats = await file.stat();
    } finally {
      await file.close();
    }
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    const reason = e.message.split(', ')[0] ?? e.message;
    return `cannot be read (${e.code && !reason.startsWith(e.code) ? `${e.code}: ${reason}` : reason}), expected a file the frames workers can read; left out: fix its permissions`;
  }
  // st_blocks counts 512-byte units on Linux and macOS, whatever the file system's block size.
  const stored = stats.blocks * 512;
  if (stats.size >= SPARSE_CHECK_BYTES && stored < stats.size / 4)
    return `a sparse file of ${sizeText(stats.size)} with ${sizeText(stored)} stored on disk (the rest reads as zeros), expected a file written out whole; left out without reading it: copy the complete file`;
  return undefined;
}
