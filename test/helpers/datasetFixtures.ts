/**
 * The dataset fixture trees of test/fixtures/datasets (README.md there) as the dataset tests use
 * them: copied to a temporary folder, with their video files encoded by ffmpeg.
 */
import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildManifest } from '../../datasets/index.ts';
import type { Manifest, ManifestVideo } from '../../datasets/manifest.ts';
import { encodeVideo } from '../../media/ffmpeg.ts';

export const FIXTURES = join(dirname(fileURLToPath(import.meta.url)), '..', 'fixtures', 'datasets');
export const fixtureText = (path: string): string => readFileSync(join(FIXTURES, path), 'utf8');

/** A solid-colour 16x16 H.264 video of `frames` frames. */
export async function solidVideo(path: string, frames: number, shade: number): Promise<void> {
  mkdirSync(dirname(path), { recursive: true });
  const frame = new Uint8Array(16 * 16 * 3).fill(shade);
  await encodeVideo(
    path,
    16,
    16,
    25,
    Array.from({ length: frames }, () => frame),
  );
}

/** A temporary copy of a fixture tree. */
export function copyFixture(t: { teardown(fn: () => void): void }, name: string): string {
  const root = join(mkdtempSync(join(tmpdir(), 'affectflow-datasets-')), name);
  cpSync(join(FIXTURES, name), root, { recursive: true });
  t.teardown(() => rmSync(dirname(root), { recursive: true, force: true }));
  return root;
}

/** The Aff-Wild2 fixture with its videos: 1-30-1280x720 (6 frames), video10_1 (6, the pair), 3-25-1920x1080 (4). */
export async function affwild2(t: { teardown(fn: () => void): void }): Promise<string> {
  const root = copyFixture(t, 'affwild2');
  await solidVideo(join(root, 'videos', '1-30-1280x720.mp4'), 6, 40);
  await solidVideo(join(root, 'videos', 'batch2', 'video10_1.mp4'), 6, 90);
  await solidVideo(join(root, 'videos', '3-25-1920x1080.mp4'), 4, 140);
  return root;
}

export async function labelsOf(
  root: string,
  shardFrames = 4,
  kind?: Parameters<typeof buildManifest>[1]['kind'],
) {
  const built = await buildManifest(root, { shardFrames, ...(kind ? { kind } : {}) });
  const labels: Record<string, unknown> = {};
  for await (const l of built.labels()) labels[`${l.task}/${l.video}`] = JSON.parse(l.json);
  return { manifest: built.manifest, findings: built.findings, labels };
}

export const videoOf = (m: Manifest, name: string): ManifestVideo => m.videos.find((v) => v.name === name)!;
export const errorsOf = (m: Manifest): string[] => m.findings.filter((f) => f.startsWith('error: '));

/** Header lines of the EXPR, AU and EMI (Hume-Vidmimic2 CSV) label files. */
export const EXPR_H = 'Neutral,Anger,Disgust,Fear,Happiness,Sadness,Surprise,Other';
export const AU_H = 'AU1,AU2,AU4,AU6,AU7,AU10,AU12,AU15,AU23,AU24,AU25,AU26';
export const EMI_H = 'Filename,Admiration,Amusement,Determination,Empathic Pain,Excitement,Joy';
