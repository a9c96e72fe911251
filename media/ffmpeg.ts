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

/**
 * A decode that stopped short for a reason outside the source (the decoder killed by a signal,
 * or a non-zero exit not yet seen to repeat): nothing is committed and the shard is retried.
 * Retryable on purpose: not in base/permanentErrors.ts.
 */
export class DecodeInterruptedError extends Error {
  constructor(
    readonly path: string,
    readonly first: number,
    readonly last: number,
    readonly detail: string,
  ) {
    super(`video ${path} frames ${first}..${last}: ${detail}; not committed, the shard is retried`);
    this.name = 'DecodeInterruptedError';
  }
}

export interface VideoProbe {
  /** Display size: coded size with a 90/270 degree rotation applied, as decoded frames come out. */
  readonly width: number;
  readonly height: number;
  /** Average frame rate from the container (frames/s). */
  readonly fps: number;
  /**
   * Frames counted by demuxing every packet, leaving out those an edit list discards (count
   * 'packets', fast), or by decoding every frame (count 'decode', exact for damaged files whose
   * index claims more than they hold).
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
    ...(decode ? ['-count_frames'] : []),
    '-show_entries',
    `stream=width,height,avg_frame_rate${decode ? ',nb_read_frames' : ''}:stream_side_data=rotation${decode ? '' : ':packet=flags'}`,
    '-of',
    'json',
    path,
  ]);
  if (code !== 0) throw new VideoError(path, `ffprobe failed (exit ${code}): ${lastLine(stderr)}`);
  const parsed = JSON.parse(stdout) as {
    streams?: Record<string, unknown>[];
    packets?: { flags?: string }[];
  };
  const stream = parsed.streams?.[0];
  if (!stream) throw new VideoError(path, 'expected a video stream, found none');
  const [num, den] = (typeof stream['avg_frame_rate'] === 'string' ? stream['avg_frame_rate'] : '0/1')
    .split('/')
    .map(Number);
  // Packets flagged D (before an edit list's start) are decoded but never shown.
  const frameCount = decode
    ? Number(stream['nb_read_frames'])
    : (parsed.packets ?? []).filter((p) => !p.flags?.includes('D')).length;
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

/** Every frame's presentation timestamp, in display order (index 0 = frame 1). */
export interface FrameStamps {
  /** Integer timestamps in the stream's time base, ascending. */
  readonly pts: Float64Array;
  /** Seconds per timestamp unit. */
  readonly timeBase: number;
}

/**
 * Presentation timestamps of every shown frame from the packets (demuxing only, no decoding;
 * packets an edit list discards left out); null when the container lacks them or two frames
 * share one (then frames can only be counted).
 */
export async function frameStamps(path: string): Promise<FrameStamps | null> {
  const { stdout, stderr, code } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=time_base:packet=pts,flags',
    '-of',
    'json',
    path,
  ]);
  if (code !== 0)
    throw new VideoError(path, `ffprobe failed reading timestamps (exit ${code}): ${lastLine(stderr)}`);
  const parsed = JSON.parse(stdout) as {
    packets?: { pts?: number; flags?: string }[];
    streams?: { time_base?: string }[];
  };
  const [num, den] = (parsed.streams?.[0]?.time_base ?? '').split('/').map(Number);
  const packets = (parsed.packets ?? []).filter((p) => !p.flags?.includes('D'));
  if (!(num && den) || packets.some((p) => typeof p.pts !== 'number')) return null;
  const pts = Float64Array.from(packets, (p) => p.pts!).sort();
  for (let i = 1; i < pts.length; i++) if (pts[i] === pts[i - 1]) return null;
  return { pts, timeBase: num / den };
}

/**
 * Presentation times (seconds) of every frame, in display order (index 0 = frame 1); null when
 * the container lacks usable timestamps.
 */
export async function framePresentationTimes(path: string): Promise<Float64Array | null> {
  const stamps = await frameStamps(path);
  return stamps && stamps.pts.map((p) => p * stamps.timeBase);
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
  /** The frames the sampling asked for that did not come out, ascending. */
  readonly missing: readonly number[];
  /** ffmpeg's exit status (never a signal: a decoder killed short of the range throws). */
  readonly exitCode: number;
  /** What went wrong (damaged or short file), or null for a clean decode. */
  readonly error: string | null;
}

const SHOWINFO = /^\[Parsed_showinfo_\d+ @ [^\]]+\] \[info\] n:\s*\d+ pts:\s*(-?\d+|NOPTS)/;
const PROBLEM = /^(?:\[[^\]]+\] )?\[(error|fatal)\] (.*)$/;

/**
 * Streams the sampled frames of first..last (1-based, display order) as RGB; rotation metadata
 * is applied. Only one frame is buffered beyond the pipe's own buffer.
 *
 * Numbering: when every packet has its own timestamp, a decoded frame's number is the rank of
 * its timestamp among all packets, so a frame the decoder drops (damage) leaves a gap instead of
 * shifting the frames after it, and variable frame rate files number like the annotation files.
 * Otherwise frames are counted as they come out of the decoder.
 *
 * A file that yields no frame at all throws VideoError. A damaged or short file yields the frames
 * it can decode and returns a summary whose error says what happened and which frames are
 * missing. A decoder killed by a signal before the last wanted frame throws
 * DecodeInterruptedError (a signal says nothing about the file: the OOM killer, a stopped worker).
 */
