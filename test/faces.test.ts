/**
 * The face path: YuNet on the real portraits in test/fixtures/faces (box and eyes against
 * coordinates checked by hand on the images), crop rectangles, IoU tracks, and extractFrames on
 * a provided-crops folder with a missing and an unreadable image and on a video with YuNet.
 */
import test from 'ava';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { createFramesActivities } from '../activities/frames.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import { cropRect, IouTracker } from '../media/faces.ts';
import { decodeImage } from '../media/preprocess.ts';
import { boxIou } from '../media/boxes.ts';
import { openYuNet } from '../models/yunet.ts';
import { readCommitted } from '../storage/commit.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { decodeFramesShard } from '../storage/shards.ts';
import { python, tempDir } from './helpers/env.ts';

const FACES = join(import.meta.dirname, 'fixtures', 'faces');
const RUNTIME = { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 } as const;

/**
 * Read off the images by eye, not from the detector: the box on a 50 px grid (cheek to cheek,
 * ears excluded; upper forehead to chin), iris centres on a 20 px grid at 3-4x zoom (image left
 * eye, then image right eye). YuNet's box starts a little higher on the forehead than a person
 * would draw it, hence the edge tolerance.
 */
const HAND_CHECKED = {
  'portrait-1.jpg': { box: [370, 100, 245, 330], eyes: [445, 212, 549, 211] },
  'portrait-2.jpg': { box: [415, 190, 295, 385], eyes: [530, 323, 648, 347] },
} as const;
/** Per box edge: 12% of the hand-checked face width (about 30 px); eyes within 25 px. */
const EDGE_TOLERANCE = 0.12;
const EYE_TOLERANCE = 25;

for (const [file, expected] of Object.entries(HAND_CHECKED)) {
  test(`yunet finds exactly one face in ${file}, where it was checked by hand`, async (t) => {
    const detector = await openYuNet(RUNTIME);
    t.teardown(() => detector.release());
    const faces = await detector.detect(await decodeImage(readFileSync(join(FACES, file))));
    t.is(faces.length, 1);
    const face = faces[0]!;
    t.true(face.score > 0.8, `score ${face.score}`);
    const [x, y, w, h] = face.box;
    const [ex, ey, ew, eh] = expected.box;
    const tol = EDGE_TOLERANCE * ew;
    const edges = [x - ex, y - ey, x + w - (ex + ew), y + h - (ey + eh)];
    t.true(
      edges.every((d) => Math.abs(d) <= tol),
      `edge offsets ${edges.map(Math.round).join(', ')} px, tolerance ${tol}`,
    );
    t.true(boxIou(face.box, expected.box) > 0.75);
    const lm = face.landmarks;
    const eyes = [lm[0]!, lm[1]!, lm[2]!, lm[3]!];
    t.true(
      eyes.every((v, i) => Math.abs(v - expected.eyes[i]!) <= EYE_TOLERANCE),
      `eyes ${eyes.map(Math.round).join(', ')}`,
    );
  });
}

test('crop rectangle: raw box rounded outward and clipped; margin and squaring on request', (t) => {
  t.deepEqual(cropRect([10.4, 20.6, 30.2, 40], 100, 100), { left: 10, top: 20, width: 31, height: 41 });
  t.deepEqual(cropRect([-5, 90, 20, 20], 100, 100), { left: 0, top: 90, width: 15, height: 10 });
  t.deepEqual(cropRect([40, 40, 20, 10], 100, 100, { margin: 0.5, square: true }), {
    left: 30,
    top: 25,
    width: 40,
    height: 40,
  });
  t.is(cropRect([200, 200, 10, 10], 100, 100), null);
});

