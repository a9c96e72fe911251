/**
 * Assembling a manifest from an adapter's listing: one entry per video name, each video inspected
 * (inspectEntry.ts) a few at a time, unused files reported, shards planned, the version hashed.
 */
import { sha256Hex, shortHash } from '../base/hashing.ts';
import { inspectEntry, type Inspected } from './inspectEntry.ts';
import { encodeLabels, fitLabels, TASKS } from './labels.ts';
import {
  datasetIdOf,
  formatFinding,
  MANIFEST_FORMAT,
  planShards,
  sourcePathOf,
  type AdapterResult,
  type AssembleOptions,
  type BuiltManifest,
  type Finding,
  type LabelSource,
  type Manifest,
  type ManifestVideo,
  type VideoEntry,
} from './manifest.ts';
import type { DatasetSource } from './source.ts';
import { unusedFileFindings } from './unusedFiles.ts';

/**
 * Probes, validates and hashes every listed video (one bad video never stops the others), plans
 * the shards and derives the dataset id from the videos' names, content, splits and label hashes.
 */
export async function assembleManifest(
  source: DatasetSource,
  adapter: AdapterResult,
  options: AssembleOptions,
): Promise<BuiltManifest> {
  const { root } = source;
  const findings: Finding[] = [...adapter.findings];
  // A name that is not UTF-8 reaches the adapters as U+FFFD and names no file: the unused-file
  // pass reports it by its bytes, so it is left out here without a misleading probe error.
  const lossy = (path: string): boolean => path.includes('\uFFFD') && !source.exists(path);
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
      results[i] = await inspectEntry(source, entries[i]!, options, hashCache);
    }
  };
  await Promise.all(
    Array.from({ length: Math.max(1, Math.min(options.concurrency ?? 4, entries.length)) }, lane),
  );
  const videos: ManifestVideo[] = [];
  const labelSourcesOf = new Map<ManifestVideo, readonly LabelSource[]>();
  for (const result of results) {
    findings.push(...result.findings);
    if (result.video) {
      videos.push(result.video);
      labelSourcesOf.set(result.video, result.labelSources ?? []);
    }
  }
  findings.push(
    ...unusedFileFindings(source, {
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
