/**
 * Bad-input corpus, media files (issue 15 item 6, with the cases of issue 13): one generic
 * dataset holds a good video beside every kind of bad or unusual video and photo. One extraction
 * run (manifest, frames, embed) on the dev server and the S3 store must complete without a failed
 * shard; each case then asserts its exact finding, or the values that show it was read right.
 * Every input is generated (test/helpers/badInputs.ts).
 */
import test from 'ava';
import { copyFileSync, mkdirSync, symlinkSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { boxIou } from '../media/boxes.ts';
import * as make from './helpers/badInputs.ts';
import { runCorpus, videoRows, type CorpusRun } from './helpers/badInputRun.ts';
import { tempDir } from './helpers/env.ts';

const GIB = 2 ** 30;

async function makeDataset(): Promise<{ base: string; root: string }> {
  const base = tempDir('bad-media');
  const root = join(base, 'ds');
  mkdirSync(root, { recursive: true });
  make.portraitVideo(join(root, 'good.mp4'), 8);
  make.cutVideo(join(root, 'cut.mp4'), 48, 0.5);
  make.greyVideo(join(root, 'noface.mp4'), 6);
  make.resolutionChangeVideo(join(root, 'resize.mkv'), 4);
  make.duplicateTimestampVideo(join(root, 'vfr.mkv'), 6);
  make.audioOnly(join(root, 'sound.mp4'));
  make.sparseFile(join(root, 'huge.mp4'), 100 * GIB);
  truncateSync(make.portraitVideo(join(root, 'sparse-head.mp4'), 4), 100 * GIB);
  make.portraitVideo(join(root, 'a', 'same.mp4'), 3);
  make.portraitVideo(join(root, 'b', 'same.mp4'), 4);
  writeFileSync(join(root, 'notes.txt'), 'x\n');
  make.portraitVideo(join(base, 'outside.mp4'), 3);
  symlinkSync(join(base, 'outside.mp4'), join(root, 'linked.mp4'));
  // caf\xe9: Latin-1 bytes, not UTF-8; the video itself is valid.
  copyFileSync(
    join(root, 'good.mp4'),
    Buffer.from([...Buffer.from(`${root}/caf`), 0xe9, ...Buffer.from('.mp4')]),
  );
  const photos = join(root, 'photos');
  await make.portraitPhoto(join(photos, 'plain.jpg'), (i) => i.jpeg());
  await make.portraitPhoto(join(photos, 'one-pixel.png'), (i) => i.resize(1, 1).png());
  make.exifRotatedPhoto(join(photos, 'rotated.jpg'));
  await make.portraitPhoto(join(photos, 'cmyk.jpg'), (i) => i.toColourspace('cmyk').jpeg());
  await make.portraitPhoto(join(photos, 'deep.png'), (i) => i.toColourspace('rgb16').png());
  make.palettePngWithTransparency(join(photos, 'palette.png'));
  await make.portraitPhoto(join(photos, 'anim.gif'), (i) => i.gif());
  return { base, root };
}

let corpus: Promise<{ base: string; root: string; run: CorpusRun }> | undefined;
const media = (): Promise<{ base: string; root: string; run: CorpusRun }> =>
  (corpus ??= (async () => {
    const { base, root } = await makeDataset();
    return { base, root, run: await runCorpus('bad-media', root, 16) };
  })());
test.after.always(async () => {
  if (corpus) (await corpus).run.close();
});

const UNSUPPORTED = (path: string, ext: string): string =>
  `warning: dataset ${path}: unsupported file type "${ext}", expected a video: .avi, .mkv, .mov, .mp4, .webm, or a photo: .jpeg, .jpg, .png, .webp, any letter case; not used`;
const SPARSE = (path: string, stored: string): string =>
  `error: video ${path}: a sparse file of 100.0 GiB with ${stored} stored on disk (the rest reads as zeros), expected a file written out whole; left out without reading it: copy the complete file`;
const CUT =
  'warning: video cut.mp4: expected the 48 frames its index lists, found 24 in the file (it ends early: cut short?); kept with 24 frames';

test('the run completes without a failed shard; the manifest lists exactly the usable videos and photos and these findings', async (t) => {
  const { base, run } = await media();
  t.is(run.result.status, 'completed');
  t.deepEqual(run.result.failedShards, []);
  t.deepEqual(
    run.manifest.videos.map((v) => [v.name, v.frameCount, v.width, v.height]),
    [
      ['cut', 24, 160, 200],
      ['good', 8, 160, 200],
      ['noface', 6, 64, 64],
      ['photos/cmyk.jpg', 1, 240, 300],
      ['photos/deep.png', 1, 240, 300],
      ['photos/one-pixel.png', 1, 1, 1],
      ['photos/palette.png', 1, 240, 300],
      ['photos/plain.jpg', 1, 240, 300],
      ['photos/rotated.jpg', 1, 240, 300],
      ['resize', 8, 160, 200],
      ['vfr', 6, 160, 200],
    ],
  );
  const stored = run.manifest.findings
    .find((f) => f.includes('sparse-head.mp4'))!
    .match(/with (\S+ MiB) stored/)![1]!;
  t.deepEqual(run.manifest.findings, [
    'error: dataset: duplicate video name "same" (a/same.mp4 and b/same.mp4); all left out',
    CUT,
    SPARSE('huge.mp4', '0.0 MiB'),
    'error: video sound.mp4: cannot be probed, left out: expected a video stream, found none',
    SPARSE('sparse-head.mp4', stored),
    // The unused-file pass comes after the videos.
    'error: dataset caf\\xe9.mp4: expected a UTF-8 file name, got bytes that are not (shown as \\xNN); left out: rename it',
    `error: dataset linked.mp4: symbolic link to ${JSON.stringify(join(base, 'outside.mp4'))} leaves the dataset root; left out: copy the file into the dataset or link to a path inside it`,
    UNSUPPORTED('notes.txt', '.txt'),
    UNSUPPORTED('photos/anim.gif', '.gif'),
  ]);
  // Every committed row is embedded: the faces and the no-face frames.
  const rows = [...run.shards.values()].flat().reduce((n, s) => n + s.rows.length, 0);
  t.is(run.result.embeddingRows, rows);
});

test('a good video beside the bad inputs: every frame has its face, embedded', async (t) => {
  const { run } = await media();
  const rows = videoRows(run, 'good');
  t.deepEqual(
    rows.map((r) => [r.frame, r.noFace]),
    [1, 2, 3, 4, 5, 6, 7, 8].map((f) => [f, false]),
  );
  t.true(rows.every((r) => r.detScore! > 0.8));
});

test('a video cut short: a warning names the frames its index lists and those found; the frames there are committed, the damage recorded', async (t) => {
  const { run } = await media();
  t.true(run.manifest.findings.includes(CUT));
  const shards = run.shards.get('cut')!;
  t.deepEqual(
    shards.map((s) => [s.firstFrame, s.lastFrame]),
    [
      [1, 16],
      [17, 24],
    ],
  );
  for (const { record, rows, firstFrame, lastFrame, findings } of shards) {
    const coverage = record.coverage!;
    const damaged = coverage.damaged.reduce((n, [a, b]) => n + b - a + 1, 0);
    t.is(coverage.expected, lastFrame - firstFrame + 1);
    t.is(coverage.decoded + damaged, coverage.expected, JSON.stringify(coverage));
    t.is(new Set(rows.map((r) => r.frame)).size, coverage.decoded);
    if (damaged > 0) {
      t.regex(coverage.evidence!, /the file is cut short or damaged/);
      t.true(
        findings.some((f) =>
          f.startsWith(`video cut.mp4: ${damaged} of ${coverage.expected} frames recorded as damaged`),
        ),
      );
    }
  }
});

test('a video without a face: every frame committed as a no-face row', async (t) => {
  const { run } = await media();
  t.deepEqual(
    videoRows(run, 'noface').map((r) => [r.frame, r.noFace]),
    [1, 2, 3, 4, 5, 6].map((f) => [f, true]),
  );
});

test('a video whose frame size changes mid-stream: all 8 frames decoded at the first size, the face found in each', async (t) => {
  const { run } = await media();
  const rows = videoRows(run, 'resize');
  t.deepEqual(
    rows.map((r) => [r.frame, r.noFace]),
    [1, 2, 3, 4, 5, 6, 7, 8].map((f) => [f, false]),
  );
  // Frames 5-8 were coded at 96x120 and come out scaled to 160x200: the face stays in place.
  for (const row of rows.slice(4)) t.true(boxIou(row.box!, rows[0]!.box!) > 0.8, `frame ${row.frame}`);
});

test('variable frame rate with duplicate timestamps: each frame counted once in decoding order, none lost', async (t) => {
  const { run } = await media();
  // The rawvideo muxer's complaint about equal timestamps concerns our pipe, not the video.
  t.deepEqual(
    run.shards.get('vfr')!.map((s) => s.findings),
    [[]],
  );
  t.deepEqual(
    videoRows(run, 'vfr').map((r) => [r.frame, r.noFace]),
    [1, 2, 3, 4, 5, 6].map((f) => [f, false]),
  );
});

test('an audio-only file: "expected a video stream, found none"', async (t) => {
  const { run } = await media();
  t.true(
    run.manifest.findings.includes(
      'error: video sound.mp4: cannot be probed, left out: expected a video stream, found none',
    ),
  );
});

test('a 1x1 photo: kept as a one-frame video with a no-face row', async (t) => {
  const { run } = await media();
  t.deepEqual(
    videoRows(run, 'photos/one-pixel.png').map((r) => [r.frame, r.noFace]),
    [[1, true]],
  );
});

/** The face box found in a photo, against the one found in the plain JPEG of the same portrait. */
async function photoBoxIou(name: string): Promise<number> {
  const { run } = await media();
  const [plain] = videoRows(run, 'photos/plain.jpg');
  const rows = videoRows(run, name);
  if (rows.length !== 1 || rows[0]!.noFace) return 0;
  return boxIou(rows[0]!.box!, plain!.box!);
}

test('a photo with EXIF rotation: stored on its side, read upright (240x300), the face where the upright portrait has it', async (t) => {
  const { root } = await media();
  const meta = await sharp(join(root, 'photos', 'rotated.jpg')).metadata();
  t.deepEqual([meta.width, meta.height, meta.orientation], [300, 240, 6]);
  t.true((await photoBoxIou('photos/rotated.jpg')) > 0.8);
});

test('a CMYK JPEG: converted, the face found where the RGB one has it', async (t) => {
  const { root } = await media();
  t.is((await sharp(join(root, 'photos', 'cmyk.jpg')).metadata()).space, 'cmyk');
  t.true((await photoBoxIou('photos/cmyk.jpg')) > 0.8);
});

test('a 16-bit PNG: read, the face found where the 8-bit one has it', async (t) => {
  const { root } = await media();
  t.is((await sharp(join(root, 'photos', 'deep.png')).metadata()).depth, 'ushort');
  t.true((await photoBoxIou('photos/deep.png')) > 0.8);
});

test('a palette PNG with transparency: read, the face found', async (t) => {
  const { root } = await media();
  const meta = await sharp(join(root, 'photos', 'palette.png')).metadata();
  t.true(meta.isPalette && meta.hasAlpha);
  t.true((await photoBoxIou('photos/palette.png')) > 0.8);
});

test('a GIF: an unsupported type, listed with the supported ones', async (t) => {
  const { run } = await media();
  t.true(run.manifest.findings.includes(UNSUPPORTED('photos/anim.gif', '.gif')));
});

test('an unsupported file type: a warning naming it and the supported types', async (t) => {
  const { run } = await media();
  t.true(run.manifest.findings.includes(UNSUPPORTED('notes.txt', '.txt')));
});

test('a very large sparse file, zeros or a video head: left out after one stat, never read or hashed whole', async (t) => {
  const { run } = await media();
  t.true(run.manifest.findings.includes(SPARSE('huge.mp4', '0.0 MiB')));
  t.truthy(
    run.manifest.findings.find((f) =>
      f.startsWith('error: video sparse-head.mp4: a sparse file of 100.0 GiB'),
    ),
  );
});

test('one video name in two folders: both left out with one error naming both paths', async (t) => {
  const { run } = await media();
  t.true(
    run.manifest.findings.includes(
      'error: dataset: duplicate video name "same" (a/same.mp4 and b/same.mp4); all left out',
    ),
  );
  t.false(run.manifest.videos.some((v) => v.name === 'same'));
});

test('a symbolic link leaving the root and a name that is not UTF-8: errors naming them', async (t) => {
  const { base, run } = await media();
  t.true(
    run.manifest.findings.includes(
      `error: dataset linked.mp4: symbolic link to ${JSON.stringify(join(base, 'outside.mp4'))} leaves the dataset root; left out: copy the file into the dataset or link to a path inside it`,
    ),
  );
  t.true(
    run.manifest.findings.includes(
      'error: dataset caf\\xe9.mp4: expected a UTF-8 file name, got bytes that are not (shown as \\xNN); left out: rename it',
    ),
  );
});