test('IoU tracks: two faces keep their ids across frames and a gap; a new face gets a new id', (t) => {
  const tracker = new IouTracker(0.3, 5);
  t.deepEqual(
    tracker.assign(1, [
      [10, 10, 50, 50],
      [200, 10, 50, 50],
    ]),
    [0, 1],
  );
  t.deepEqual(
    tracker.assign(2, [
      [205, 12, 50, 50],
      [12, 11, 50, 50],
    ]),
    [1, 0],
  );
  t.deepEqual(tracker.assign(5, [[14, 12, 50, 50]]), [0]);
  t.deepEqual(
    tracker.assign(6, [
      [400, 300, 40, 40],
      [207, 12, 50, 50],
    ]),
    [2, 1],
  );
  t.deepEqual(tracker.assign(20, [[14, 12, 50, 50]]), [3], 'track 0 expired after maxGap frames');
});

function manifestFor(root: string, video: Manifest['videos'][number], first: number, last: number): Manifest {
  return {
    format: MANIFEST_FORMAT,
    datasetId: 'faces-test',
    version: 'test',
    root,
    shardFrames: 100,
    videos: [video],
    shards: [{ shardId: 's1', video: video.name, split: 'Train', firstFrame: first, lastFrame: last }],
    findings: [],
  };
}

test('extractFrames, provided crops: a missing image is a no-face row, an unreadable one is recorded too', async (t) => {
  const root = tempDir('provided');
  const dir = join(root, 'cropped', 'v1');
  mkdirSync(dir, { recursive: true });
  const portrait = await sharp(join(FACES, 'portrait-1.jpg'))
    .extract({ left: 370, top: 100, width: 245, height: 330 })
    .jpeg()
    .toBuffer();
  const small = await sharp(portrait).resize(112, 112).jpeg().toBuffer();
  writeFileSync(join(dir, '00001.jpg'), small);
  writeFileSync(join(dir, '00002.jpg'), portrait);
  writeFileSync(join(dir, '00004.jpg'), Buffer.from('not a jpeg'));
  writeFileSync(join(dir, '00005.jpg'), small);
  const store = new LocalDirStore(join(root, 'store'));
  const manifest = manifestFor(
    root,
    {
      name: 'v1',
      split: 'Train',
      source: { kind: 'frames', dir: 'cropped/v1' },
      frameCount: 5,
      fps: 30,
      width: 112,
      height: 112,
      contentHash: 'x',
    },
    1,
    5,
  );
  await store.put('manifest.json', JSON.stringify(manifest));
  const logs: string[] = [];
  const activities = createFramesActivities({
    store,
    config: { stateDir: root },
    log: (l) => logs.push(l),
  });
  const result = await activities.extractFrames({
    manifestKey: 'manifest.json',
    shardId: 's1',
    maxCropSide: 128,
  });
  t.is(result.frames, 5);
  t.is(result.faces, 3);
  t.is(result.noFaceFrames, 2);
  t.true(
    result.findings!.some((f) => /^image .*00004\.jpg: cannot decode: /.test(f)),
    result.findings!.join('\n'),
  );
  t.true(result.findings!.some((f) => f.includes('no face (provided) in 2 of 5 frames, first at frame 3')));
  const rows = decodeFramesShard((await readCommitted(store, result.framesKey))!.bytes);
  t.deepEqual(
    rows.map((r) => [r.frame, r.noFace]),
    [
      [1, false],
      [2, false],
      [3, true],
      [4, true],
      [5, false],
    ],
  );
  t.deepEqual(Buffer.from(rows[0]!.image!), small, 'a crop within the cap is stored as the dataset gave it');
  t.deepEqual([rows[1]!.cropWidth, rows[1]!.cropHeight], [95, 128], 'a larger one is shrunk to the cap');
  const again = await activities.extractFrames({
    manifestKey: 'manifest.json',
    shardId: 's1',
    maxCropSide: 128,
  });
  t.true(again.reused);
  const wrong = await t.throwsAsync(
    activities.extractFrames({
      manifestKey: 'manifest.json',
      shardId: 's1',
      maxCropSide: 128,
      faceSource: 'whole-frame',
      sampling: { every: 0 },
    }),
  );
  t.regex(wrong.message, /expected every to be an integer >= 1, got 0/);
});

