/**
 * Crop encoding for frames shards and backbone preprocessing (SPEC §2): RGB, squash resize to
 * S x S (bilinear, no aspect preservation), scale to [0,1], per-channel (x - mean) / std, NCHW
 * float32.
 *
 * The reference (HSEmotion, torchvision Resize on PIL images) resizes with PIL's bilinear filter;
 * media/png.ts (or sharp, for other formats) decodes the crop and media/resample.ts reproduces
 * PIL's resize bit for bit, so the preprocessed tensor equals PIL + numpy's (docs/FRAMES.md).
 */
import sharp, { type Sharp } from 'sharp';
import { decodeJpegRows } from './jpeg.ts';
import { decodeRgbPng, decodeRgbPngRows, encodeRgbPng } from './png.ts';
import { resizeNormalizeInto, type Normalisation, type RgbRows } from './resample.ts';

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

/**
 * Decodes PNG/JPEG bytes to packed RGB (greyscale expanded, alpha dropped), at native size;
 * 8-bit RGB PNGs (the crops affectflow stores) take media/png.ts's faster path.
 */
export async function decodeImage(encoded: Uint8Array, source = 'crop'): Promise<RgbImage> {
  return decodeWithSharp(sharp(encoded), source, () => decodeRgbPng(encoded));
}

/**
 * Packed RGB from a sharp input (alpha dropped, greyscale expanded), after `fast` when it
 * decodes the image itself. Throws ImageError naming `source`.
 */
export async function decodeWithSharp(
  input: Sharp,
  source: string,
  fast: () => RgbImage | undefined = () => undefined,
): Promise<RgbImage> {
  try {
    const quick = fast();
    if (quick) return quick;
    const { data, info } = await input
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
  const rect = region ?? { left: 0, top: 0, width: frame.width, height: frame.height };
  // Stored, not deflated: these crops are decoded once per backbone, and zlib at level 3 saved 12%
  // of their size but cost 0.8 ms per crop to inflate against 0.3 ms (docs/FRAMES.md).
  if (Math.max(rect.width, rect.height) <= maxSide) {
    // No resize: written here, about 0.1 ms against sharp's 1 ms per-image pipeline.
    return { png: encodeRgbPng(frame.rgb, frame.width, rect), width: rect.width, height: rect.height };
  }
  const scale = maxSide / Math.max(rect.width, rect.height);
  const width = Math.max(1, Math.round(rect.width * scale));
  const height = Math.max(1, Math.round(rect.height * scale));
  let image = raw(frame);
  if (rect.width !== frame.width || rect.height !== frame.height) image = image.extract(rect);
  const png = await image.resize({ width, height, fit: 'fill' }).png({ compressionLevel: 0 }).toBuffer();
  return { png: new Uint8Array(png.buffer, png.byteOffset, png.length), width, height };
}

/**
 * The version of what preprocessCrops outputs for given crop bytes and descriptor: decoding (PNG,
 * libjpeg-turbo JPEG, sharp otherwise), PIL-exact bilinear resize and the normalisation table.
 * Embedding keys carry it (activities/embed.ts embeddingConfigHash), so embeddings of another
 * preprocessing never count as current. Bump it with any change of the output; the golden
 * tensors in test/keys.test.ts fail until it is bumped and their hashes recorded again.
 */
export const PREPROCESS_VERSION = 'pil-bilinear-lut/1';

/** What preprocessing needs of a backbone descriptor (models/registry.ts). */
export interface PreprocessSpec {
  /** Side of the square input, pixels. */
  readonly inputSize: number;
  /** Per channel, in the model's channel order, on 0..1 pixel values: (x - mean) / std. */
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly channelOrder: 'RGB' | 'BGR';
}

/** One crop of a batch that could not be preprocessed: which one, and why. */
export class CropError extends Error {
  constructor(
    readonly index: number,
    readonly detail: string,
  ) {
    super(`crop ${index} of the batch: ${detail}`);
    this.name = 'CropError';
  }
}

/**
 * Preprocesses crops into one CHW float32 tensor per crop, back to back, in `tensor` (a new one by
 * default); a failed crop is a CropError.
 */
export async function preprocessCrops(
  crops: readonly Uint8Array[],
  spec: PreprocessSpec,
  tensor: Float32Array = new Float32Array(crops.length * 3 * spec.inputSize * spec.inputSize),
): Promise<Float32Array> {
  const plane = 3 * spec.inputSize * spec.inputSize;
  await Promise.all(
    crops.map((crop, i) =>
      preprocessCrop(crop, spec, tensor, i * plane).catch((err: unknown) => {
        throw new CropError(i, (err as Error).message);
      }),
    ),
  );
  return tensor;
}

/**
 * Decodes one encoded crop and writes it, preprocessed for the backbone, into
 * out[offset .. offset + 3*S*S) as CHW float32.
 */
export async function preprocessCrop(
  encoded: Uint8Array,
  descriptor: PreprocessSpec,
  out: Float32Array,
  offset: number,
): Promise<void> {
  let rows: RgbRows | undefined;
  try {
    rows = decodeRgbPngRows(encoded) ?? decodeJpegRows(encoded);
  } catch (err) {
    throw new ImageError('crop', `cannot decode: ${(err as Error).message}`);
  }
  if (!rows) {
    const image = await decodeImage(encoded);
    rows = {
      width: image.width,
      height: image.height,
      data: image.rgb,
      offset: 0,
      stride: image.width * 3,
      pixelBytes: 3,
    };
  }
  resizeNormalizeInto(rows, descriptor.inputSize, normalisation(descriptor), out, offset);
}

/**
 * Writes packed RGB S x S pixels as CHW float32 (x/255 - mean[c]) / std[c] into out at offset;
 * mean and std are in the backbone's channel order.
 */
export function normalizeInto(
  rgb: Uint8Array,
  size: number,
  descriptor: Omit<PreprocessSpec, 'inputSize'>,
  out: Float32Array,
  offset: number,
): void {
  if (rgb.length !== size * size * 3)
    throw new Error(`preprocess: expected ${size}x${size}x3 pixels, got ${rgb.length} bytes`);
  const rows = { width: size, height: size, data: rgb, offset: 0, stride: size * 3, pixelBytes: 3 } as const;
  resizeNormalizeInto(rows, size, normalisation(descriptor), out, offset);
}

const normalisations = new Map<string, Normalisation>();

/**
 * Per output channel c, the 256 values (v/255 - mean[c]) / std[c] (computed as v * scale - shift
 * in double, then float32) and which RGB byte feeds it.
 */
function normalisation(descriptor: Omit<PreprocessSpec, 'inputSize'>): Normalisation {
  const key = JSON.stringify([descriptor.mean, descriptor.std, descriptor.channelOrder]);
  let found = normalisations.get(key);
  if (!found) {
    const order = descriptor.channelOrder === 'RGB' ? ([0, 1, 2] as const) : ([2, 1, 0] as const);
    const lut = new Float32Array(3 * 256);
    for (let c = 0; c < 3; c++) {
      const scale = 1 / (255 * descriptor.std[c]!);
      const shift = descriptor.mean[c]! / descriptor.std[c]!;
      for (let v = 0; v < 256; v++) lut[c * 256 + v] = v * scale - shift;
    }
    found = { lut, order };
    normalisations.set(key, found);
  }
  return found;
}
