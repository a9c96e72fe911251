/**
 * Dataset validation: every message names the file and the line; one bad video never stops the
 * others. Fixtures: test/fixtures/datasets (README.md there); video files are encoded by the test.
 */
import test from 'ava';
import { mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  affwild2,
  copyFixture,
  EMI_H,
  errorsOf,
  EXPR_H,
  labelsOf,
  solidVideo,
  videoOf,
} from './helpers/datasetFixtures.ts';

test('label line count against the video: one off is a warning (padded or cut), more is an error', async (t) => {
  const root = await affwild2(t);
  const expr = (name: string, split: string): string =>
    join(root, 'annotations', 'EXPR_Recognition_Challenge', split, `${name}.txt`);
  writeFileSync(expr('1-30-1280x720', 'Train_Set'), `${EXPR_H}\n0\n0\n4\n-1\n7\n`);
  writeFileSync(expr('video10_1_left', 'Validation_Set'), `${EXPR_H}\n1\n1\n1\n-1\n2\n2\n3\n`);
  writeFileSync(expr('video10_1_right', 'Validation_Set'), `${EXPR_H}\n1\n1\n1\n-1\n2\n2\n3\n3\n`);
  const { manifest, labels } = await labelsOf(root);
  const a = 'annotations/EXPR_Recognition_Challenge';
  t.deepEqual(
    manifest.findings.filter((f) => f.includes('frame lines')),
    [
      `warning: annotation ${a}/Train_Set/1-30-1280x720.txt line 6: expected 6 frame lines after the header (videos/1-30-1280x720.mp4 has 6 frames), got 5; frame 6 is marked not annotated`,
      `warning: annotation ${a}/Validation_Set/video10_1_left.txt line 8: expected 6 frame lines after the header (videos/batch2/video10_1.mp4 has 6 frames), got 7; the last line is dropped`,
      `error: annotation ${a}/Validation_Set/video10_1_right.txt line 9: expected 6 frame lines after the header (videos/batch2/video10_1.mp4 has 6 frames), got 8; EXPR labels of video10_1_right left out`,
    ],
  );
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, -1]);
  t.deepEqual(labels['EXPR/video10_1_left'], [1, 1, 1, -1, 2, 2]);
  t.is(labels['EXPR/video10_1_right'], undefined);
  t.truthy(videoOf(manifest, 'video10_1_right'), 'the video stays; only its labels are left out');
});

test('frame folders: a missing image is a recorded no-face frame; labels not covering the images are an error', async (t) => {
  const root = await affwild2(t);
  const expr = join(root, 'annotations', 'EXPR_Recognition_Challenge', 'Validation_Set', '2-24-640x360.txt');
  writeFileSync(expr, `${EXPR_H}\n4\n4\n4\n`);
  writeFileSync(join(root, 'cropped_aligned', '2-24-640x360', 'thumbs.db'), '');
  const { manifest } = await labelsOf(root);
  t.deepEqual(
    manifest.findings.filter((f) => f.includes('2-24-640x360')),
    [
      'warning: frames cropped_aligned/2-24-640x360/thumbs.db: expected %05d.jpg (1-based frame number), ignored',
      'error: annotation annotations/EXPR_Recognition_Challenge/Validation_Set/2-24-640x360.txt line 4: expected 5 frame lines after the header (cropped_aligned/2-24-640x360 has images up to frame 5), got 3; EXPR labels of 2-24-640x360 left out',
      'note: frames cropped_aligned/2-24-640x360/00003.jpg: no image for frame 3; 1 of 5 frames have no image (3), recorded as no face',
    ],
  );
  t.is(videoOf(manifest, '2-24-640x360').frameCount, 5);
});

test('malformed annotation lines become findings naming file and line; the other tasks and videos go on', async (t) => {
  const root = await affwild2(t);
  const ann = (task: string, split: string, name: string): string =>
    join(root, 'annotations', task, split, `${name}.txt`);
  writeFileSync(
    ann('VA_Estimation_Challenge', 'Train_Set', '1-30-1280x720'),
    'valence,arousal\n0.1,0.2\n0.1\n',
  );
  writeFileSync(ann('EXPR_Recognition_Challenge', 'Validation_Set', 'video10_1_left'), `${EXPR_H}\n1\n9\n`);
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation annotations/VA_Estimation_Challenge/Train_Set/1-30-1280x720.txt line 3: expected 2 comma-separated values (valence,arousal), got 1; VA labels of 1-30-1280x720 left out',
    'error: annotation annotations/EXPR_Recognition_Challenge/Validation_Set/video10_1_left.txt line 3: expected an integer in -1..7, got "9"; EXPR labels of video10_1_left left out',
  ]);
  t.deepEqual(labels['EXPR/1-30-1280x720'], [0, 0, 4, -1, 7, 5]);
  t.is(manifest.videos.length, 5);
});

