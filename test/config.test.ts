/** Configuration: defaults, sources and errors that name the bad key. */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { ConfigError, describeConfig, loadConfig } from '../config/index.ts';
import { tempDir } from './helpers/env.ts';

const cwd = (): string => tempDir('config');

test('defaults: embedded Temporal and a local store under the state directory', (t) => {
  const dir = cwd();
  const config = loadConfig({ AFFECTFLOW_HOME: join(dir, 'state') }, dir);
  t.is(config.temporalAddress, undefined);
  t.is(config.temporalNamespace, 'default');
  t.is(config.store.uri, join(dir, 'state', 'store'));
  t.deepEqual(config.concurrency, { frames: 2, embed: 2, train: 1 });
});

test('environment wins over the config file; file keys are nested', (t) => {
  const dir = cwd();
  writeFileSync(
    join(dir, 'affectflow.config.json'),
    JSON.stringify({
      temporal: { address: 'file-host:7233', namespace: 'ns' },
      workers: { embed: { concurrency: 4 } },
    }),
  );
  const config = loadConfig({ TEMPORAL_ADDRESS: 'env-host:7233' }, dir);
  t.is(config.temporalAddress, 'env-host:7233');
  t.is(config.temporalNamespace, 'ns');
  t.is(config.concurrency.embed, 4);
});

test('s3 store URIs with endpoint; path style follows the endpoint', (t) => {
  const config = loadConfig(
    { AFFECTFLOW_STORE: 's3://my-bucket/runs', AFFECTFLOW_S3_ENDPOINT: 'http://127.0.0.1:9000' },
    cwd(),
  );
  t.is(config.store.uri, 's3://my-bucket/runs');
  t.true(config.store.s3ForcePathStyle);
  t.false(JSON.stringify(describeConfig(config)).includes('SECRET'));
});

const bad: [Record<string, string>, RegExp][] = [
  [
    { TEMPORAL_ADDRESS: 'no-port' },
    /config TEMPORAL_ADDRESS \(from environment TEMPORAL_ADDRESS\): expected host:port, got "no-port"/,
  ],
  [
    { AFFECTFLOW_EMBED_CONCURRENCY: '0' },
    /config AFFECTFLOW_EMBED_CONCURRENCY .*: expected an integer in 1\.\.256, got "0"/,
  ],
  [{ AFFECTFLOW_STORE: 'relative/dir' }, /config AFFECTFLOW_STORE .*: expected an absolute directory path/],
  [{ AFFECTFLOW_STORE: 's3://Bad_Bucket' }, /config AFFECTFLOW_STORE .*: expected s3:\/\/bucket\[\/prefix\]/],
  [{ AFFECTFLOW_S3_ENDPOINT: 'ftp://x' }, /config AFFECTFLOW_S3_ENDPOINT .*: expected an http\(s\):\/\/ URL/],
  [{ AFFECTFLOW_S3_PATH_STYLE: 'maybe' }, /config AFFECTFLOW_S3_PATH_STYLE .*: expected true or false/],
  [{ AFFECTFLOW_CONFIG: '/nonexistent.json' }, /config AFFECTFLOW_CONFIG .*: expected an existing JSON file/],
];
for (const [env, message] of bad) {
  test(`rejects ${JSON.stringify(env)} naming the key`, (t) => {
    t.throws(() => loadConfig(env, cwd()), { instanceOf: ConfigError, message });
  });
}

test('a config file value of the wrong type names the file and key', (t) => {
  const dir = cwd();
  writeFileSync(
    join(dir, 'affectflow.config.json'),
    JSON.stringify({ workers: { frames: { concurrency: 'many' } } }),
  );
  t.throws(() => loadConfig({}, dir), {
    instanceOf: ConfigError,
    message:
      /AFFECTFLOW_FRAMES_CONCURRENCY \(from .*affectflow\.config\.json workers\.frames\.concurrency\): expected an integer/,
  });
});

test('embed runtime threads: defaults, auto, numbers from env or file, and bad values', (t) => {
  const dir = cwd();
  const defaults = loadConfig({}, dir).embedRuntime;
  t.deepEqual(defaults, { threads: 'auto', intraOpThreads: 0, interOpThreads: 1, runBatch: 'auto' });
  writeFileSync(join(dir, 'affectflow.config.json'), JSON.stringify({ workers: { embed: { threads: 3 } } }));
  t.is(loadConfig({}, dir).embedRuntime.threads, 3);
  t.is(loadConfig({ AFFECTFLOW_EMBED_THREADS: 'auto' }, dir).embedRuntime.threads, 'auto');
  t.is(loadConfig({ AFFECTFLOW_INTRA_OP_THREADS: '2' }, dir).embedRuntime.intraOpThreads, 2);
  t.is(loadConfig({ AFFECTFLOW_RUN_BATCH: '0' }, dir).embedRuntime.runBatch, 0);
  t.throws(() => loadConfig({ AFFECTFLOW_EMBED_THREADS: 'many' }, dir), {
    instanceOf: ConfigError,
    message:
      /AFFECTFLOW_EMBED_THREADS \(from environment AFFECTFLOW_EMBED_THREADS\): expected an integer in 0\.\.256, got "many"/,
  });
});
