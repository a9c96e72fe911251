/**
 * Permanent problems are typed so they fail at once instead of being retried (issue 18): a stored
 * manifest of another format (or not JSON) is ManifestFormatError; an embedShard frames key that
 * is not a frames shard of the input's dataset and shard, or that is not committed, is
 * FramesKeyError. Both reach Temporal as non-retryable failures of that type, through the real
 * activities on a local store.
 */
import test, { type ExecutionContext } from 'ava';
import { join } from 'node:path';
import { ApplicationFailure } from '@temporalio/common';
import { createEmbedPoolActivities } from '../activities/index.ts';
import { classifyErrors, manifestReader } from '../activities/context.ts';
import { MANIFEST_FORMAT } from '../datasets/manifest.ts';
import type { Embedder } from '../models/embedder.ts';
import { TINY_BACKBONE } from '../models/registry.ts';
import { LocalDirStore } from '../storage/objectStore.ts';
import { tempDir } from './helpers/env.ts';
import { prebuildGeneratedModels } from './helpers/workers.ts';

function localStore(label: string): { store: LocalDirStore; stateDir: string } {
  const stateDir = tempDir(label);
  return { store: new LocalDirStore(join(stateDir, 'store')), stateDir };
}

async function permanentFailure(t: ExecutionContext, body: () => Promise<unknown>) {
  const failure = await t.throwsAsync(() => classifyErrors(body), { instanceOf: ApplicationFailure });
  t.true(failure.nonRetryable, `${failure.type}: ${failure.message} should not be retried`);
  return failure;
}

test('a stored manifest of another format fails at once with ManifestFormatError naming key, expected and seen', async (t) => {
  const { store } = localStore('manifest-format');
  await store.put(
    'datasets/d/manifests/old.json',
    JSON.stringify({ format: 'affectflow.manifest/0', shards: [] }),
  );
  const failure = await permanentFailure(t, () => manifestReader(store)('datasets/d/manifests/old.json'));
  t.is(failure.type, 'ManifestFormatError');
  t.is(
    failure.message,
    `manifest datasets/d/manifests/old.json: expected format ${MANIFEST_FORMAT}, got "affectflow.manifest/0"; run the dataset again (\`affectflow run DATASET\`) to write a current manifest`,
  );
});

test('a stored manifest that is not JSON fails at once with ManifestFormatError', async (t) => {
  const { store } = localStore('manifest-json');
  await store.put('datasets/d/manifests/cut.json', '{"format": "affectflow.manifest/1", "shards": [');
  const failure = await permanentFailure(t, () => manifestReader(store)('datasets/d/manifests/cut.json'));
  t.is(failure.type, 'ManifestFormatError');
  t.regex(
    failure.message,
    /^manifest datasets\/d\/manifests\/cut\.json: expected JSON, got a parse error \(.+\); run the dataset again/,
  );
});

async function embedSetup(label: string) {
  const { store, stateDir } = localStore(label);
  prebuildGeneratedModels(stateDir);
  const manifestKey = 'datasets/d/manifests/m.json';
  await store.put(
    manifestKey,
    JSON.stringify({ format: MANIFEST_FORMAT, datasetId: 'd', shards: [{ shardId: 's1' }] }),
  );
  // Never called: each input fails before it embeds anything.
  const embedder = {} as Embedder;
  const activities = createEmbedPoolActivities({ store, embedder, config: { stateDir }, log: () => {} });
  const input = { manifestKey, shardId: 's1', backbone: TINY_BACKBONE.name, batchSize: 8 };
  return { activities, input };
}

const FRAMES_KEY_CASES = [
  {
    what: 'a frames key of another dataset',
    framesKey: 'frames/other/0123456789abcdef/s1.parquet',
    detail: 'expected a frames shard of dataset d shard s1 (manifest datasets/d/manifests/m.json)',
  },
  {
    what: 'a frames shard that is not committed',
    framesKey: 'frames/d/0123456789abcdef/s1.parquet',
    detail:
      'not committed (no frames/d/0123456789abcdef/s1.parquet.commit.json); `affectflow resume <run>` extracts it again',
  },
];

for (const [i, { what, framesKey, detail }] of FRAMES_KEY_CASES.entries()) {
  test(`embedShard on ${what} fails at once with FramesKeyError`, async (t) => {
    const { activities, input } = await embedSetup(`embed-${i}`);
    const failure = await permanentFailure(t, () => activities.embedShard({ ...input, framesKey }));
    t.is(failure.type, 'FramesKeyError');
    t.is(failure.message, `frames key ${framesKey}: ${detail}`);
  });
}
