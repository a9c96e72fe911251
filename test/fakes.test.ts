/**
 * The reporting fakes that drive the orchestration tests, benches and recorded histories
 * (bench/orchestrationScale.ts) return what the real activities return for the same input: the
 * same fields with the same types, and payloads of about the same size, so a limit the real
 * activities meet (payload size, history size) is met by the fakes too.
 */
import test from 'ava';
import { join } from 'node:path';
import { defaultPayloadConverter } from '@temporalio/common';
import { createEmbedActivities } from '../activities/embed.ts';
import { createFramesPoolActivities } from '../activities/index.ts';
import { reportingActivities } from '../bench/orchestrationScale.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { Embedder, embedderOptions } from '../models/embedder.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import { prebuildGeneratedModels } from './helpers/workers.ts';

/** Field names and value types, recursively (arrays by their first element). */
function shapeOf(value: unknown): unknown {
  if (Array.isArray(value)) return value.length ? [shapeOf(value[0])] : [];
  if (value && typeof value === 'object')
    return Object.fromEntries(
      Object.entries(value)
        .sort(([a], [b]) => (a < b ? -1 : 1))
        .map(([k, v]) => [k, shapeOf(v)]),
    );
  return typeof value;
}

const payloadSize = (value: unknown): number => defaultPayloadConverter.toPayload(value).data?.length ?? 0;

test('each reporting fake returns the shape and about the size of its real activity on the same dataset', async (t) => {
  const config = testConfig('local', 'fakes');
  const datasetPath = join(tempDir('fakes-data'), 'ds');
  await generateSyntheticDataset(datasetPath, { ...TINY_SYNTHETIC, trainVideos: 2, validationVideos: 1 });
  const store = openStore(config.store);
  prebuildGeneratedModels(config.stateDir);
  const embedder = new Embedder(
    embedderOptions(config.embedRuntime, 'cpu', { modelCacheDir: join(config.stateDir, 'models') }),
  );
  t.teardown(async () => {
    await embedder.close();
    store.close();
  });
  const deps = { store, embedder, config, log: () => {} };
  const frames = createFramesPoolActivities(deps);
  const embed = createEmbedActivities(deps);

  const manifestInput = { datasetPath, shardFrames: 48 };
  const manifest = await frames.manifestDataset(manifestInput);
  const fake = reportingActivities(manifest.shards);
  const summary = await frames.describeManifest({ manifestKey: manifest.manifestKey });
  const planInput = {
    manifestKey: manifest.manifestKey,
    offset: 0,
    limit: 2,
    backbones: [TINY_BACKBONE.name],
    frames: { maxCropSide: 96, faceSource: 'whole-frame' as const },
  };
  const page = await frames.planShardPage(planInput);
  const shard = page.todo[0]!;
  const framesInput = {
    manifestKey: manifest.manifestKey,
    shardId: shard.shardId,
    maxCropSide: 96,
    faceSource: 'whole-frame' as const,
  };
  const extracted = await frames.extractFrames(framesInput);
  const embedInput = {
    manifestKey: manifest.manifestKey,
    shardId: shard.shardId,
    framesKey: extracted.framesKey,
    backbone: TINY_BACKBONE.name,
    batchSize: 16,
  };
  const embedded = await embed.embedShard(embedInput);

  const pairs: [string, unknown, unknown][] = [
    ['manifestDataset', manifest, await fake.manifestDataset()],
    ['describeManifest', summary, await fake.describeManifest()],
    ['planShardPage', page, await fake.planShardPage(planInput)],
    ['extractFrames', extracted, await fake.extractFrames(framesInput)],
    ['embedShard', embedded, await fake.embedShard(embedInput)],
  ];
  for (const [name, real, faked] of pairs) {
    t.deepEqual(shapeOf(faked), shapeOf(real), `${name}: fields and types`);
    const [r, f] = [payloadSize(real), payloadSize(faked)];
    t.true(f >= r * 0.6 && f <= r * 1.6, `${name}: fake ${f} bytes, real ${r} bytes`);
  }
});
