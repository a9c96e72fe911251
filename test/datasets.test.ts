/**
 * Manifests from the fixture datasets of each layout (test/fixtures/datasets/README.md) and the
 * manifestDataset activity; video files are encoded by the test with ffmpeg.
 */
import test from 'ava';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createManifestActivities } from '../activities/manifest.ts';
import { buildManifest, detectDatasetKind } from '../datasets/index.ts';
import type { Manifest } from '../datasets/manifest.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { storeKeys } from '../storage/keys.ts';
import {
  affwild2,
  copyFixture,
  errorsOf,
  FIXTURES,
  labelsOf,
  solidVideo,
  videoOf,
} from './helpers/datasetFixtures.ts';

// Manifests from the fixtures

test('Aff-Wild2: videos, frame folders, pairs sharing one file, test list, exact labels and shards', async (t) => {
  const root = await affwild2(t);
  t.is(detectDatasetKind(root), 'affwild2');
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(
    manifest.videos.map((v) => [v.name, v.split, v.source, v.frameCount]),
    [
      ['1-30-1280x720', 'Train', { kind: 'video', path: 'videos/1-30-1280x720.mp4' }, 6],
      ['2-24-640x360', 'Validation', { kind: 'frames', dir: 'cropped_aligned/2-24-640x360' }, 6],
      ['3-25-1920x1080', 'Test', { kind: 'video', path: 'videos/3-25-1920x1080.mp4' }, 4],
      ['video10_1_left', 'Validation', { kind: 'video', path: 'videos/batch2/video10_1.mp4' }, 6],
      ['video10_1_right', 'Validation', { kind: 'video', path: 'videos/batch2/video10_1.mp4' }, 6],
    ],
  );
  t.is(videoOf(manifest, 'video10_1_left').contentHash, videoOf(manifest, 'video10_1_right').contentHash);
  const folder = videoOf(manifest, '2-24-640x360');
  t.deepEqual(folder.noFaceFrames, [
    [3, 3],
    [6, 6],
  ]);
  t.deepEqual([folder.width, folder.height], [24, 20]);
  t.deepEqual(manifest.tasks, ['VA', 'EXPR', 'AU']);
  t.deepEqual(manifest.splits, { Train: 1, Validation: 3, Test: 1 });
  t.deepEqual(
    manifest.shards.map((s) => [s.video, s.split, s.firstFrame, s.lastFrame]),
    [
      ['1-30-1280x720', 'Train', 1, 4],
      ['1-30-1280x720', 'Train', 5, 6],
      ['2-24-640x360', 'Validation', 1, 4],
      ['2-24-640x360', 'Validation', 5, 6],
      ['3-25-1920x1080', 'Test', 1, 4],
      ['video10_1_left', 'Validation', 1, 4],
      ['video10_1_left', 'Validation', 5, 6],
      ['video10_1_right', 'Validation', 1, 4],
      ['video10_1_right', 'Validation', 5, 6],
    ],
  );
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, 5]);
  t.deepEqual(labels['VA/1-30-1280x720'], [
    [0.1, 0.2],
    [-5, -5],
    [-0.45, 0.9],
    [1, -1],
    [0, 0.333],
    [-5, -5],
  ]);
  t.deepEqual((labels['AU/1-30-1280x720'] as number[][])[2], new Array<number>(12).fill(-1));
  t.deepEqual(labels['EXPR/video10_1_right'], [6, 6, -1, -1, 3, 3]);
  t.deepEqual(labels['EXPR/2-24-640x360'], [4, 4, 4, 4, 0, 0]);
  t.is(Object.keys(labels).length, 6);
  t.deepEqual(videoOf(manifest, '1-30-1280x720').labels?.EXPR?.annotated, 5);
  t.deepEqual(videoOf(manifest, '1-30-1280x720').labels?.VA?.annotated, 4);
  t.deepEqual(errorsOf(manifest), []);
  t.true(
    manifest.findings.includes(
      'note: frames cropped_aligned/2-24-640x360/00003.jpg: no image for frame 3; 2 of 6 frames have no image (3, 6), recorded as no face',
    ),
  );
});

test('the same dataset manifests to identical shard ids twice; changing one video changes only its shards', async (t) => {
  const root = await affwild2(t);
  const first = (await buildManifest(root, { shardFrames: 4 })).manifest;
  const again = (await buildManifest(root, { shardFrames: 4 })).manifest;
  t.deepEqual(again, first);
  await solidVideo(join(root, 'videos', '1-30-1280x720.mp4'), 6, 200);
  const changed = (await buildManifest(root, { shardFrames: 4 })).manifest;
  // A new version of the same dataset: same identity (key namespace), new content hash.
  t.is(changed.datasetId, first.datasetId);
  t.not(changed.version, first.version);
  for (const [i, shard] of first.shards.entries()) {
    const now = changed.shards[i]!;
    t.deepEqual([now.video, now.firstFrame, now.lastFrame], [shard.video, shard.firstFrame, shard.lastFrame]);
    if (shard.video === '1-30-1280x720') t.not(now.shardId, shard.shardId);
    else t.is(now.shardId, shard.shardId);
  }
  // A changed image in a frame folder changes that folder's shards only.
  writeFileSync(
    join(root, 'cropped_aligned', '2-24-640x360', '00002.jpg'),
    readFileSync(join(FIXTURES, 'hume/face_images/00001/00001.jpg')).subarray(0, 200),
  );
  const folder = (await buildManifest(root, { shardFrames: 4 })).manifest;
  const ids = (m: Manifest, name: string): string[] =>
    m.shards.filter((s) => s.video === name).map((s) => s.shardId);
  t.notDeepEqual(ids(folder, '2-24-640x360'), ids(changed, '2-24-640x360'));
  t.deepEqual(ids(folder, 'video10_1_left'), ids(changed, 'video10_1_left'));
});

