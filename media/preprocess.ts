/**
 * Crop encoding for frames shards and backbone preprocessing with sharp (SPEC §2): RGB, squash
 * resize to S x S (bilinear, no aspect preservation), scale to [0,1], per-channel (x - mean) / std,
 * NCHW float32.
 *
 * The reference (HSEmotion, torchvision Resize on PIL images) resizes with PIL's bilinear filter:
 * separable, horizontal pass first, pixel centres aligned, and area-aware when reducing (the
 * triangle widens with the reduction factor). squashResize reproduces that with sharp one axis at
 * a time: libvips' reduce with the linear kernel for an axis that shrinks (the same widened
 * triangle), and an affine bilinear map with centre offsets over an edge-replicated border for
 * an axis that grows (libvips' own upsizing is not centre-aligned). docs/FRAMES.md gives the
 * measured agreement with PIL.
 */
import sharp, { type Sharp } from 'sharp';
import type { BackboneDescriptor } from '../models/registry.ts';

export class ImageError extends Error {
  constructor(
    readonly source: string,
    readonly detail: string,
  ) {
    super(`image ${source}: ${detail}`);
    this.name = 'ImageError';
  }
}

/** Packed RGB pixels, 3 bytes per pixel, row-major. */
export interface RgbImage {
  readonly width: number;
  readonly height: number;
  readonly rgb: Uint8Array;
}

/** Integer pixel rectangle inside an image: left, top, width, height. */
export interface PixelRect {
  readonly left: number;
  readonly top: number;
  readonly width: number;
  readonly height: number;
}

function raw(image: RgbImage): Sharp {
  return sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } });
}

async function rawOut(pipeline: Sharp, width: number, height: number, step: string): Promise<RgbImage> {
  const { data, info } = await pipeline.raw().toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width < width || info.height < height) {
    throw new Error(
      `preprocess ${step}: expected at least ${width}x${height}x3, got ${info.width}x${info.height}x${info.channels}`,
    );
  }
  const image = {
    width: info.width,
    height: info.height,
    rgb: new Uint8Array(data.buffer, data.byteOffset, data.length),
  };
  return info.width === width && info.height === height ? image : topLeft(image, width, height);
}

/** The top-left width x height pixels. */
function topLeft(image: RgbImage, width: number, height: number): RgbImage {
  const rgb = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++)
    rgb.set(image.rgb.subarray(y * image.width * 3, (y * image.width + width) * 3), y * width * 3);
  return { width, height, rgb };
}

const BORDER = 2;

/** The image with BORDER pixels replicated from its edge on both sides of one axis. */
function replicateBorder(image: RgbImage, axis: 'x' | 'y'): RgbImage {
  const { width: w, height: h } = image;
  if (axis === 'y') {
    const rgb = new Uint8Array(w * (h + 2 * BORDER) * 3);
    rgb.set(image.rgb, BORDER * w * 3);
    for (let b = 0; b < BORDER; b++) {
      rgb.copyWithin(b * w * 3, BORDER * w * 3, (BORDER + 1) * w * 3);
      rgb.copyWithin((BORDER + h + b) * w * 3, (BORDER + h - 1) * w * 3, (BORDER + h) * w * 3);
    }
    return { width: w, height: h + 2 * BORDER, rgb };
  }
  const pw = w + 2 * BORDER;
  const rgb = new Uint8Array(pw * h * 3);
  for (let y = 0; y < h; y++) {
    const row = y * pw * 3;
    rgb.set(image.rgb.subarray(y * w * 3, (y + 1) * w * 3), row + BORDER * 3);
    for (let b = 0; b < BORDER; b++) {
      rgb.copyWithin(row + b * 3, row + BORDER * 3, row + (BORDER + 1) * 3);
      rgb.copyWithin(row + (BORDER + w + b) * 3, row + (BORDER + w - 1) * 3, row + (BORDER + w) * 3);
    }
  }
  return { width: pw, height: h, rgb };
}

