/**
 * Frame extraction (frames pool): decodes one shard's frame range, takes the face crops and
 * commits a frames shard. The crops do not depend on any backbone, so a new backbone re-embeds
 * without decoding again. Face source here: the whole frame (face-centred data).
 */
import { join } from 'node:path';
import { shortHash } from '../datasets/manifest.ts';
import { decodeFrames } from '../media/ffmpeg.ts';
import { encodeCrop } from '../media/preprocess.ts';
import { commitShard, findCommit } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { encodeFramesShard, type FrameRow } from '../storage/shards.ts';
import { classifyErrors, findShard, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

export interface ExtractFramesInput {
  readonly manifestKey: string;
  readonly shardId: string;
  /** Crops are stored at native size, shrunk to at most this side. */
  readonly maxCropSide: number;
}

export interface ExtractFramesResult {
  readonly framesKey: string;
  readonly frames: number;
  readonly faces: number;
  /** True when the shard was already committed and nothing was decoded. */
  readonly reused: boolean;
}

export const FACE_SOURCE = 'whole-frame';

export function createFramesActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    async extractFrames(input: ExtractFramesInput): Promise<ExtractFramesResult> {
      return classifyErrors(async () => {
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const facesConfig = shortHash('faces/1', FACE_SOURCE, input.maxCropSide);
        const framesKey = storeKeys.framesShard(manifest.datasetId, facesConfig, shard.shardId);
        const existing = await findCommit(deps.store, framesKey);
        if (existing)
          return { framesKey, frames: Number(existing.meta['frames']), faces: existing.rows, reused: true };

        const video = manifest.videos.find((v) => v.name === shard.video)!;
        if (video.source.kind !== 'video') throw new Error(`extractFrames: ${video.name}: frame folders are not read yet`);
        const rows: FrameRow[] = [];
        for await (const decoded of decodeFrames(
          join(manifest.root, video.source.path),
          video,
          shard.firstFrame,
          shard.lastFrame,
        )) {
          rows.push({
            video: video.name,
            frame: decoded.frame,
            faceIndex: 0,
            trackId: 0,
            noFace: false,
            box: [0, 0, decoded.width, decoded.height],
            detScore: null,
            image: await encodeCrop(decoded.rgb, decoded.width, decoded.height, input.maxCropSide),
          });
          if (decoded.frame % 16 === 0) reportProgress({ frame: decoded.frame });
        }
        const expected = shard.lastFrame - shard.firstFrame + 1;
        if (rows.length !== expected) {
          deps.log(
            `frames: ${video.name} frames ${shard.firstFrame}-${shard.lastFrame}: expected ${expected} frames, decoded ${rows.length}`,
          );
        }
        const bytes = encodeFramesShard(rows, {
          'affectflow.kind': 'frames',
          'affectflow.shard_id': shard.shardId,
          'affectflow.face_source': FACE_SOURCE,
          'affectflow.faces_config': facesConfig,
        });
        await commitShard(deps.store, framesKey, bytes, rows.length, {
          shardId: shard.shardId,
          frames: rows.length,
        });
        return { framesKey, frames: rows.length, faces: rows.filter((r) => !r.noFace).length, reused: false };
      });
    },
  };
}
