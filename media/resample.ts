/**
 * PIL's bilinear resize, bit for bit: Image.resize((w, h), BILINEAR) on an 8-bit RGB image, which
 * is what torchvision's Resize does to the PIL images HSEmotion's backbones were trained on
 * (SPEC §2). This module computes the filters and plans the passes; the per-pixel sums run in
 * the SIMD kernel (media/kernels/resample.ts), 4 to 6 times faster than the same integer
 * arithmetic in TypeScript (docs/FRAMES.md).
 *
 * The algorithm (Pillow 13's libImaging/Resample.c): a separable triangle filter, one pass per
 * axis (horizontal first unless the height shrinks much more, see below), each rounded to 8 bits. For output pixel x the filter is centred at
 * (x + 0.5) * scale in source pixels (scale = in / out) and widened by the scale when reducing
 * (area-aware antialiasing); taps falling outside the image are dropped and the rest
 * renormalised. Weights are fixed-point with 22 fractional bits, sums start at one half and are
 * shifted back and clamped to 0..255. Every step keeps those exact integers, so the output
 * equals PIL's (test/preprocess.test.ts asserts zero difference).
 */
import { layout, resampleKernel } from './kernels.ts';

/** Fractional bits of PIL's fixed-point weights for 8-bit images (32 - 8 - 2). */
const PRECISION_BITS = 22;

/** Per output pixel along one axis: first source pixel, tap count, and fixed-point weights. */
interface AxisFilter {
  readonly first: Int32Array;
  readonly taps: Int32Array;
  /** taps[i] weights for output i at weights[i * stride ...]. */
  readonly weights: Int32Array;
  readonly stride: number;
}

const filters = new Map<string, AxisFilter>();

function triangle(x: number): number {
  const a = Math.abs(x);
  return a < 1 ? 1 - a : 0;
}

/** The bilinear filter that maps inSize source pixels onto outSize, cached per size pair. */
function axisFilter(inSize: number, outSize: number): AxisFilter {
  const key = `${inSize}>${outSize}`;
  const cached = filters.get(key);
  if (cached) return cached;
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = filterScale; // the triangle's support (1) times the widening
  const stride = Math.ceil(support) * 2 + 1;
  const first = new Int32Array(outSize);
  const taps = new Int32Array(outSize);
  const weights = new Int32Array(outSize * stride);
  const w = new Float64Array(stride);
  const reciprocal = 1 / filterScale;
  for (let o = 0; o < outSize; o++) {
    const centre = (o + 0.5) * scale;
    // C's (int) truncation toward zero, then clamped to the image.
    const lo = Math.max(0, Math.trunc(centre - support + 0.5));
    const hi = Math.min(inSize, Math.trunc(centre + support + 0.5));
    const n = hi - lo;
    let sum = 0;
    for (let t = 0; t < n; t++) {
      w[t] = triangle((t + lo - centre + 0.5) * reciprocal);
      sum += w[t]!;
    }
    for (let t = 0; t < n; t++) {
      const v = sum !== 0 ? w[t]! / sum : w[t]!;
      weights[o * stride + t] = Math.trunc(
        v < 0 ? v * (1 << PRECISION_BITS) - 0.5 : v * (1 << PRECISION_BITS) + 0.5,
      );
    }
    first[o] = lo;
    taps[o] = n;
  }
  const filter = { first, taps, weights, stride };
  filters.set(key, filter);
  return filter;
}

/**
 * RGB pixel rows in a byte buffer: row y's width * pixelBytes bytes start at offset + y * stride
 * (a decoded PNG's rows, filter bytes between them, need no copy). pixelBytes 4 is RGBA with the
 * alpha ignored (a decoder's RGBA output), rows back to back.
 */
export interface RgbRows {
  readonly width: number;
  readonly height: number;
  readonly data: Uint8Array;
  readonly offset: number;
  readonly stride: number;
  readonly pixelBytes: 3 | 4;
}

/**
 * Resizes to outWidth x outHeight in the kernel's memory and returns the kernel and where the
 * packed result lies; `extra` bytes are reserved after it for the caller (the normalised tensor).
 */
