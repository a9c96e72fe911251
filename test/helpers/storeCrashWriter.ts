/**
 * A writer process for the store crash test (test/store-crash.test.ts): writes the fixture
 * shards named on the command line, in that order, through EmbeddingShardWriter, skipping those
 * already committed. It prints one line per step (begin, each append, uploading, before and after
 * the data object goes into the store, committed or lost-race) and waits for a line on stdin
 * before going on, so the test kills it at a step of its own progress, never at a moment in time.
 *
 *   node --import tsx test/helpers/storeCrashWriter.ts <store uri> <s3 endpoint> <temp dir> <dim> <shardId:frames>...
 */
import { createInterface } from 'node:readline';
import { findCommit } from '../../storage/commit.ts';
import { storeKeys } from '../../storage/keys.ts';
import { openStore, type ObjectStore } from '../../storage/objectStore.ts';
import { EmbeddingShardWriter } from '../../storage/shardWriter.ts';
import { overrideStore } from './storeOverride.ts';
import { CRASH_BACKBONE_ID, CRASH_CONFIG_HASH, shardFixture } from './storeFixtures.ts';
/** Rows per append(): one inference batch of the embed activity. */
const APPEND_ROWS = 64;

const answers = createInterface({ input: process.stdin })[Symbol.asyncIterator]();

/** Prints a step and waits for the test to let it go on (stdin closed: the test is gone, stop). */
async function step(line: string): Promise<void> {
  console.log(line);
  if ((await answers.next()).done) process.exit(0);
}

/** The store, with a step before and after each data object goes in (adoptFile). */
function stepped(store: ObjectStore, shard: () => string): ObjectStore {
  return overrideStore(store, {
    async adoptFile(key: string, path: string): Promise<void> {
      await step(`adopting ${shard()}`);
      await store.adoptFile(key, path);
      await step(`adopted ${shard()}`);
    },
  });
}

async function main(): Promise<void> {
  const [uri, endpoint, tempDir, dimText, ...shards] = process.argv.slice(2);
  if (!uri || !endpoint || !tempDir || !dimText || shards.length === 0) {
    throw new Error(
      'usage: storeCrashWriter.ts <store uri> <s3 endpoint> <temp dir> <dim> <shardId:frames>...',
    );
  }
  const dim = Number(dimText);
  let current = '';
  const store = stepped(
    openStore({ uri, s3Endpoint: endpoint, s3Region: 'us-east-1', s3ForcePathStyle: true }),
    () => current,
  );
  for (const spec of shards) {
    const [shardId, frames] = spec.split(':') as [string, string];
    current = shardId;
    const f = shardFixture(shardId, Number(frames), dim);
    const key = storeKeys.embeddingShard(f.identity.dataset, CRASH_BACKBONE_ID, CRASH_CONFIG_HASH, shardId);
    if (await findCommit(store, key)) {
      await step(`skip ${shardId}`);
      continue;
    }
    await step(`begin ${shardId}`);
    const writer = EmbeddingShardWriter.open(
      store,
      key,
      f.identity,
      { shardId, configHash: CRASH_CONFIG_HASH, backbone: '{"name":"fixture"}', preprocessing: 'none' },
      { tempDir },
    );
    const { embeddingDim: d, scoresDim: k } = f.identity;
    for (let start = 0; start < f.rows.length; start += APPEND_ROWS) {
      const end = Math.min(f.rows.length, start + APPEND_ROWS);
      await writer.append(
        f.rows.slice(start, end),
        f.embedding.subarray(start * d, end * d),
        f.scores.subarray(start * k, end * k),
      );
      await step(`appended ${shardId} ${end}`);
    }
    await step(`uploading ${shardId}`);
    const { created } = await writer.commit({ backbone: CRASH_BACKBONE_ID });
    await step(`${created ? 'committed' : 'lost-race'} ${shardId}`);
  }
  store.close();
  process.exit(0); // stdin stays open
}

await main();
