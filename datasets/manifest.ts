/**
 * The manifest: every video of a dataset with its split, frame source, probe and content hash,
 * a summary of its labels per task, and a deterministic split into shards (video x 1-based frame
 * range). Shard ids derive from the video's content and the shard configuration only, so the same
 * input always yields the same shards and a changed video yields new ones only for itself.
 *
 * Dataset adapters (affwild2.ts, cexprdb.ts, hume.ts, generic.ts) list the videos and where their
 * labels are; `assembleManifest` probes, validates and hashes them one video at a time, so memory
 * stays bounded by one video's labels whatever the dataset's size.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join, sep } from 'node:path';
import sharp from 'sharp';
import { fileSha256, sha256Hex, shortHash } from '../base/hashing.ts';
import { photoSize } from '../media/faces.ts';
import { probeVideo, VideoError } from '../media/ffmpeg.ts';
import { ImageError } from '../media/preprocess.ts';
import { AnnotationError } from './annotations.ts';
import {
  annotatedFrames,
  encodeLabels,
  fitLabels,
  labelFrames,
  TASKS,
  type Split,
  type Task,
  type TaskLabels,
} from './labels.ts';
import { insideRoot } from './tree.ts';
import { unusedFileFindings } from './unusedFiles.ts';

export { insideRoot } from './tree.ts';

export const MANIFEST_FORMAT = 'affectflow.manifest/1';

export type DatasetKind = 'affwild2' | 'cexprdb' | 'hume' | 'generic';
export const DATASET_KINDS: readonly DatasetKind[] = Object.freeze([
  'affwild2',
  'cexprdb',
  'hume',
  'generic',
]);

/**
 * Where a video's frames come from, relative to the dataset root: a video file, a folder of
 * per-frame face images (Aff-Wild2 cropped/: frame f is `%05d.jpg`, 1-based; a missing image
 * means no face was found in that frame), or one photo (a one-frame video).
 */
export type VideoSource =
  | { readonly kind: 'video'; readonly path: string }
  | { readonly kind: 'frames'; readonly dir: string }
  | { readonly kind: 'image'; readonly path: string };

/** The file or folder a source reads, relative to the root. */
export const sourcePathOf = (source: VideoSource): string =>
  source.kind === 'frames' ? source.dir : source.path;

/** What the manifest records about one task's labels of one video (the labels are separate store objects). */
export interface VideoLabels {
  /** Label file relative to the root (for EMI: the CSV). */
  readonly file: string;
  /** Frames the stored labels cover (= the video's frameCount); absent for per-video labels (EMI). */
  readonly frames?: number;
  /** Frames with a label (not the "not annotated" marker); 1 for EMI. */
  readonly annotated: number;
  /** sha256 of the stored JSON encoding (labels.ts encodeLabels). */
  readonly hash: string;
}

export interface ManifestVideo {
  readonly name: string;
  /** The split the video's frames are used in: its EXPR split, else VA, AU, CE, EMI; Test when unlabelled. */
  readonly split: Split;
  /** Split per task where the task's files place the video (Aff-Wild2 partitions differ per task). */
  readonly taskSplits?: Partial<Record<Task, Split>>;
  readonly source: VideoSource;
  /**
   * Frames: for a video file, packets counted by ffprobe; for a frame folder, the larger of the
   * highest image index and the longest label file (trailing frames without a face have no image).
   */
  readonly frameCount: number;
  readonly fps: number;
  /** Video frame size; for a frame folder, the size of its first image (crops vary), 0 if unreadable. */
  readonly width: number;
  readonly height: number;
  /** sha256 of the video file; for a frame folder, of its sorted image names and sizes. */
  readonly contentHash: string;
  readonly labels?: Partial<Record<Task, VideoLabels>>;
  /** Frame folders only: 1-based inclusive ranges of frames without an image (no face found). */
  readonly noFaceFrames?: readonly (readonly [number, number])[];
}

