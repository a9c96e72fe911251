/**
 * Streamed decoding of a frame range to RGB through Debian's ffmpeg. Frames are numbered 1-based
 * in display order, as annotation files are.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { frameStamps, VideoError, type VideoProbe } from './ffmpeg.ts';
import { sampledFrames, type FrameSampling } from './frameSampling.ts';

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
export interface DecodedFrame {
  /** 1-based frame number in display order. */
  readonly frame: number;
  readonly width: number;
  readonly height: number;
  /** Packed RGB, 3 bytes per pixel, row-major. */
  readonly rgb: Uint8Array;
  /** A look-back frame before the range (DecodeOptions.context): not part of the range or its summary. */
  readonly context?: boolean;
}

export interface DecodeOptions {
  /** 1-based, inclusive. */
  readonly first: number;
  readonly last: number;
  readonly sampling?: FrameSampling;
  /** Decoder threads (ffmpeg -threads); default 1. */
  readonly threads?: number;
  /**
   * Also yield up to this many sampled frames just before `first`, flagged `context` (tracking's
   * look-back, media/tracking.ts); they are not counted in the summary. Default 0. The decode
   * then starts at the key packet before the first of them.
   */
  readonly context?: number;
  /**
   * Yield every frame in one buffer, overwritten by the next frame: for a caller that is done
   * with a frame's pixels before it asks for the next one (copy what must be kept). Default false.
   */
  readonly reuseBuffer?: boolean;
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
  /**
   * ffmpeg's exit status (never a signal: a decoder killed short of the range throws); 0 also
   * when the decode was ended after the last wanted frame came out, since the decoder then went
   * past every frame wanted.
   */
  readonly exitCode: number;
  /** What went wrong (damaged or short file), or null for a clean decode. */
  readonly error: string | null;
}

/** A frame the select filter kept. */
const SHOWINFO = /^\[showinfo@kept @ [^\]]+\] \[info\] n:\s*\d+ pts:\s*(-?\d+|NOPTS)/;
const PROBLEM = /^(?:\[[^\]]+\] )?\[(error|fatal)\] (.*)$/;
/**
 * The rawvideo muxer writing our pipe complains when input frames share a timestamp (variable
 * frame rate files with duplicates); with passthrough every frame is still written, in order, so
 * this says nothing about the input and is not reported.
 */
const OUTPUT_DTS_NOISE =
  /^\[rawvideo @ [^\]]+\] \[error\] Application provided invalid, non monotonically increasing dts/;

