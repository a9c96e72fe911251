/**
 * AssemblyScript, compiled to WebAssembly with SIMD by media/kernels.ts: the two passes of PIL's
 * bilinear resize and the normalisation into CHW float32, the per-pixel work of preprocessing
 * (docs/FRAMES.md). The arithmetic is PIL's, unchanged: fixed-point weights with 22 fractional
 * bits, sums starting at one half, shifted back and clamped to 0..255 after each pass. SIMD only
 * computes several of those integer sums at once, so the output stays equal to PIL's bit for bit
 * (test/preprocess.test.ts). The filters (first tap, tap count, weights per output pixel) are
 * computed by media/resample.ts and passed in memory.
 *
 * Memory is laid out by the caller. Every buffer is read or written up to 16 bytes past its end,
 * so the caller leaves that much slack after each.
 */

const PRECISION_BITS: i32 = 22;
const HALF: i32 = 1 << (PRECISION_BITS - 1);

/** Sums >> 22, clamped to 0..255 and packed into bytes (saturating narrows), lanes in order. */
function clip8x16(a: v128, b: v128, c: v128, d: v128): v128 {
  const lo = i16x8.narrow_i32x4_s(i32x4.shr_s(a, PRECISION_BITS), i32x4.shr_s(b, PRECISION_BITS));
  const hi = i16x8.narrow_i32x4_s(i32x4.shr_s(c, PRECISION_BITS), i32x4.shr_s(d, PRECISION_BITS));
  return i8x16.narrow_i16x8_u(lo, hi);
}

/**
 * Horizontal pass over `rows` rows of packed RGB starting at src (srcStride bytes apart), to
 * outWidth pixels per row, written packed at dst. Output pixel x sums taps[x] source pixels
 * from first[x] with weights[x * stride ..]. One pixel's three channels share a vector.
 */
export function horizontal(
  src: usize,
  srcStride: i32,
  rows: i32,
  outWidth: i32,
  dst: usize,
  first: usize,
  taps: usize,
  weights: usize,
  stride: i32,
): void {
  const half = i32x4.splat(HALF);
  let out = dst;
  for (let y = 0; y < rows; y++) {
    const row = src + <usize>(y * srcStride);
    for (let x = 0; x < outWidth; x++) {
      let acc = half;
      let p = row + <usize>(load<i32>(first + ((<usize>x) << 2)) * 3);
      let w = weights + ((<usize>(x * stride)) << 2);
      const n = load<i32>(taps + ((<usize>x) << 2));
      for (let t = 0; t < n; t++) {
        const pixel = i32x4.extend_low_i16x8_u(i16x8.extend_low_i8x16_u(v128.load32_zero(p)));
        acc = i32x4.add(acc, i32x4.mul(pixel, i32x4.splat(load<i32>(w))));
        p += 3;
        w += 4;
      }
      // Four bytes written, three kept: the next pixel overwrites the fourth.
      v128.store32_lane(out, clip8x16(acc, acc, acc, acc), 0);
      out += 3;
    }
  }
}

/**
 * Vertical pass: output row y of `line` bytes (written `line` apart at dst) sums taps[y] source
 * rows from first[y] - row0 (src rows are srcStride bytes apart) with weights[y * stride ..]; 16
 * bytes at a time.
 */
export function vertical(
  src: usize,
  srcStride: i32,
  line: i32,
  row0: i32,
  outHeight: i32,
  dst: usize,
  first: usize,
  taps: usize,
  weights: usize,
  stride: i32,
): void {
  const half = i32x4.splat(HALF);
  for (let y = 0; y < outHeight; y++) {
    const top = src + <usize>((load<i32>(first + ((<usize>y) << 2)) - row0) * srcStride);
    const n = load<i32>(taps + ((<usize>y) << 2));
    const w = weights + ((<usize>(y * stride)) << 2);
    const out = dst + <usize>(y * line);
    // Rows are written in order, so the last block's spill past a row is overwritten by the next.
    for (let i = 0; i < line; i += 16) {
      let a = half;
      let b = half;
      let c = half;
      let d = half;
      for (let t = 0; t < n; t++) {
        const bytes = v128.load(top + <usize>(t * srcStride + i));
        const weight = i32x4.splat(load<i32>(w + ((<usize>t) << 2)));
        const lo = i16x8.extend_low_i8x16_u(bytes);
        const hi = i16x8.extend_high_i8x16_u(bytes);
        a = i32x4.add(a, i32x4.mul(i32x4.extend_low_i16x8_u(lo), weight));
        b = i32x4.add(b, i32x4.mul(i32x4.extend_high_i16x8_u(lo), weight));
        c = i32x4.add(c, i32x4.mul(i32x4.extend_low_i16x8_u(hi), weight));
        d = i32x4.add(d, i32x4.mul(i32x4.extend_high_i16x8_u(hi), weight));
      }
      v128.store(out + <usize>i, clip8x16(a, b, c, d));
    }
  }
}

/**
 * Packed RGB (pixels of 3 bytes) to CHW float32 at out: output channel c takes byte order[c] of
 * each pixel through its 256-entry table lut[c * 256 ..] ((v / 255 - mean) / std, float32).
 */
export function normalize(rgb: usize, pixels: i32, lut: usize, out: usize, s0: i32, s1: i32, s2: i32): void {
  const plane = (<usize>pixels) << 2;
  const l1 = lut + 1024;
  const l2 = lut + 2048;
  let p = rgb;
  let o = out;
  for (let i = 0; i < pixels; i++) {
    store<f32>(o, load<f32>(lut + ((<usize>load<u8>(p + s0)) << 2)));
    store<f32>(o + plane, load<f32>(l1 + ((<usize>load<u8>(p + s1)) << 2)));
    store<f32>(o + 2 * plane, load<f32>(l2 + ((<usize>load<u8>(p + s2)) << 2)));
    p += 3;
    o += 4;
  }
}

/** RGBA pixels to packed RGB (alpha dropped), four pixels at a time. */
export function dropAlpha(rgba: usize, rgb: usize, pixels: i32): void {
  const keep = v128(0, 1, 2, 4, 5, 6, 8, 9, 10, 12, 13, 14, -1, -1, -1, -1);
  let p = rgba;
  let o = rgb;
  for (let i = 0; i < pixels; i += 4) {
    // 16 bytes written, 12 kept: the next four pixels overwrite the rest.
    v128.store(o, i8x16.swizzle(v128.load(p), keep));
    p += 16;
    o += 12;
  }
}