export interface ManifestShard {
  readonly shardId: string;
  readonly video: string;
  readonly split: Split;
  /** 1-based, inclusive. */
  readonly firstFrame: number;
  readonly lastFrame: number;
}

/** `<folder-name>-<hash>`: readable in keys, distinct for datasets read by different adapters. */
export function datasetIdOf(root: string, kind: string): string {
  const name = root.split(sep).filter(Boolean).pop() ?? 'dataset';
  const slug =
    name
      .toLowerCase()
      .replace(/[^a-z0-9]+/g, '-')
      .replace(/^-|-$/g, '')
      .slice(0, 40) || 'dataset';
  return `${slug}-${shortHash('dataset/3', kind, name).slice(0, 8)}`;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  /**
   * The dataset's identity, stable across versions: its folder name and adapter. It namespaces the
   * dataset's keys; shard ids (video content + frame range) tell versions apart, so a changed video
   * gets new shards while every other shard keeps its committed frames and embeddings.
   */
  readonly datasetId: string;
  /** This version's content hash: videos, splits and labels. */
  readonly version: string;
  /** Which adapter read the dataset. */
  readonly dataset?: DatasetKind;
  /** Absolute dataset root on the machines that read the videos. */
  readonly root: string;
  readonly shardFrames: number;
  /** Tasks with labels for at least one video. */
  readonly tasks?: readonly Task[];
  /** Videos per split. */
  readonly splits?: Readonly<Record<Split, number>>;
  readonly videos: readonly ManifestVideo[];
  readonly shards: readonly ManifestShard[];
  /**
   * The validation report: one line per finding, "<severity>: <message>", severity error (the
   * video or that task's labels are left out), warning (kept, adjusted) or note (normal, recorded).
   */
  readonly findings: readonly string[];
}

export type Severity = 'error' | 'warning' | 'note';

export interface Finding {
  readonly severity: Severity;
  /** File or folder relative to the root. */
  readonly file: string;
  /** 1-based line in `file`, where one applies. */
  readonly line?: number;
  /** The whole message; starts with a fixed prefix (annotation, video, frames, dataset) and names file and line. */
  readonly message: string;
}

export const formatFinding = (f: Finding): string => `${f.severity}: ${f.message}`;

/** The error finding for a malformed annotation file; any other error is rethrown. */
export function annotationFinding(err: unknown, consequence: string): Finding {
  if (!(err instanceof AnnotationError)) throw err;
  return { severity: 'error', file: err.file, line: err.line, message: `${err.message}; ${consequence}` };
}

/** Where one task's labels of a video come from; `load` re-reads the file each time (throws AnnotationError). */
export interface LabelSource {
  readonly task: Task;
  readonly file: string;
  readonly split?: Split;
  load(): Promise<TaskLabels>;
}

/** One video as an adapter lists it, before probing. */
export interface VideoEntry {
  readonly name: string;
  readonly source: VideoSource;
  /** Where the entry was named (for duplicate-name messages), e.g. "videos/a.mp4" or "videos.csv line 3". */
  readonly origin: string;
  /** Split when no label source gives one (test lists, CSV split columns). */
  readonly split?: Split;
  readonly labels: readonly LabelSource[];
}

export interface AdapterResult {
  readonly kind: DatasetKind;
  readonly entries: readonly VideoEntry[];
  readonly findings: readonly Finding[];
  /** Layout files the adapter read besides sources and label files (CSV lists, test-set lists). */
  readonly layoutFiles?: readonly string[];
  /** Why a file under the root that nothing uses is not used (default: not part of the layout). */
  readonly unusedReason?: (path: string) => string;
  /** Severity of an unused file's finding (default warning; note where a list chose the files). */
  readonly unusedSeverity?: 'warning' | 'note';
}