/**
 * Streams the sampled frames of first..last (1-based, display order) as RGB; rotation metadata
 * is applied. Only one frame is buffered beyond the pipe's own buffer.
 *
 * Numbering: when every packet has its own timestamp, a decoded frame's number is the rank of
 * its timestamp among all packets, so a frame the decoder drops (damage) leaves a gap instead of
 * shifting the frames after it, and variable frame rate files number like the annotation files.
 * Otherwise frames are counted as they come out of the decoder.
 *
 * Cost: with timestamps, decoding starts at the last key packet at or before the first frame
 * wanted (an input seek) and ends once the last wanted frame is out, so a shard decodes about its
 * own frames plus one group of pictures, not the whole file; a seek that lands past the first
 * wanted frame (a container without an index) falls back to decoding from the start. Without
 * timestamps frames are counted from the start, so decoding starts there.
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
  const { first } = options;
  const sampling = options.sampling ?? {};
  const stamps = await frameStamps(path);
  const byStamps = stamps !== null && stamps.pts.length >= first;
  const last = byStamps ? Math.min(options.last, stamps.pts.length) : options.last;
  const times = stamps && stamps.pts.map((p) => p * stamps.timeBase);
  const wanted = sampledFrames(first, options.last, sampling, times, probe.fps);
  const lookBack =
    first > 1 && (options.context ?? 0) > 0
      ? sampledFrames(1, first - 1, sampling, times, probe.fps).slice(-options.context!)
      : [];
  const start = lookBack[0] ?? first;
  const inRange = [...lookBack, ...wanted.filter((f) => f <= last)];
  const plan: DecodePlan = {
    path,
    width: probe.width,
    height: probe.height,
    first,
    last: options.last,
    threads: options.threads ?? 1,
    reuseBuffer: options.reuseBuffer ?? false,
    wanted,
    isContext: new Set(lookBack),
    keep: new Set(inRange),
    start,
    // Wanted frames past the packet index (a cut file, a probe that disagrees): decode to the end.
    finalFrame: wanted.every((f) => f <= last) ? (inRange.at(-1) ?? null) : null,
    finalPts: null,
    frameOfPts: new Map<number, number>(),
    // One frame past the range is selected too: ffmpeg holds the last selected frame back until
    // another one follows (or the file ends), and the decode is stopped before that one is read.
    select: `select=between(n\\,${start - 1}\\,${last})`,
  };
  let seek: Seek | null = null;
  if (byStamps) {
    stamps.pts.forEach((p, i) => plan.frameOfPts.set(p, i + 1));
    const frameCount = stamps.pts.length;
    const selected =
      plan.finalFrame !== null && plan.finalFrame < frameCount ? [...inRange, plan.finalFrame + 1] : inRange;
    plan.select =
      inRange.length > 0 && inRange.length < last - start + 1 && inRange.length <= 2000
        ? `select=${selected.map((f) => `eq(pts\\,${stamps.pts[f - 1]})`).join('+')}`
        : `select=between(pts\\,${stamps.pts[start - 1]}\\,${stamps.pts[Math.min(last + 1, frameCount) - 1]})`;
    if (plan.finalFrame !== null) plan.finalPts = stamps.pts[plan.finalFrame - 1]!;
    const key = lastAtOrBefore(stamps.keyPts, stamps.pts[start - 1]!);
    // Rounded up to the microsecond ffmpeg parses: a hair past the key packet still seeks back to it.
    if (key !== null && key > (stamps.pts[0] ?? 0))
      seek = {
        at: (Math.ceil(key * stamps.timeBase * 1e6) / 1e6).toFixed(6),
        keyPts: key,
        exact: stamps.indexed,
      };
  }
  if (seek !== null) {
    const seeked = yield* decodeOnce(plan, seek);
    if (seeked !== OVERSHOT) return seeked;
  }
  const whole = yield* decodeOnce(plan, null);
  if (whole === OVERSHOT) throw new Error('decodeFrames: a decode from the start cannot overshoot');
  return whole;
}

/** The largest value of an ascending list at or below `at`, or null. */
function lastAtOrBefore(sorted: Float64Array, at: number): number | null {
  let lo = 0;
  let hi = sorted.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (sorted[mid]! <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo > 0 ? sorted[lo - 1]! : null;
}

interface DecodePlan {
  readonly path: string;
  readonly width: number;
  readonly height: number;
  readonly first: number;
  readonly last: number;
  readonly threads: number;
  readonly reuseBuffer: boolean;
  /** Sampled frames of first..last. */
  readonly wanted: readonly number[];
  readonly isContext: ReadonlySet<number>;
  /** Context and wanted frames the file has. */
  readonly keep: ReadonlySet<number>;
  /** The first frame to come out (the first context frame, else `first`). */
  readonly start: number;
  /** The last frame to come out: once it has, the decoder is stopped; null: decode to the end. */
  readonly finalFrame: number | null;
  /** The last frame's timestamp, when numbering by timestamps. */
  finalPts: number | null;
  /** Frame number of each timestamp, when numbering by timestamps (else empty). */
  readonly frameOfPts: Map<number, number>;
  select: string;
}

/** Where a decode starts: the key packet at or before the first frame to come out. */
interface Seek {
  /** Its time in seconds, for -ss. */
  readonly at: string;
  /** Its timestamp. */
  readonly keyPts: number;
  /** The container has an index, so the demuxer starts at the key packet itself. */
  readonly exact: boolean;
}

/** A seeked decode whose first frame came after `start`: nothing was yielded; decode from the start. */
const OVERSHOT = Symbol('overshot');

async function* decodeOnce(
  plan: DecodePlan,
  seek: Seek | null,
): AsyncGenerator<DecodedFrame, DecodeSummary | typeof OVERSHOT> {
  const { path, width, height, first, wanted, isContext, keep, start, frameOfPts } = plan;
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
      String(plan.threads),
      // Seek to the key packet by its own timestamp (not offset by the file's start time), and
      // pass every frame from there to the select filter, which picks the range by timestamp.
      ...(seek === null ? [] : ['-seek_timestamp', '1', '-noaccurate_seek', '-ss', seek.at]),
      '-i',
      path,
      '-map',
      '0:v:0',
      '-vf',
      `${plan.select},showinfo@kept=checksum=0`,
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
  // What the decoder says is reported from where decoding starts to the frame that follows the
  // last one wanted (ffmpeg may decode on until it is killed). A seek in a container without an
  // index (MPEG-TS, ...) starts before the key packet, at packets whose references are missing:
  // there what it says before the first kept frame is not reported, unless nothing comes out.
  const catchUp = seek !== null && !seek.exact;
  const beforeRange: string[] = [];
  let kept = 0;
  let pastRange = false;
  let stderrOpen = true;
  let wake: (() => void) | null = null;
  let partialLine = '';
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d: string) => {
    const lines = (partialLine + d).split('\n');
    partialLine = lines.pop() ?? '';
    for (const line of lines) {
      const info = SHOWINFO.exec(line);
      const pts = info && (info[1] === 'NOPTS' ? null : Number(info[1]));
      if (info) {
        kept++;
        if (
          plan.finalPts !== null
            ? pts !== null && pts > plan.finalPts
            : plan.finalFrame !== null && kept > plan.finalFrame - start + 1
        )
          pastRange = true;
        shown.push(pts);
      } else {
        const problem = OUTPUT_DTS_NOISE.test(line.trim()) ? null : PROBLEM.exec(line.trim());
        const said = line.trim().replace(/ \[(error|fatal)\]/, '');
        if (!problem || pastRange) continue;
        if (kept === 0 && catchUp) {
          if (beforeRange.length < 50) beforeRange.push(said);
        } else if (problems.length < 50) problems.push(said);
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
  let counted = start - 1;
  let decoded = 0;
  let lastFrame: number | null = null;
  let lastContext: number | null = null;
  const yieldedFrames: number[] = [];
  const numbering: string[] = [];
  let firstOut = true;
  // Ended by us once the last frame wanted was out: what ffmpeg would decode after it is not needed.
  let stoppedAfterFinal = false;
  try {
    read: for await (const chunk of child.stdout as AsyncIterable<Buffer>) {
      let offset = 0;
      while (offset < chunk.length) {
        const take = Math.min(frameBytes - filled, chunk.length - offset);
        current.set(chunk.subarray(offset, offset + take), filled);
        filled += take;
        offset += take;
        if (filled < frameBytes) break;
        const rgb = current;
        if (!plan.reuseBuffer) current = new Uint8Array(frameBytes);
        filled = 0;
        const pts = await nextShown();
        let frame = pts === null || pts === undefined ? undefined : frameOfPts.get(pts);
        if (frameOfPts.size === 0) frame = ++counted;
        else if (frame === undefined) {
          frame = (lastFrame ?? lastContext ?? start - 1) + 1;
          if (numbering.length < 3)
            numbering.push(
              `a frame with timestamp ${pts ?? 'none'} is not in the packet index; numbered ${frame}`,
            );
        }
        if (firstOut && seek !== null && (numbering.length > 0 || frame > start)) return OVERSHOT;
        firstOut = false;
        if (!keep.has(frame) || (lastFrame !== null && frame <= lastFrame)) continue;
        if (isContext.has(frame)) {
          if (lastContext !== null && frame <= lastContext) continue;
          lastContext = frame;
          yield { frame, width, height, rgb, context: true };
        } else {
          decoded++;
          lastFrame = frame;
          yieldedFrames.push(frame);
          yield { frame, width, height, rgb };
        }
        if (frame === plan.finalFrame) {
          stoppedAfterFinal = true;
          break read;
        }
      }
    }
    if (stoppedAfterFinal && child.exitCode === null) child.kill('SIGKILL');
    const [exitCode, exitSignal] = await closed;
    const [code, signal] = stoppedAfterFinal ? [0, null] : [exitCode, exitSignal];
    const yielded = new Set(yieldedFrames);
    const missing = wanted.filter((f) => !yielded.has(f));
    if (signal !== null && missing.length > 0) {
      throw new DecodeInterruptedError(
        path,
        first,
        plan.last,
        `ffmpeg was killed by ${signal} after ${decoded} of ${wanted.length} frames`,
      );
    }
    const report: string[] = [];
    if (signal !== null) report.push(`ffmpeg was killed by ${signal} after the last frame`);
    else if (code !== 0) report.push(`ffmpeg exited with ${code}`);
    if (filled > 0 && !stoppedAfterFinal) report.push(`a partial frame of ${filled} bytes`);
    if (decoded < wanted.length) {
      report.push(
        `expected ${wanted.length} frames in ${first}..${plan.last}, decoded ${decoded}` +
          (lastFrame === null ? '' : ` (the last is frame ${lastFrame})`),
      );
    }
    report.push(...numbering);
    // Nothing came out: whatever the decoder said may be why.
    if (kept === 0) problems.push(...beforeRange);
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
