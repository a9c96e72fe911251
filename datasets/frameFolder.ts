/**
 * A frame folder (Aff-Wild2 cropped/: frame f is `%05d.jpg`, 1-based): which images it holds,
 * its content hash, and the frames without an image.
 */
import { createHash } from 'node:crypto';
import type { DatasetSource } from './source.ts';

const FRAME_IMAGE = /^(\d{5,})\.jpg$/;

export interface FolderScan {
  readonly highest: number;
  readonly present: Uint8Array;
  readonly contentHash: string;
  readonly firstImage?: string;
  readonly stray: string[];
}

export function scanFrameFolder(source: DatasetSource, dir: string): FolderScan {
  const names = source.names(dir).map((n) => n.name);
  const hash = createHash('sha256');
  const indexes: number[] = [];
  const stray: string[] = [];
  for (const name of names) {
    const match = FRAME_IMAGE.exec(name);
    if (!match) {
      stray.push(name);
      continue;
    }
    const index = Number(match[1]);
    if (index < 1) {
      stray.push(name);
      continue;
    }
    indexes.push(index);
    hash.update(`${name}:${source.size(`${dir}/${name}`)}\n`);
  }
  const highest = indexes.reduce((a, b) => Math.max(a, b), 0);
  const present = new Uint8Array(highest + 1);
  for (const i of indexes) present[i] = 1;
  const first = indexes.length ? indexes.reduce((a, b) => Math.min(a, b)) : undefined;
  return {
    highest,
    present,
    contentHash: hash.digest('hex'),
    firstImage: first === undefined ? undefined : `${String(first).padStart(5, '0')}.jpg`,
    stray,
  };
}

/** 1-based inclusive ranges of frames 1..frameCount without an image. */
export function missingRanges(present: Uint8Array, frameCount: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let f = 1; f <= frameCount; f++) {
    if (present[f]) continue;
    const last = ranges.at(-1);
    if (last && last[1] === f - 1) last[1] = f;
    else ranges.push([f, f]);
  }
  return ranges;
}

export const rangeText = (ranges: readonly (readonly [number, number])[], limit = 8): string =>
  ranges
    .slice(0, limit)
    .map(([a, b]) => (a === b ? String(a) : `${a}-${b}`))
    .join(', ') + (ranges.length > limit ? `, ... (${ranges.length} ranges)` : '');
