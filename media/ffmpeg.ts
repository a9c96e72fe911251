/**
 * Video I/O through Debian's ffmpeg and ffprobe: probing, streamed decoding to RGB frames, and
 * encoding generated frames. Frames are numbered 1-based in display order, as annotation files are.
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
  /** Display size: coded size with a 90/270 degree rotation applied, as decoded frames come out. */
  readonly width: number;
  readonly height: number;
  /** Average frame rate from the container (frames/s). */
  readonly fps: number;
  /**
   * Frames counted by demuxing every packet (count 'packets', fast), or by decoding every frame
   * (count 'decode', exact for damaged files whose index claims more than they hold).
   */
  readonly frameCount: number;
  /** Display rotation in degrees from the display matrix (0 when none); decoding applies it. */
  readonly rotation: number;
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

function lastLine(text: string): string {
  return text.trim().split('\n').pop() ?? '';
}

export async function probeVideo(
  path: string,
  options: { count?: 'packets' | 'decode' } = {},
): Promise<VideoProbe> {
  const decode = options.count === 'decode';
  const { stdout, stderr, code } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    decode ? '-count_frames' : '-count_packets',
    '-show_entries',
    `stream=width,height,avg_frame_rate,${decode ? 'nb_read_frames' : 'nb_read_packets'}:stream_side_data=rotation`,
    '-of',
    'json',
    path,
  ]);
  if (code !== 0) throw new VideoError(path, `ffprobe failed (exit ${code}): ${lastLine(stderr)}`);
  const stream = (JSON.parse(stdout) as { streams?: Record<string, unknown>[] }).streams?.[0];
  if (!stream) throw new VideoError(path, 'expected a video stream, found none');
  const [num, den] = (typeof stream['avg_frame_rate'] === 'string' ? stream['avg_frame_rate'] : '0/1')
    .split('/')
    .map(Number);
  const frameCount = Number(stream[decode ? 'nb_read_frames' : 'nb_read_packets']);
  const sideData = (stream['side_data_list'] as { rotation?: number }[] | undefined) ?? [];
  const rotation = Number(sideData.find((d) => d.rotation !== undefined)?.rotation ?? 0);
  const quarterTurn = Math.abs(rotation) % 180 === 90;
  const codedWidth = Number(stream['width']);
  const codedHeight = Number(stream['height']);
  if (!(codedWidth > 0 && codedHeight > 0))
    throw new VideoError(path, `expected positive frame size, got ${codedWidth}x${codedHeight}`);
  if (!(frameCount > 0)) throw new VideoError(path, `expected at least one frame, got ${frameCount || 0}`);
  return {
    width: quarterTurn ? codedHeight : codedWidth,
    height: quarterTurn ? codedWidth : codedHeight,
    fps: den ? (num ?? 0) / den : 0,
    frameCount,
    rotation,
  };
}

/**
 * Presentation times (seconds) of every frame, in display order (index 0 = frame 1), from the
 * packets' timestamps; null when the container lacks them.
 */
export async function framePresentationTimes(path: string): Promise<Float64Array | null> {
  const { stdout, stderr, code } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'packet=pts_time',
    '-of',
    'csv=p=0',
    path,
  ]);
  if (code !== 0)
    throw new VideoError(path, `ffprobe failed reading timestamps (exit ${code}): ${lastLine(stderr)}`);
  const times = stdout
    .split('\n')
    .map((l) => l.trim().replace(/,$/, ''))
    .filter((l) => l.length > 0);
  if (times.some((t) => !Number.isFinite(Number(t)))) return null;
  return Float64Array.from(times, Number).sort();
}

/** Which frames of a range to keep: all, every k-th (frames 1, 1+k, ...), or about targetFps per second. */
export interface FrameSampling {
  readonly every?: number;
  /** Keeps the first frame of each 1/targetFps interval, counted from the first frame's time. */
  readonly targetFps?: number;
}

/**
 * The 1-based frames in first..last that a sampling keeps. For targetFps, times are the frames'
 * presentation times (framePresentationTimes) or, when null, (f - 1) / fps.
 */
export function sampledFrames(
  first: number,
  last: number,
  sampling: FrameSampling,
  times?: Float64Array | null,
  fps?: number,
): number[] {
  const frames: number[] = [];
  const every = sampling.every ?? 1;
  if (!(Number.isInteger(every) && every >= 1))
    throw new RangeError(`sampling: expected every to be an integer >= 1, got ${every}`);
  if (sampling.targetFps === undefined) {
    const start = first + ((every - ((first - 1) % every)) % every);
    for (let f = start; f <= last; f += every) frames.push(f);
    return frames;
  }
  const target = sampling.targetFps;
  if (!(target > 0)) throw new RangeError(`sampling: expected targetFps > 0, got ${target}`);
  const timeOf = (f: number): number => {
    const t = times?.[f - 1];
    if (t !== undefined) return t - (times![0] ?? 0);
    if (!(fps && fps > 0))
      throw new RangeError('sampling: targetFps needs frame times or the video frame rate');
    return (f - 1) / fps;
  };
  const slot = (f: number): number => Math.floor(timeOf(f) * target + 1e-6);
  for (let f = first; f <= last; f++) {
    if (f === 1 || slot(f) > slot(f - 1)) frames.push(f);
  }
  return frames;
}

