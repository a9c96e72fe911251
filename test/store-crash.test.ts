/**
 * Crash test against the real S3 server (and the local store): writer processes are killed with
 * SIGKILL at steps of their own progress (between appends, before the data object goes into the
 * store, after it is there and before its marker) while they write many shards (several writers
 * per shard, so they also race); after every round each shard is committed and complete
 * (checksum and rows) or absent, and a final rerun completes the rest without one duplicated row.
 */
import test from 'ava';
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import { listCommitted, listUnreferenced, type CommitRecord } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { openStore, type ObjectStore } from '../storage/objectStore.ts';
import { CommittedShardFile, embeddingRows } from '../storage/shardReader.ts';
import { projectRoot } from '../base/paths.ts';
import { tempDir, testServices } from './helpers/env.ts';
import { seededRandom } from '../base/random.ts';
import { CRASH_BACKBONE_ID, CRASH_CONFIG_HASH, shardFixture, vectorDigest } from './helpers/storeFixtures.ts';

const DIM = 1280;
const WRITERS = 2;

interface Writer {
  readonly child: ChildProcess;
  /** The exit code once the process has ended and its output is read; null when killed. */
  readonly exited: Promise<number | null>;
  output: string;
}

/** The writer's steps where a kill can land (test/helpers/storeCrashWriter.ts prints them). */
const KILL_STEPS = ['appended', 'adopting', 'adopted'] as const;
type KillStep = (typeof KILL_STEPS)[number];

/**
 * A writer of `shards` that is let go on at every step until the `nth` step of kind `killAt`,
 * where it is killed with SIGKILL; without killAt it runs to the end.
 */
function startWriter(
  uri: string,
  temp: string,
  shards: readonly string[],
  killAt?: { step: KillStep; nth: number },
): Writer {
  const child = spawn(
    process.execPath,
    [
      '--import',
      'tsx',
      join(projectRoot, 'test', 'helpers', 'storeCrashWriter.ts'),
      uri,
      testServices.s3Endpoint(),
      temp,
      String(DIM),
      ...shards,
    ],
    { cwd: projectRoot, stdio: ['pipe', 'pipe', 'pipe'] },
  );
  const writer: Writer = {
    child,
    output: '',
    exited: new Promise((resolve) => child.on('close', (code) => resolve(code))),
  };
  let seen = 0;
  createInterface({ input: child.stdout }).on('line', (line) => {
    writer.output += `${line}\n`;
    if (killAt && line.startsWith(`${killAt.step} `) && ++seen === killAt.nth) child.kill('SIGKILL');
    else if (child.stdin.writable) child.stdin.write('go\n');
  });
  child.stdin.on('error', () => {}); // the writer may be gone when an answer is written
  child.stderr.setEncoding('utf8').on('data', (chunk: string) => (writer.output += chunk));
  return writer;
}

/** Shards that a writer began and had not finished when it died, and those of them already uploading. */
function interrupted(output: string): { shards: string[]; uploading: string[] } {
  const lines = output.split('\n');
  const named = (pattern: RegExp): string[] =>
    lines.filter((l) => pattern.test(l)).map((l) => l.split(' ')[1]!);
  const done = new Set(named(/^(committed|lost-race) /));
  const uploading = new Set(named(/^(uploading|adopting|adopted) /));
  const shards = named(/^begin /).filter((s) => !done.has(s));
  return { shards, uploading: shards.filter((s) => uploading.has(s)) };
}

async function committed(store: ObjectStore): Promise<CommitRecord[]> {
  const records: CommitRecord[] = [];
  for await (const r of listCommitted(
    store,
    storeKeys.embeddingPrefix('store-test', CRASH_BACKBONE_ID, CRASH_CONFIG_HASH),
  )) {
    records.push(r);
  }
  return records;
}

const cases = [
  { kind: 's3' as const, shards: 9, rounds: 6, seed: 6 },
  { kind: 'local' as const, shards: 6, rounds: 6, seed: 7 },
];

