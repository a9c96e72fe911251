/**
 * No shared disk for models (issue 16): `models pull` keeps the published original in the object
 * store with its sha256, and an embed worker whose cache is empty fetches it from there (the
 * model server the pull used is closed by then, so the internet cannot be what serves it).
 */
import test from 'ava';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { Embedder } from '../models/embedder.ts';
import { modelObjectKey } from '../models/modelStore.ts';
import { pullBackbone } from '../models/pull.ts';
import { openStore } from '../storage/objectStore.ts';
import { tempDir, testConfig } from './helpers/env.ts';
import {
  classifierModel,
  SERVED_FEATURES,
  servedDescriptor,
  sha256Of,
  startModelServer,
  type Served,
} from './helpers/modelServer.ts';

test('a worker with an empty model cache gets the pulled model from the store, checked against its sha256', async (t) => {
  const original = classifierModel(31);
  const server = await startModelServer(new Map<string, Served>([['/good.onnx', { body: original }]]));
  const store = openStore(testConfig('s3', 'model-store').store);
  t.teardown(() => store.close());
  const d = servedDescriptor(server.base, { name: 'served-store' });
  const pulled = await pullBackbone(d, { cacheDir: join(tempDir('model-store-a'), 'models'), store });
  t.is(server.requests.length, 1);
  await server.close();

  const stored = await store.head(modelObjectKey(d));
  t.deepEqual(stored, {
    key: 'registry/models/served-store@1.onnx',
    size: original.length,
    sha256: sha256Of(original),
  });

  const emptyCache = join(tempDir('model-store-b'), 'models');
  const logs: string[] = [];
  const embedder = new Embedder({
    provider: 'cpu',
    intraOpThreads: 1,
    interOpThreads: 1,
    modelCacheDir: emptyCache,
    threads: 1,
    runBatch: 2,
    modelStore: store,
    log: (line) => logs.push(line),
  });
  t.teardown(() => embedder.close());
  const source = await embedder.source(d);
  t.is(source.modelSha256, pulled.modelSha256, 'the same file the pull installed');
  t.true(readFileSync(join(emptyCache, 'served-store@1.onnx')).equals(readFileSync(pulled.path)));
  t.false(existsSync(join(emptyCache, 'served-store@1.source.onnx.store-part')));
  t.deepEqual(logs, [
    `backbone served-store@1: model file fetched from ${store.uri}/registry/models/served-store@1.onnx (sha256 ${sha256Of(original)}) into ${emptyCache}`,
  ]);
  const crop = await sharp({
    create: { width: 32, height: 40, channels: 3, background: { r: 90, g: 40, b: 20 } },
  })
    .png()
    .toBuffer();
  const rows = await embedder.embed(d, [crop]);
  t.is(rows.embedding.length, SERVED_FEATURES);
  t.true(rows.embedding.every(Number.isFinite));

  // A pull on another machine finds the object there and does not upload it again.
  const logs2: string[] = [];
  const server2 = await startModelServer(new Map<string, Served>([['/good.onnx', { body: original }]]));
  t.teardown(() => server2.close());
  const d2 = servedDescriptor(server2.base, { name: 'served-store' });
  await pullBackbone(d2, {
    cacheDir: join(tempDir('model-store-c'), 'models'),
    store,
    log: (l) => logs2.push(l),
  });
  t.false(
    logs2.some((l) => l.includes('stored the model file')),
    logs2.join('\n'),
  );
});
