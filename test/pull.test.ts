/**
 * `models pull` against a local HTTP server started by the test (node:http on 127.0.0.1) serving
 * generated classifier-included models: resume, checksum recording and refusal, signature refusal.
 */
import test from 'ava';
import { spawn } from 'node:child_process';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ModelSignatureError, OnnxSessions } from '../models/onnxRuntime.ts';
import { progressRenderer } from '../models/download.ts';
import { ChecksumMismatchError, modelPaths, pullBackbone } from '../models/pull.ts';
import { expectedSha256, registerBackbone, TINY_BACKBONE_B } from '../models/registry.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import { projectRoot } from '../base/paths.ts';
import { tempDir, testConfig, testServices } from './helpers/env.ts';
import {
  classifierModel,
  SERVED_FEATURES as FEATURES,
  SERVED_SIZE as SIZE,
  servedDescriptor as descriptor,
  sha256Of as sha,
  startModelServer as startServer,
  type Served,
} from './helpers/modelServer.ts';

async function withStore<T>(label: string, body: (store: ObjectStore) => Promise<T>): Promise<T> {
  const store = openStore(testConfig('s3', label).store);
  try {
    return await body(store);
  } finally {
    store.close();
  }
}

test('first pull resumes a cut download, records the sha256 in the store, adds the embedding; later pulls verify', async (t) => {
  const good = classifierModel(1);
  const files = new Map<string, Served>([['/good.onnx', { body: good, truncateFirstAt: 700 }]]);
  const server = await startServer(files);
  const cacheDir = join(tempDir('pull'), 'models');
  try {
    await withStore('pull-good', async (store) => {
      const d = descriptor(server.base);
      const logs: string[] = [];
      const first = await pullBackbone(d, { cacheDir, store, log: (line) => logs.push(line) });
      t.deepEqual(
        server.requests.map((r) => r.range),
        [undefined, 'bytes=700-'],
      );
      t.deepEqual(first.resumedAt, [700]);
      t.is(first.sha256, sha(good));
      t.true(first.recorded);
      t.true(first.surgery);
      t.false(first.cached);
      t.is(await expectedSha256(store, d), sha(good));
      t.true(readFileSync(first.sourcePath).equals(good));
      t.false(existsSync(`${first.sourcePath}.part`));
      t.true(
        logs.some((l) => l.includes('connection closed') || l.includes('expected')),
        logs.join('\n'),
      );
      t.true(
        logs.some((l) => l.includes(`recorded sha256 ${sha(good)}`)),
        logs.join('\n'),
      );

      // The embed workers' session finds the pulled file and gets both outputs.
      const sessions = new OnnxSessions({
        provider: 'cpu',
        intraOpThreads: 1,
        interOpThreads: 1,
        modelCacheDir: cacheDir,
      });
      try {
        const session = await sessions.get(d);
        const out = await session.run(new Float32Array(2 * 3 * SIZE * SIZE).fill(0.25), 2);
        t.is(out.embedding.length, 2 * FEATURES);
        t.is(out.scores.length, 2 * 8);
      } finally {
        await sessions.dispose();
      }

      const again = await pullBackbone(d, { cacheDir, store });
      t.true(again.cached);
      t.false(again.recorded);
      t.is(again.sha256, sha(good));
      t.is(server.requests.length, 2);
    });
  } finally {
    await server.close();
  }
});