for (const { kind, shards, rounds: maxRounds, seed } of cases) {
  test.serial(
    `${kind} store: SIGKILLed writers leave every shard committed-and-complete or absent; a rerun completes the rest exactly once`,
    async (t) => {
      t.timeout(480_000);
      const uri =
        kind === 's3'
          ? `s3://${testServices.s3Bucket()}/crash-${randomUUID()}`
          : join(tempDir('crash'), 'store');
      const store = openStore({
        uri,
        s3Endpoint: testServices.s3Endpoint(),
        s3Region: 'us-east-1',
        s3ForcePathStyle: true,
      });
      const temp = tempDir('crash-tmp');
      // 300, 900 or 1,800 frames: about 2, 6 or 11 MB per shard; the largest go up in two S3 parts.
      const specs = Array.from(
        { length: shards },
        (_, i) => `crash-${String(i).padStart(2, '0')}:${[300, 900, 1800][i % 3]}`,
      );
      const fixtures = new Map(
        specs.map((s) => {
          const [id, frames] = s.split(':') as [string, string];
          return [id, shardFixture(id, Number(frames), DIM)];
        }),
      );
      const rand = seededRandom(seed);
      const started = Date.now();
      let rounds = 0;
      const killedMidShard: string[] = [];
      const killedUploading: string[] = [];

      const checkInvariant = async (label: string): Promise<CommitRecord[]> => {
        const records = await committed(store);
        for (const record of records) {
          const fixture = fixtures.get(String(record.meta['shardId']));
          t.truthy(fixture, `${label}: ${record.key} is a shard that was written`);
          t.is(record.rows, fixture!.rows.length, `${label}: ${record.key} row count`);
          // Opening verifies size and sha256 against the marker (CorruptShardError otherwise).
          const file = await CommittedShardFile.open(store, record, { tempDir: temp });
          await file.close();
        }
        return records;
      };

      while (rounds < maxRounds) {
        // Round r kills its writers at KILL_STEPS[r % 3] and the next kind, at a random occurrence.
        const writers = Array.from({ length: WRITERS }, (_, w) => {
          const offset = Math.floor((w * specs.length) / WRITERS);
          const step = KILL_STEPS[(rounds + w) % KILL_STEPS.length]!;
          const nth = 1 + Math.floor(rand() * (step === 'appended' ? 12 : 3));
          return startWriter(uri, temp, [...specs.slice(offset), ...specs.slice(0, offset)], { step, nth });
        });
        rounds++;
        for (const w of writers) {
          // Killed (null), or done with its list before its step came (0); never a failure.
          const code = await w.exited;
          t.true(code === null || code === 0, `writer exit code ${code}: ${w.output}`);
          const cut = interrupted(w.output);
          killedMidShard.push(...cut.shards);
          killedUploading.push(...cut.uploading);
        }
        await checkInvariant(`after round ${rounds}`);
        if ((await committed(store)).length === specs.length) break;
      }
      const beforeRerun = (await committed(store)).length;
      t.true(killedMidShard.length > 0, 'at least one kill landed inside a shard write');
      t.true(killedUploading.length > 0, 'at least one kill landed while the data object went in');

      const rerun = startWriter(uri, temp, specs);
      t.is(await rerun.exited, 0, rerun.output);
      const records = await checkInvariant('after the rerun');
      t.is(records.length, specs.length);

      // Every shard holds exactly its rows, once: keys, order and vector bytes.
      const seen = new Set<string>();
      let total = 0;
      for (const record of records) {
        const fixture = fixtures.get(String(record.meta['shardId']))!;
        let i = 0;
        for await (const row of embeddingRows(store, [record], {
          columns: ['video', 'frame', 'face_index', 'no_face', 'embedding'],
          tempDir: temp,
        })) {
          const want = fixture.rows[i]!;
          const id = `${row.video}/${row.frame}/${row.faceIndex}`;
          t.false(seen.has(id), `row ${id} appears once`);
          seen.add(id);
          if (
            row.video !== want.video ||
            row.frame !== want.frame ||
            row.faceIndex !== want.faceIndex ||
            row.noFace !== want.noFace
          ) {
            t.fail(`${record.key} row ${i}: expected ${JSON.stringify(want)}, got ${JSON.stringify(row)}`);
          }
          const expected = want.noFace
            ? null
            : vectorDigest(fixture.embedding.subarray(i * DIM, (i + 1) * DIM));
          if ((row.embedding ? vectorDigest(row.embedding) : null) !== expected)
            t.fail(`${record.key} row ${i}: embedding differs`);
          i++;
          total++;
        }
        t.is(i, fixture.rows.length, `${record.key}: every row`);
      }
      t.is(
        total,
        [...fixtures.values()].reduce((n, f) => n + f.rows.length, 0),
      );

      // What the kills left behind is invisible and unreferenced; it can be swept.
      const orphans = await listUnreferenced(store, 'embeddings/');
      for (const key of orphans) await store.delete(key);
      t.deepEqual(await listUnreferenced(store, 'embeddings/'), []);
      t.log(
        `${kind}: ${rounds} kill rounds in ${((Date.now() - started) / 1000).toFixed(1)} s, ${killedMidShard.length} shard writes interrupted (${killedUploading.length} while uploading or committing), ` +
          `${beforeRerun}/${specs.length} shards committed before the rerun, ${orphans.length} unreferenced data objects swept`,
      );
      store.close();
    },
  );
}
