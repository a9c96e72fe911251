/**
 * Video I/O through Debian's ffmpeg and ffprobe: probing, frame timestamps, and encoding generated
 * frames. Streamed decoding is decodeFrames.ts, which frames a range keeps is frameSampling.ts.
 * Frames are numbered 1-based in display order, as annotation files are.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { stat } from 'node:fs/promises';
import { RecentCache } from '../base/recentCache.ts';

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
   * Frames counted by demuxing every packet, leaving out those an edit list discards (count
   * 'packets', fast), or by decoding every frame (count 'decode', exact for damaged files whose
   * index claims more than they hold).
   */
  readonly frameCount: number;
  /** Display rotation in degrees from the display matrix (0 when none); decoding applies it. */
  readonly rotation: number;
  /**
   * Count 'packets' only: the frames the container's index lists (MP4 and MOV do, Matroska and AVI
   * often not: null) and the packets found in the file, discarded ones included. Fewer packets than
   * listed frames means the file ends early (cut short).
   */
  readonly listed?: { readonly frames: number | null; readonly packets: number };
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
    `stream=width,height,avg_frame_rate,${decode ? 'nb_read_frames' : 'nb_frames'}:stream_side_data=rotation${decode ? '' : ':packet=flags'}`,
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
    ...(decode
      ? {}
      : {
          listed: {
            frames: Number(stream['nb_frames']) > 0 ? Number(stream['nb_frames']) : null,
            packets: parsed.packets?.length ?? 0,
          },
        }),
  };
}

/** Every frame's presentation timestamp, in display order (index 0 = frame 1). */
export interface FrameStamps {
  /** Integer timestamps in the stream's time base, ascending. */
  readonly pts: Float64Array;
  /** Seconds per timestamp unit. */
  readonly timeBase: number;
  /** Timestamps of the key packets (where decoding can start after a seek), ascending. */
  readonly keyPts: Float64Array;
  /** The container has a sample index (MP4/MOV, Matroska/WebM, AVI): a seek lands on the key packet. */
  readonly indexed: boolean;
}

/** ffprobe format names of containers with a sample index. */
const INDEXED_FORMATS = /(^|,)(mov|mp4|matroska|webm|avi)(,|$)/;

/**
 * Presentation timestamps of every shown frame from the packets (demuxing only, no decoding;
 * packets an edit list discards left out); null when the container lacks them or two frames
 * share one (then frames can only be counted).
 */
export async function frameStamps(path: string): Promise<FrameStamps | null> {
  // A video's shards often run one after another on the same worker: read its packets once.
  const file = await stat(path).catch(() => null);
  if (!file) return readFrameStamps(path); // ffprobe names what is wrong with the path
  const key = [path, file.size, file.mtimeMs, file.ino].join('\u0000');
  const known = recentStamps.get(key);
  if (known) return known.stamps;
  const stamps = await readFrameStamps(path);
  recentStamps.set(key, { stamps });
  return stamps;
}

/** The packet indexes of the last few videos read (about 8 bytes a frame each). */
const recentStamps = new RecentCache<{ readonly stamps: FrameStamps | null }>(8);

async function readFrameStamps(path: string): Promise<FrameStamps | null> {
  const { stdout, stderr, code } = await run('ffprobe', [
    '-v',
    'error',
    '-select_streams',
    'v:0',
    '-show_entries',
    'stream=time_base:packet=pts,flags:format=format_name',
    '-of',
    'json',
    path,
  ]);
  if (code !== 0)
    throw new VideoError(path, `ffprobe failed reading timestamps (exit ${code}): ${lastLine(stderr)}`);
  const parsed = JSON.parse(stdout) as {
    packets?: { pts?: number; flags?: string }[];
    streams?: { time_base?: string }[];
    format?: { format_name?: string };
  };
  const [num, den] = (parsed.streams?.[0]?.time_base ?? '').split('/').map(Number);
  const packets = (parsed.packets ?? []).filter((p) => !p.flags?.includes('D'));
  if (!(num && den) || packets.some((p) => typeof p.pts !== 'number')) return null;
  const pts = Float64Array.from(packets, (p) => p.pts!).sort();
  for (let i = 1; i < pts.length; i++) if (pts[i] === pts[i - 1]) return null;
  const keyPts = Float64Array.from(
    packets.filter((p) => p.flags?.includes('K')),
    (p) => p.pts!,
  ).sort();
  const indexed = INDEXED_FORMATS.test(parsed.format?.format_name ?? '');
  return { pts, timeBase: num / den, keyPts, indexed };
}

/**
 * Presentation times (seconds) of every frame, in display order (index 0 = frame 1); null when
 * the container lacks usable timestamps.
 */
export async function framePresentationTimes(path: string): Promise<Float64Array | null> {
  const stamps = await frameStamps(path);
  return stamps && stamps.pts.map((p) => p * stamps.timeBase);
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