test('a file whose sha256 disagrees with the descriptor, or with the recorded one, is refused and removed', async (t) => {
  const files = new Map<string, Served>([['/good.onnx', { body: classifierModel(2) }]]);
  const server = await startServer(files);
  try {
    await withStore('pull-checksum', async (store) => {
      const wrong = '0'.repeat(64);
      const d = descriptor(server.base, {
        source: { kind: 'url', url: `${server.base}/good.onnx`, sha256: wrong },
      });
      const cacheDir = join(tempDir('pull-bad'), 'models');
      const error = await t.throwsAsync(pullBackbone(d, { cacheDir, store }), {
        instanceOf: ChecksumMismatchError,
      });
      t.is(error.expected, wrong);
      t.is(error.got, sha(classifierModel(2)));
      t.regex(error.message, /sha256 expected 0{64}, got [0-9a-f]{64}/);
      t.false(existsSync(modelPaths(d, cacheDir).sourcePath));
      t.false(existsSync(modelPaths(d, cacheDir).path));
      t.is(await expectedSha256(store, d), wrong);

      // Recorded on a first pull, then the published file changes: the next machine refuses it.
      const open = descriptor(server.base);
      await pullBackbone(open, { cacheDir: join(tempDir('pull-a'), 'models'), store });
      files.set('/good.onnx', { body: classifierModel(3) });
      const changed = await t.throwsAsync(
        pullBackbone(open, { cacheDir: join(tempDir('pull-b'), 'models'), store }),
        {
          instanceOf: ChecksumMismatchError,
        },
      );
      t.is(changed.expected, sha(classifierModel(2)));
      t.is(changed.got, sha(classifierModel(3)));
    });
  } finally {
    await server.close();
  }
});

test('a file whose input/output signature disagrees with the descriptor is refused with both signatures', async (t) => {
  const files = new Map<string, Served>([
    ['/good.onnx', { body: classifierModel(4) }],
    ['/seven.onnx', { body: classifierModel(5, 7) }],
  ]);
  const server = await startServer(files);
  try {
    await withStore('pull-signature', async (store) => {
      const cases: [string, Record<string, unknown>, RegExp][] = [
        [
          'input size',
          { inputSize: 32 },
          /expected inputs \[input float32 \[N,3,32,32\]\].*got inputs \[input \[batch,3,16,16\]\]/,
        ],
        ['input name', { inputName: 'pixels' }, /got inputs \[input \[batch,3,16,16\]\]/],
        ['scores output', { scoresOutput: 'logits' }, /got .*outputs \[output \[batch,8\]\]/],
        [
          'scores width',
          { source: { kind: 'url', url: `${server.base}/seven.onnx` } },
          /output float32 \[N,8\].*got .*outputs \[output \[batch,7\]\]/,
        ],
        [
          'embedding width',
          { embeddingDim: 32 },
          /embedding float32 \[N,32\].*got run on \[1,3,16,16\]: output \[1,8\], embedding \[1,24\]/,
        ],
      ];
      for (const [label, patch, pattern] of cases) {
        const d = descriptor(server.base, { name: `served-${label.replace(' ', '-')}`, ...patch });
        const cacheDir = join(tempDir('pull-sig'), 'models');
        const error = await t.throwsAsync(
          pullBackbone(d, { cacheDir, store }),
          { instanceOf: ModelSignatureError },
          label,
        );
        t.regex(error.message, pattern, label);
        t.false(existsSync(modelPaths(d, cacheDir).path), label);
        t.false(existsSync(modelPaths(d, cacheDir).sourcePath), label);
        t.is(await expectedSha256(store, d), undefined, `${label}: nothing recorded`);
      }
    });
  } finally {
    await server.close();
  }
});