test('a video that cannot be probed and duplicate video names are errors; the rest is manifested', async (t) => {
  const root = await affwild2(t);
  writeFileSync(join(root, 'videos', '3-25-1920x1080.mp4'), 'not a video\n');
  await solidVideo(join(root, 'videos', '4-30-640x480.mp4'), 3, 10);
  await solidVideo(join(root, 'videos', 'batch1', '4-30-640x480.mp4'), 3, 20);
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: dataset: duplicate video name "4-30-640x480" (videos/4-30-640x480.mp4 and videos/batch1/4-30-640x480.mp4); left out',
    'error: video videos/3-25-1920x1080.mp4: cannot be probed, left out: ffprobe failed (exit 1): Invalid data found when processing input',
  ]);
  t.deepEqual(
    manifest.videos.map((v) => v.name),
    ['1-30-1280x720', '2-24-640x360', 'video10_1_left', 'video10_1_right'],
  );
});

test('generic: paths outside the root, duplicate names and bad label cells name the CSV line', async (t) => {
  const root = copyFixture(t, 'generic');
  await solidVideo(join(root, 'videos', 'a.mp4'), 4, 60);
  const outside = mkdtempSync(join(tmpdir(), 'affectflow-outside-'));
  t.teardown(() => rmSync(outside, { recursive: true, force: true }));
  await solidVideo(join(outside, 'x.mp4'), 2, 60);
  symlinkSync(join(outside, 'x.mp4'), join(root, 'videos', 'link.mp4'));
  writeFileSync(
    join(root, 'videos.csv'),
    'name,path,split\na,videos/a.mp4,Train\nb,frames/b,Validation\nc,../outside.mp4,Train\nd,videos/link.mp4,Train\na,frames/b,Test\ne,/etc/passwd,Train\n',
  );
  writeFileSync(
    join(root, 'labels.csv'),
    'video,frame,expr,valence,arousal\na,1,4,0.5,0.25\na,2,9,0,0\nb,1,1,0,0\na,3,1,0,0\n',
  );
  const { manifest, labels } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: dataset videos.csv line 4: path "../outside.mp4" is outside the dataset root; left out',
    'error: dataset videos.csv line 5: path "videos/link.mp4" is outside the dataset root; left out',
    'error: dataset videos.csv line 7: path "/etc/passwd" is outside the dataset root; left out',
    'error: annotation labels.csv line 3: expected expr to be an integer in -1..7, got "9"; row ignored',
    'error: annotation labels.csv line 5: rows of a must be contiguous (its first rows start at line 2); row ignored',
    'error: dataset: duplicate video name "a" (videos.csv line 2 and videos.csv line 6); all left out',
  ]);
  t.deepEqual(
    manifest.videos.map((v) => v.name),
    ['b'],
  );
  t.deepEqual(labels['EXPR/b'], [1, -1]);
});

test('Hume-Vidmimic2: duplicate Filename, a Filename outside the folders and a bad value name the CSV line', async (t) => {
  const root = copyFixture(t, 'hume');
  writeFileSync(
    join(root, 'valid_split.csv'),
    `${EMI_H}\n00002,0,0,0.5,0.5,0.375,0\n00001,0,0,0,0,0,0\n../00009,0,0,0,0,0,0\n`,
  );
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation valid_split.csv line 3: duplicate Filename "00001" (first at train_split.csv line 2); ignored',
    `error: annotation valid_split.csv line 4: Filename "../00009" names a path outside the dataset's folders; ignored`,
  ]);
  writeFileSync(join(root, 'train_split.csv'), `${EMI_H}\n00001,0,0,0,0,0,2\n`);
  const bad = await labelsOf(root);
  t.true(
    bad.manifest.findings.includes(
      'error: annotation train_split.csv line 2: expected Joy in [0, 1], got "2"; the CSV is ignored',
    ),
  );
  t.is(videoOf(bad.manifest, '00001').split, 'Validation', 'its row in valid_split.csv still counts');
});

test('Aff-Wild2: a test-set list naming a path and a label file without a video are findings', async (t) => {
  const root = await affwild2(t);
  writeFileSync(
    join(
      root,
      'names_of_videos_in_each_test_set',
      'Valence_Arousal_Estimation_Challenge_test_set_release.txt',
    ),
    '5-60-1920x1080\n../../etc\n',
  );
  writeFileSync(
    join(root, 'annotations', 'EXPR_Recognition_Challenge', 'Train_Set', '7-25-1280x720.txt'),
    `${EXPR_H}\n0\n`,
  );
  const { manifest } = await labelsOf(root);
  t.deepEqual(errorsOf(manifest), [
    'error: annotation names_of_videos_in_each_test_set/Valence_Arousal_Estimation_Challenge_test_set_release.txt line 2: expected a video name, got the path "../../etc"; the list is ignored',
    'error: dataset: 7-25-1280x720 (named in annotations/EXPR_Recognition_Challenge/Train_Set/7-25-1280x720.txt) has no video file under videos/ and no frame folder; left out',
  ]);
});
