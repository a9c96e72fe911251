/**
 * Frame extraction (frames pool): reads one shard's frame range (a video decoded by ffmpeg, or a
 * folder of per-frame images), takes the face crops from the chosen face source and commits a
 * frames shard. The crops do not depend on any backbone, so a new backbone re-embeds without
 * decoding again. Damaged input (a truncated video, an unreadable image) and frames without a
 * face are recorded in the result and the shard's metadata; the rest goes on.
 */
import { shortHash } from '../base/hashing.ts';
import { openDatasetSource, type DatasetSource } from '../datasets/index.ts';
import type { Manifest, ManifestShard, ManifestVideo } from '../datasets/manifest.ts';
import { canonicalJson } from '../base/canonicalJson.ts';
import { decodeFrames, type DecodeSummary } from '../media/decodeFrames.ts';
import { sampledFrames, type FrameSampling } from '../media/frameSampling.ts';
import { personSide } from '../datasets/affwild2.ts';
import {
  cropRect,
  FaceSourceError,
  providedFramePath,
  readPhoto,
  type CropOptions,
  type FaceSource,
} from '../media/faces.ts';
import { decodeImage, encodeCrop, ImageError, type RgbImage } from '../media/preprocess.ts';
import { frameSignature } from '../media/sceneCut.ts';
import { settleTracks, ShardTracker, TRACKING, type TrackLink } from '../media/tracking.ts';
import {
  DEFAULT_DETECTOR_OPTIONS,
  openYuNet,
  YUNET_SHA256,
  type DetectorOptions,
  type FaceDetector,
} from '../models/yunet.ts';
import { commitShard, findCommit, type FrameCoverage } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { encodeFramesShard, noFaceRow, type FrameRow } from '../storage/shards.ts';
import { classifyErrors, findShard, manifestReader, reportProgress, type ActivityDeps } from './context.ts';
import { videoCoverage } from './decodeEvidence.ts';

/** Detector and crop settings for faceSource 'yunet'; every field has a default. */
export interface FaceDetectionInput extends Partial<DetectorOptions>, Partial<CropOptions> {
  /** YuNet ONNX file on the worker; default models/assets/face_detection_yunet.onnx. */
  readonly modelPath?: string;
}

/** Every setting that changes a frames shard's bytes: all of them are in its key (framesShardKey). */
export interface FramesSettings {
  /** Crops are stored at native size, shrunk to at most this side. */
  readonly maxCropSide: number;
  /** Default: 'provided' for frame folders (the dataset's crops), 'yunet' for video files and photos. */
  readonly faceSource?: FaceSource;
  readonly detector?: FaceDetectionInput;
  /** Default: every frame. */
  readonly sampling?: FrameSampling;
}

export interface ExtractFramesInput extends FramesSettings {
  readonly manifestKey: string;
  readonly shardId: string;
  /** ffmpeg decoder threads; default 1 (the pool runs several shards at once). */
  readonly decoderThreads?: number;
}

export interface ExtractFramesResult {
  readonly framesKey: string;
  /** Frames read (decoded or looked up), each with at least one row. */
  readonly frames: number;
  readonly faces: number;
  /** True when the shard was already committed and nothing was decoded. */
  readonly reused: boolean;
  /** Frames stored with no face (no detection, no provided image, or an unreadable one). */
  readonly noFaceFrames?: number;
  /** What went wrong or is worth knowing (damaged video, unreadable images, frames without a face). */
  readonly findings?: readonly string[];
}

/**
 * The face source a video gets when the input names none: the dataset's own crops when it ships
 * them (frame folders), else YuNet detection; the whole frame only when asked for.
 */
export function defaultFaceSource(video: Pick<ManifestVideo, 'source'>): FaceSource {
  return video.source.kind === 'frames' ? 'provided' : 'yunet';
}

/** Where a shard's frames are committed under some settings, and what those settings resolve to. */
export interface FramesShardKey {
  readonly framesKey: string;
  /** The hash of the resolved settings: the key's folder, shared by every shard so extracted. */
  readonly facesConfig: string;
  readonly faceSource: FaceSource;
}