export interface DecodedFrame {
  /** 1-based frame number in display order. */
  readonly frame: number;
  readonly width: number;
  readonly height: number;
  /** Packed RGB, 3 bytes per pixel, row-major. */
  readonly rgb: Uint8Array;
}

export interface DecodeOptions {
  /** 1-based, inclusive. */
  readonly first: number;
  readonly last: number;
  readonly sampling?: FrameSampling;
  /** Decoder threads (ffmpeg -threads); default 1. */
  readonly threads?: number;
}

/** How a decode ended. */
export interface DecodeSummary {
  /** Frames the sampling asked for. */
  readonly wanted: number;
  readonly decoded: number;
  /** Last frame number yielded, or null. */
  readonly lastFrame: number | null;
  /** What went wrong (damaged or short file), or null for a clean decode. */
  readonly error: string | null;
}

/**
 * Streams the sampled frames of first..last (1-based, display order, every decoded frame counted
 * whatever its timestamp, so variable frame rate files number like the annotation files) as RGB;
 * rotation metadata is applied. Only one frame is buffered beyond the pipe's own buffer.
 *
 * A file that yields no frame at all throws VideoError. A file damaged or shorter than asked
 * yields the frames before the damage and returns a summary whose error says what happened.
 */
export async function* decodeFrames(
  path: string,
  probe: Pick<VideoProbe, 'width' | 'height' | 'fps'>,
  options: DecodeOptions,
): AsyncGenerator<DecodedFrame, DecodeSummary> {
  const { width, height } = probe;
  const { first, last } = options;
  const sampling = options.sampling ?? {};
  const times = sampling.targetFps !== undefined ? await framePresentationTimes(path) : null;
  const wanted = sampledFrames(first, last, sampling, times, probe.fps);
  const keep = new Set(wanted);
  const every = sampling.targetFps === undefined ? (sampling.every ?? 1) : 1;
  const select =
    every > 1
      ? `select=between(n\\,${first - 1}\\,${last - 1})*not(mod(n\\,${every}))`
      : `select=between(n\\,${first - 1}\\,${last - 1})`;
  const frameBytes = width * height * 3;
  const child = spawn(
    'ffmpeg',
    [
      '-v',
      'error',
      '-nostdin',
      '-threads',
      String(options.threads ?? 1),
      '-i',
      path,
      '-map',
      '0:v:0',
      '-vf',
      select,
      '-fps_mode',
      'passthrough',
      // Keep the demuxer's time base: rounding VFR timestamps to 1/fps would collide.
      '-enc_time_base',
      '-1',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => {
    if (stderr.length < 64 * 1024) stderr += d;
  });
  const closed = once(child, 'close') as Promise<[number | null]>;
  // Frame numbers the decoder will emit, in order (every-k selection happens inside ffmpeg).
  const emitted: number[] = [];
  for (let f = first; f <= last; f++) if ((f - 1) % every === 0) emitted.push(f);
  let pending: Buffer = Buffer.alloc(0);
  let index = 0;
  let decoded = 0;
  let lastFrame: number | null = null;
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      pending = pending.length ? Buffer.concat([pending, chunk]) : chunk;
      while (pending.length >= frameBytes) {
        const frame = emitted[index++];
        if (frame === undefined) {
          throw new VideoError(
            path,
            `ffmpeg produced more than the ${emitted.length} frames selected in ${first}..${last}`,
          );
        }
        if (!keep.has(frame)) {
          pending = pending.subarray(frameBytes);
          continue;
        }
        const rgb = new Uint8Array(pending.subarray(0, frameBytes));
        pending = pending.subarray(frameBytes);
        decoded++;
        lastFrame = frame;
        yield { frame, width, height, rgb };
      }
    }
    const [code] = await closed;
    const problems: string[] = [];
    if (code !== 0) problems.push(`ffmpeg exited with ${code}`);
    if (pending.length > 0) problems.push(`a partial frame of ${pending.length} bytes`);
    if (decoded < wanted.length) {
      problems.push(
        `expected ${wanted.length} frames in ${first}..${last}, decoded ${decoded}` +
          (lastFrame === null ? '' : ` (the last is frame ${lastFrame})`),
      );
    }
    const log = stderr.trim().split('\n').filter(Boolean);
    if (log.length > 0)
      problems.push(
        `ffmpeg: ${log.slice(0, 3).join(' | ')}${log.length > 3 ? ` (+${log.length - 3} more lines)` : ''}`,
      );
    if (decoded === 0 && wanted.length > 0)
      throw new VideoError(path, `no frame decoded: ${problems.join('; ')}`);
    return { wanted: wanted.length, decoded, lastFrame, error: problems.length ? problems.join('; ') : null };
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
