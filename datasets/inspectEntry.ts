/**
 * One listed video, probed and validated: its source (video file, photo or frame folder), its
 * labels checked against its frame count, its no-face frames and its split. Every problem is a
 * finding; a video that cannot be used comes back without a manifest entry.
 */
import sharp from 'sharp';
import { sha256Hex } from '../base/hashing.ts';
import { photoSize } from '../media/faces.ts';
import { probeVideo, VideoError } from '../media/ffmpeg.ts';
import { ImageError } from '../media/preprocess.ts';
import { AnnotationError } from './annotations.ts';
import { missingRanges, rangeText, scanFrameFolder, type FolderScan } from './frameFolder.ts';
import {
  annotatedFrames,
  encodeLabels,
  fitLabels,
  labelFrames,
  type Split,
  type Task,
  type TaskLabels,
} from './labels.ts';
import {
  sourcePathOf,
  type AssembleOptions,
  type Finding,
  type LabelSource,
  type ManifestVideo,
  type Severity,
  type VideoEntry,
  type VideoLabels,
} from './manifest.ts';
import type { DatasetSource } from './source.ts';

export interface Inspected {
  readonly video?: ManifestVideo;
  /** The label sources kept for the video (re-read when the labels are stored). */
  readonly labelSources?: readonly LabelSource[];
  readonly findings: Finding[];
}

type AddFinding = (severity: Severity, file: string, line: number | undefined, message: string) => void;

/** What a video's source gives before its labels are read. */
interface SourceProbe {
  readonly frameCount: number;
  readonly probe: { fps: number; width: number; height: number };
  readonly contentHash: string;
  /** Frame folders only. */
  readonly scan?: FolderScan;
}

interface ParsedLabels {
  readonly source: LabelSource;
  readonly labels: TaskLabels;
  readonly frames?: number;
}

interface KeptLabels {
  readonly labelSummary: Partial<Record<Task, VideoLabels>>;
  readonly taskSplits: Partial<Record<Task, Split>>;
  readonly kept: LabelSource[];
}

export async function inspectEntry(
  source: DatasetSource,
  entry: VideoEntry,
  options: AssembleOptions,
  hashCache: Map<string, Promise<string>>,
): Promise<Inspected> {
  const findings: Finding[] = [];
  const add: AddFinding = (severity, file, line, message) => {
    findings.push({ severity, file, ...(line === undefined ? {} : { line }), message });
  };
  const sourcePath = sourcePathOf(entry.source);
  if (!source.insideRoot(sourcePath)) {
    add(
      'error',
      sourcePath,
      undefined,
      `dataset ${entry.origin}: path ${JSON.stringify(sourcePath)} is outside the dataset root`,
    );
    return { findings };
  }
  const probed = await probeSource(source, entry, options, hashCache, add);
  if (!probed) return { findings };
  const { probe, contentHash, scan } = probed;
  let { frameCount } = probed;

  // Labels: parse, check against the frame count, keep only a hash (the labels are re-read when stored).
  const parsed = await parseLabels(entry, add);
  if (scan) frameCount = Math.max(frameCount, ...parsed.map((p) => p.frames ?? 0));
  const { labelSummary, taskSplits, kept } = keepLabels(entry, sourcePath, scan, frameCount, parsed, add);
  const noFaceFrames = noFaceRanges(entry, scan, frameCount, add);
  const split =
    (['EXPR', 'VA', 'AU', 'CE', 'EMI'] as const).map((t) => taskSplits[t]).find((s) => s !== undefined) ??
    entry.split ??
    'Test';
  const video: ManifestVideo = {
    name: entry.name,
    split,
    ...(Object.keys(taskSplits).length ? { taskSplits } : {}),
    source: entry.source,
    frameCount,
    fps: probe.fps,
    width: probe.width,
    height: probe.height,
    contentHash,
    ...(Object.keys(labelSummary).length ? { labels: labelSummary } : {}),
    ...(noFaceFrames ? { noFaceFrames } : {}),
  };
  return { video, labelSources: kept, findings };
}