export interface AssembleOptions {
  /** Target frames per shard. */
  readonly shardFrames: number;
  /** Frame rate recorded for frame folders (they carry none). */
  readonly framesFps?: number;
  /** Videos probed and hashed at once. */
  readonly concurrency?: number;
  /** Called after each video is probed and hashed (an activity's heartbeat). */
  readonly onVideo?: () => void;
}

/** The labels of one video and task, encoded for the store (labels.ts encodeLabels). */
export interface StoredLabels {
  readonly video: string;
  readonly task: Task;
  readonly json: string;
}

export interface BuiltManifest {
  readonly manifest: Manifest;
  readonly findings: readonly Finding[];
  /** Streams every video's labels, one at a time, re-read from the files and checked against the manifest's hashes. */
  labels(): AsyncGenerator<StoredLabels>;
}

/** Splits each video into ranges of at most shardFrames frames. */
export function planShards(videos: readonly ManifestVideo[], shardFrames: number): ManifestShard[] {
  const shards: ManifestShard[] = [];
  for (const video of videos) {
    for (let first = 1; first <= video.frameCount; first += shardFrames) {
      const lastFrame = Math.min(video.frameCount, first + shardFrames - 1);
      shards.push({
        shardId: shortHash('shard/1', video.contentHash, video.name, first, lastFrame),
        video: video.name,
        split: video.split,
        firstFrame: first,
        lastFrame,
      });
    }
  }
  return shards;
}

const FRAME_IMAGE = /^(\d{5,})\.jpg$/;

interface FolderScan {
  readonly highest: number;
  readonly present: Uint8Array;
  readonly contentHash: string;
  readonly firstImage?: string;
  readonly stray: string[];
}

function scanFrameFolder(root: string, dir: string): FolderScan {
  const names = readdirSync(join(root, dir)).sort();
  const hash = createHash('sha256');
  const indexes: number[] = [];
  const stray: string[] = [];
  for (const name of names) {
    const match = FRAME_IMAGE.exec(name);
    if (!match) {
      stray.push(name);
      continue;
    }
    const index = Number(match[1]);
    if (index < 1) {
      stray.push(name);
      continue;
    }
    indexes.push(index);
    hash.update(`${name}:${statSync(join(root, dir, name)).size}\n`);
  }
  const highest = indexes.reduce((a, b) => Math.max(a, b), 0);
  const present = new Uint8Array(highest + 1);
  for (const i of indexes) present[i] = 1;
  const first = indexes.length ? indexes.reduce((a, b) => Math.min(a, b)) : undefined;
  return {
    highest,
    present,
    contentHash: hash.digest('hex'),
    firstImage: first === undefined ? undefined : `${String(first).padStart(5, '0')}.jpg`,
    stray,
  };
}

/** 1-based inclusive ranges of frames 1..frameCount without an image. */
function missingRanges(present: Uint8Array, frameCount: number): [number, number][] {
  const ranges: [number, number][] = [];
  for (let f = 1; f <= frameCount; f++) {
    if (present[f]) continue;
    const last = ranges.at(-1);
    if (last && last[1] === f - 1) last[1] = f;
    else ranges.push([f, f]);
  }
  return ranges;
}

const rangeText = (ranges: readonly (readonly [number, number])[], limit = 8): string =>
  ranges
    .slice(0, limit)
    .map(([a, b]) => (a === b ? String(a) : `${a}-${b}`))
    .join(', ') + (ranges.length > limit ? `, ... (${ranges.length} ranges)` : '');

interface Inspected {
  readonly video?: ManifestVideo;
  readonly findings: Finding[];
}

