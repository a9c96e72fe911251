/**
 * An Aff-Wild2-shaped dataset for the scale benchmark and tests, cheap to make: one small H.264
 * video (a moving gradient, `size` pixels square) encoded once and hard-linked under every name, in
 * the generic layout (docs/DATASETS.md): videos.csv with the Aff-Wild2 split shares and, on
 * request, labels.csv with an expression per frame of the Train and Validation videos. Shards are
 * keyed by video name, so the shared file still gives every shard its own frames and embeddings.
 * Generated once per folder and options, and reused.
 */
import {
  createWriteStream,
  existsSync,
  linkSync,
  mkdirSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from 'node:fs';
import { once } from 'node:events';
import { join } from 'node:path';
import { encodeVideo } from '../media/ffmpeg.ts';

export interface ScaleDatasetOptions {
  /** Aff-Wild2 has about 550. */
  readonly videos: number;
  /** Aff-Wild2 averages about 5,300 (2.9 M frames over 550 videos). */
  readonly framesPerVideo: number;
  /** Square frame side in pixels (even). */
  readonly size: number;
  /** Write labels.csv (EXPR per frame of Train and Validation videos) so heads can train. */
  readonly labels: boolean;
}

/** Aff-Wild2 at the CLI's default shard size: 550 videos, about 2.9 M frames, 45,650 shards of 64. */
export const AFFWILD2_SHAPE = Object.freeze({ videos: 550, framesPerVideo: 5_300 });

/** Aff-Wild2's split shares (350 Train, 70 Validation of 550 names; the rest Test). */
export function splitOf(i: number, videos: number): 'Train' | 'Validation' | 'Test' {
  if (i < Math.round((videos * 350) / 550)) return 'Train';
  if (i < Math.round((videos * 420) / 550)) return 'Validation';
  return 'Test';
}

function* gradientFrames(size: number, count: number): Generator<Uint8Array> {
  const frame = new Uint8Array(size * size * 3);
  for (let f = 0; f < count; f++) {
    for (let p = 0; p < size * size; p++) {
      frame[p * 3] = (p + f) & 255;
      frame[p * 3 + 1] = (p * 3 + f * 2) & 255;
      frame[p * 3 + 2] = (f * 5) & 255;
    }
    yield frame;
  }
}

/** Writes the dataset under root unless the same options made it before; returns root. */
export async function writeScaleDataset(root: string, options: ScaleDatasetOptions): Promise<string> {
  // Beside the root, not in it: the generic layout would report it as an unused file.
  const stamp = `${root}.options.json`;
  const wanted = JSON.stringify(options);
  if (existsSync(stamp) && readFileSync(stamp, 'utf8') === wanted) return root;
  rmSync(root, { recursive: true, force: true });
  mkdirSync(join(root, 'videos'), { recursive: true });
  const names = Array.from({ length: options.videos }, (_, i) => `v${String(i).padStart(4, '0')}`);
  const source = join(root, 'videos', `${names[0]}.mp4`);
  await encodeVideo(
    source,
    options.size,
    options.size,
    30,
    gradientFrames(options.size, options.framesPerVideo),
  );
  const rows = ['name,path,split'];
  for (const [i, name] of names.entries()) {
    if (i > 0) linkSync(source, join(root, 'videos', `${name}.mp4`));
    rows.push(`${name},videos/${name}.mp4,${splitOf(i, options.videos)}`);
  }
  writeFileSync(join(root, 'videos.csv'), `${rows.join('\n')}\n`);
  if (options.labels) {
    const out = createWriteStream(join(root, 'labels.csv'));
    const write = async (text: string): Promise<void> => {
      if (!out.write(text)) await once(out, 'drain');
    };
    await write('video,frame,expr\n');
    for (const [i, name] of names.entries()) {
      if (splitOf(i, options.videos) === 'Test') continue;
      let chunk = '';
      for (let f = 1; f <= options.framesPerVideo; f++)
        chunk += `${name},${f},${(i + Math.floor(f / 50)) % 8}\n`;
      await write(chunk);
    }
    out.end();
    await once(out, 'close');
  }
  writeFileSync(stamp, wanted);
  return root;
}