/** Probes and hashes the entry's source; undefined (with an error finding) when it cannot be used. */
async function probeSource(
  source: DatasetSource,
  entry: VideoEntry,
  options: AssembleOptions,
  hashCache: Map<string, Promise<string>>,
  add: AddFinding,
): Promise<SourceProbe | undefined> {
  if (entry.source.kind === 'image') return probePhoto(source, entry.source.path, options, add);
  if (entry.source.kind === 'video') return probeVideoFile(source, entry.source.path, hashCache, add);
  return probeFrameFolder(source, entry.source.dir, options, add);
}

async function probePhoto(
  source: DatasetSource,
  path: string,
  options: AssembleOptions,
  add: AddFinding,
): Promise<SourceProbe | undefined> {
  let probe: { fps: number; width: number; height: number };
  const copy = await source.localCopy(path);
  try {
    probe = { fps: options.framesFps ?? 30, ...(await photoSize(copy.path, path)) };
  } catch (err) {
    if (!(err instanceof ImageError)) throw err;
    add('error', path, undefined, `photo ${path}: ${err.detail}; left out`);
    return undefined;
  } finally {
    await copy.release();
  }
  return { frameCount: 1, probe, contentHash: await source.sha256(path) };
}

async function probeVideoFile(
  source: DatasetSource,
  path: string,
  hashCache: Map<string, Promise<string>>,
  add: AddFinding,
): Promise<SourceProbe | undefined> {
  const copy = await source.localCopy(path);
  try {
    const probed = await probeVideo(copy.path);
    let hash = hashCache.get(path);
    if (!hash) {
      hash = source.sha256(path);
      hashCache.set(path, hash);
    }
    const contentHash = await hash;
    return { frameCount: probed.frameCount, probe: probed, contentHash };
  } catch (err) {
    if (!(err instanceof VideoError)) throw err;
    add(
      'error',
      path,
      undefined,
      `video ${path}: cannot be probed, left out: ${err.detail.replaceAll(`${copy.path}: `, '')}`,
    );
    return undefined;
  } finally {
    await copy.release();
  }
}

async function probeFrameFolder(
  source: DatasetSource,
  dir: string,
  options: AssembleOptions,
  add: AddFinding,
): Promise<SourceProbe | undefined> {
  const scan = scanFrameFolder(source, dir);
  for (const name of scan.stray)
    add(
      'warning',
      `${dir}/${name}`,
      undefined,
      `frames ${dir}/${name}: expected %05d.jpg (1-based frame number), ignored`,
    );
  if (scan.highest === 0) {
    add('error', dir, undefined, `frames ${dir}: expected images named %05d.jpg, found none; left out`);
    return undefined;
  }
  let width = 0;
  let height = 0;
  const copy = await source.localCopy(`${dir}/${scan.firstImage!}`);
  try {
    const meta = await sharp(copy.path).metadata();
    width = meta.width ?? 0;
    height = meta.height ?? 0;
  } catch (err) {
    add(
      'warning',
      `${dir}/${scan.firstImage}`,
      undefined,
      `frames ${dir}/${scan.firstImage}: cannot read the image size (${(err as Error).message}); recorded as 0x0`,
    );
  } finally {
    await copy.release();
  }
  return {
    frameCount: scan.highest,
    probe: { fps: options.framesFps ?? 30, width, height },
    contentHash: scan.contentHash,
    scan,
  };
}

/** Reads each label source; a malformed file is an error finding and leaves that task out. */
async function parseLabels(entry: VideoEntry, add: AddFinding): Promise<ParsedLabels[]> {
  const parsed: ParsedLabels[] = [];
  for (const source of entry.labels) {
    try {
      const labels = await source.load();
      parsed.push({ source, labels, frames: labelFrames(labels) });
    } catch (err) {
      if (!(err instanceof AnnotationError)) throw err;
      add('error', err.file, err.line, `${err.message}; ${source.task} labels of ${entry.name} left out`);
    }
  }
  return parsed;
}

