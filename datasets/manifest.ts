/**
 * The manifest: every video of a dataset with its split, probe and content hash, its labels, and a
 * deterministic split into shards (video x 1-based frame range). Shard ids derive from the video's
 * content and the shard configuration only, so the same input always yields the same shards.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, readdirSync, readFileSync } from 'node:fs';
import { basename, extname, join } from 'node:path';
import { probeVideo } from '../media/ffmpeg.ts';
import { parseExprAnnotation } from './affwild2.ts';

export const MANIFEST_FORMAT = 'affectflow.manifest/1';

export type Split = 'Train' | 'Validation' | 'Test';

/**
 * Where a video's frames come from, relative to the dataset root: a video file, or a folder of
 * per-frame face images (Aff-Wild2 cropped/: frame f is `%05d.jpg`, 1-based; a missing image
 * means no face was found in that frame).
 */
export type VideoSource = { readonly kind: 'video'; readonly path: string } | { readonly kind: 'frames'; readonly dir: string };

export interface ManifestVideo {
  readonly name: string;
  readonly split: Split;
  readonly source: VideoSource;
  readonly frameCount: number;
  readonly fps: number;
  readonly width: number;
  readonly height: number;
  /** sha256 of the video file. */
  readonly contentHash: string;
}

export interface ManifestShard {
  readonly shardId: string;
  readonly video: string;
  readonly split: Split;
  /** 1-based, inclusive. */
  readonly firstFrame: number;
  readonly lastFrame: number;
}

export interface Manifest {
  readonly format: typeof MANIFEST_FORMAT;
  readonly datasetId: string;
  /** Absolute dataset root on the machines that read the videos. */
  readonly root: string;
  readonly shardFrames: number;
  readonly videos: readonly ManifestVideo[];
  readonly shards: readonly ManifestShard[];
  /** Problems found while reading the dataset; the affected videos are left out, the rest go on. */
  readonly findings: readonly string[];
}

/** Per task, per video: one label per frame (index 0 = frame 1). */
export interface ManifestLabels {
  readonly EXPR: ReadonlyMap<string, Int8Array>;
}

const VIDEO_EXTENSIONS = new Set(['.mp4', '.avi', '.mkv', '.mov', '.webm']);
const SPLIT_FOLDERS: readonly (readonly [string, Split])[] = [
  ['Train_Set', 'Train'],
  ['Validation_Set', 'Validation'],
];

export function shortHash(...parts: readonly (string | number)[]): string {
  return createHash('sha256').update(parts.join('\u0000')).digest('hex').slice(0, 16);
}

async function fileSha256(path: string): Promise<string> {
  const hash = createHash('sha256');
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest('hex');
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

/**
 * Reads an Aff-Wild2-layout dataset (videos/ and annotations/EXPR_Recognition_Challenge/).
 * A video that cannot be probed or whose annotation is malformed becomes a finding.
 */
export async function buildAffWild2Manifest(
  root: string,
  shardFrames: number,
): Promise<{ manifest: Manifest; labels: ManifestLabels }> {
  const findings: string[] = [];
  const exprDir = join(root, 'annotations', 'EXPR_Recognition_Challenge');
  const splitOf = new Map<string, Split>();
  const exprLabels = new Map<string, Int8Array>();
  for (const [folder, split] of SPLIT_FOLDERS) {
    const dir = join(exprDir, folder);
    if (!existsSync(dir)) continue;
    for (const file of readdirSync(dir).sort()) {
      if (extname(file) !== '.txt') continue;
      const name = basename(file, '.txt');
      try {
        exprLabels.set(name, parseExprAnnotation(readFileSync(join(dir, file), 'utf8'), join(folder, file)));
        splitOf.set(name, split);
      } catch (err) {
        findings.push((err as Error).message);
      }
    }
  }
  const videoDir = join(root, 'videos');
  if (!existsSync(videoDir)) throw new Error(`dataset ${root}: expected a videos/ folder`);
  const videos: ManifestVideo[] = [];
  for (const file of readdirSync(videoDir).sort()) {
    if (!VIDEO_EXTENSIONS.has(extname(file).toLowerCase())) continue;
    const name = basename(file, extname(file));
    const path = join('videos', file);
    try {
      const probe = await probeVideo(join(root, path));
      const labels = exprLabels.get(name);
      if (labels && Math.abs(labels.length - probe.frameCount) > 1) {
        findings.push(
          `annotation EXPR ${name}.txt: expected ${probe.frameCount} frame lines (one per video frame), got ${labels.length}`,
        );
        exprLabels.delete(name);
      }
      videos.push({
        name,
        split: splitOf.get(name) ?? 'Test',
        source: { kind: 'video', path },
        ...probe,
        contentHash: await fileSha256(join(root, path)),
      });
    } catch (err) {
      findings.push((err as Error).message);
    }
  }
  const datasetId = shortHash(
    'dataset/1',
    ...videos.map((v) => `${v.name}:${v.contentHash}:${v.split}`),
    ...[...exprLabels.entries()].map(([n, l]) => `${n}:${shortHash(Array.from(l).join(','))}`),
  );
  const manifest: Manifest = {
    format: MANIFEST_FORMAT,
    datasetId,
    root,
    shardFrames,
    videos,
    shards: planShards(videos, shardFrames),
    findings,
  };
  return { manifest, labels: { EXPR: exprLabels } };
}
