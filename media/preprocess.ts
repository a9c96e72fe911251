/**
 * Crop encoding for frames shards and backbone preprocessing with sharp (SPEC §2): RGB, squash
 * resize to S x S (bilinear, no aspect preservation), scale to [0,1], per-channel (x - mean) / std,
 * NCHW float32.
 */
import sharp from 'sharp';
import type { BackboneDescriptor } from '../models/registry.ts';

/** Encodes a packed RGB crop as lossless PNG, shrunk (aspect kept) so its longer side is <= maxSide. */
export async function encodeCrop(
  rgb: Uint8Array,
  width: number,
  height: number,
  maxSide: number,
): Promise<Uint8Array> {
  let image = sharp(rgb, { raw: { width, height, channels: 3 } });
  if (Math.max(width, height) > maxSide)
    image = image.resize({ width: maxSide, height: maxSide, fit: 'inside' });
  return new Uint8Array(await image.png({ compressionLevel: 3 }).toBuffer());
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
  const { data, info } = await sharp(encoded)
    .removeAlpha()
    .toColourspace('srgb')
    .resize({ width: size, height: size, fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer({ resolveWithObject: true });
  if (info.channels !== 3 || info.width !== size || info.height !== size) {
    throw new Error(
      `preprocess: expected ${size}x${size}x3 after resize, got ${info.width}x${info.height}x${info.channels}`,
    );
  }
  const plane = size * size;
  const order = descriptor.channelOrder === 'RGB' ? [0, 1, 2] : [2, 1, 0];
  for (let c = 0; c < 3; c++) {
    const src = order[c]!;
    const scale = 1 / (255 * descriptor.std[c]!);
    const shift = descriptor.mean[c]! / descriptor.std[c]!;
    const base = offset + c * plane;
    for (let i = 0; i < plane; i++) out[base + i] = data[i * 3 + src]! * scale - shift;
  }
}