/** Checks each task's labels against the frame count and summarises the ones kept (hash, splits). */
function keepLabels(
  entry: VideoEntry,
  sourcePath: string,
  scan: FolderScan | undefined,
  frameCount: number,
  parsed: readonly ParsedLabels[],
  add: AddFinding,
): KeptLabels {
  const labelSummary: Partial<Record<Task, VideoLabels>> = {};
  const taskSplits: Partial<Record<Task, Split>> = {};
  const kept: LabelSource[] = [];
  for (const { source, labels: raw, frames } of parsed) {
    if (frames !== undefined && !labelLengthFits(entry, sourcePath, scan, frameCount, source, frames, add))
      continue;
    const labels = fitLabels(raw, frameCount);
    labelSummary[source.task] = {
      file: source.file,
      ...(labelFrames(labels) === undefined ? {} : { frames: labelFrames(labels) }),
      annotated: annotatedFrames(labels),
      hash: sha256Hex(encodeLabels(labels)),
    };
    if (source.split) taskSplits[source.task] = source.split;
    kept.push(source);
  }
  return { labelSummary, taskSplits, kept };
}

/**
 * Whether labels covering `frames` frames fit the video: one frame off is a warning (the last line
 * dropped, or the last frame not annotated), more is an error and leaves the task's labels out.
 */
function labelLengthFits(
  entry: VideoEntry,
  sourcePath: string,
  scan: FolderScan | undefined,
  frameCount: number,
  source: LabelSource,
  frames: number,
  add: AddFinding,
): boolean {
  // A frame folder has no frame count of its own: labels only must cover every frame that has an image.
  const expected = scan ? scan.highest : frameCount;
  const diff = frames - expected;
  const what = scan
    ? `${entry.source.kind === 'frames' ? entry.source.dir : ''} has images up to frame ${expected}`
    : `${sourcePath} has ${expected} frames`;
  const lastLine = frames + 1;
  if (scan ? diff < -1 : Math.abs(diff) > 1) {
    add(
      'error',
      source.file,
      lastLine,
      `annotation ${source.file} line ${lastLine}: expected ${expected} frame lines after the header (${what}), got ${frames}; ${source.task} labels of ${entry.name} left out`,
    );
    return false;
  }
  if (diff === 1 && !scan) {
    add(
      'warning',
      source.file,
      lastLine,
      `annotation ${source.file} line ${lastLine}: expected ${expected} frame lines after the header (${what}), got ${frames}; the last line is dropped`,
    );
  } else if (diff === -1) {
    add(
      'warning',
      source.file,
      lastLine,
      `annotation ${source.file} line ${lastLine}: expected ${expected} frame lines after the header (${what}), got ${frames}; frame ${expected} is marked not annotated`,
    );
  }
  return true;
}

/** A frame folder's frames without an image (recorded as no face), with a note when there are any. */
function noFaceRanges(
  entry: VideoEntry,
  scan: FolderScan | undefined,
  frameCount: number,
  add: AddFinding,
): [number, number][] | undefined {
  if (!(scan && entry.source.kind === 'frames')) return undefined;
  const noFaceFrames = missingRanges(scan.present, frameCount);
  const count = noFaceFrames.reduce((a, [x, y]) => a + y - x + 1, 0);
  if (count > 0) {
    const [a, b] = noFaceFrames[0]!;
    const dir = entry.source.dir;
    add(
      'note',
      `${dir}/${String(a).padStart(5, '0')}.jpg`,
      a,
      `frames ${dir}/${String(a).padStart(5, '0')}.jpg: no image for frame ${a}${b > a ? `-${b}` : ''}; ${count} of ${frameCount} frames have no image (${rangeText(noFaceFrames)}), recorded as no face`,
    );
  }
  return noFaceFrames;
}
