/**
 * A shard decodes its own part of the video, not the whole file: decodeFrames seeks to the key
 * packet before the range and stops after the last frame wanted. Checked on index videos (each
 * frame carries its number in pixels) against a plain whole-file ffmpeg decode run by the test,
 * in MP4, Matroska with variable frame rate, MPEG-TS and an MP4 whose edit list starts mid-GOP,
 * and by damage placed outside a range, which a whole-file decode reports for every range. Also
 * the one-buffer mode the frames activity decodes in.
 */
import test from 'ava';
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { decodeFrames, type DecodeOptions } from '../media/decodeFrames.ts';
import { frameStamps, probeVideo } from '../media/ffmpeg.ts';
import { tempDir } from './helpers/env.ts';
import { decodeAll, H, makeVideo, readIndex, W } from './helpers/indexVideo.ts';

const N = 300;
/** A key frame every 25 frames (frames 1, 26, 51, ...), whatever the content. */
const GOP = ['-g', '25', '-keyint_min', '25', '-sc_threshold', '0'];

const dir = tempDir('decode-range');
const mp4 = join(dir, 'cfr.mp4');
makeVideo(mp4, N, null, GOP);

function ffmpeg(args: readonly string[]): void {
  const r = spawnSync('ffmpeg', ['-v', 'error', '-y', ...args]);
  if (r.status !== 0) throw new Error(`ffmpeg ${args.join(' ')}: ${r.stderr.toString()}`);
}

/** Every frame of the file in display order, by ffmpeg alone (no seek, no select). */
function referenceFrames(path: string): Buffer[] {
  const r = spawnSync(
    'ffmpeg',
    [
      '-v',
      'error',
      '-i',
      path,
      '-map',
      '0:v:0',
      '-fps_mode',
      'passthrough',
      '-f',
      'rawvideo',
      '-pix_fmt',
      'rgb24',
      'pipe:1',
    ],
    { maxBuffer: 64 * 1024 * 1024 },
  );
  if (r.status !== 0) throw new Error(`ffmpeg reference decode of ${path}: ${r.stderr.toString()}`);
  const size = W * H * 3;
  return Array.from({ length: r.stdout.length / size }, (_, i) =>
    r.stdout.subarray(i * size, (i + 1) * size),
  );
}

const files: Record<string, string> = { mp4 };
files['vfr.mkv'] = join(dir, 'vfr.mkv');
makeVideo(
  files['vfr.mkv'],
  N,
  "settb=1/1000,setpts='(N*40+if(mod(N\\,3)\\,0\\,15)+if(gte(N\\,30)\\,500\\,0))/1000/TB'",
  [...GOP, '-fps_mode', 'vfr', '-enc_time_base', '1/1000'],
);
files['ts'] = join(dir, 'cfr.ts');
ffmpeg(['-i', mp4, '-c', 'copy', '-f', 'mpegts', files['ts']]);
files['edit list'] = join(dir, 'editlist.mp4');
ffmpeg(['-ss', '0.5', '-i', mp4, '-c', 'copy', files['edit list']]);

for (const [name, path] of Object.entries(files)) {
  test(`${name}: a range anywhere in the file gives the frames a whole-file decode gives`, async (t) => {
    const reference = referenceFrames(path);
    const n = (await frameStamps(path))!.pts.length;
    t.is(reference.length, n, 'the packet index and the decoder agree on the frame count');
    const cases: DecodeOptions[] = [
      { first: 101, last: 164 },
      { first: 101, last: 164, context: 8 },
      { first: 37, last: 37 },
      { first: n - 40, last: n },
      { first: 130, last: 200, sampling: { every: 3 } },
      { first: 1, last: 64 },
    ];
    for (const options of cases) {
      const { frames, summary } = await decodeAll(path, options);
      const full = await decodeAll(path, { ...options, first: 1, context: 0 });
      const expected = full.frames.filter((f) => f.frame >= options.first).map((f) => f.frame);
      const label = JSON.stringify(options);
      t.deepEqual(
        frames.filter((f) => !f.context).map((f) => f.frame),
        expected,
        `${label}: the same frame numbers as a decode from frame 1`,
      );
      t.deepEqual(
        frames.filter((f) => f.context).map((f) => f.frame),
        options.context
          ? Array.from({ length: options.context }, (_, i) => options.first - options.context! + i)
          : [],
        `${label}: the look-back frames just before the range`,
      );
      for (const f of frames)
        t.true(
          Buffer.from(f.rgb).equals(reference[f.frame - 1]!),
          `${label}: frame ${f.frame} equals the reference`,
        );
      t.is(summary.error, null, label);
      t.is(summary.exitCode, 0, label);
      t.deepEqual(summary.missing, [], label);
    }
  });
}

