/**
 * When a decode that left frames out may still commit. A frame the sampling keeps is accounted
 * for when it was decoded, or when there is evidence that the source itself lacks it:
 *
 * - ffmpeg exited 0 (media/decodeFrames.ts also says 0 when it ended the decode after the last
 *   wanted frame): the decoder went past every frame wanted, so what did not come out is not in
 *   the file (cut short, or damaged where it decoded nothing);
 * - ffmpeg exited non-zero twice, on two attempts, after the same frames: the stop reproduces,
 *   so it is the file's. The first such attempt is remembered in the store (one small object per
 *   shard under `tmp/decode-attempts/`, read by whichever worker runs the next attempt) and fails
 *   with the retryable DecodeInterruptedError.
 *
 * A decoder killed by a signal is never evidence (media/ffmpeg.ts throws before this is asked).
 */
import { shortHash } from '../base/hashing.ts';
import { DecodeInterruptedError, type DecodeSummary } from '../media/decodeFrames.ts';
import type { FrameCoverage } from '../storage/commit.ts';
import type { ObjectStore } from '../storage/objectStore.ts';

/** Where the first non-zero exit of a shard's decode is remembered for the next attempt to compare. */
export const decodeAttemptKey = (framesKey: string): string =>
  `tmp/decode-attempts/${shortHash(framesKey)}.json`;

interface DecodeAttempt {
  readonly framesKey: string;
  /** Exit status and decoded frames, hashed: equal when an attempt stops the same way. */
  readonly outcome: string;
  readonly at: string;
}

/**
 * The missing frames as inclusive ranges, each a run of consecutive kept frames: a range ends
 * where a decoded frame lies between two missing ones. Both lists ascending.
 */
export function damagedRanges(missing: readonly number[], decoded: readonly number[]): [number, number][] {
  const ranges: [number, number][] = [];
  let d = 0;
  for (const frame of missing) {
    const open = ranges.at(-1);
    while (d < decoded.length && decoded[d]! < frame) d++;
    const decodedBetween = open !== undefined && d > 0 && decoded[d - 1]! > open[1];
    if (open && !decodedBetween) open[1] = frame;
    else ranges.push([frame, frame]);
  }
  return ranges;
}

/**
 * The coverage a video shard commits with, or DecodeInterruptedError when frames are missing
 * without evidence. `decoded`: the frames that came out, ascending.
 */
export async function videoCoverage(
  store: ObjectStore,
  framesKey: string,
  video: { readonly path: string; readonly first: number; readonly last: number },
  summary: DecodeSummary,
  decoded: readonly number[],
): Promise<FrameCoverage> {
  const range = { first: video.first, last: video.last, expected: summary.wanted, decoded: decoded.length };
  if (summary.missing.length === 0) return { ...range, damaged: [] };
  const damaged = damagedRanges(summary.missing, decoded);
  const code = summary.exitCode;
  if (code === 0) {
    return {
      ...range,
      damaged,
      evidence: `ffmpeg read the file to its end and exited with 0 without them: the file is cut short or damaged`,
    };
  }
  const key = decodeAttemptKey(framesKey);
  const outcome = shortHash('exit', code, decoded.join(','));
  const earlier = (await store.head(key))
    ? (JSON.parse(new TextDecoder().decode(await store.get(key))) as DecodeAttempt)
    : undefined;
  if (earlier?.framesKey === framesKey && earlier.outcome === outcome) {
    await store.delete(key);
    return {
      ...range,
      damaged,
      evidence: `ffmpeg exited with ${code} after the same ${decoded.length} frames on two attempts: the file is damaged there`,
    };
  }
  const attempt: DecodeAttempt = { framesKey, outcome, at: new Date().toISOString() };
  await store.put(key, JSON.stringify(attempt));
  throw new DecodeInterruptedError(
    video.path,
    video.first,
    video.last,
    `ffmpeg exited with ${code} after ${decoded.length} of ${summary.wanted} frames, a stop not seen on an earlier attempt`,
  );
}
