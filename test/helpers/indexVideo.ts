/**
 * Videos whose frames carry their own 1-based index in pixels (10 black/white blocks, read back
 * after decoding), and a decode helper that collects every frame: test/frames.test.ts and
 * test/decode-range.test.ts.
 */
import { spawnSync } from 'node:child_process';
import {
  decodeFrames,
  type DecodedFrame,
  type DecodeOptions,
  type DecodeSummary,
} from '../../media/decodeFrames.ts';
import { probeVideo } from '../../media/ffmpeg.ts';

export const W = 160;
export const H = 96;
const BITS = 10;
const BLOCK = W / BITS;

/** Frame with index i: block b (16 x 48 px, top half) is white when bit b of i is set. */
export function indexFrame(index: number): Uint8Array {
  const rgb = new Uint8Array(W * H * 3).fill(128);
  for (let y = 0; y < H / 2; y++)
    for (let x = 0; x < W; x++)
      rgb.fill((index >> Math.floor(x / BLOCK)) & 1 ? 255 : 0, (y * W + x) * 3, (y * W + x) * 3 + 3);
  return rgb;
}

/** Reads the index back; at(x, y) maps a pixel of the coded frame to the decoded frame's RGB offset. */
export function readIndex(
  frame: DecodedFrame,
  at: (x: number, y: number) => number = (x, y) => (y * frame.width + x) * 3,
): number {
  let index = 0;
  for (let b = 0; b < BITS; b++) {
    const o = at(b * BLOCK + BLOCK / 2, H / 4);
    if (frame.rgb[o]! > 128) index |= 1 << b;
  }
  return index;
}

/** Encodes frames 1..n with ffmpeg; extra output arguments shape the file. */
export function makeVideo(path: string, n: number, vf: string | null, output: readonly string[] = []): void {
  const input = Buffer.concat(Array.from({ length: n }, (_, i) => indexFrame(i + 1)));
  const result = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-y',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      '-s',
      `${W}x${H}`,
      '-r',
      '25',
      '-i',
      'pipe:0',
      ...(vf ? ['-vf', vf] : []),
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '16',
      '-pix_fmt',
      'yuv420p',
      '-g',
      '12',
      ...output,
      path,
    ],
    { input },
  );
  if (result.status !== 0) throw new Error(`ffmpeg: ${result.stderr.toString()}`);
}

export async function decodeAll(
  path: string,
  options: DecodeOptions,
): Promise<{ frames: DecodedFrame[]; summary: DecodeSummary }> {
  const probe = await probeVideo(path);
  const decoder = decodeFrames(path, probe, options);
  const frames: DecodedFrame[] = [];
  let step = await decoder.next();
  while (!step.done) {
    frames.push(step.value);
    step = await decoder.next();
  }
  return { frames, summary: step.value };
}
