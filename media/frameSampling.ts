/** Which frames of a 1-based range a sampling keeps; pure, shared by decoding and the frames activity. */
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
