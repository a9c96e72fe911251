/**
 * Face sources and what turns a detection into a stored crop: the crop rectangle (raw box by
 * default, as the reference; margin and squaring optional), and reading the per-frame images a
 * dataset provides and the photos of a photo dataset. Tracks: media/tracking.ts.
 */
import { readFile } from 'node:fs/promises';
import { join } from 'node:path';
import sharp from 'sharp';
import { decodeWithSharp, ImageError, type PixelRect, type RgbImage } from './preprocess.ts';

export { IouTracker } from './tracking.ts';

/**
 * Where the faces of a video come from: 'provided' per-frame crops of the dataset (Aff-Wild2
 * cropped/), 'whole-frame' (face-centred data), or 'yunet' (the detector on every decoded frame).
 */
export type FaceSource = 'provided' | 'whole-frame' | 'yunet';
export const FACE_SOURCES: readonly FaceSource[] = Object.freeze(['provided', 'whole-frame', 'yunet']);

export interface CropOptions {
  /** Added on every side, as a fraction of the box's width (left/right) and height (top/bottom). */
  readonly margin: number;
  /** Grow the shorter side of the box to the longer one, around its centre. */
  readonly square: boolean;
}

export const RAW_BOX: CropOptions = Object.freeze({ margin: 0, square: false });

/**
 * The integer pixel rectangle to crop for a box (x, y, width, height in source pixels): margin,
 * then squaring, then outward rounding and clipping to the image. Null when nothing is left.
 */
export function cropRect(
  box: readonly [number, number, number, number],
  imageWidth: number,
  imageHeight: number,
  options: CropOptions = RAW_BOX,
): PixelRect | null {
  let [x, y, w, h] = box;
  x -= w * options.margin;
  y -= h * options.margin;
  w *= 1 + 2 * options.margin;
  h *= 1 + 2 * options.margin;
  if (options.square) {
    const side = Math.max(w, h);
    x -= (side - w) / 2;
    y -= (side - h) / 2;
    w = h = side;
  }
  const left = Math.max(0, Math.floor(x));
  const top = Math.max(0, Math.floor(y));
  const right = Math.min(imageWidth, Math.ceil(x + w));
  const bottom = Math.min(imageHeight, Math.ceil(y + h));
  if (right - left < 1 || bottom - top < 1) return null;
  return { left, top, width: right - left, height: bottom - top };
}

/** Path of frame f (1-based) in a provided-crops folder: `%05d.jpg`. */
export function providedFramePath(dir: string, frame: number): string {
  return join(dir, `${String(frame).padStart(5, '0')}.jpg`);
}

/** The bytes of frame f's provided crop, or null when the dataset has no image for it (no face). */
export async function readProvidedFrame(dir: string, frame: number): Promise<Uint8Array | null> {
  try {
    return new Uint8Array(await readFile(providedFramePath(dir, frame)));
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/**
 * A photo (JPEG, PNG, WebP) as packed RGB, turned upright by its EXIF orientation as a viewer
 * shows it (alpha dropped, greyscale expanded). Throws ImageError naming `source`.
 */
export function readPhoto(path: string, source = path): Promise<RgbImage> {
  return decodeWithSharp(sharp(path).rotate(), source);
}

/** A photo's upright size (EXIF orientation applied) from its header, without decoding it. */
export async function photoSize(path: string, source = path): Promise<{ width: number; height: number }> {
  try {
    const meta = await sharp(path).metadata();
    const quarterTurn = (meta.orientation ?? 1) >= 5;
    const width = meta.width ?? 0;
    const height = meta.height ?? 0;
    if (!(width > 0 && height > 0)) throw new Error(`expected a positive size, got ${width}x${height}`);
    return quarterTurn ? { width: height, height: width } : { width, height };
  } catch (err) {
    throw new ImageError(source, `cannot read: ${(err as Error).message}`);
  }
}

export class FaceSourceError extends Error {
  constructor(
    readonly video: string,
    readonly detail: string,
  ) {
    super(`face source for ${video}: ${detail}`);
    this.name = 'FaceSourceError';
  }
}
