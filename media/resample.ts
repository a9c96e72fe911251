/**
 * PIL's bilinear resize, bit for bit, in TypeScript: Image.resize((w, h), BILINEAR) on an 8-bit
 * RGB image, which is what torchvision's Resize does to the PIL images HSEmotion's backbones were
 * trained on (SPEC §2).
 *
 * The algorithm (Pillow 13's libImaging/Resample.c): a separable triangle filter, one pass per
 * axis (horizontal first unless the height shrinks much more, see below), each rounded to 8 bits. For output pixel x the filter is centred at
 * (x + 0.5) * scale in source pixels (scale = in / out) and widened by the scale when reducing
 * (area-aware antialiasing); taps falling outside the image are dropped and the rest
 * renormalised. Weights are fixed-point with 22 fractional bits, sums start at one half and are
 * shifted back and clamped to 0..255. Every step here keeps those exact integers, so the output
 * equals PIL's (test/preprocess.test.ts asserts zero difference).
 */

/** Fractional bits of PIL's fixed-point weights for 8-bit images (32 - 8 - 2). */
const PRECISION_BITS = 22;
const HALF = 1 << (PRECISION_BITS - 1);

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

function clip8(sum: number): number {
  const v = sum >> PRECISION_BITS;
  return v < 0 ? 0 : v > 255 ? 255 : v;
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
  if (width === outWidth && height === outHeight) return rgb.slice();
  const v = axisFilter(height, outHeight);
  // Pillow runs the vertical pass first when the height shrinks by more than twice as many
  // pixels as the width does (Resample.c, ImagingResampleInner); the order changes the 8-bit
  // rounding between the passes, so it is part of matching PIL.
  const shrinkY = height - outHeight;
  if (shrinkY > 0 && shrinkY > (width - outWidth) * 2) {
    const rows = vertical(rgb, width, 0, v, outHeight);
    return width === outWidth ? rows : horizontal(rows, width, 0, outHeight, outWidth);
  }
  if (width === outWidth) return vertical(rgb, width, 0, v, outHeight);
  // Only the source rows the vertical pass reads go through the horizontal pass.
  const rowFirst = v.first[0]!;
  const rowEnd = v.first[outHeight - 1]! + v.taps[outHeight - 1]!;
  const columns = horizontal(rgb, width, rowFirst, rowEnd, outWidth);
  return height === outHeight ? columns : vertical(columns, outWidth, rowFirst, v, outHeight);
}

/** Horizontal pass over source rows [rowFirst, rowEnd): rowEnd - rowFirst rows of outWidth pixels. */
function horizontal(
  rgb: Uint8Array,
  width: number,
  rowFirst: number,
  rowEnd: number,
  outWidth: number,
): Uint8Array {
  const { first, taps, weights, stride } = axisFilter(width, outWidth);
  const out = new Uint8Array((rowEnd - rowFirst) * outWidth * 3);
  let o = 0;
  for (let y = rowFirst; y < rowEnd; y++) {
    const row = y * width * 3;
    for (let x = 0; x < outWidth; x++) {
      let r = HALF;
      let g = HALF;
      let b = HALF;
      let k = x * stride;
      let p = row + first[x]! * 3;
      for (let end = k + taps[x]!; k < end; k++, p += 3) {
        const wt = weights[k]!;
        r = (r + rgb[p]! * wt) | 0;
        g = (g + rgb[p + 1]! * wt) | 0;
        b = (b + rgb[p + 2]! * wt) | 0;
      }
      out[o++] = clip8(r);
      out[o++] = clip8(g);
      out[o++] = clip8(b);
    }
  }
  return out;
}

/** Vertical pass: source rows start at source row index row0 (the horizontal pass's first row). */
function vertical(
  rgb: Uint8Array,
  width: number,
  row0: number,
  filter: AxisFilter,
  outHeight: number,
): Uint8Array {
  const { first, taps, weights, stride } = filter;
  const line = width * 3;
  const out = new Uint8Array(outHeight * line);
  const acc = new Int32Array(line);
  for (let y = 0; y < outHeight; y++) {
    const k = y * stride;
    const n = taps[y]!;
    const src = (first[y]! - row0) * line;
    const dst = y * line;
    if (n <= 3) {
      // Up to three source rows (every enlargement, reductions below 1.5x): one pass, no accumulator.
      const w0 = weights[k]!;
      const w1 = n > 1 ? weights[k + 1]! : 0;
      const w2 = n > 2 ? weights[k + 2]! : 0;
      const r1 = n > 1 ? src + line : src;
      const r2 = n > 2 ? src + 2 * line : src;
      for (let i = 0; i < line; i++) {
        out[dst + i] = clip8((HALF + rgb[src + i]! * w0 + rgb[r1 + i]! * w1 + rgb[r2 + i]! * w2) | 0);
      }
      continue;
    }
    acc.fill(HALF);
    for (let t = 0; t < n; t++) {
      const wt = weights[k + t]!;
      const row = src + t * line;
      for (let i = 0; i < line; i++) acc[i] = (acc[i]! + rgb[row + i]! * wt) | 0;
    }
    for (let i = 0; i < line; i++) out[dst + i] = clip8(acc[i]!);
  }
  return out;
}
