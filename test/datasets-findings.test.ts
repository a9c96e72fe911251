/**
 * Datasets say what they left out: a folder of photos is a dataset whose faces YuNet finds and
 * the real activities embed; every file under the root that is not used gets a finding (an
 * unsupported type, a symbolic link leaving the root, a name that is not UTF-8, shown escaped).
 * Photos are the two portraits of test/fixtures/faces, copied under several extensions.
 */
import test from 'ava';
import { copyFileSync, mkdirSync, symlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { WorkflowIdReusePolicy } from '@temporalio/client';
import sharp from 'sharp';
import { createEmbedActivities } from '../activities/embed.ts';
import { createFramesActivities, defaultFaceSource } from '../activities/frames.ts';
import { createManifestActivities } from '../activities/manifest.ts';
import { buildManifest } from '../datasets/index.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { encodeVideo } from '../media/ffmpeg.ts';
import { Embedder } from '../models/embedder.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { boxIou } from '../media/boxes.ts';
import { readCommitted } from '../storage/commit.ts';
import { openStore } from '../storage/objectStore.ts';
import { decodeFramesShard } from '../storage/shards.ts';
import { decodeEmbeddingShard } from './helpers/embeddingShards.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const FACES = join(import.meta.dirname, 'fixtures', 'faces');
/** The faces' boxes as checked by hand in test/faces.test.ts (x, y, width, height). */
const PORTRAIT_BOX = {
  1: [370, 100, 245, 330],
  2: [415, 190, 295, 385],
} as const;

/** A photo folder: both portraits as .JPG, .jpg, .jpeg, .PNG and .webp, flat and in a subfolder, and a .txt. */
async function photoFolder(label: string): Promise<string> {
  const root = join(tempDir(label), 'photos');
  mkdirSync(join(root, 'trip'), { recursive: true });
  copyFileSync(join(FACES, 'portrait-1.jpg'), join(root, 'anna.JPG'));
  copyFileSync(join(FACES, 'portrait-2.jpg'), join(root, 'ben.jpg'));
  copyFileSync(join(FACES, 'portrait-1.jpg'), join(root, 'trip', 'anna again.jpeg'));
  await sharp(join(FACES, 'portrait-2.jpg'))
    .png()
    .toFile(join(root, 'trip', 'ben.PNG'));
  await sharp(join(FACES, 'portrait-1.jpg'))
    .webp({ quality: 90 })
    .toFile(join(root, 'trip', 'anna.webp'));
  writeFileSync(join(root, 'notes.txt'), 'taken in May\n');
  return root;
}

/** Name, portrait and size of each photo of photoFolder, in manifest order. */
const PHOTOS = [
  ['anna.JPG', 1, 910, 1137],
  ['ben.jpg', 2, 970, 2204],
  ['trip/anna again.jpeg', 1, 910, 1137],
  ['trip/anna.webp', 1, 910, 1137],
  ['trip/ben.PNG', 2, 970, 2204],
] as const;

const TXT_FINDING =
  'warning: dataset notes.txt: unsupported file type ".txt", expected a video: .avi, .mkv, .mov, .mp4, .webm, or a photo: .jpeg, .jpg, .png, .webp, any letter case; not used';

test('a photo folder is a dataset: each photo a one-frame video whose face YuNet finds and the embed stage embeds', async (t) => {
  const root = await photoFolder('photos');
  const config = testConfig('s3', 'photos');
  const store = openStore(config.store);
  const embedder = new Embedder({
    provider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: join(config.stateDir, 'models'),
    threads: 0,
    runBatch: 4,
  });
  t.teardown(async () => {
    await embedder.close();
    store.close();
  });
  const deps = { store, embedder, config, log: () => {} };
  const manifested = await createManifestActivities(deps).manifestDataset({
    datasetPath: root,
    shardFrames: 16,
  });
  const manifest = JSON.parse(new TextDecoder().decode(await store.get(manifested.manifestKey))) as Manifest;
  t.deepEqual(
    manifest.videos.map((v) => [v.name, v.source, v.frameCount, v.width, v.height]),
    PHOTOS.map(([name, , w, h]) => [name, { kind: 'image', path: name }, 1, w, h]),
  );
  t.deepEqual(manifested.findings, [TXT_FINDING]);
  t.is(manifest.shards.length, PHOTOS.length);
  t.true(manifest.videos.every((v) => defaultFaceSource(v) === 'yunet'));

  const frames = createFramesActivities(deps);
  const embed = createEmbedActivities(deps);
  for (const [name, portrait] of PHOTOS) {
    const shard = manifest.shards.find((s) => s.video === name)!;
    t.deepEqual([shard.firstFrame, shard.lastFrame], [1, 1]);
    const extracted = await frames.extractFrames({
      manifestKey: manifested.manifestKey,
      shardId: shard.shardId,
      maxCropSide: 256,
    });
    t.deepEqual([extracted.frames, extracted.faces, extracted.noFaceFrames], [1, 1, 0], name);
    const [row] = decodeFramesShard((await readCommitted(store, extracted.framesKey))!.bytes);
    t.is(row!.video, name);
    t.true(row!.detScore! > 0.8, `${name}: score ${row!.detScore}`);
    t.true(boxIou(row!.box!, PORTRAIT_BOX[portrait]) > 0.7, `${name}: box ${row!.box!.join(', ')}`);
    t.is(row!.landmarks!.length, 10);
    const embedded = await embed.embedShard({
      manifestKey: manifested.manifestKey,
      shardId: shard.shardId,
      framesKey: extracted.framesKey,
      backbone: TINY_BACKBONE.name,
      batchSize: 4,
    });
    t.is(embedded.rows, 1);
    const rows = decodeEmbeddingShard((await readCommitted(store, embedded.embeddingsKey))!.bytes);
    t.deepEqual(
      [rows.keys.length, rows.keys[0]!.video, rows.keys[0]!.frame, rows.keys[0]!.noFace, rows.dim],
      [1, name, 1, false, TINY_BACKBONE.embeddingDim],
    );
    t.true(rows.embedding.every(Number.isFinite) && rows.embedding.some((v) => v !== 0));
  }
});

test('a symbolic link leaving the root and names that are not UTF-8 get findings; the rest is manifested', async (t) => {
  const base = tempDir('left-out');
  const root = join(base, 'ds');
  mkdirSync(join(root, 'videos'), { recursive: true });
  const frame = new Uint8Array(16 * 16 * 3).fill(120);
  const video = (path: string): Promise<void> => encodeVideo(path, 16, 16, 25, [frame, frame, frame]);
  await video(join(root, 'videos', 'kept.mp4'));
  await video(join(base, 'outside.mp4'));
  symlinkSync(join(base, 'outside.mp4'), join(root, 'videos', 'linked.mp4'));
  // caf\xe9: Latin-1 bytes, not UTF-8; the video itself is valid.
  const latin1 = Buffer.concat([Buffer.from(`${root}/videos/caf`), Buffer.from([0xe9]), Buffer.from('.mp4')]);
  copyFileSync(join(root, 'videos', 'kept.mp4'), latin1);
  writeFileSync(
    Buffer.concat([Buffer.from(`${root}/r`), Buffer.from([0xe9, 0x73]), Buffer.from('um\u00e9.txt')]),
    'x',
  );

  for (const kind of ['generic', 'cexprdb'] as const) {
    const { manifest } = await buildManifest(root, { shardFrames: 8, kind });
    t.deepEqual(
      manifest.videos.map((v) => [v.name, v.frameCount]),
      [['kept', 3]],
      kind,
    );
    t.deepEqual(
      manifest.findings,
      [
        'error: dataset r\\xe9sumé.txt: expected a UTF-8 file name, got bytes that are not (shown as \\xNN); left out: rename it',
        'error: dataset videos/caf\\xe9.mp4: expected a UTF-8 file name, got bytes that are not (shown as \\xNN); left out: rename it',
        `error: dataset videos/linked.mp4: symbolic link to ${JSON.stringify(join(base, 'outside.mp4'))} leaves the dataset root; left out: copy the file into the dataset or link to a path inside it`,
      ],
      kind,
    );
  }
});

test.serial(
  'end to end: a run on a photo folder embeds one face per photo and reports the unused file',
  async (t) => {
    const root = await photoFolder('photos-run');
    const config = testConfig('s3', 'photos-run');
    const store = openStore(config.store);
    const queues = uniqueQueues('photos');
    const workers = await startTestWorkers(config, store, queues);
    t.teardown(async () => {
      await workers.stop();
      store.close();
    });
    const input: ExtractionRunInput = {
      datasetPath: root,
      backbones: [TINY_BACKBONE.name],
      shardFrames: 16,
      maxShardsInFlight: 2,
      embedBatchSize: 4,
      maxCropSide: 256,
      taskQueues: activityQueues(queues),
      skipTraining: true,
    };
    const result = (await workers.client.workflow.execute('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId: `test-photos-${queues.frames}`,
      args: [input],
      workflowIdReusePolicy: WorkflowIdReusePolicy.ALLOW_DUPLICATE,
    })) as ExtractionRunResult;
    t.is(result.status, 'completed');
    t.is(result.shards, PHOTOS.length);
    t.deepEqual(result.failedShards, []);
    t.is(result.embeddingRows, PHOTOS.length);
  },
);