export async function* decodeFrames(
  path: string,
  probe: Pick<VideoProbe, 'width' | 'height' | 'fps'>,
  options: DecodeOptions,
): AsyncGenerator<DecodedFrame, DecodeSummary> {
  const { width, height } = probe;
  const { first } = options;
  const sampling = options.sampling ?? {};
  const stamps = await frameStamps(path);
  const byStamps = stamps !== null && stamps.pts.length >= first;
  const last = byStamps ? Math.min(options.last, stamps.pts.length) : options.last;
  const times = stamps && stamps.pts.map((p) => p * stamps.timeBase);
  const wanted = sampledFrames(first, options.last, sampling, times, probe.fps);
  const keep = new Set(wanted);
  // Frame number of each timestamp, when numbering by timestamps.
  const frameOfPts = new Map<number, number>();
  let select: string;
  if (byStamps) {
    stamps.pts.forEach((p, i) => frameOfPts.set(p, i + 1));
    const inRange = wanted.filter((f) => f <= last);
    select =
      inRange.length > 0 && inRange.length < last - first + 1 && inRange.length <= 2000
        ? `select=${inRange.map((f) => `eq(pts\\,${stamps.pts[f - 1]})`).join('+')}`
        : `select=between(pts\\,${stamps.pts[first - 1]}\\,${stamps.pts[last - 1]})`;
  } else {
    select = `select=between(n\\,${first - 1}\\,${last - 1})`;
  }
  const frameBytes = width * height * 3;
  const child = spawn(
    'ffmpeg',
    [
      '-hide_banner',
      '-nostats',
      '-nostdin',
      '-loglevel',
      'level+info',
      '-copyts',
      '-threads',
      String(options.threads ?? 1),
      '-i',
      path,
      '-map',
      '0:v:0',
      '-vf',
      `${select},showinfo=checksum=0`,
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
  // Timestamps of the frames showinfo saw, in output order; each is logged before its frame is written.
  const shown: (number | null)[] = [];
  const problems: string[] = [];
  let stderrOpen = true;
  let wake: (() => void) | null = null;
  let partialLine = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    const lines = (partialLine + d).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) {
      const info = SHOWINFO.exec(line);
      if (info) shown.push(info[1] === 'NOPTS' ? null : Number(info[1]));
      else {
        const problem = PROBLEM.exec(line.trim());
        if (problem && problems.length < 50) problems.push(line.trim().replace(/ \[(error|fatal)\]/, ''));
      }
    }
    wake?.();
  });
  child.stderr.on('end', () => {
    stderrOpen = false;
    wake?.();
  });
  const nextShown = async (): Promise<number | null | undefined> => {
    while (shown.length === 0 && stderrOpen) await new Promise<void>((resolve) => (wake = resolve));
    wake = null;
    return shown.length > 0 ? shown.shift() : undefined;
  };
  const closed = once(child, 'close') as Promise<[number | null, NodeJS.Signals | null]>;
  // Each frame is filled chunk by chunk into its own buffer: one copy per byte.
  let current = new Uint8Array(frameBytes);
  let filled = 0;
  let counted = first - 1;
  let decoded = 0;
  let lastFrame: number | null = null;
  const yieldedFrames: number[] = [];
  const numbering: string[] = [];
  try {
    for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - offset);
        current.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled < frameBytes) break;
        const rgb = current;
        current = new Uint8Array(frameBytes);
        filled = 0;
        const pts = await nextShown();
        let frame = pts === null || pts === undefined ? undefined : frameOfPts.get(pts);
        if (frameOfPts.size === 0) frame = ++counted;
        else if (frame === undefined) {
          frame = (lastFrame ?? first - 1) + 1;
          if (numbering.length < 3)
            numbering.push(
              `a frame with timestamp ${pts ?? 'none'} is not in the packet index; numbered ${frame}`,
            );
        }
        if (!keep.has(frame) || (lastFrame !== null && frame <= lastFrame)) continue;
        decoded++;
        lastFrame = frame;
        yieldedFrames.push(frame);
        yield { frame, width, height, rgb };
      }
    }
    const [code, signal] = await closed;
    const yielded = new Set(yieldedFrames);
    const missing = wanted.filter((f) => !yielded.has(f));
    if (signal !== null && missing.length > 0) {
      throw new DecodeInterruptedError(
        path,
        first,
        options.last,
        `ffmpeg was killed by ${signal} after ${decoded} of ${wanted.length} frames`,
      );
    }
    const report: string[] = [];
    if (signal !== null) report.push(`ffmpeg was killed by ${signal} after the last frame`);
    else if (code !== 0) report.push(`ffmpeg exited with ${code}`);
    if (filled > 0) report.push(`a partial frame of ${filled} bytes`);
    if (decoded < wanted.length) {
      report.push(
        `expected ${wanted.length} frames in ${first}..${options.last}, decoded ${decoded}` +
          (lastFrame === null ? '' : ` (the last is frame ${lastFrame})`),
      );
    }
    report.push(...numbering);
    if (problems.length > 0)
      report.push(
        `ffmpeg: ${problems.slice(0, 3).join(' | ')}${problems.length > 3 ? ` (+${problems.length - 3} more lines)` : ''}`,
      );
    if (decoded === 0 && wanted.length > 0)
      throw new VideoError(path, `no frame decoded: ${report.join('; ')}`);
    return {
      wanted: wanted.length,
      decoded,
      lastFrame,
      missing,
      exitCode: code ?? 0,
      error: report.length ? report.join('; ') : null,
    };
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