/** One axis of the squash resize; the other axis is left alone. */
async function resizeAxis(image: RgbImage, axis: 'x' | 'y', target: number): Promise<RgbImage> {
  const from = axis === 'x' ? image.width : image.height;
  if (from === target) return image;
  const width = axis === 'x' ? target : image.width;
  const height = axis === 'y' ? target : image.height;
  if (target < from) {
    return rawOut(
      raw(image).resize({ width, height, fit: 'fill', kernel: 'linear' }),
      width,
      height,
      'reduce',
    );
  }
  // Output centre X + 0.5 = s * (x + 0.5) in source pixels; the source is shifted by the border.
  const s = target / from;
  const padded = replicateBorder(image, axis);
  const shift = -BORDER + 0.5;
  return rawOut(
    raw(padded).affine(
      axis === 'x'
        ? [
            [s, 0],
            [0, 1],
          ]
        : [
            [1, 0],
            [0, s],
          ],
      {
        interpolator: 'bilinear',
        idx: axis === 'x' ? shift : 0,
        idy: axis === 'y' ? shift : 0,
        odx: axis === 'x' ? -0.5 : 0,
        ody: axis === 'y' ? -0.5 : 0,
      },
    ),
    width,
    height,
    'enlarge',
  );
}

/**
 * Squash-resizes packed RGB to width x height like PIL's Image.resize(..., BILINEAR): the
 * horizontal pass first, then the vertical one, each rounded to 8 bits.
 */
export async function squashResize(
  image: RgbImage,
  width: number,
  height: number = width,
): Promise<RgbImage> {
  // libvips reduces horizontally then vertically, rounding in between, as PIL does: both axes
  // shrinking is one call.
  if (width < image.width && height < image.height) {
    return rawOut(
      raw(image).resize({ width, height, fit: 'fill', kernel: 'linear' }),
      width,
      height,
      'reduce',
    );
  }
  return resizeAxis(await resizeAxis(image, 'x', width), 'y', height);
}

/** Decodes PNG/JPEG bytes to packed RGB (greyscale expanded, alpha dropped), at native size. */
export async function decodeImage(encoded: Uint8Array, source = 'crop'): Promise<RgbImage> {
  try {
    const { data, info } = await sharp(encoded)
      .removeAlpha()
      .toColourspace('srgb')
      .raw()
      .toBuffer({ resolveWithObject: true });
    if (info.channels !== 3) throw new Error(`expected 3 channels after decoding, got ${info.channels}`);
    return {
      width: info.width,
      height: info.height,
      rgb: new Uint8Array(data.buffer, data.byteOffset, data.length),
    };
  } catch (err) {
    throw new ImageError(source, `cannot decode: ${(err as Error).message}`);
  }
}

/**
 * Encodes a region of a packed RGB frame (default: all of it) as lossless PNG, shrunk (aspect
 * kept) so its longer side is <= maxSide. Returns the PNG and the stored size in pixels.
 */
export async function encodeCrop(
  frame: RgbImage,
  maxSide: number,
  region?: PixelRect,
): Promise<{ png: Uint8Array; width: number; height: number }> {
  let image = raw(frame);
  let width = frame.width;
  let height = frame.height;
  if (region && (region.width !== width || region.height !== height)) {
    image = image.extract(region);
    width = region.width;
    height = region.height;
  }
  if (Math.max(width, height) > maxSide) {
    const scale = maxSide / Math.max(width, height);
    width = Math.max(1, Math.round(width * scale));
    height = Math.max(1, Math.round(height * scale));
    image = image.resize({ width, height, fit: 'fill' });
  }
  const png = await image.png({ compressionLevel: 3 }).toBuffer();
  return { png: new Uint8Array(png.buffer, png.byteOffset, png.length), width, height };
}

/**
 * Decodes one encoded crop and writes it, preprocessed for the backbone, into
 * out[offset .. offset + 3*S*S) as CHW float32.
 */
export async function preprocessCrop(
  encoded: Uint8Array,
  descriptor: Pick<BackboneDescriptor, 'inputSize' | 'mean' | 'std' | 'channelOrder'>,
  out: Float32Array,
  offset: number,
): Promise<void> {
  const size = descriptor.inputSize;
  const resized = await squashResize(await decodeImage(encoded), size);
  normalizeInto(resized.rgb, size, descriptor, out, offset);
}

/**
 * Writes packed RGB S x S pixels as CHW float32 (x/255 - mean[c]) / std[c] into out at offset;
 * mean and std are in the backbone's channel order.
 */
export function normalizeInto(
  rgb: Uint8Array,
  size: number,
  descriptor: Pick<BackboneDescriptor, 'mean' | 'std' | 'channelOrder'>,
  out: Float32Array,
  offset: number,
): void {
  const plane = size * size;
  if (rgb.length !== plane * 3)
    throw new Error(`preprocess: expected ${size}x${size}x3 pixels, got ${rgb.length} bytes`);
  const order = descriptor.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const src = order[c]!;
    const scale = 1 / (255 * descriptor.std[c]!);
    const shift = descriptor.mean[c]! / descriptor.std[c]!;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = rgb[i * 3 + src]! * scale - shift;
  }
}
