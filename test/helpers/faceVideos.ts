/**
 * Videos of the real portraits (test/fixtures/faces) composited onto plain backgrounds, for the
 * tracking and `_left` / `_right` tests: each portrait cut around its face (boxes checked by hand
 * in test/faces.test.ts) and scaled to a height.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { MANIFEST_FORMAT, type Manifest, type ManifestShard } from '../../datasets/manifest.ts';
import { encodeVideo } from '../../media/ffmpeg.ts';

const FACES = join(import.meta.dirname, '..', 'fixtures', 'faces');
/** The region of each portrait kept: its face with some hair and shoulders. */
const AROUND_FACE = {
  1: { left: 250, top: 0, width: 480, height: 560 },
  2: { left: 265, top: 60, width: 590, height: 640 },
} as const;

export interface Portrait {
  readonly data: Buffer;
  readonly info: { readonly width: number; readonly height: number; readonly channels: 1 | 2 | 3 | 4 };
}

export async function portrait(which: 1 | 2, height: number): Promise<Portrait> {
  return sharp(join(FACES, `portrait-${which}.jpg`))
    .extract(AROUND_FACE[which])
    .resize({ height })
    .removeAlpha()
    .raw()
    .toBuffer({ resolveWithObject: true });
}

/** One RGB frame: the portraits at their top-left corners on a plain background. */
export async function compose(
  width: number,
  height: number,
  background: string,
  placed: readonly { readonly face: Portrait; readonly left: number; readonly top: number }[],
): Promise<Uint8Array> {
  const frame = await sharp({ create: { width, height, channels: 3, background } })
    .composite(placed.map((p) => ({ input: p.face.data, raw: p.face.info, left: p.left, top: p.top })))
    .removeAlpha()
    .raw()
    .toBuffer();
  return new Uint8Array(frame);
}

/** H.264 at 25 fps under root/videos/<name>.mp4; returns the path relative to root. */
export async function writeVideo(
  root: string,
  name: string,
  width: number,
  height: number,
  frames: readonly Uint8Array[],
): Promise<string> {
  const rel = `videos/${name}.mp4`;
  mkdirSync(join(root, 'videos'), { recursive: true });
  await encodeVideo(join(root, rel), width, height, 25, frames);
  return rel;
}

/** A manifest of entries reading one video file, cut into shards of shardFrames frames. */
export function videoManifest(
  root: string,
  path: string,
  names: readonly string[],
  frameCount: number,
  size: { width: number; height: number },
  shardFrames: number,
  dataset?: Manifest['dataset'],
): Manifest {
  const shards: ManifestShard[] = names.flatMap((video) =>
    Array.from({ length: Math.ceil(frameCount / shardFrames) }, (_, k) => ({
      shardId: `${video}-${k + 1}`,
      video,
      split: 'Train' as const,
      firstFrame: k * shardFrames + 1,
      lastFrame: Math.min(frameCount, (k + 1) * shardFrames),
    })),
  );
  return {
    format: MANIFEST_FORMAT,
    datasetId: 'tracks-test',
    version: 'test',
    ...(dataset ? { dataset } : {}),
    root,
    shardFrames,
    videos: names.map((name) => ({
      name,
      split: 'Train' as const,
      source: { kind: 'video' as const, path },
      frameCount,
      fps: 25,
      ...size,
      contentHash: path,
    })),
    shards,
    findings: [],
  };
}
