/**
 * Paging through a manifest's shards for the workflows: one page at a time (never the whole list
 * through the history), with the shards whose embeddings are all committed already left out, so a
 * re-run or a resumed run does only the missing work.
 */
import { findCommit } from '../storage/commit.ts';
import { audioShardKeys, type AudioSelection } from './audio.ts';
import { embeddingShardKeys, ModelChecksumUnknownError } from './embed.ts';
import { framesShardKey, type FramesSettings } from './frames.ts';
import { classifyErrors, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

export interface PlanShardPageInput {
  readonly manifestKey: string;
  /** Index of the page's first shard in the manifest's shard list. */
  readonly offset: number;
  readonly limit: number;
  readonly backbones: readonly string[];
  /** The run's frame settings: part of every frames and embedding shard key. */
  readonly frames: FramesSettings;
  /** The run's audio backbone and windows, when it has one: a shard then also needs its audio shard. */
  readonly audio?: AudioSelection;
}

export interface ManifestSummary {
  readonly datasetId: string;
  readonly shards: number;
  readonly frames: number;
  readonly videos: number;
}

/** One shard that still needs work: the backbones whose embedding shard is not committed. */
export interface ShardTask {
  readonly index: number;
  readonly shardId: string;
  readonly frames: number;
  readonly backbones: readonly string[];
  /** True when the run has an audio backbone and the shard's audio embedding shard is not committed. */
  readonly audio?: boolean;
}

export interface ShardPage {
  readonly todo: readonly ShardTask[];
  /** Shards of the page that were complete for every backbone. */
  readonly skipped: number;
  readonly skippedFrames: number;
}

export function createShardActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    /** Counts of a stored manifest: what a workflow needs to plan, without the shard list. */
    async describeManifest(input: { readonly manifestKey: string }): Promise<ManifestSummary> {
      const manifest = await readManifest(input.manifestKey);
      return {
        datasetId: manifest.datasetId,
        shards: manifest.shards.length,
        frames: manifest.shards.reduce((sum, s) => sum + s.lastFrame - s.firstFrame + 1, 0),
        videos: manifest.videos.length,
      };
    },

    async planShardPage(input: PlanShardPageInput): Promise<ShardPage> {
      return classifyErrors(async () => {
        // A heartbeat after the manifest read and after each shard checked: on a loaded machine or
        // a slow store a page of commit lookups can outlast the heartbeat timeout without one.
        let checked = 0;
        reportProgress({ checked });
        const manifest = await readManifest(input.manifestKey);
        reportProgress({ checked });
        const page = manifest.shards.slice(input.offset, input.offset + input.limit);
        // Model checksums are read once per page; a backbone without one has nothing committed
        // (embedShard then fails its shards with ModelChecksumUnknownError, which says what to do).
        const keyers = await Promise.all(
          input.backbones.map((backbone) =>
            embeddingShardKeys(deps, backbone).catch((err: unknown) => {
              if (err instanceof ModelChecksumUnknownError) return undefined;
              throw err;
            }),
          ),
        );
        const audioKeys = input.audio ? audioShardKeys(deps, input.audio) : undefined;
        const todo: ShardTask[] = [];
        let skipped = 0;
        let skippedFrames = 0;
        await Promise.all(
          page.map(async (shard, i) => {
            const frames = shard.lastFrame - shard.firstFrame + 1;
            const { framesKey } = framesShardKey(manifest, shard, input.frames);
            const missing: string[] = [];
            for (const [b, backbone] of input.backbones.entries()) {
              const keyFor = keyers[b];
              if (!keyFor || !(await findCommit(deps.store, keyFor(framesKey).key))) missing.push(backbone);
            }
            const audio =
              audioKeys !== undefined &&
              !(await findCommit(deps.store, audioKeys.keyOf(manifest.datasetId, shard.shardId)));
            reportProgress({ checked: ++checked });
            if (missing.length === 0 && !audio) {
              skipped++;
              skippedFrames += frames;
            } else {
              todo.push({
                index: input.offset + i,
                shardId: shard.shardId,
                frames,
                backbones: missing,
                ...(audio ? { audio } : {}),
              });
            }
          }),
        );
        todo.sort((a, b) => a.index - b.index);
        return { todo, skipped, skippedFrames };
      });
    },
  };
}
