/**
 * Video I/O through Debian's ffmpeg and ffprobe: probing, streamed decoding to RGB frames, and
 * encoding generated frames. Frames are numbered 1-based in decode order, as annotation files are.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';

export class VideoError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`video ${path}: ${detail}`);
    this.name = 'VideoError';
  }
}

export interface VideoProbe {
  readonly width: number;
  readonly height: number;
  /** Average frame rate from the container (frames/s). */
  readonly fps: number;
  /** Frames counted by demuxing every packet, not the container's claim. */
  readonly frameCount: number;
}

async function run(
  command: string,
  args: readonly string[],
): Promise<{ stdout: string; stderr: string; code: number }> {
  const child = spawn(command, [...args], { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  child.stdout.setEncoding('utf8').on('data', (d: string) => (stdout += d));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { stdout, stderr, code: code ?? -1 };
}

export async function probeVideo(path: string): Promise<VideoProbe> {
  const { stdout, stderr, code } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-count_packets',
    '-show_entries',
    'stream=width,height,avg_frame_rate,nb_read_packets',
    '-of',
    'json',
    path,
  ]);
  if (code !== 0)
    throw new VideoError(path, `ffprobe failed (exit ${code}): ${stderr.trim().split('\n').pop() ?? ''}`);
  const stream = (JSON.parse(stdout) as { streams?: Record<string, unknown>[] }).streams?.[0];
  if (!stream) throw new VideoError(path, 'expected a video stream, found none');
  const [num, den] = (typeof stream['avg_frame_rate'] === 'string' ? stream['avg_frame_rate'] : '0/1')
    .split('/')
    .map(Number);
  const frameCount = Number(stream['nb_read_packets']);
  const width = Number(stream['width']);
  const height = Number(stream['height']);
  if (!(width > 0 && height > 0))
    throw new VideoError(path, `expected positive frame size, got ${width}x${height}`);
  if (!(frameCount > 0)) throw new VideoError(path, `expected at least one frame, got ${frameCount}`);
  return { width, height, fps: den ? (num ?? 0) / den : 0, frameCount };
}

export interface DecodedFrame {
  /** 1-based frame number in decode order. */
  readonly frame: number;
  readonly width: number;
  readonly height: number;
  /** Packed RGB, 3 bytes per pixel, row-major. */
  readonly rgb: Uint8Array;
}

/**
 * Streams the frames first..last (1-based, inclusive) of a video as RGB. Only one frame is
 * buffered at a time beyond the pipe's own buffer.
 */
export async function* decodeFrames(
  path: string,
  probe: Pick<VideoProbe, 'width' | 'height'>,
  first: number,
  last: number,
  threads = 1,
): AsyncGenerator<DecodedFrame> {
  const { width, height } = probe;
  const frameBytes = width * height * 3;
  const child = spawn(
    'ffmpeg',
    [
      '-v',
      'error',
      '-threads',
      String(threads),
      '-i',
      path,
      '-map',
      '0:v:0',
      '-vf',
      `select=between(n\\,${first - 1}\\,${last - 1})`,
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close') as Promise<[number | null]>;
  let pending: Buffer = Buffer.alloc(0);
  let frame = first;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= frameBytes) {
        const rgb = new Uint8Array(pending.subarray(0, frameBytes));
        pending = pending.subarray(frameBytes);
        yield { frame: frame++, width, height, rgb };
      }
    }
    const [code] = await closed;
    if (code !== 0)
      throw new VideoError(path, `ffmpeg decode failed at frame ${frame} (exit ${code}): ${stderr.trim()}`);
  } finally {
    if (child.exitCode === null) child.kill('SIGKILL');
  }
}

/** Encodes packed RGB frames into an H.264 video; used by the synthetic dataset generator. */
export async function encodeVideo(
  path: string,
  width: number,
  height: number,
  fps: number,
  frames: Iterable<Uint8Array>,
): Promise<void> {
  const child = spawn(
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
      `${width}x${height}`,
      '-r',
      String(fps),
      '-i',
      'pipe:0',
      '-c:v',
      'libx264',
      '-preset',
      'veryfast',
      '-crf',
      '12',
      '-pix_fmt',
      'yuv420p',
      '-threads',
      '1',
      path,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close') as Promise<[number | null]>;
  for (const frame of frames) {
    if (!child.stdin.write(frame)) await once(child.stdin, 'drain');
  }
  child.stdin.end();
  const [code] = await closed;
  if (code !== 0) throw new VideoError(path, `ffmpeg encode failed (exit ${code}): ${stderr.trim()}`);
}
