/** The skeleton path without Temporal: frames and embed activities on the generated tiny backbone. */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { manifestReader, type ActivityDeps } from '../activities/context.ts';
import { createEmbedActivities } from '../activities/embed.ts';
import { loadConfig } from '../config/index.ts';
import { createFramesActivities } from '../activities/frames.ts';
import { createManifestActivities } from '../activities/manifest.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { Embedder, embedderOptions } from '../models/embedder.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { timed, type Benchmark } from './harness.ts';

export const benchmarks: Benchmark[] = [
  {
    name: 'skeleton',
    async run() {
      const root = mkdtempSync(join(tmpdir(), 'affectflow-bench-embed-'));
      const store = new LocalDirStore(join(root, 'store'));
      const embedder = new Embedder(
        embedderOptions(loadConfig().embedRuntime, 'cpu', { modelCacheDir: join(root, 'models') }),
      );
      const deps: ActivityDeps = { store, embedder, config: { stateDir: root }, log: () => {} };
      await generateSyntheticDataset(join(root, 'data'), {
        ...TINY_SYNTHETIC,
        trainVideos: 2,
        validationVideos: 0,
        framesPerVideo: 256,
      });
      const manifest = await createManifestActivities(deps).manifestDataset({
        datasetPath: join(root, 'data'),
        shardFrames: 256,
      });
      // The activity returns counts; the shard list is in the stored manifest.
      const { shards } = await manifestReader(store)(manifest.manifestKey);
      const frames = createFramesActivities(deps);
      const embed = createEmbedActivities(deps);
      const extracted = await timed(() =>
        Promise.all(
          shards.map((s) =>
            frames.extractFrames({
              manifestKey: manifest.manifestKey,
              shardId: s.shardId,
              maxCropSide: 256,
              faceSource: 'whole-frame',
            }),
          ),
        ),
      );
      const framesTotal = extracted.result.reduce((a, r) => a + r.frames, 0);
      const embedded = await timed(async () => {
        let rows = 0;
        for (const [i, s] of shards.entries()) {
          const r = await embed.embedShard({
            manifestKey: manifest.manifestKey,
            shardId: s.shardId,
            framesKey: extracted.result[i]!.framesKey,
            backbone: TINY_BACKBONE.name,
            batchSize: 32,
          });
          rows += r.rows;
        }
        return rows;
      });
      await embedder.close();
      rmSync(root, { recursive: true, force: true });
      return {
        'skeleton.frames_96px.fps': { value: framesTotal / extracted.seconds, unit: 'frames/s' },
        'skeleton.embed_tiny.activity.b32.per_s': {
          value: embedded.result / embedded.seconds,
          unit: 'embeddings/s',
        },
      };
    },
  },
];