/**
 * The frames shard key of `shard` under `settings`: the shard id (video content and frame range)
 * and a hash of the face source as resolved for the video, the crop size, the sampling (with the
 * video's frame rate when sampling by rate) and, for YuNet, the resolved detector and crop
 * settings and the model's sha256 (openYuNet loads no other file). Planning, extraction,
 * embedding and training all locate frames shards through this one function.
 */
export function framesShardKey(
  manifest: Pick<Manifest, 'datasetId' | 'videos'>,
  shard: Pick<ManifestShard, 'shardId' | 'video'>,
  settings: FramesSettings,
): FramesShardKey {
  const video = manifest.videos.find((v) => v.name === shard.video);
  if (!video)
    throw new Error(`frames: shard ${shard.shardId} names video ${shard.video}, not in the manifest`);
  const faceSource = settings.faceSource ?? defaultFaceSource(video);
  const sampling = settings.sampling ?? {};
  const detection = resolveDetection(settings.detector);
  const facesConfig = shortHash(
    'faces/3',
    canonicalJson({
      faceSource,
      maxCropSide: settings.maxCropSide,
      sampling,
      fps: sampling.targetFps === undefined ? undefined : video.fps,
      yunet:
        faceSource === 'yunet'
          ? {
              detector: detection.detector,
              crop: detection.crop,
              modelSha256: YUNET_SHA256,
              tracking: TRACKING,
            }
          : undefined,
    }),
  );
  return {
    framesKey: storeKeys.framesShard(manifest.datasetId, facesConfig, shard.shardId),
    facesConfig,
    faceSource,
  };
}

interface ResolvedDetection {
  readonly detector: DetectorOptions;
  readonly crop: CropOptions;
  readonly modelPath: string | undefined;
}

function resolveDetection(input: FaceDetectionInput | undefined): ResolvedDetection {
  const d = input ?? {};
  return {
    detector: {
      scoreThreshold: d.scoreThreshold ?? DEFAULT_DETECTOR_OPTIONS.scoreThreshold,
      nmsIou: d.nmsIou ?? DEFAULT_DETECTOR_OPTIONS.nmsIou,
      minFaceSize: d.minFaceSize ?? DEFAULT_DETECTOR_OPTIONS.minFaceSize,
      inputLongSide: d.inputLongSide ?? DEFAULT_DETECTOR_OPTIONS.inputLongSide,
      downscale: d.downscale ?? DEFAULT_DETECTOR_OPTIONS.downscale,
    },
    crop: { margin: d.margin ?? 0, square: d.square ?? false },
    modelPath: d.modelPath,
  };
}

/** One frame as read from its source: pixels, the original encoded image, or why there is none. */
interface SourceFrame {
  readonly frame: number;
  readonly image: RgbImage | null;
  /** The dataset's own image bytes (frame folders), kept when small enough. */
  readonly encoded: Uint8Array | null;
  /** A look-back frame before the shard's range: tracked, not stored. */
  readonly context?: boolean;
}

