/**
 * Frame extraction on a generated 720p clip (a real portrait sliding across ffmpeg's moving
 * testsrc2 pattern, H.264 CRF 18, 150 frames at 30 fps): decoding alone, decoding + whole-frame crops committed as a frames shard
 * (no detection), and decoding + YuNet + face crops, with this process's CPU time per frame for
 * the latter (ffmpeg's excluded). Decoder threads: 2 (this machine's cores).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createFramesActivities, type ExtractFramesInput } from '../activities/frames.ts';
import { MANIFEST_FORMAT, type Manifest } from '../datasets/manifest.ts';
import { decodeFrames } from '../media/decodeFrames.ts';
import { probeVideo } from '../media/ffmpeg.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { generateClip } from './clip720p.ts';
import { peakRss, timed, type Benchmark } from './harness.ts';

const FRAMES = 150;
const FPS = 30;
const THREADS = 2;

/** One portrait (a face about 175 px tall) sliding across the pattern. */
const generate = (path: string): void =>
  generateClip(path, FRAMES, FPS, [
    { portrait: 'portrait-1.jpg', filter: 'scale=-2:600', x: '100+t*100', y: '60' },
  ]);

export const benchmarks: Benchmark[] = [
  {
    name: 'frames',
    async run() {
      const root = mkdtempSync(join(tmpdir(), 'affectflow-bench-frames-'));
      try {
        const clip = join(root, 'clip.mp4');
        generate(clip);
        const probe = await probeVideo(clip);
        const manifest: Manifest = {
          format: MANIFEST_FORMAT,
          datasetId: 'bench-frames',
          version: 'bench',
          root,
          shardFrames: FRAMES,
          videos: [
            {
              name: 'clip',
              split: 'Train',
              source: { kind: 'video', path: 'clip.mp4' },
              ...probe,
              contentHash: 'bench',
            },
          ],
          shards: [
            { shardId: 'all', video: 'clip', split: 'Train', firstFrame: 1, lastFrame: probe.frameCount },
          ],
          findings: [],
        };
        const store = new LocalDirStore(join(root, 'store'));
        await store.put('manifest.json', JSON.stringify(manifest));
        const activities = createFramesActivities({ store, config: { stateDir: root }, log: () => {} });
        const extract = (input: Partial<ExtractFramesInput>) =>
          activities.extractFrames({
            manifestKey: 'manifest.json',
            shardId: 'all',
            maxCropSide: 256,
            decoderThreads: THREADS,
            ...input,
          });

        const measured = await peakRss(async () => {
          const decode = await timed(async () => {
            let n = 0;
            for await (const frame of decodeFrames(clip, probe, {
              first: 1,
              last: probe.frameCount,
              threads: THREADS,
            }))
              n += frame.rgb.length > 0 ? 1 : 0;
            return n;
          });
          const crop = await timed(() => extract({ faceSource: 'whole-frame' }));
          const cpu = process.cpuUsage();
          const yunet = await timed(() => extract({ faceSource: 'yunet' }));
          const { user, system } = process.cpuUsage(cpu);
          return { decode, crop, yunet, yunetCpuMs: (user + system) / 1000 };
        });
        const { decode, crop, yunet, yunetCpuMs } = measured.result;
        if (yunet.result.faces < FRAMES * 0.9)
          throw new Error(
            `bench frames: expected a face in nearly every frame, got ${yunet.result.faces} of ${FRAMES}`,
          );
        return {
          'frames.decode_720p.fps': { value: decode.result / decode.seconds, unit: 'frames/s' },
          'frames.decode_crop_720p.fps': { value: crop.result.frames / crop.seconds, unit: 'frames/s' },
          'frames.decode_yunet_720p.fps': { value: yunet.result.frames / yunet.seconds, unit: 'frames/s' },
          // This process's CPU time (every thread, not ffmpeg's): what a loaded machine does not inflate.
          'frames.decode_yunet_720p.cpu_ms_per_frame': {
            value: yunetCpuMs / yunet.result.frames,
            unit: 'ms',
          },
          'frames.peak_rss_mb': { value: measured.peakMb, unit: 'MB' },
        };
      } finally {
        rmSync(root, { recursive: true, force: true });
      }
    },
  },
];