test('C-EXPR-DB, Hume-Vidmimic2 and generic datasets: exact labels, splits and sources', async (t) => {
  const ce = copyFixture(t, 'cexprdb');
  await solidVideo(join(ce, 'videos', 'clip-01.mp4'), 4, 60);
  await solidVideo(join(ce, 'videos', 'clip-02.mp4'), 3, 80);
  t.is(detectDatasetKind(ce), 'cexprdb');
  const c = await labelsOf(ce);
  t.deepEqual(
    c.manifest.videos.map((v) => [v.name, v.split, v.frameCount]),
    [
      ['clip-01', 'Validation', 4],
      ['clip-02', 'Test', 3],
    ],
  );
  t.deepEqual(c.labels, { 'CE/clip-01': [0, 1, -1, 6] });

  const hume = copyFixture(t, 'hume');
  await solidVideo(join(hume, 'videos', '00003.mp4'), 5, 60);
  t.is(detectDatasetKind(hume), 'hume');
  const h = await labelsOf(hume);
  t.deepEqual(
    h.manifest.videos.map((v) => [v.name, v.split, v.source.kind, v.frameCount]),
    [
      ['00001', 'Train', 'frames', 3],
      ['00002', 'Validation', 'frames', 3],
      ['00003', 'Test', 'video', 5],
    ],
  );
  t.deepEqual(h.labels, {
    'EMI/00001': [0.25, 0.5, 0, 0.125, 1, 0.75],
    'EMI/00002': [0, 0, 0.5, 0.5, 0.375, 0],
  });
  t.deepEqual(videoOf(h.manifest, '00002').noFaceFrames, [[2, 2]]);

  const generic = copyFixture(t, 'generic');
  await solidVideo(join(generic, 'videos', 'a.mp4'), 4, 60);
  t.is(detectDatasetKind(generic), 'generic');
  const g = await labelsOf(generic);
  t.deepEqual(
    g.manifest.videos.map((v) => [v.name, v.split, v.source, v.frameCount]),
    [
      ['a', 'Train', { kind: 'video', path: 'videos/a.mp4' }, 4],
      ['b', 'Validation', { kind: 'frames', dir: 'frames/b' }, 2],
    ],
  );
  t.deepEqual(g.labels, {
    'EXPR/a': [4, -1, -1, 2],
    'VA/a': [
      [0.5, 0.25],
      [-5, -5],
      [-5, -5],
      [-0.5, 0.75],
    ],
    'EXPR/b': [-1, 6],
    'VA/b': [
      [-5, -5],
      [0.125, 1],
    ],
  });
  t.deepEqual(errorsOf(c.manifest).concat(errorsOf(h.manifest), errorsOf(g.manifest)), []);
});

test('manifestDataset stores the manifest and one label object per task and video in the store encodings', async (t) => {
  const root = await affwild2(t);
  const storeRoot = mkdtempSync(join(tmpdir(), 'affectflow-store-'));
  t.teardown(() => rmSync(storeRoot, { recursive: true, force: true }));
  const store = new LocalDirStore(storeRoot);
  const logged: string[] = [];
  const activity = createManifestActivities({
    store,
    config: { stateDir: storeRoot },
    log: (l) => logged.push(l),
  });
  const result = await activity.manifestDataset({ datasetPath: root, shardFrames: 4 });
  const read = async (key: string): Promise<unknown> =>
    JSON.parse(new TextDecoder().decode(await store.get(key)));
  const manifest = (await read(result.manifestKey)) as Manifest;
  t.regex(result.manifestKey, new RegExp(`^datasets/${result.datasetId}/manifests/[0-9a-f]{16}\\.json$`));
  t.is(manifest.datasetId, result.datasetId);
  // Counts only: the shard list stays in the stored manifest.
  t.is(result.shards, manifest.shards.length);
  t.is(
    result.frames,
    manifest.shards.reduce((sum, s) => sum + s.lastFrame - s.firstFrame + 1, 0),
  );
  t.deepEqual(result.findings, manifest.findings.slice(0, 20));
  t.is(result.findingCount, manifest.findings.length);
  t.is(result.videos, 5);
  t.deepEqual(await read(storeKeys.labels(result.datasetId, 'EXPR', '1-30-1280x720')), [0, 0, 4, -1, 7, 5]);
  t.deepEqual(
    ((await read(storeKeys.labels(result.datasetId, 'VA', '1-30-1280x720'))) as number[][])[1],
    [-5, -5],
  );
  t.deepEqual(
    ((await read(storeKeys.labels(result.datasetId, 'AU', '1-30-1280x720'))) as number[][])[1],
    [1, 0, 0, 1, 0, 0, 1, 0, 0, 0, 1, 0],
  );
  t.false(await store.head(storeKeys.labels(result.datasetId, 'EXPR', '3-25-1920x1080')).then(Boolean));
  t.true(logged.some((l) => l.startsWith('manifest: note: frames cropped_aligned/2-24-640x360/00003.jpg')));
  store.close();
});