function resizeInKernel(
  src: RgbRows,
  outWidth: number,
  outHeight: number,
  extra: number,
): { kernel: ReturnType<typeof resampleKernel>; rgb: number; extra: number } {
  const { width, height, pixelBytes } = src;
  const line = width * 3;
  const end = src.offset + (height - 1) * src.stride + width * pixelBytes;
  const rgba = pixelBytes === 4;
  if (
    width < 1 ||
    height < 1 ||
    src.stride < width * pixelBytes ||
    end > src.data.length ||
    (rgba && src.stride !== width * 4)
  )
    throw new Error(
      `resize: ${width}x${height} pixels of ${pixelBytes} bytes in rows ${src.stride} bytes apart need ${end} bytes from offset ${src.offset}, got ${src.data.length}`,
    );
  // RGBA is packed to RGB in kernel memory first; RGB rows are used where they lie.
  const stride = rgba ? line : src.stride;
  const h = axisFilter(width, outWidth);
  const v = axisFilter(height, outHeight);
  const outBytes = outWidth * outHeight * 3;
  const midBytes = Math.max(outWidth * height, width * outHeight) * 3;
  const kernel = resampleKernel();
  const filters = [h.first, h.taps, h.weights, v.first, v.taps, v.weights] as const;
  const [inAt, packedAt, midAt, dstAt, extraAt, hFirst, hTaps, hWeights, vFirst, vTaps, vWeights] = layout(
    kernel,
    [
      end - src.offset,
      rgba ? height * line : 0,
      midBytes,
      outBytes,
      extra,
      h.first.byteLength,
      h.taps.byteLength,
      h.weights.byteLength,
      v.first.byteLength,
      v.taps.byteLength,
      v.weights.byteLength,
    ] as const,
  );
  const memory = new Uint8Array(kernel.memory.buffer);
  memory.set(src.data.subarray(src.offset, end), inAt);
  if (rgba) kernel.dropAlpha(inAt, packedAt, width * height);
  const srcAt = rgba ? packedAt : inAt;
  [hFirst, hTaps, hWeights, vFirst, vTaps, vWeights].forEach((at, i) => {
    const a = filters[i]!;
    memory.set(new Uint8Array(a.buffer, a.byteOffset, a.byteLength), at);
  });
  const result = { kernel, rgb: dstAt, extra: extraAt };
  if (width === outWidth && height === outHeight) {
    for (let y = 0; y < height; y++)
      memory.copyWithin(dstAt + y * line, srcAt + y * stride, srcAt + y * stride + line);
    return result;
  }
  const horizontal = (from: number, fromStride: number, rows: number, to: number): void =>
    kernel.horizontal(from, fromStride, rows, outWidth, to, hFirst, hTaps, hWeights, h.stride);
  const vertical = (from: number, fromStride: number, rowLength: number, row0: number, to: number): void =>
    kernel.vertical(from, fromStride, rowLength, row0, outHeight, to, vFirst, vTaps, vWeights, v.stride);
  // Pillow runs the vertical pass first when the height shrinks by more than twice as many
  // pixels as the width does (Resample.c, ImagingResampleInner); the order changes the 8-bit
  // rounding between the passes, so it is part of matching PIL.
  const shrinkY = height - outHeight;
  if (width === outWidth) {
    vertical(srcAt, stride, line, 0, dstAt);
  } else if (height === outHeight) {
    horizontal(srcAt, stride, height, dstAt);
  } else if (shrinkY > 0 && shrinkY > (width - outWidth) * 2) {
    vertical(srcAt, stride, line, 0, midAt);
    horizontal(midAt, line, outHeight, dstAt);
  } else {
    // Only the source rows the vertical pass reads go through the horizontal pass.
    const rowFirst = v.first[0]!;
    const rowEnd = v.first[outHeight - 1]! + v.taps[outHeight - 1]!;
    horizontal(srcAt + rowFirst * stride, stride, rowEnd - rowFirst, midAt);
    vertical(midAt, outWidth * 3, outWidth * 3, rowFirst, dstAt);
  }
  return result;
}

/**
 * Resizes packed RGB (3 bytes per pixel) from width x height to outWidth x outHeight exactly as
 * PIL's Image.resize(BILINEAR) does; returns packed RGB.
 */
export function resizeBilinearRgb(
  rgb: Uint8Array,
  width: number,
  height: number,
  outWidth: number,
  outHeight: number,
): Uint8Array {
  if (rgb.length !== width * height * 3)
    throw new Error(`resize: expected ${width}x${height}x3 = ${width * height * 3} bytes, got ${rgb.length}`);
  const { kernel, rgb: at } = resizeInKernel(
    { width, height, data: rgb, offset: 0, stride: width * 3, pixelBytes: 3 },
    outWidth,
    outHeight,
    0,
  );
  return new Uint8Array(kernel.memory.buffer, at, outWidth * outHeight * 3).slice();
}

/**
 * Per output channel, the 256 float32 values a byte maps to (lut[c * 256 + v]) and which byte of
 * a pixel feeds each channel (media/preprocess.ts builds them from a backbone's mean, std and
 * channel order).
 */
export interface Normalisation {
  readonly lut: Float32Array;
  readonly order: readonly [number, number, number];
}

/**
 * Resizes RGB rows to size x size (PIL bilinear) and writes them normalised as CHW float32 into
 * out[offset .. offset + 3 * size * size).
 */
export function resizeNormalizeInto(
  src: RgbRows,
  size: number,
  normalisation: Normalisation,
  out: Float32Array,
  offset: number,
): void {
  const pixels = size * size;
  const tensorBytes = 3 * pixels * 4;
  const { kernel, rgb, extra } = resizeInKernel(src, size, size, tensorBytes + normalisation.lut.byteLength);
  const lutAt = extra + tensorBytes;
  new Float32Array(kernel.memory.buffer, lutAt, normalisation.lut.length).set(normalisation.lut);
  const [s0, s1, s2] = normalisation.order;
  kernel.normalize(rgb, pixels, lutAt, extra, s0, s1, s2);
  out.set(new Float32Array(kernel.memory.buffer, extra, 3 * pixels), offset);
}
