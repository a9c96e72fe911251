/**
 * Makers of the bad-input corpus (test/bad-inputs*.test.ts): every input is generated here with
 * ffmpeg, sharp or Python into the test's own folder; nothing large is committed. Pictures come
 * from the portraits of test/fixtures/faces, so face detection has a real face to find.
 */
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, statSync, truncateSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import sharp, { type Sharp } from 'sharp';
import { venvBin } from '../../base/paths.ts';

export const PORTRAIT = join(import.meta.dirname, '..', 'fixtures', 'faces', 'portrait-1.jpg');

function run(command: string, args: readonly string[]): void {
  const result = spawnSync(command, args, { encoding: 'utf8' });
  if (result.status !== 0)
    throw new Error(`${command} ${args.join(' ')} failed (${result.status}): ${result.stderr}`);
}

/** Runs `make` with a folder for intermediate files (never inside the dataset), removed after. */
function withScratch<T>(make: (dir: string) => T): T {
  const dir = mkdtempSync(join(tmpdir(), 'bad-input-'));
  try {
    return make(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function ffmpeg(out: string, args: readonly string[]): string {
  mkdirSync(dirname(out), { recursive: true });
  run('ffmpeg', ['-v', 'error', '-y', ...args, out]);
  return out;
}

/** A video of the portrait (a face YuNet finds), `frames` frames at 25 fps, 160x200. */
export function portraitVideo(out: string, frames: number, size = '160:200'): string {
  return ffmpeg(out, [
    ...['-loop', '1', '-i', PORTRAIT, '-frames:v', String(frames), '-r', '25'],
    ...['-vf', `scale=${size}`, '-pix_fmt', 'yuv420p', '-c:v', 'libx264', '-movflags', '+faststart'],
  ]);
}

/** A plain grey video: frames without any face. */
export function greyVideo(out: string, frames: number): string {
  return ffmpeg(out, [
    ...['-f', 'lavfi', '-i', `color=c=gray:s=64x64:r=25`, '-frames:v', String(frames)],
    ...['-pix_fmt', 'yuv420p', '-c:v', 'libx264'],
  ]);
}

/**
 * A video of the portrait under moving noise (so every frame takes its share of the bytes), cut to
 * `share` of its bytes; its index comes first, so it still lists every frame.
 */
export function cutVideo(out: string, frames: number, share: number): string {
  ffmpeg(out, [
    ...['-loop', '1', '-i', PORTRAIT, '-frames:v', String(frames), '-r', '25'],
    ...['-vf', 'scale=160:200,noise=alls=30:allf=t', '-pix_fmt', 'yuv420p', '-c:v', 'libx264'],
    ...['-movflags', '+faststart'],
  ]);
  truncateSync(out, Math.floor(statSync(out).size * share));
  return out;
}

/** One H.264 stream whose frame size changes after `frames` frames: 160x200, then 96x120. */
export function resolutionChangeVideo(out: string, frames: number): string {
  return withScratch((dir) => {
    const a = portraitVideo(join(dir, 'a.ts'), frames);
    const b = portraitVideo(join(dir, 'b.ts'), frames, '96:120');
    return ffmpeg(out, ['-i', `concat:${a}|${b}`, '-c', 'copy']);
  });
}

/**
 * A variable frame rate video whose frames come in pairs with the same timestamp: MJPEG frames
 * re-stamped by the setts bitstream filter (Matroska accepts equal timestamps).
 */
export function duplicateTimestampVideo(out: string, frames: number): string {
  return withScratch((dir) => {
    const steady = ffmpeg(join(dir, 'steady.mkv'), [
      ...['-loop', '1', '-i', PORTRAIT, '-frames:v', String(frames), '-r', '25'],
      ...['-vf', 'scale=160:200', '-c:v', 'mjpeg'],
    ]);
    return ffmpeg(out, ['-i', steady, '-c', 'copy', '-bsf:v', 'setts=ts=floor(N/2)*2']);
  });
}

/** An .mp4 with one second of sound and no video stream. */
export function audioOnly(out: string): string {
  return ffmpeg(out, ['-f', 'lavfi', '-i', 'sine=frequency=440:duration=1', '-c:a', 'aac']);
}

/** The portrait as a photo written by sharp (`edit` picks the format and colour details). */
export async function portraitPhoto(out: string, edit: (image: Sharp) => Sharp): Promise<string> {
  mkdirSync(dirname(out), { recursive: true });
  await edit(sharp(PORTRAIT).resize(240)).toFile(out);
  return out;
}

/**
 * The portrait (240x300 upright) stored lying on its side with EXIF orientation 6 ("rotate 90°
 * clockwise to show"), as cameras write it; written by Pillow.
 */
export function exifRotatedPhoto(out: string): string {
  return pillow(out, [
    'im = Image.open(src).convert("RGB").resize((240, 300)).transpose(Image.Transpose.ROTATE_90)',
    'exif = Image.Exif()',
    'exif[274] = 6',
    'im.save(out, exif=exif)',
  ]);
}

function pillow(out: string, lines: readonly string[]): string {
  mkdirSync(dirname(out), { recursive: true });
  const code = ['import sys', 'from PIL import Image', 'src, out = sys.argv[1], sys.argv[2]', ...lines].join(
    '\n',
  );
  run(venvBin('python'), ['-c', code, PORTRAIT, out]);
  return out;
}

/** A palette PNG with a transparent border, written by Pillow (mode P with a tRNS chunk). */
export function palettePngWithTransparency(out: string): string {
  return pillow(out, [
    'im = Image.open(src).convert("RGBA").resize((240, 300))',
    'px = im.load()',
    'for x in range(240):',
    '  for y in range(12): px[x, y] = (0, 0, 0, 0)',
    'p = im.convert("P", palette=Image.Palette.ADAPTIVE, colors=255)',
    'p.save(out, transparency=p.getpixel((0, 0)))',
  ]);
}

/** A file of `bytes` bytes that holds no data blocks (truncate -s): never to be read whole. */
export function sparseFile(out: string, bytes: number): string {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, '');
  truncateSync(out, bytes);
  return out;
}

/** A text file written byte for byte (CRLF, a byte-order mark and trailing blank lines stay as given). */
export function textFile(out: string, text: string, options: { bom?: boolean } = {}): string {
  mkdirSync(dirname(out), { recursive: true });
  writeFileSync(out, Buffer.concat([Buffer.from(options.bom ? [0xef, 0xbb, 0xbf] : []), Buffer.from(text)]));
  return out;
}
