import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { seededRandom } from '../base/random.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import { formatAuAnnotation, formatExprAnnotation, formatVaAnnotation } from './annotations.ts';
import type { SyntheticOptions } from './synthetic.ts';
import { drawFace, styleOf } from './syntheticFaces.ts';
import { faceTrack, trackLabels } from './syntheticTracks.ts';

/**
 * The error paths, each in a video of its own so the clean videos stay clean:
 * bad-value (EXPR line 5 holds 9), bad-columns (VA line 4 has 3 values), bad-number (AU line 3
 * holds "x"), off-by-one (EXPR has one line more than the video: a warning), off-by-five (five
 * more: an error), broken (a video file ffprobe cannot read), dup (videos/dup.mp4 and
 * videos/extra/dup.mp4), and a test-set list naming "../outside".
 */
export async function writeMalformed(
  root: string,
  options: SyntheticOptions,
  files: { path: string; text: string }[],
): Promise<void> {
  const s = options.size;
  const frames = 12;
  const rand = seededRandom(options.seed + 1);
  const style = styleOf(rand, s);
  const track = faceTrack(rand, frames, { compound: false, noFaceShare: 0 });
  const labels = trackLabels(rand, track, 0);
  const rendered = track.map((st) => {
    const buf = new Uint8Array(s * s * 3);
    drawFace(buf, s, 0, s, style, st);
    return buf;
  });
  const ann = (task: string): string => `annotations/${task}/Train_Set`;
  for (const name of ['bad-value', 'bad-columns', 'bad-number', 'off-by-one', 'off-by-five', 'dup']) {
    await encodeVideo(join(root, 'videos', `${name}.mp4`), s, s, options.fps, rendered);
  }
  mkdirSync(join(root, 'videos', 'extra'), { recursive: true });
  await encodeVideo(join(root, 'videos', 'extra', 'dup.mp4'), s, s, options.fps, rendered);
  writeFileSync(join(root, 'videos', 'broken.mp4'), 'this is not a video\n');
  const expr = formatExprAnnotation(labels.expr).split('\n');
  files.push(
    {
      path: `${ann('EXPR_Recognition_Challenge')}/bad-value.txt`,
      text: [...expr.slice(0, 4), '9', ...expr.slice(5)].join('\n'),
    },
    {
      path: `${ann('VA_Estimation_Challenge')}/bad-columns.txt`,
      text: formatVaAnnotation(labels.va).replace(/^((?:[^\n]*\n){3})([^\n]*)/, '$1$2,0.1'),
    },
    {
      path: `${ann('AU_Detection_Challenge')}/bad-number.txt`,
      text: formatAuAnnotation(labels.au).replace(/^((?:[^\n]*\n){2})([^,\n]*)/, '$1x'),
    },
    {
      path: `${ann('EXPR_Recognition_Challenge')}/off-by-one.txt`,
      text: formatExprAnnotation([...labels.expr, 0]),
    },
    {
      path: `${ann('EXPR_Recognition_Challenge')}/off-by-five.txt`,
      text: formatExprAnnotation([...labels.expr, 0, 0, 0, 0, 0]),
    },
    { path: `${ann('EXPR_Recognition_Challenge')}/broken.txt`, text: formatExprAnnotation(labels.expr) },
    { path: 'names_of_videos_in_each_test_set/Malformed_test_set_release.txt', text: '../outside\n' },
  );
}
