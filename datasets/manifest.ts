/**
 * The manifest: every video of a dataset with its split, frame source, probe and content hash,
 * a summary of its labels per task, and a deterministic split into shards (video x 1-based frame
 * range). Shard ids derive from the video's content and the shard configuration only, so the same
 * input always yields the same shards and a changed video yields new ones only for itself.
 *
 * Dataset adapters (affwild2.ts, cexprdb.ts, hume.ts, generic.ts) list the videos and where their
 * labels are; `assembleManifest` (assemble.ts) probes, validates and hashes them one video at a
 * time (inspectEntry.ts), so memory stays bounded by one video's labels whatever the dataset's size.
 */
import { sep } from 'node:path';
import { shortHash } from '../base/hashing.ts';
import { AnnotationError } from './annotations.ts';
import type { Split, Task, TaskLabels } from './labels.ts';

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
