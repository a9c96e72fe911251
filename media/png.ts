/**
 * A fast path for the PNGs affectflow writes itself: 8-bit RGB, not interlaced (the crops in
 * frames shards, media/preprocess.ts encodeCrop). Decoding one 256-px crop through sharp costs
 * about 1.8 ms of CPU, mostly libvips' per-image pipeline; Node's zlib plus PNG's row filters in
 * TypeScript cost about 0.8 ms, which matters when the embed pool decodes every crop once per
 * backbone. Anything else (palette, grey, alpha, 16-bit, interlaced) returns undefined and the
 * caller uses sharp. And the encoder of those crops when they need no resize: unfiltered rows in
 * stored deflate blocks, written here in about a tenth of sharp's per-image cost.
 */
import { crc32, deflateSync, inflateSync } from 'node:zlib';
import type { RgbRows } from './resample.ts';

const SIGNATURE = [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a];

/** Thrown for a file that starts like a PNG but whose chunks or data are broken. */
export class PngError extends Error {
  constructor(detail: string) {
    super(`PNG: ${detail}`);
    this.name = 'PngError';
  }
}

/** Appends one chunk (length, type, data, CRC of type and data) at `at`; returns the end. */
function writeChunk(out: Buffer, at: number, type: string, data: Uint8Array): number {
  out.writeUInt32BE(data.length, at);
  out.write(type, at + 4, 'latin1');
  out.set(data, at + 8);
  out.writeUInt32BE(crc32(out.subarray(at + 4, at + 8 + data.length)), at + 8 + data.length);
  return at + 12 + data.length;
}

/**
 * An 8-bit RGB PNG of `rect` in a packed RGB image `imageWidth` pixels wide: rows unfiltered,
 * zlib at level 0 (stored blocks), as sharp writes with compressionLevel 0 (same pixels; the
 * bytes may differ in block boundaries). Throws RangeError for a rectangle outside the image.
 */
export function encodeRgbPng(
  rgb: Uint8Array,
  imageWidth: number,
  rect: { readonly left: number; readonly top: number; readonly width: number; readonly height: number },
): Uint8Array {
  const { left, top, width, height } = rect;
  const imageHeight = Math.floor(rgb.length / 3 / imageWidth);
  if (
    width < 1 ||
    height < 1 ||
    left < 0 ||
    top < 0 ||
    left + width > imageWidth ||
    top + height > imageHeight
  )
    throw new RangeError(
      `PNG: rectangle ${width}x${height} at ${left},${top} is not inside the ${imageWidth}x${imageHeight} image`,
    );
  const line = width * 3;
  const rows = Buffer.allocUnsafe((line + 1) * height);
  for (let y = 0; y < height; y++) {
    const at = y * (line + 1);
    rows[at] = 0; // filter type: none
    const from = ((top + y) * imageWidth + left) * 3;
    rows.set(rgb.subarray(from, from + line), at + 1);
  }
  const idat = deflateSync(rows, { level: 0 });
  const header = Buffer.alloc(13);
  header.writeUInt32BE(width, 0);
  header.writeUInt32BE(height, 4);
  header[8] = 8; // bit depth
  header[9] = 2; // colour type: RGB; compression, filter method and interlace stay 0
  const out = Buffer.allocUnsafe(SIGNATURE.length + 12 + header.length + 12 + idat.length + 12);
  out.set(SIGNATURE, 0);
  let at = writeChunk(out, SIGNATURE.length, 'IHDR', header);
  at = writeChunk(out, at, 'IDAT', idat);
  writeChunk(out, at, 'IEND', new Uint8Array(0));
  return new Uint8Array(out.buffer, out.byteOffset, out.length);
}

export function isPng(bytes: Uint8Array): boolean {
  return bytes.length >= 8 && SIGNATURE.every((b, i) => bytes[i] === b);
}