/** Overwrites the middle of the packet shown as `frame` (1-based, display order) with noise. */
function damageFrame(path: string, frame: number): void {
  const r = spawnSync(
    'ffprobe',
    [
      '-v',
      'error',
      '-select_streams',
      'v:0',
      '-show_entries',
      'packet=pts,pos,size,flags',
      '-of',
      'json',
      path,
    ],
    {
      encoding: 'utf8',
    },
  );
  const packets = (
    JSON.parse(r.stdout) as { packets: { pts: number; pos: string; size: string; flags: string }[] }
  ).packets;
  const packet = [...packets].sort((a, b) => a.pts - b.pts)[frame - 1]!;
  if (packet.flags.includes('K')) throw new Error(`frame ${frame} is a key frame; damage a predicted one`);
  const bytes = readFileSync(path);
  const pos = Number(packet.pos);
  const size = Number(packet.size);
  let seed = frame;
  for (let i = pos + Math.floor(size * 0.3); i < pos + Math.floor(size * 0.9); i++) {
    seed = (seed * 1103515245 + 12345) >>> 0;
    bytes[i] = seed >>> 24;
  }
  writeFileSync(path, bytes);
}

test('damage before a range (an earlier group of pictures) and after it stays out of its summary; damage inside is reported', async (t) => {
  const damaged = join(dir, 'damaged.mp4');
  makeVideo(damaged, N, null, GOP);
  damageFrame(damaged, 30);
  damageFrame(damaged, 250);
  const whole = await decodeAll(damaged, { first: 1, last: N });
  t.regex(whole.summary.error ?? '', /ffmpeg: /, 'the damage is there for a decoder to see');
  const clean = referenceFrames(mp4);

  const middle = await decodeAll(damaged, { first: 101, last: 164, context: 8 });
  t.deepEqual(
    middle.frames.map((f) => [f.frame, readIndex(f)]),
    Array.from({ length: 72 }, (_, i) => [93 + i, 93 + i]),
  );
  for (const f of middle.frames) t.true(Buffer.from(f.rgb).equals(clean[f.frame - 1]!), `frame ${f.frame}`);
  t.deepEqual(middle.summary, {
    wanted: 64,
    decoded: 64,
    lastFrame: 164,
    missing: [],
    exitCode: 0,
    error: null,
  });

  for (const [first, last] of [
    [26, 50],
    [226, 250],
  ] as const) {
    const inside = await decodeAll(damaged, { first, last });
    t.regex(inside.summary.error ?? '', /ffmpeg: /, `damage inside ${first}..${last} is reported`);
  }
});

test('the packet index is read once per version of a file: shards of one video share it', async (t) => {
  const path = join(dir, 'reread.mp4');
  makeVideo(path, 50, null, GOP);
  const first = await frameStamps(path);
  t.is(await frameStamps(path), first, 'the same file: the index read before');
  makeVideo(path, 75, null, GOP);
  const changed = await frameStamps(path);
  t.not(changed, first);
  t.is(changed!.pts.length, 75, 'a rewritten file is read again');
});

test('reuseBuffer: every frame comes in one buffer, with the pixels a fresh buffer per frame gives', async (t) => {
  const probe = await probeVideo(mp4);
  const options: DecodeOptions = { first: 101, last: 164, context: 8 };
  const fresh = await decodeAll(mp4, options);
  const seen = new Set<Uint8Array>();
  const copies: { frame: number; rgb: Buffer }[] = [];
  const decoder = decodeFrames(mp4, probe, { ...options, reuseBuffer: true });
  let step = await decoder.next();
  while (!step.done) {
    seen.add(step.value.rgb);
    // The caller's side of the contract: done with (here, copies) the pixels before the next frame.
    copies.push({ frame: step.value.frame, rgb: Buffer.from(step.value.rgb) });
    step = await decoder.next();
  }
  t.is(seen.size, 1, 'one buffer for all 72 frames');
  t.deepEqual(
    copies.map((c) => c.frame),
    fresh.frames.map((f) => f.frame),
  );
  copies.forEach((c, i) => t.true(c.rgb.equals(fresh.frames[i]!.rgb), `frame ${c.frame}`));
  t.deepEqual(step.value, fresh.summary);
});
