/**
 * A video's sound for audio backbones: ffmpeg decodes the first audio stream to 16 kHz mono
 * float32 PCM, and each video frame gets a window of that sound centred on the frame (docs/AUDIO.md).
 *
 * Times: frame i (1-based) is shown from (i - 1) / fps to i / fps, so its window is centred at
 * (i - 0.5) / fps; sample s of the PCM is at s / 16000 s from the start of the decoded audio stream.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { rename, rm } from 'node:fs/promises';

/** The rate audio backbones take (wav2vec2 and the generated tiny_audio): samples per second. */
export const AUDIO_SAMPLE_RATE = 16_000;

/** How frames get their windows of sound. */
export interface AudioWindowing {
  /** Window length in seconds, centred on the frame. */
  readonly windowSeconds: number;
  /**
   * Frames between window centres: 1 gives every frame its own window; k > 1 gives frames
   * 1, 1+k, 1+2k, ... windows and every other frame the window of the last of those before it.
   */
  readonly hopFrames: number;
}

/** 0.5 s around each frame, every frame: about 12 frames at 25 fps, the length of one expression segment. */
export const DEFAULT_AUDIO_WINDOWING: AudioWindowing = Object.freeze({ windowSeconds: 0.5, hopFrames: 1 });

/** A problem with a file's audio that no retry can fix (ffmpeg cannot decode it); permanent. */
export class AudioError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`audio of ${path}: ${detail}`);
    this.name = 'AudioError';
  }
}

/** Window settings outside what the pipeline accepts; permanent. */
export class AudioWindowingError extends Error {
  constructor(detail: string) {
    super(`audio windowing: ${detail}`);
    this.name = 'AudioWindowingError';
  }
}

/** Checks windowing settings; throws AudioWindowingError naming the field. */
export function checkWindowing(windowing: AudioWindowing): AudioWindowing {
  const { windowSeconds, hopFrames } = windowing;
  if (!(Number.isFinite(windowSeconds) && windowSeconds >= 0.025 && windowSeconds <= 10))
    throw new AudioWindowingError(`windowSeconds: expected 0.025..10 seconds, got ${windowSeconds}`);
  if (!(Number.isInteger(hopFrames) && hopFrames >= 1))
    throw new AudioWindowingError(`hopFrames: expected a positive integer, got ${hopFrames}`);
  return windowing;
}

/** One frame's window of sound, in samples of the whole decoded stream. */
export interface FrameWindow {
  /** The frame whose centre the window is on (the frame itself, or the last hop frame before it). */
  readonly anchor: number;
  readonly centreSeconds: number;
  /** First sample; negative when the window starts before the audio (zeros stand in). */
  readonly startSample: number;
  readonly samples: number;
}

/** The window of 1-based frame `frame` of a video at `fps`. */
export function frameWindow(
  frame: number,
  fps: number,
  windowing: AudioWindowing,
  rate = AUDIO_SAMPLE_RATE,
): FrameWindow {
  const anchor = frame - ((frame - 1) % windowing.hopFrames);
  const centreSeconds = (anchor - 0.5) / fps;
  const samples = Math.round(windowing.windowSeconds * rate);
  return {
    anchor,
    centreSeconds,
    startSample: Math.round(centreSeconds * rate) - Math.floor(samples / 2),
    samples,
  };
}

/** The samples [start, end) that hold every window of frames first..last (start clamped at 0). */
export function framesSpan(
  first: number,
  last: number,
  fps: number,
  windowing: AudioWindowing,
  rate = AUDIO_SAMPLE_RATE,
): { readonly start: number; readonly end: number } {
  const a = frameWindow(first, fps, windowing, rate);
  const b = frameWindow(last, fps, windowing, rate);
  return { start: Math.max(0, a.startSample), end: b.startSample + b.samples };
}

/**
 * A window's samples from `pcm`, which holds the stream's samples from `pcmStart` on; samples
 * outside the PCM are zeros.
 */
export function windowSamples(pcm: Float32Array, pcmStart: number, window: FrameWindow): Float32Array {
  const out = new Float32Array(window.samples);
  const from = window.startSample - pcmStart;
  const lo = Math.max(0, from);
  const hi = Math.min(pcm.length, from + window.samples);
  if (hi > lo) out.set(pcm.subarray(lo, hi), lo - from);
  return out;
}

/**
 * Runs a command to its end; `onStdout` may return 'enough' to have it stopped (killed), which
 * then counts as a clean exit.
 */
