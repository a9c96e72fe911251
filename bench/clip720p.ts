/**
 * Generated 720p test clips for the benchmarks: ffmpeg's moving testsrc2 pattern with real
 * portraits (test/fixtures/faces) sliding across it, H.264 CRF 18, streamed by ffmpeg (never in
 * memory here).
 */
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { projectRoot } from '../base/paths.ts';

export const CLIP_WIDTH = 1280;
export const CLIP_HEIGHT = 720;

/** One portrait on the clip: an ffmpeg filter chain for the picture and overlay positions (t in seconds). */
export interface Overlay {
  readonly portrait: 'portrait-1.jpg' | 'portrait-2.jpg';
  /** ffmpeg filters applied to the portrait, e.g. "scale=-2:600". */
  readonly filter: string;
  readonly x: string;
  readonly y: string;
}

export function generateClip(path: string, frames: number, fps: number, overlays: readonly Overlay[]): void {
  const inputs = overlays.flatMap((o) => [
    '-loop',
    '1',
    '-i',
    join(projectRoot, 'test', 'fixtures', 'faces', o.portrait),
  ]);
  const scaled = overlays.map((o, i) => `[${i + 1}:v]${o.filter}[f${i}]`);
  const placed = overlays.map(
    (o, i) =>
      `[${i === 0 ? '0:v' : `o${i - 1}`}][f${i}]overlay=x='${o.x}':y=${o.y}:shortest=1${i === overlays.length - 1 ? ',format=yuv420p' : `[o${i}]`}`,
  );
  const result = spawnSync('ffmpeg', [
    '-v',
    'error',
    '-y',
    '-f',
    'lavfi',
    '-i',
    `testsrc2=size=${CLIP_WIDTH}x${CLIP_HEIGHT}:rate=${fps}`,
    ...inputs,
    '-filter_complex',
    [...scaled, ...placed].join(';'),
    '-frames:v',
    String(frames),
    '-c:v',
    'libx264',
    '-preset',
    'veryfast',
    '-crf',
    '18',
    path,
  ]);
  if (result.status !== 0)
    throw new Error(`bench: ffmpeg could not generate ${path}: ${result.stderr.toString()}`);
}