test('a pull repairs a damaged cache: a cut original is downloaded again once, a generated model is rebuilt', async (t) => {
  const good = classifierModel(7);
  const server = await startServer(new Map([['/good.onnx', { body: good }]]));
  const cacheDir = join(tempDir('pull-repair'), 'models');
  try {
    await withStore('pull-repair', async (store) => {
      const d = descriptor(server.base, { name: 'served-repair' });
      const first = await pullBackbone(d, { cacheDir, store });
      const installed = readFileSync(first.path);
      const cut = good.subarray(0, Math.floor(good.length / 2));
      writeFileSync(first.sourcePath, cut);
      writeFileSync(first.path, installed.subarray(0, 100));
      const logs: string[] = [];
      const again = await pullBackbone(d, { cacheDir, store, log: (line) => logs.push(line) });
      t.false(again.cached);
      t.is(again.sha256, sha(good));
      t.true(readFileSync(again.sourcePath).equals(good));
      t.true(
        readFileSync(again.path).equals(installed),
        "the sessions' file is written again from the original",
      );
      t.is(again.modelSha256, sha(installed));
      t.is(server.requests.length, 2);
      t.deepEqual(logs, [
        `backbone served-repair@1: ${first.sourcePath}: sha256 expected ${sha(good)}, got ${sha(cut)}; downloading it again from ${server.base}/good.onnx`,
      ]);
    });
  } finally {
    await server.close();
  }

  await withStore('pull-generated', async (store) => {
    const built = await pullBackbone(TINY_BACKBONE_B, { cacheDir, store });
    t.false(built.cached);
    const bytes = readFileSync(built.path);
    t.is(built.modelSha256, sha(bytes));
    t.true((await pullBackbone(TINY_BACKBONE_B, { cacheDir, store })).cached);
    writeFileSync(built.path, bytes.subarray(0, bytes.length / 2));
    const rebuilt = await pullBackbone(TINY_BACKBONE_B, { cacheDir, store });
    t.false(rebuilt.cached);
    t.true(readFileSync(rebuilt.path).equals(bytes), 'rebuilt bit for bit');
  });
});

test('progress: a redrawn bar on a TTY, plain lines every 10% otherwise', (t) => {
  const plain: string[] = [];
  const report = progressRenderer({ isTTY: false, write: (s: string) => plain.push(s) }, 'pull x');
  for (let received = 0; received <= 2_000_000; received += 100_000) report(received, 2_000_000);
  t.deepEqual(plain, [
    'pull x: 0% 0.0/2.0 MB\n',
    'pull x: 10% 0.2/2.0 MB\n',
    'pull x: 20% 0.4/2.0 MB\n',
    'pull x: 30% 0.6/2.0 MB\n',
    'pull x: 40% 0.8/2.0 MB\n',
    'pull x: 50% 1.0/2.0 MB\n',
    'pull x: 60% 1.2/2.0 MB\n',
    'pull x: 70% 1.4/2.0 MB\n',
    'pull x: 80% 1.6/2.0 MB\n',
    'pull x: 90% 1.8/2.0 MB\n',
    'pull x: 100% 2.0/2.0 MB\n',
  ]);
  const tty: string[] = [];
  const bar = progressRenderer({ isTTY: true, write: (s: string) => tty.push(s) }, 'pull x');
  bar(0, 2_000_000);
  bar(2_000_000, 2_000_000);
  t.deepEqual(tty, [
    `\rpull x [${'-'.repeat(30)}]   0% 0.0/2.0 MB`,
    `\rpull x [${'#'.repeat(30)}] 100% 2.0/2.0 MB`,
    '\n',
  ]);
});

test('affectflow models pull NAME: a registered backbone lands in stateDir/models, progress as plain lines off a TTY', async (t) => {
  const good = classifierModel(6);
  const server = await startServer(new Map([['/good.onnx', { body: good }]]));
  const cfg = testConfig('local', 'pull-cli');
  try {
    const store = openStore(cfg.store);
    try {
      await registerBackbone(store, { ...descriptor(server.base), name: 'served-cli' }, 'test');
    } finally {
      store.close();
    }
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/main.ts', 'models', 'pull', 'served-cli'],
      {
        cwd: projectRoot,
        env: {
          ...process.env,
          TEMPORAL_ADDRESS: testServices.temporalAddress(),
          AFFECTFLOW_STORE: cfg.store.uri,
          AFFECTFLOW_HOME: cfg.stateDir,
        },
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    t.is(code, 0, stderr);
    const path = join(cfg.stateDir, 'models', 'served-cli@1.onnx');
    t.true(existsSync(path));
    t.true(stdout.includes(`recorded sha256 ${sha(good)}`), stdout);
    t.true(
      stdout.includes(`models: served-cli pulled: ${path} (sha256 ${sha(good)}, embedding output added)`),
      stdout,
    );
    t.regex(stderr, /^pull served-cli: 0% 0\.0\/0\.0 MB\n/);
    t.regex(stderr, /pull served-cli: 100% 0\.0\/0\.0 MB\n$/);
  } finally {
    await server.close();
  }
});
