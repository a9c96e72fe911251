/**
 * Embedding shards through the streaming writer and back: the project's reader, pyarrow and
 * DuckDB (run by the test) see the same types and values, no-face rows keep their nulls, and the
 * S3 and local-directory stores hold the same keys and bytes.
 */
import test from 'ava';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import {
  committedObject,
  findCommit,
  listUnreferenced,
  readCommitted,
  type CommitRecord,
} from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import {
  CommittedShardFile,
  embeddingBatches,
  embeddingRows,
  floatVectors,
  listEmbeddingShards,
} from '../storage/shardReader.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { Table } from 'apache-arrow';
import { CODE_VERSION, EMBEDDING_SCHEMA_VERSION, fixedSizeFloatColumn } from '../storage/shards.ts';
import { decodeEmbeddingShard } from './helpers/embeddingShards.ts';
import { python, tempDir, testConfig } from './helpers/env.ts';
import { shardFixture, vectorDigest, type ShardFixture } from './helpers/storeFixtures.ts';

const DIM = 1280;
const BACKBONE_ID = 'fixture@1';

function fileMeta(f: ShardFixture, configHash: string) {
  return {
    shardId: f.shardId,
    configHash,
    backbone: JSON.stringify({ name: 'fixture', version: '1', embeddingDim: f.identity.embeddingDim }),
    preprocessing: 'none (fixture vectors)',
  };
}

/** Writes a fixture in uneven appends (37 rows) over row groups of 128 rows. */
async function writeFixture(
  store: ObjectStore,
  f: ShardFixture,
  configHash = 'cfg-a',
): Promise<{ record: CommitRecord; created: boolean }> {
  const key = storeKeys.embeddingShard(f.identity.dataset, BACKBONE_ID, configHash, f.shardId);
  const writer = EmbeddingShardWriter.open(store, key, f.identity, fileMeta(f, configHash), {
    rowGroupRows: 128,
    tempDir: tempDir('writer'),
  });
  const { embeddingDim: d, scoresDim: k } = f.identity;
  for (let start = 0; start < f.rows.length; start += 37) {
    const end = Math.min(f.rows.length, start + 37);
    await writer.append(
      f.rows.slice(start, end),
      f.embedding.subarray(start * d, end * d),
      f.scores.subarray(start * k, end * k),
    );
  }
  return writer.commit({ backbone: BACKBONE_ID });
}

interface PythonView {
  rows: number;
  types: Record<string, string>;
  metadata: Record<string, string>;
  rowGroups: number;
  frames: number[];
  videos: string[];
  faceIndex: number[];
  trackId: number[];
  noFace: boolean[];
  detScore: (number | null)[];
  box: (number[] | null)[];
  embeddingNull: boolean[];
  embeddingSha: (string | null)[];
  scores: (number[] | null)[];
  dataset: string[];
  backbone: string[];
}

/** pyarrow's view of a file: types, file metadata and per-row values (vectors as float32 digests). */
function viaPyarrow(path: string): PythonView {
  return python<PythonView>(`
import json, hashlib, numpy as np, pyarrow.parquet as pq
path = ${JSON.stringify(path)}
t = pq.read_table(path)
md = pq.read_metadata(path)
def sha(v):
    return None if v is None else hashlib.sha256(np.asarray(v, dtype='<f4').tobytes()).hexdigest()
print(json.dumps({
  'rows': t.num_rows,
  'types': {f.name: str(f.type) for f in t.schema},
  'metadata': {k.decode(): v.decode() for k, v in md.metadata.items() if not k.startswith(b'ARROW:')},
  'rowGroups': md.num_row_groups,
  'frames': t.column('frame').to_pylist(),
  'videos': t.column('video').to_pylist(),
  'faceIndex': t.column('face_index').to_pylist(),
  'trackId': t.column('track_id').to_pylist(),
  'noFace': t.column('no_face').to_pylist(),
  'detScore': t.column('det_score').to_pylist(),
  'box': t.column('box').to_pylist(),
  'embeddingNull': [v is None for v in t.column('embedding').to_pylist()],
  'embeddingSha': [sha(v) for v in t.column('embedding').to_pylist()],
  'scores': t.column('scores').to_pylist(),
  'dataset': t.column('dataset').to_pylist(),
  'backbone': t.column('backbone').to_pylist(),
}))
`);
}

interface DuckView {
  types: Record<string, string>;
  rows: number;
  faces: number;
  nullEmbeddings: number;
  frames: number[];
  embeddingSha: (string | null)[];
  dims: (number | null)[];
}