async function run(
  args: readonly string[],
  onStdout?: (chunk: Buffer) => 'enough' | void,
): Promise<{ code: number; stdout: string; stderr: string }> {
  const child = spawn(args[0]!, args.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let enough = false;
  child.stdout.on('data', (d: Buffer) => {
    if (!onStdout) stdout += d.toString('utf8');
    else if (!enough && onStdout(d) === 'enough') {
      enough = true;
      child.kill('SIGKILL');
    }
  });
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const [code] = (await once(child, 'close')) as [number | null];
  return { code: enough ? 0 : (code ?? -1), stdout, stderr };
}

const lastLine = (text: string): string => text.trim().split('\n').pop() ?? '';

/** Whether a media file has an audio stream (ffprobe). */
export async function hasAudioStream(path: string): Promise<boolean> {
  const { code, stdout, stderr } = await run([
    'ffprobe',
    '-v',
    'error',
    '-select_streams',
    'a',
    '-show_entries',
    'stream=index',
    '-of',
    'csv=p=0',
    path,
  ]);
  if (code !== 0) throw new AudioError(path, `ffprobe failed (exit ${code}): ${lastLine(stderr)}`);
  return stdout.trim().length > 0;
}

/**
 * The first audio stream of a media file as 16 kHz mono float32 PCM (ffmpeg resamples and
 * downmixes); with `range`, only samples [start, end) of it (fewer when the sound ends first).
 * undefined when the file has no audio stream. The stream is decoded from its start (audio
 * decodes at hundreds of times real time, and samples then line up exactly with a whole-stream
 * decode) and stopped once the range is complete.
 */
export async function extractPcm(
  path: string,
  range?: { readonly start: number; readonly end: number },
): Promise<Float32Array | undefined> {
  if (!(await hasAudioStream(path))) return undefined;
  const start = range?.start ?? 0;
  const end = range?.end ?? Infinity;
  const kept: Buffer[] = [];
  let seen = 0;
  let pending: Buffer = Buffer.alloc(0);
  const take = (chunk: Buffer): 'enough' | void => {
    // Chunks need not end on a sample boundary.
    const bytes = pending.length ? Buffer.concat([pending, chunk]) : chunk;
    const whole = bytes.length - (bytes.length % 4);
    pending = bytes.subarray(whole);
    const n = whole / 4;
    const lo = Math.max(0, start - seen);
    const hi = Math.min(n, end - seen);
    if (hi > lo) kept.push(Buffer.from(bytes.subarray(lo * 4, hi * 4)));
    seen += n;
    if (seen >= end) return 'enough';
  };
  const { code, stderr } = await run(
    [
      'ffmpeg',
      '-v',
      'error',
      '-nostdin',
      '-i',
      path,
      '-map',
      '0:a:0',
      '-vn',
      '-ac',
      '1',
      '-ar',
      String(AUDIO_SAMPLE_RATE),
      '-f',
      'f32le',
      'pipe:1',
    ],
    take,
  );
  if (code !== 0)
    throw new AudioError(path, `ffmpeg could not decode the audio (exit ${code}): ${lastLine(stderr)}`);
  const all = Buffer.concat(kept);
  const pcm = new Float32Array(all.length / 4);
  new Uint8Array(pcm.buffer).set(all);
  return pcm;
}

/**
 * Adds mono float32 PCM at `rate` to a video file as its AAC audio stream (the video stream is
 * copied, not re-encoded); replaces the file.
 */
export async function muxAudio(videoPath: string, pcm: Float32Array, rate: number): Promise<void> {
  const out = `${videoPath}.audio.tmp.mp4`;
  const child = spawn(
    'ffmpeg',
    [
      '-v',
      'error',
      '-y',
      '-i',
      videoPath,
      '-f',
      'f32le',
      '-ar',
      String(rate),
      '-ac',
      '1',
      '-i',
      'pipe:0',
      '-map',
      '0:v:0',
      '-map',
      '1:a:0',
      '-c:v',
      'copy',
      '-c:a',
      'aac',
      '-b:a',
      '64k',
      out,
    ],
    { stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr += d));
  const closed = once(child, 'close') as Promise<[number | null]>;
  // An ffmpeg that fails early closes its input; its exit status says why.
  child.stdin.on('error', () => {});
  child.stdin.end(Buffer.from(pcm.buffer, pcm.byteOffset, pcm.byteLength));
  const [code] = await closed;
  if (code !== 0) {
    await rm(out, { force: true });
    throw new AudioError(videoPath, `ffmpeg could not add the audio stream (exit ${code}): ${stderr.trim()}`);
  }
  await rename(out, videoPath);
}