export function createFramesActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  const detectors = new Map<string, Promise<FaceDetector>>();
  const detectorFor = (d: ResolvedDetection): Promise<FaceDetector> => {
    const key = JSON.stringify([d.detector, d.modelPath]);
    let detector = detectors.get(key);
    if (!detector) {
      detector = openYuNet(
        { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1, log: deps.log },
        d.detector,
        d.modelPath,
      );
      detector.catch(() => detectors.delete(key));
      detectors.set(key, detector);
    }
    return detector;
  };
  // One reader per dataset root, reused by every shard (an S3 dataset keeps its client).
  const sources = new Map<string, Promise<DatasetSource>>();
  const sourceFor = (root: string): Promise<DatasetSource> => {
    let source = sources.get(root);
    if (!source) {
      source = openDatasetSource(root, deps.config, { listed: false });
      source.catch(() => sources.delete(root));
      sources.set(root, source);
    }
    return source;
  };

  return {
    async extractFrames(input: ExtractFramesInput): Promise<ExtractFramesResult> {
      return classifyErrors(async () => {
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const video = manifest.videos.find((v) => v.name === shard.video)!;
        const { framesKey, facesConfig, faceSource } = framesShardKey(manifest, shard, input);
        if (faceSource === 'provided' && video.source.kind !== 'frames') {
          throw new FaceSourceError(
            video.name,
            `'provided' needs a folder of frame images, got a ${video.source.kind === 'image' ? 'photo' : 'video file'}`,
          );
        }
        const detection = resolveDetection(input.detector);
        const sampling = input.sampling ?? {};
        const existing = await findCommit(deps.store, framesKey);
        if (existing)
          return {
            framesKey,
            frames: Number(existing.meta['frames']),
            faces: Number(existing.meta['faces'] ?? existing.rows),
            reused: true,
          };

        const source = await sourceFor(manifest.root);
        const detector = faceSource === 'yunet' ? await detectorFor(detection) : null;
        const findings: string[] = [];
        let rows: FrameRow[] = [];
        const tracker = new ShardTracker();
        // Aff-Wild2's <video>_left / _right entries share one file: each keeps its person's track.
        const side =
          faceSource === 'yunet' && video.source.kind === 'video' && manifest.dataset === 'affwild2'
            ? personSide(video.name)
            : null;
        const noFace = (frame: number): FrameRow => noFaceRow(video.name, frame);
        let frames = 0;
        let unreadable = 0;

        const takeFaces = async (source: SourceFrame): Promise<void> => {
          const { frame, image, context = false } = source;
          if (context) {
            if (image && detector) await trackFaces(frame, image, true);
            return;
          }
          frames++;
          if (!image) {
            rows.push(noFace(frame));
            return;
          }
          if (faceSource !== 'yunet') {
            const keepOriginal =
              source.encoded !== null && Math.max(image.width, image.height) <= input.maxCropSide;
            const crop = keepOriginal
              ? { png: source.encoded, width: image.width, height: image.height }
              : await encodeCrop(image, input.maxCropSide);
            rows.push({
              video: video.name,
              frame,
              faceIndex: 0,
              trackId: 0,
              noFace: false,
              box: faceSource === 'provided' ? null : [0, 0, image.width, image.height],
              detScore: null,
              image: crop.png,
              landmarks: null,
              cropWidth: crop.width,
              cropHeight: crop.height,
            });
            return;
          }
          const { detected, trackIds } = await trackFaces(frame, image, false);
          if (detected.length === 0) {
            rows.push(noFace(frame));
            return;
          }
          for (const [faceIndex, { face, rect }] of detected.entries()) {
            const crop = await encodeCrop(image, input.maxCropSide, rect!);
            rows.push({
              video: video.name,
              frame,
              faceIndex,
              trackId: trackIds[faceIndex]!,
              noFace: false,
              box: face.box,
              detScore: face.score,
              image: crop.png,
              landmarks: face.landmarks,
              cropWidth: crop.width,
              cropHeight: crop.height,
            });
          }
        };

        const trackFaces = async (frame: number, image: RgbImage, context: boolean) => {
          const detected = (await detector!.detect(image))
            .map((face) => ({ face, rect: cropRect(face.box, image.width, image.height, detection.crop) }))
            .filter((d) => d.rect !== null)
            .sort((a, b) => a.face.box[0] - b.face.box[0]);
          const boxes = detected.map((d) => d.face.box);
          const trackIds = tracker.frame(frame, frameSignature(image), boxes, context);
          return { detected, trackIds };
        };

        let coverage: FrameCoverage;
        if (video.source.kind === 'video') {
          const path = source.display(video.source.path);
          const range = { first: shard.firstFrame, last: shard.lastFrame };
          // An S3 dataset's video is copied into a scratch folder first, removed whatever happens.
          const copy = await source.localCopy(video.source.path);
          const decodedFrames: number[] = [];
          let summary: DecodeSummary;
          try {
            const decoder = decodeFrames(copy.path, video, {
              ...range,
              sampling,
              threads: input.decoderThreads ?? 1,
              context: faceSource === 'yunet' ? TRACKING.lookBack : 0,
              // takeFaces is done with a frame's pixels (crops encoded) before the next is read.
              reuseBuffer: true,
            });
            let step = await decoder.next();
            try {
              while (!step.done) {
                const decoded = step.value;
                if (!decoded.context) decodedFrames.push(decoded.frame);
                await takeFaces({
                  frame: decoded.frame,
                  image: decoded,
                  encoded: null,
                  context: decoded.context,
                });
                if (!decoded.context && frames % 16 === 0) reportProgress({ frame: decoded.frame, frames });
                step = await decoder.next();
              }
            } finally {
              // Cancelled (or abandoned on a heartbeat timeout) mid-video: ending the generator
              // kills its ffmpeg, which would otherwise stay blocked writing to a full pipe.
              if (!step.done) await decoder.return(undefined as never);
            }
            summary = step.value;
          } catch (err) {
            if (err instanceof Error && copy.path !== path)
              err.message = err.message.replaceAll(copy.path, path);
            throw err;
          } finally {
            await copy.release();
          }
          coverage = await videoCoverage(deps.store, framesKey, { path, ...range }, summary, decodedFrames);
          if (summary.error) findings.push(`video ${video.source.path}: ${summary.error}`);
          if (coverage.evidence) {
            const spans = coverage.damaged.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`)).join(', ');
            findings.push(
              `video ${video.source.path}: ${coverage.expected - coverage.decoded} of ${coverage.expected} frames recorded as damaged (${spans}): ${coverage.evidence}`,
            );
          }
        } else if (video.source.kind === 'image') {
          // A photo is frame 1 of a one-frame video; it is decoded upright (EXIF orientation), so
          // its original bytes are never stored as the crop.
          let image: RgbImage | null = null;
          try {
            const copy = await source.localCopy(video.source.path);
            image = await readPhoto(copy.path, video.source.path).finally(() => copy.release());
          } catch (err) {
            if (!(err instanceof ImageError)) throw err;
            findings.push(err.message);
          }
          await takeFaces({ frame: 1, image, encoded: null });
          // A photo's one frame always has its row: the face, or a no-face row for an unreadable file.
          coverage = { first: 1, last: 1, expected: 1, decoded: 1, damaged: [] };
        } else {
          const dir = video.source.dir;
          for (const frame of sampledFrames(shard.firstFrame, shard.lastFrame, sampling, null, video.fps)) {
            const bytes = await source.readIfExists(providedFramePath(dir, frame));
            let image: RgbImage | null = null;
            if (bytes) {
              try {
                image = await decodeImage(bytes, source.display(providedFramePath(dir, frame)));
              } catch (err) {
                if (!(err instanceof ImageError)) throw err;
                if (unreadable++ < 5) findings.push(err.message);
              }
            }
            await takeFaces({ frame, image, encoded: bytes });
            if (frames % 16 === 0) reportProgress({ frame, frames });
          }
          if (unreadable > 5) findings.push(`${video.name}: ${unreadable - 5} more unreadable images`);
          // Every kept frame of a folder has its row: an image, or a no-face row for a missing one.
          coverage = {
            first: shard.firstFrame,
            last: shard.lastFrame,
            expected: frames,
            decoded: frames,
            damaged: [],
          };
        }
        let trackLinks: TrackLink[] = [];
        if (detector) ({ rows, links: trackLinks } = settleTracks(rows, tracker.finish(side), noFace));
        const noFaceRows = rows.filter((r) => r.noFace);
        const noFaceFrames = noFaceRows.length;
        const firstNoFace = noFaceRows[0]?.frame;
        if (noFaceFrames > 0) {
          findings.push(
            `${video.name} frames ${shard.firstFrame}-${shard.lastFrame}: no face (${faceSource}) in ${noFaceFrames} of ${frames} frames, first at frame ${firstNoFace}`,
          );
        }
        for (const finding of findings) deps.log(`frames: ${finding}`);
        const faces = rows.filter((r) => !r.noFace).length;
        const bytes = encodeFramesShard(rows, {
          'affectflow.kind': 'frames',
          'affectflow.shard_id': shard.shardId,
          'affectflow.face_source': faceSource,
          'affectflow.faces_config': facesConfig,
          'affectflow.findings': JSON.stringify(findings),
          ...(detector ? { 'affectflow.track_links': JSON.stringify(trackLinks) } : {}),
        });
        await commitShard(
          deps.store,
          framesKey,
          bytes,
          rows.length,
          {
            shardId: shard.shardId,
            frames,
            faces,
            noFaceFrames,
            ...(detector ? { trackLinks: JSON.stringify(trackLinks) } : {}),
          },
          coverage,
        );
        return { framesKey, frames, faces, reused: false, noFaceFrames, findings };
      });
    },
  };
}