async function inspectEntry(
  root: string,
  entry: VideoEntry,
  options: AssembleOptions,
  hashCache: Map<string, Promise<string>>,
): Promise<Inspected> {
  const findings: Finding[] = [];
  const add = (severity: Severity, file: string, line: number | undefined, message: string): void => {
    findings.push({ severity, file, ...(line === undefined ? {} : { line }), message });
  };
  const sourcePath = sourcePathOf(entry.source);
  if (!insideRoot(root, sourcePath)) {
    add(
      'error',
      sourcePath,
      undefined,
      `dataset ${entry.origin}: path ${JSON.stringify(sourcePath)} is outside the dataset root`,
    );
    return { findings };
  }
  let frameCount: number;
  let probe: { fps: number; width: number; height: number };
  let contentHash: string;
  let scan: FolderScan | undefined;
  if (entry.source.kind === 'image') {
    const path = entry.source.path;
    try {
      probe = { fps: options.framesFps ?? 30, ...(await photoSize(join(root, path), path)) };
    } catch (err) {
      if (!(err instanceof ImageError)) throw err;
      add('error', path, undefined, `photo ${path}: ${err.detail}; left out`);
      return { findings };
    }
    frameCount = 1;
    contentHash = await fileSha256(join(root, path));
  } else if (entry.source.kind === 'video') {
    const path = entry.source.path;
    try {
      const probed = await probeVideo(join(root, path));
      let hash = hashCache.get(path);
      if (!hash) {
        hash = fileSha256(join(root, path));
        hashCache.set(path, hash);
      }
      contentHash = await hash;
      frameCount = probed.frameCount;
      probe = probed;
    } catch (err) {
      if (!(err instanceof VideoError)) throw err;
      add(
        'error',
        path,
        undefined,
        `video ${path}: cannot be probed, left out: ${err.detail.replaceAll(`${join(root, path)}: `, '')}`,
      );
      return { findings };
    }
  } else {
    const dir = entry.source.dir;
    scan = scanFrameFolder(root, dir);
    for (const name of scan.stray)
      add(
        'warning',
        `${dir}/${name}`,
        undefined,
        `frames ${dir}/${name}: expected %05d.jpg (1-based frame number), ignored`,
      );
    if (scan.highest === 0) {
      add('error', dir, undefined, `frames ${dir}: expected images named %05d.jpg, found none; left out`);
      return { findings };
    }
    let width = 0;
    let height = 0;
    try {
      const meta = await sharp(join(root, dir, scan.firstImage!)).metadata();
      width = meta.width ?? 0;
      height = meta.height ?? 0;
    } catch (err) {
      add(
        'warning',
        `${dir}/${scan.firstImage}`,
        undefined,
        `frames ${dir}/${scan.firstImage}: cannot read the image size (${(err as Error).message}); recorded as 0x0`,
      );
    }
    frameCount = scan.highest;
    probe = { fps: options.framesFps ?? 30, width, height };
    contentHash = scan.contentHash;
  }

  // Labels: parse, check against the frame count, keep only a hash (the labels are re-read when stored).
  const parsed: { source: LabelSource; labels: TaskLabels; frames?: number }[] = [];
  for (const source of entry.labels) {
    try {
      const labels = await source.load();
      parsed.push({ source, labels, frames: labelFrames(labels) });
    } catch (err) {
      if (!(err instanceof AnnotationError)) throw err;
      add('error', err.file, err.line, `${err.message}; ${source.task} labels of ${entry.name} left out`);
    }
  }
  if (scan) frameCount = Math.max(frameCount, ...parsed.map((p) => p.frames ?? 0));
  const labelSummary: Partial<Record<Task, VideoLabels>> = {};
  const taskSplits: Partial<Record<Task, Split>> = {};
  const kept: LabelSource[] = [];
  for (const { source, labels: raw, frames } of parsed) {
    if (frames !== undefined) {
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
        continue;
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
    }
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
  let noFaceFrames: [number, number][] | undefined;
  if (scan && entry.source.kind === 'frames') {
    noFaceFrames = missingRanges(scan.present, frameCount);
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
  }
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
  labelSourcesOf.set(video, kept);
  return { video, findings };
}

const labelSourcesOf = new WeakMap<ManifestVideo, readonly LabelSource[]>();

/**
 * Probes, validates and hashes every listed video (one bad video never stops the others), plans
 * the shards and derives the dataset id from the videos' names, content, splits and label hashes.
 */
export async function assembleManifest(
  root: string,
  adapter: AdapterResult,
  options: AssembleOptions,
): Promise<BuiltManifest> {
  const findings: Finding[] = [...adapter.findings];
  // A name that is not UTF-8 reaches the adapters as U+FFFD and names no file: the unused-file
  // pass reports it by its bytes, so it is left out here without a misleading probe error.
  const lossy = (path: string): boolean => path.includes('\uFFFD') && !existsSync(join(root, path));
  const byName = new Map<string, VideoEntry[]>();
  for (const listed of adapter.entries) {
    if (lossy(sourcePathOf(listed.source))) continue;
    const entry = listed.labels.some((l) => lossy(l.file))
      ? { ...listed, labels: listed.labels.filter((l) => !lossy(l.file)) }
      : listed;
    byName.set(entry.name, [...(byName.get(entry.name) ?? []), entry]);
  }
  const entries: VideoEntry[] = [];
  for (const [name, list] of [...byName.entries()].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    if (list.length > 1) {
      const first = list[0]!;
      findings.push({
        severity: 'error',
        file: first.origin,
        message: `dataset: duplicate video name ${JSON.stringify(name)} (${list.map((e) => e.origin).join(' and ')}); all left out`,
      });
      continue;
    }
    entries.push(list[0]!);
  }
  const hashCache = new Map<string, Promise<string>>();
  const results: Inspected[] = new Array<Inspected>(entries.length);
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < entries.length) {
      const i = next++;
      results[i] = await inspectEntry(root, entries[i]!, options, hashCache);
      options.onVideo?.();
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, entries.length)) }, lane),
  );
  const videos: ManifestVideo[] = [];
  for (const result of results) {
    findings.push(...result.findings);
    if (result.video) videos.push(result.video);
  }
  findings.push(
    ...unusedFileFindings(root, {
      files: new Set([
        ...adapter.entries.flatMap((e) => [
          ...(e.source.kind === 'frames' ? [] : [e.source.path]),
          ...e.labels.map((l) => l.file),
        ]),
        ...(adapter.layoutFiles ?? []),
      ]),
      covered: new Set([
        ...findings.map((f) => f.file),
        ...adapter.entries.flatMap((e) => (e.source.kind === 'frames' ? [e.source.dir] : [])),
      ]),
      reason: adapter.unusedReason ?? (() => `not part of the ${adapter.kind} layout (docs/DATASETS.md)`),
      severity: adapter.unusedSeverity ?? 'warning',
    }),
  );
  const tasks = TASKS.filter((t) => videos.some((v) => v.labels?.[t]));
  const splits = { Train: 0, Validation: 0, Test: 0 };
  for (const v of videos) splits[v.split]++;
  const version = shortHash(
    'dataset/2',
    adapter.kind,
    ...videos.map(
      (v) =>
        `${v.name}:${v.contentHash}:${v.split}:${TASKS.map((t) => `${t}=${v.labels?.[t]?.hash ?? ''}`).join(',')}`,
    ),
  );
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId: datasetIdOf(root, adapter.kind),
    version,
    dataset: adapter.kind,
    root,
    shardFrames: options.shardFrames,
    tasks,
    splits,
    videos,
    shards: planShards(videos, options.shardFrames),
    findings: findings.map(formatFinding),
  };
  return {
    manifest,
    findings,
    async *labels() {
      for (const video of videos) {
        for (const source of labelSourcesOf.get(video) ?? []) {
          const json = encodeLabels(fitLabels(await source.load(), video.frameCount));
          if (sha256Hex(json) !== video.labels?.[source.task]?.hash)
            throw new Error(
              `dataset ${root}: ${source.file} changed while the manifest was built; run it again`,
            );
          yield { video: video.name, task: source.task, json };
        }
      }
    },
  };
}