/** DuckDB's view of a file, read with read_parquet (no extension needed). */
function viaDuckdb(path: string): DuckView {
  return python<DuckView>(`
import json, hashlib, numpy as np, duckdb
path = ${JSON.stringify(path)}
con = duckdb.connect()
types = {r[0]: r[1] for r in con.execute("describe select * from read_parquet(?)", [path]).fetchall()}
rows, faces, nulls = con.execute("select count(*), count(*) filter (where not no_face), count(*) filter (where embedding is null) from read_parquet(?)", [path]).fetchone()
data = con.execute("select frame, embedding, len(embedding) from read_parquet(?, file_row_number = true) order by file_row_number", [path]).fetchall()
def sha(v):
    return None if v is None else hashlib.sha256(np.asarray(v, dtype='<f4').tobytes()).hexdigest()
print(json.dumps({'types': types, 'rows': rows, 'faces': faces, 'nullEmbeddings': nulls,
  'frames': [r[0] for r in data], 'embeddingSha': [sha(r[1]) for r in data], 'dims': [r[2] for r in data]}))
`);
}

const expectedShas = (f: ShardFixture): (string | null)[] =>
  f.rows.map((r, i) => (r.noFace ? null : vectorDigest(f.embedding.subarray(i * DIM, (i + 1) * DIM))));

const stores: Record<'s3' | 'local', () => ObjectStore> = {
  s3: () => openStore(testConfig('s3', 'interop').store),
  local: () => openStore(testConfig('local', 'interop').store),
};

/** The two shards the round-trip and key-layout tests write: shard-a (Train) and shard-b (Validation). */
async function writeTrainAndValidation(
  store: ObjectStore,
): Promise<{ train: ShardFixture; record: CommitRecord; created: boolean; keys: string[] }> {
  const train = shardFixture('shard-a', 240, DIM);
  const { record, created } = await writeFixture(store, train);
  await writeFixture(store, shardFixture('shard-b', 60, DIM, { split: 'Validation' }));
  const keys: string[] = [];
  for await (const o of store.list('embeddings/')) keys.push(o.key);
  return { train, record, created, keys };
}