/** Decodes an 8-bit RGB, non-interlaced PNG to packed RGB; undefined for any other PNG flavour. */
export function decodeRgbPng(
  bytes: Uint8Array,
): { width: number; height: number; rgb: Uint8Array } | undefined {
  const rows = decodeRgbPngRows(bytes);
  if (!rows) return undefined;
  const { width, height, data, offset, stride } = rows;
  const line = width * 3;
  if (offset === 0 && stride === line) return { width, height, rgb: data };
  const rgb = new Uint8Array(line * height);
  for (let y = 0; y < height; y++)
    rgb.set(data.subarray(offset + y * stride, offset + y * stride + line), y * line);
  return { width, height, rgb };
}

/**
 * Decodes an 8-bit RGB, non-interlaced PNG to pixel rows; undefined for any other PNG flavour.
 * When every row is unfiltered (affectflow's crops are) the rows are the inflated data itself,
 * each behind its filter byte, and nothing is copied. Chunk CRCs are not checked; zlib's own
 * checksum covers the image data.
 */
export function decodeRgbPngRows(bytes: Uint8Array): RgbRows | undefined {
  if (!isPng(bytes)) return undefined;
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  let width = 0;
  let height = 0;
  const data: Uint8Array[] = [];
  for (let at = 8; ;) {
    if (at + 8 > bytes.length) throw new PngError(`truncated before chunk at byte ${at}`);
    const length = view.getUint32(at);
    const type = String.fromCharCode(bytes[at + 4]!, bytes[at + 5]!, bytes[at + 6]!, bytes[at + 7]!);
    const body = at + 8;
    if (body + length + 4 > bytes.length) throw new PngError(`chunk ${type} at byte ${at} runs past the end`);
    if (type === 'IHDR') {
      width = view.getUint32(body);
      height = view.getUint32(body + 4);
      const [depth, colour, , , interlace] = bytes.subarray(body + 8, body + 13);
      if (depth !== 8 || colour !== 2 || interlace !== 0) return undefined;
    } else if (type === 'IDAT') {
      data.push(bytes.subarray(body, body + length));
    } else if (type === 'iCCP') {
      return undefined; // an embedded colour profile: sharp converts it to sRGB
    } else if (type === 'IEND') {
      break;
    }
    at = body + length + 4;
  }
  if (width === 0 || height === 0) throw new PngError('no IHDR chunk');
  let raw: Buffer;
  try {
    raw = inflateSync(data.length === 1 ? data[0]! : Buffer.concat(data));
  } catch (err) {
    throw new PngError(`image data: ${(err as Error).message}`);
  }
  const line = width * 3;
  if (raw.length < (line + 1) * height)
    throw new PngError(`image data holds ${raw.length} bytes, expected ${(line + 1) * height}`);
  let filtered = false;
  for (let y = 0; y < height && !filtered; y++) filtered = raw[y * (line + 1)] !== 0;
  if (!filtered) return { width, height, data: raw, offset: 1, stride: line + 1, pixelBytes: 3 };
  return { width, height, data: unfilter(raw, line, height), offset: 0, stride: line, pixelBytes: 3 };
}

/** Undoes PNG's per-row filters (none, sub, up, average, Paeth) for 3-byte pixels. */
function unfilter(raw: Uint8Array, line: number, height: number): Uint8Array {
  const out = new Uint8Array(line * height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (line + 1)]!;
    const src = y * (line + 1) + 1;
    const row = y * line;
    const up = row - line;
    if (filter === 0) {
      out.set(raw.subarray(src, src + line), row);
      continue;
    }
    for (let x = 0; x < line; x++) {
      const a = x >= 3 ? out[row + x - 3]! : 0;
      const b = y > 0 ? out[up + x]! : 0;
      const c = x >= 3 && y > 0 ? out[up + x - 3]! : 0;
      let predictor: number;
      switch (filter) {
        case 1:
          predictor = a;
          break;
        case 2:
          predictor = b;
          break;
        case 3:
          predictor = (a + b) >> 1;
          break;
        case 4: {
          const p = a + b - c;
          const pa = Math.abs(p - a);
          const pb = Math.abs(p - b);
          const pc = Math.abs(p - c);
          predictor = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
          break;
        }
        default:
          throw new PngError(`row ${y}: unknown filter type ${filter}`);
      }
      out[row + x] = (raw[src + x]! + predictor) & 0xff;
    }
  }
  return out;
}
