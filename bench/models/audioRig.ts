/**
 * The audio embed activity as an embed pool runs it, for bench/audio.bench.ts: a synthetic video
 * with its sound track (datasets/synthetic.ts), manifested into shards in a local store, each
 * shard's PCM extracted (extractAudio, frames pool) before the clock starts; then embedAudioShard
 * (embed pool) over the shards, `concurrency` at a time, from nothing committed.
 */
import { join } from 'node:path';
import { manifestReader } from '../../activities/context.ts';
import { createEmbedPoolActivities, createFramesPoolActivities } from '../../activities/index.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../../datasets/synthetic.ts';
import { LocalDirStore } from '../../storage/objectStore.ts';

interface AudioShard {
  readonly manifestKey: string;
  readonly shardId: string;
  readonly frames: number;
}

export class AudioBenchRig {
  private readonly store: LocalDirStore;
  private readonly frames: ReturnType<typeof createFramesPoolActivities>;
  private readonly embed: ReturnType<typeof createEmbedPoolActivities>;
  private shards: AudioShard[] = [];

  constructor(private readonly scratch: string) {
    this.store = new LocalDirStore(join(scratch, 'store'));
    const deps = { store: this.store, config: { stateDir: scratch }, log: () => {} };
    this.frames = createFramesPoolActivities(deps);
    this.embed = createEmbedPoolActivities(deps);
  }

  /**
   * One synthetic video of `frames` frames (25 fps) with sound, manifested in shards of
   * `shardFrames`; returns the shards' frame counts, in manifest order.
   */
  async prepare(frames: number, shardFrames: number): Promise<number[]> {
    const datasetPath = join(this.scratch, 'data');
    await generateSyntheticDataset(datasetPath, {
      ...TINY_SYNTHETIC,
      trainVideos: 1,
      validationVideos: 0,
      framesPerVideo: frames,
    });
    const { manifestKey } = await this.frames.manifestDataset({ datasetPath, shardFrames });
    this.shards = (await manifestReader(this.store)(manifestKey)).shards.map((s) => ({
      manifestKey,
      shardId: s.shardId,
      frames: s.lastFrame - s.firstFrame + 1,
    }));
    return this.shards.map((s) => s.frames);
  }

  /**
   * Windows embedded, and windows per second, of embedAudioShard over the shards picked by `which` (their indices),
   * `concurrency` at a time, from nothing committed, each window `windowSeconds` long (one per
   * frame); the PCM extraction before it is not timed.
   */
  async activityRate(
    audioBackbone: string,
    options: {
      readonly which: readonly number[];
      readonly windowSeconds: number;
      readonly batchSize: number;
      readonly concurrency: number;
    },
  ): Promise<{ readonly windows: number; readonly perSecond: number }> {
    for await (const o of this.store.list('embeddings/')) await this.store.delete(o.key);
    const selection = { audioBackbone, audioWindow: { windowSeconds: options.windowSeconds } };
    const queue: { shard: AudioShard; pcmKey: string }[] = [];
    for (const i of options.which) {
      const shard = this.shards[i];
      if (!shard) throw new Error(`AudioBenchRig: no shard ${i}; prepare() gave ${this.shards.length}`);
      const { pcmKey } = await this.frames.extractAudio({ ...shard, ...selection });
      if (!pcmKey) throw new Error(`AudioBenchRig: shard ${shard.shardId} has no sound`);
      queue.push({ shard, pcmKey });
    }
    let windows = 0;
    const start = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: options.concurrency }, async () => {
        for (let next = queue.shift(); next; next = queue.shift()) {
          const { manifestKey, shardId } = next.shard;
          const result = await this.embed.embedAudioShard({
            manifestKey,
            shardId,
            ...selection,
            pcmKey: next.pcmKey,
            batchSize: options.batchSize,
          });
          windows += result.rows - result.noAudioRows;
        }
      }),
    );
    return { windows, perSecond: windows / (Number(process.hrtime.bigint() - start) / 1e9) };
  }

  close(): void {
    this.store.close();
  }
}