test('extractFrames, yunet on a video: faces with boxes, scores, landmarks and tracks; empty frames recorded', async (t) => {
  const root = tempDir('yunet');
  mkdirSync(join(root, 'videos'));
  const W = 640;
  const H = 360;
  const face = await sharp(join(FACES, 'portrait-1.jpg'))
    .resize({ height: 340 })
    .raw()
    .toBuffer({ resolveWithObject: true });
  const withFace = await sharp({ create: { width: W, height: H, channels: 3, background: '#406080' } })
    .composite([{ input: face.data, raw: face.info, left: 150, top: 10 }])
    .removeAlpha()
    .raw()
    .toBuffer();
  const blank = new Uint8Array(W * H * 3).fill(90);
  const frames = [withFace, withFace, blank, withFace];
  await encodeVideo(
    join(root, 'videos', 'v.mp4'),
    W,
    H,
    25,
    frames.map((f) => new Uint8Array(f)),
  );
  const store = new LocalDirStore(join(root, 'store'));
  const manifest = manifestFor(
    root,
    {
      name: 'v',
      split: 'Train',
      source: { kind: 'video', path: 'videos/v.mp4' },
      frameCount: 4,
      fps: 25,
      width: W,
      height: H,
      contentHash: 'y',
    },
    1,
    4,
  );
  await store.put('manifest.json', JSON.stringify(manifest));
  const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
  const result = await activities.extractFrames({
    manifestKey: 'manifest.json',
    shardId: 's1',
    maxCropSide: 256,
    faceSource: 'yunet',
  });
  t.deepEqual([result.frames, result.faces, result.noFaceFrames], [4, 3, 1]);
  const rows = decodeFramesShard((await readCommitted(store, result.framesKey))!.bytes);
  t.deepEqual(
    rows.map((r) => [r.frame, r.noFace, r.trackId]),
    [
      [1, false, 0],
      [2, false, 0],
      [3, true, -1],
      [4, false, 0],
    ],
  );
  const first = rows[0]!;
  t.true(first.detScore! > 0.8);
  t.is(first.landmarks!.length, 10);
  const [bx, by, bw, bh] = first.box!;
  t.true(
    bx > 150 && bx + bw < 150 + face.info.width && by >= 0 && by + bh < H,
    `box ${first.box!.join(', ')}`,
  );
  t.deepEqual(
    [first.cropWidth, first.cropHeight],
    [Math.ceil(bx + bw) - Math.floor(bx), Math.ceil(by + bh) - Math.floor(by)],
  );
  const shardFile = join(root, 'frames.parquet');
  writeFileSync(shardFile, (await readCommitted(store, result.framesKey))!.bytes);
  const fromPyarrow = python<{
    columns: string[];
    landmarks: number[];
    noFace: boolean[];
    cropWidth: (number | null)[];
  }>(
    `
import sys, json, pyarrow.parquet as pq
t = pq.read_table(json.load(sys.stdin)).to_pydict()
print(json.dumps({"columns": list(t), "landmarks": t["landmarks"][0], "noFace": t["no_face"], "cropWidth": t["crop_width"]}))
`,
    shardFile,
  );
  t.true(
    ['landmarks', 'crop_width', 'crop_height', 'image', 'box', 'det_score'].every((c) =>
      fromPyarrow.columns.includes(c),
    ),
  );
  t.deepEqual(fromPyarrow.landmarks, Array.from(first.landmarks!));
  t.deepEqual(fromPyarrow.noFace, [false, false, true, false]);
  t.deepEqual(
    fromPyarrow.cropWidth,
    rows.map((r) => r.cropWidth),
  );
  const stored = await sharp(first.image!).metadata();
  t.deepEqual([stored.format, stored.width, stored.height], ['png', first.cropWidth, first.cropHeight]);
});