for (const [kind, open] of Object.entries(stores)) {
  test.serial(
    `${kind} store: a streamed shard reads back identically through the project's reader, pyarrow and DuckDB`,
    async (t) => {
      const store = open();
      const { train, record, created } = await writeTrainAndValidation(store);
      t.true(created);
      t.is(record.rows, train.rows.length);
      t.is(
        committedObject(record),
        record.key.replace(/\.parquet$/, `.${record.sha256.slice(0, 16)}.parquet`),
      );
      t.like(record.meta, {
        shardId: 'shard-a',
        split: 'Train',
        dataset: 'store-test',
        configHash: 'cfg-a',
        backbone: BACKBONE_ID,
      });

      // Listing by dataset, backbone, configuration and split.
      const query = { datasetId: 'store-test', backboneId: BACKBONE_ID, configHash: 'cfg-a' };
      t.deepEqual(
        (await listEmbeddingShards(store, { ...query, split: 'Train' })).map((r) => r.key),
        [record.key],
      );
      t.is((await listEmbeddingShards(store, query)).length, 2);

      // Rows through the project's reader: every column, nulls where there is no face.
      const rows = [];
      for await (const row of embeddingRows(store, [record], { batchSize: 50 })) {
        rows.push({
          ...row,
          embedding: row.embedding ? vectorDigest(row.embedding) : null,
          scores: row.scores ? Array.from(row.scores) : null,
        });
      }
      t.is(rows.length, train.rows.length);
      rows.forEach((row, i) => {
        const want = train.rows[i]!;
        t.deepEqual(
          {
            video: row.video,
            frame: row.frame,
            faceIndex: row.faceIndex,
            trackId: row.trackId,
            noFace: row.noFace,
            box: row.box,
            detScore: row.detScore,
          },
          want,
          `row ${i}`,
        );
        t.like(row, {
          dataset: 'store-test',
          split: 'Train',
          backbone: 'fixture',
          backboneVersion: '1',
          modelSha256: train.identity.modelSha256,
        });
      });
      t.deepEqual(
        rows.map((r) => r.embedding),
        expectedShas(train),
      );
      t.deepEqual(
        rows.map((r) => r.scores),
        train.rows.map((r, i) => (r.noFace ? null : Array.from(train.scores.subarray(i * 8, (i + 1) * 8)))),
      );

      // Column batches: only the columns asked for, at most batchSize rows each.
      const sizes: number[] = [];
      const frames: number[] = [];
      for await (const { table } of embeddingBatches(store, [record], {
        columns: ['frame', 'embedding'],
        batchSize: 64,
      })) {
        t.deepEqual(
          table.schema.fields.map((f) => f.name),
          ['frame', 'embedding'],
        );
        sizes.push(table.numRows);
        frames.push(...(table.getChild('frame')!.toArray() as Int32Array));
        const vectors = floatVectors(table, 'embedding');
        t.is(vectors.dim, DIM);
      }
      t.true(sizes.every((n) => n <= 64));
      t.deepEqual(
        frames,
        train.rows.map((r) => r.frame),
      );

      // The in-memory decoder reads the same file.
      const decoded = decodeEmbeddingShard((await readCommitted(store, record.key))!.bytes);
      t.deepEqual(decoded.keys, train.rows);
      t.deepEqual(decoded.embedding, train.embedding);

      // pyarrow and DuckDB on the committed bytes.
      const path = join(tempDir('interop'), 'shard-a.parquet');
      writeFileSync(path, (await readCommitted(store, record.key))!.bytes);
      const arrow = viaPyarrow(path);
      t.is(arrow.rows, train.rows.length);
      t.regex(arrow.types['embedding']!, /^fixed_size_list<item: float( not null)?>\[1280\]$/);
      t.regex(arrow.types['scores']!, /^fixed_size_list<item: float( not null)?>\[8\]$/);
      t.regex(arrow.types['box']!, /^fixed_size_list<item: float( not null)?>\[4\]$/);
      t.like(arrow.types, {
        dataset: 'string',
        split: 'string',
        video: 'string',
        frame: 'int32',
        face_index: 'int16',
        track_id: 'int32',
        no_face: 'bool',
        det_score: 'float',
        backbone: 'string',
        backbone_version: 'string',
        model_sha256: 'string',
      });
      t.deepEqual(arrow.metadata, {
        'affectflow.kind': 'embeddings',
        'affectflow.schema_version': EMBEDDING_SCHEMA_VERSION,
        'affectflow.code_version': CODE_VERSION,
        'affectflow.dataset': 'store-test',
        'affectflow.split': 'Train',
        'affectflow.shard_id': 'shard-a',
        'affectflow.config_hash': 'cfg-a',
        'affectflow.backbone': fileMeta(train, 'cfg-a').backbone,
        'affectflow.preprocessing': 'none (fixture vectors)',
      });
      t.is(arrow.rowGroups, Math.ceil(train.rows.length / 128));
      t.deepEqual(
        arrow.frames,
        train.rows.map((r) => r.frame),
      );
      t.deepEqual(
        arrow.videos,
        train.rows.map((r) => r.video),
      );
      t.deepEqual(
        arrow.faceIndex,
        train.rows.map((r) => r.faceIndex),
      );
      t.deepEqual(
        arrow.trackId,
        train.rows.map((r) => r.trackId),
      );
      t.deepEqual(
        arrow.noFace,
        train.rows.map((r) => r.noFace),
      );
      t.deepEqual(
        arrow.detScore,
        train.rows.map((r) => r.detScore),
      );
      t.deepEqual(
        arrow.box,
        train.rows.map((r) => (r.box ? [...r.box] : null)),
      );
      t.deepEqual(
        arrow.embeddingNull,
        train.rows.map((r) => r.noFace),
      );
      t.deepEqual(arrow.embeddingSha, expectedShas(train));
      t.deepEqual(
        arrow.scores.map((s) => s && s.map((v) => Math.fround(v))),
        rows.map((r) => r.scores),
      );
      t.true(arrow.dataset.every((d) => d === 'store-test') && arrow.backbone.every((b) => b === 'fixture'));

      const duck = viaDuckdb(path);
      t.is(
        duck.types['embedding'],
        'FLOAT[]',
        'a list of float32; every non-null list has 1280 items (dims)',
      );
      t.is(duck.types['scores'], 'FLOAT[]');
      t.like(duck.types, {
        frame: 'INTEGER',
        face_index: 'SMALLINT',
        no_face: 'BOOLEAN',
        det_score: 'FLOAT',
        video: 'VARCHAR',
      });
      t.is(duck.rows, train.rows.length);
      t.is(duck.faces, train.rows.filter((r) => !r.noFace).length);
      t.is(duck.nullEmbeddings, train.rows.filter((r) => r.noFace).length);
      t.deepEqual(
        duck.frames,
        train.rows.map((r) => r.frame),
      );
      t.deepEqual(duck.embeddingSha, expectedShas(train));
      t.deepEqual(
        duck.dims,
        train.rows.map((r) => (r.noFace ? null : DIM)),
      );

      store.close();
    },
  );

  test(`${kind} store: rewriting a shard is a no-op, new configurations get new keys, racing writers agree`, async (t) => {
    const store = open();
    const f = shardFixture('shard-r', 40, DIM);
    const first = await writeFixture(store, f);
    const objectsBefore: string[] = [];
    for await (const o of store.list('embeddings/')) objectsBefore.push(o.key);

    const again = await writeFixture(store, shardFixture('shard-r', 40, DIM, { seed: 'different bytes' }));
    t.false(again.created);
    t.deepEqual(again.record, first.record);
    const objectsAfter: string[] = [];
    for await (const o of store.list('embeddings/')) objectsAfter.push(o.key);
    t.deepEqual(objectsAfter, objectsBefore);

    // A changed configuration writes beside the old shard and never touches it.
    const other = await writeFixture(
      store,
      shardFixture('shard-r', 40, DIM, { seed: 'new preprocessing' }),
      'cfg-b',
    );
    t.true(other.created);
    t.not(other.record.key, first.record.key);
    t.deepEqual(await findCommit(store, first.record.key), first.record);

    // Two writers commit different bytes for one new shard at once: one wins, the loser's data object is removed.
    const racing = await Promise.all([
      writeFixture(store, shardFixture('shard-x', 30, DIM, { seed: 'writer 1' })),
      writeFixture(store, shardFixture('shard-x', 30, DIM, { seed: 'writer 2' })),
    ]);
    t.deepEqual(racing.map((r) => r.created).sort(), [false, true]);
    t.deepEqual(racing[0].record, racing[1].record);
    const file = await CommittedShardFile.open(store, racing[0].record);
    t.is((await file.metadata())['affectflow.shard_id'], 'shard-x');
    await file.close();
    t.deepEqual(await listUnreferenced(store, 'embeddings/'), []);

    // An aborted writer leaves nothing.
    const aborted = EmbeddingShardWriter.open(
      store,
      storeKeys.embeddingShard('store-test', BACKBONE_ID, 'cfg-a', 'shard-z'),
      f.identity,
      fileMeta(f, 'cfg-a'),
    );
    await aborted.append(f.rows.slice(0, 5), f.embedding.subarray(0, 5 * DIM), f.scores.subarray(0, 5 * 8));
    await aborted.abort();
    t.is(await findCommit(store, aborted.key), undefined);
    store.close();
  });
}

