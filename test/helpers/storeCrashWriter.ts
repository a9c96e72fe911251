/**
 * A writer process for the store crash test (test/store-crash.test.ts): writes the fixture
 * shards named on the command line, in that order, through EmbeddingShardWriter, skipping those
 * already committed, and prints one line per step so the test knows what a SIGKILL interrupted.
 *
 *   node --import tsx test/helpers/storeCrashWriter.ts <store uri> <s3 endpoint> <temp dir> <dim> <shardId:frames>...
 */
import { findCommit } from '../../storage/commit.ts';
import { storeKeys } from '../../storage/keys.ts';
import { openStore } from '../../storage/objectStore.ts';
import { EmbeddingShardWriter } from '../../storage/shardWriter.ts';
import { CRASH_BACKBONE_ID, CRASH_CONFIG_HASH, shardFixture } from './storeFixtures.ts';
/** Rows per append(): one inference batch of the embed activity. */
const APPEND_ROWS = 64;

async function main(): Promise<void> {
  const [uri, endpoint, tempDir, dimText, ...shards] = process.argv.slice(2);
  if (!uri || !endpoint || !tempDir || !dimText || shards.length === 0) {
    throw new Error(
      'usage: storeCrashWriter.ts <store uri> <s3 endpoint> <temp dir> <dim> <shardId:frames>...',
    );
  }
  const dim = Number(dimText);
  const store = openStore({ uri, s3Endpoint: endpoint, s3Region: 'us-east-1', s3ForcePathStyle: true });
  for (const spec of shards) {
    const [shardId, frames] = spec.split(':') as [string, string];
    const f = shardFixture(shardId, Number(frames), dim);
    const key = storeKeys.embeddingShard(f.identity.dataset, CRASH_BACKBONE_ID, CRASH_CONFIG_HASH, shardId);
    if (await findCommit(store, key)) {
      console.log(`skip ${shardId}`);
      continue;
    }
    console.log(`begin ${shardId}`);
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
    }
    console.log(`uploading ${shardId}`);
    const { created } = await writer.commit({ backbone: CRASH_BACKBONE_ID });
    console.log(`${created ? 'committed' : 'lost-race'} ${shardId}`);
  }
  store.close();
}

await main();