test('the S3 and local stores hold the same keys, each shard in one data object named by its checksum', async (t) => {
  const s3Store = stores.s3();
  const localStore = stores.local();
  t.teardown(() => {
    s3Store.close();
    localStore.close();
  });
  const s3 = await writeTrainAndValidation(s3Store);
  const local = await writeTrainAndValidation(localStore);
  // parquet-wasm writes file metadata in hash-map order, so equal rows need not give equal bytes:
  // the data objects' names carry each file's own checksum, the logical keys are the same.
  const shape = (keys: string[]): string[] =>
    keys.map((k) => k.replace(/\.[0-9a-f]{16}\.parquet$/, '.<sha256[0:16]>.parquet'));
  t.deepEqual(shape(s3.keys), shape(local.keys));
  t.deepEqual(shape(s3.keys), [
    'embeddings/store-test/fixture@1/cfg-a/shard-a.<sha256[0:16]>.parquet',
    'embeddings/store-test/fixture@1/cfg-a/shard-a.parquet.commit.json',
    'embeddings/store-test/fixture@1/cfg-a/shard-b.<sha256[0:16]>.parquet',
    'embeddings/store-test/fixture@1/cfg-a/shard-b.parquet.commit.json',
  ]);
  t.is(s3.record.rows, local.record.rows);
  t.is(s3.record.rows, s3.train.rows.length);
});

test('floatVectors reads sliced and multi-chunk FixedSizeList columns row-major', (t) => {
  const column = fixedSizeFloatColumn(
    Float32Array.from({ length: 20 }, (_, i) => i),
    2,
    Array.from({ length: 10 }, (_, i) => i !== 4),
  );
  const table = new Table({ e: column });
  const sliced = floatVectors(table.slice(3, 6), 'e');
  t.deepEqual(Array.from(sliced.values), [6, 7, 8, 9, 10, 11]);
  t.deepEqual(sliced.valid, [true, false, true]);
  const chunked = floatVectors(table.slice(0, 2).concat(table.slice(8, 10)), 'e');
  t.deepEqual(Array.from(chunked.values), [0, 1, 2, 3, 16, 17, 18, 19]);
  t.is(chunked.dim, 2);
});
