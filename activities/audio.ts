/**
 * Audio embedding shards (docs/AUDIO.md). Two steps per shard, as for faces:
 *
 * - `extractAudio` (frames pool, which reads the dataset): ffmpeg decodes the shard's video sound
 *   to 16 kHz mono PCM, and the samples that the shard's frame windows cover go to the store as a
 *   temporary object (`tmp/audio-pcm/...`); a video without an audio stream gets a finding and no
 *   object, never a failure.
 * - `embedAudioShard` (embed pool): the audio backbone turns each frame's window into a pooled
 *   hidden state, and one embedding shard with one row per video frame is committed under
 *   `embeddings/<dataset>/<audio backbone@version>/<audioConfigHash>/<shardId>.parquet`, exactly
 *   once (storage/commit.ts); the PCM object is removed after.
 */
import { join } from 'node:path';
import { canonicalJson } from '../base/canonicalJson.ts';
import { shortHash } from '../base/hashing.ts';
import { openDatasetSource } from '../datasets/index.ts';
import type { ManifestShard, ManifestVideo } from '../datasets/manifest.ts';
import {
  AUDIO_SAMPLE_RATE,
  checkWindowing,
  DEFAULT_AUDIO_WINDOWING,
  extractPcm,
  frameWindow,
  framesSpan,
  windowSamples,
  type AudioWindowing,
} from '../media/audio.ts';
import { audioModelFile, openAudioBackbone, type AudioBackboneSession } from '../models/audioBackbone.ts';
import { backboneId, getAudioBackbone, type AudioBackboneDescriptor } from '../models/registry.ts';
import { findCommit } from '../storage/commit.ts';
import { storeKeys } from '../storage/keys.ts';
import { EmbeddingShardWriter } from '../storage/shardWriter.ts';
import { EMBEDDING_SCHEMA_VERSION, type FaceRowKey } from '../storage/shards.ts';
import { classifyErrors, findShard, manifestReader, reportProgress, type ActivityDeps } from './context.ts';

/** What selects a run's audio embeddings: the backbone and, optionally, other windows than the default. */
export interface AudioSelection {
  readonly audioBackbone: string;
  /** Default DEFAULT_AUDIO_WINDOWING (0.5 s centred on each frame, every frame). */
  readonly audioWindow?: Partial<AudioWindowing>;
}

export interface ExtractAudioInput extends AudioSelection {
  readonly manifestKey: string;
  readonly shardId: string;
}

export interface ExtractAudioResult {
  /** The audio embedding shard's key. */
  readonly embeddingsKey: string;
  /** True when that shard is committed already: nothing was extracted. */
  readonly committed: boolean;
  /** The temporary PCM object for embedAudioShard; absent when the video has no audio stream. */
  readonly pcmKey?: string;
  /** Samples in the PCM object. */
  readonly samples: number;
  /** One line per thing worth knowing (a video without audio). */
  readonly findings: readonly string[];
}

export interface EmbedAudioShardInput extends AudioSelection {
  readonly manifestKey: string;
  readonly shardId: string;
  /** extractAudio's PCM object; absent for a video without audio (every row then has no audio). */
  readonly pcmKey?: string;
  /** Windows per inference (default 32). */
  readonly batchSize?: number;
}

export interface EmbedAudioShardResult {
  readonly embeddingsKey: string;
  readonly rows: number;
  /** Rows whose window has no audio (no_face true, null embedding). */
  readonly noAudioRows: number;
  readonly reused: boolean;
}

/** The temporary PCM object of an audio shard is gone before the shard was committed; permanent. */
export class AudioPcmMissingError extends Error {
  constructor(
    readonly pcmKey: string,
    readonly shardId: string,
  ) {
    super(
      `audio PCM ${pcmKey} of shard ${shardId}: not in the store; \`affectflow resume <run>\` extracts it again`,
    );
    this.name = 'AudioPcmMissingError';
  }
}

/** The run's window settings, defaults filled in and checked. */
export function audioWindowing(selection: Pick<AudioSelection, 'audioWindow'>): AudioWindowing {
  return checkWindowing({ ...DEFAULT_AUDIO_WINDOWING, ...selection.audioWindow });
}

/**
 * Hash of everything that shapes an audio embedding shard besides the shard: the schema, the
 * descriptor, the model file, the sample rate, window, hop and pooling; never face settings.
 */
export function audioConfigHash(
  descriptor: AudioBackboneDescriptor,
  modelSha256: string,
  windowing: AudioWindowing,
): string {
  return shortHash(
    'audio-embedding/1',
    EMBEDDING_SCHEMA_VERSION,
    canonicalJson(descriptor),
    modelSha256,
    canonicalJson({
      sampleRate: AUDIO_SAMPLE_RATE,
      windowSeconds: windowing.windowSeconds,
      hopFrames: windowing.hopFrames,
      pooling: 'mean',
    }),
  );
}

/**
 * The audio embedding shard key of each shard of a dataset, for one audio selection:
 * `embeddings/<dataset>/<name@version>/<audioConfigHash>/<shard>.parquet`. Builds or hashes the
 * model file once; planning, extraction and embedding all key audio shards through this function.
 */
export function audioShardKeys(
  deps: Pick<ActivityDeps, 'config'>,
  selection: AudioSelection,
): { readonly configHash: string; readonly keyOf: (datasetId: string, shardId: string) => string } {
  const descriptor = getAudioBackbone(selection.audioBackbone);
  const { sha256 } = audioModelFile(descriptor, join(deps.config.stateDir, 'models'));
  const configHash = audioConfigHash(descriptor, sha256, audioWindowing(selection));
  return {
    configHash,
    keyOf: (datasetId, shardId) =>
      storeKeys.embeddingShard(datasetId, backboneId(descriptor), configHash, shardId),
  };
}

const pcmKeyOf = (embeddingsKey: string): string => `tmp/audio-pcm/${shortHash(embeddingsKey)}.f32`;

/** The rows of a shard's audio embedding: one per video frame, face 0, no track, no box. */
function audioRows(shard: ManifestShard, hasAudio: (frame: number) => boolean): FaceRowKey[] {
  const rows: FaceRowKey[] = [];
  for (let frame = shard.firstFrame; frame <= shard.lastFrame; frame++) {
    rows.push({
      video: shard.video,
      frame,
      faceIndex: 0,
      trackId: -1,
      noFace: !hasAudio(frame),
      box: null,
      detScore: null,
    });
  }
  return rows;
}

function videoOf(
  manifest: { readonly videos: readonly ManifestVideo[] },
  shard: ManifestShard,
): ManifestVideo {
  const video = manifest.videos.find((v) => v.name === shard.video);
  if (!video)
    throw new Error(`audio: shard ${shard.shardId} names video ${shard.video}, not in the manifest`);
  return video;
}

/** Frames pool: the shard's sound into the store. */
export function createAudioExtractActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  return {
    async extractAudio(input: ExtractAudioInput): Promise<ExtractAudioResult> {
      return classifyErrors(async () => {
        reportProgress({ stage: 'manifest' });
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const video = videoOf(manifest, shard);
        const embeddingsKey = audioShardKeys(deps, input).keyOf(manifest.datasetId, shard.shardId);
        if (await findCommit(deps.store, embeddingsKey))
          return { embeddingsKey, committed: true, samples: 0, findings: [] };
        const noAudio = (where: string): ExtractAudioResult => {
          const finding = `video ${video.name} (${where}): no audio stream; going on visual-only`;
          deps.log(`extractAudio ${shard.shardId}: ${finding}`);
          return { embeddingsKey, committed: false, samples: 0, findings: [finding] };
        };
        if (video.source.kind !== 'video')
          return noAudio(`${video.source.kind === 'frames' ? 'a frame folder' : 'a photo'}`);
        const span = framesSpan(shard.firstFrame, shard.lastFrame, video.fps, audioWindowing(input));
        reportProgress({ stage: 'decode' });
        // A reader per shard, closed after it: decoding the sound costs far more than opening one.
        const source = await openDatasetSource(manifest.root, deps.config, { listed: false });
        let pcm: Float32Array | undefined;
        try {
          const copy = await source.localCopy(video.source.path);
          pcm = await extractPcm(copy.path, span).finally(() => copy.release());
        } finally {
          source.close();
        }
        if (!pcm) return noAudio(source.display(video.source.path));
        const pcmKey = pcmKeyOf(embeddingsKey);
        await deps.store.put(pcmKey, new Uint8Array(pcm.buffer, pcm.byteOffset, pcm.byteLength));
        return { embeddingsKey, committed: false, pcmKey, samples: pcm.length, findings: [] };
      });
    },
  };
}

/** Embed pool: windows of the shard's sound into one committed audio embedding shard. */
export function createAudioEmbedActivities(deps: ActivityDeps) {
  const readManifest = manifestReader(deps.store);
  const sessions = new Map<string, Promise<AudioBackboneSession>>();
  const sessionFor = (descriptor: AudioBackboneDescriptor): Promise<AudioBackboneSession> => {
    const id = backboneId(descriptor);
    let session = sessions.get(id);
    if (!session) {
      session = openAudioBackbone(descriptor, join(deps.config.stateDir, 'models'), { log: deps.log });
      session.catch(() => sessions.delete(id));
      sessions.set(id, session);
    }
    return session;
  };
  return {
    async embedAudioShard(input: EmbedAudioShardInput): Promise<EmbedAudioShardResult> {
      return classifyErrors(async () => {
        const manifest = await readManifest(input.manifestKey);
        const shard = findShard(manifest, input.shardId);
        const video = videoOf(manifest, shard);
        const descriptor = getAudioBackbone(input.audioBackbone);
        const windowing = audioWindowing(input);
        const { configHash, keyOf } = audioShardKeys(deps, input);
        const embeddingsKey = keyOf(manifest.datasetId, shard.shardId);
        const existing = await findCommit(deps.store, embeddingsKey);
        if (existing) return { embeddingsKey, rows: existing.rows, noAudioRows: 0, reused: true };

        const span = framesSpan(shard.firstFrame, shard.lastFrame, video.fps, windowing);
        let pcm: Float32Array | undefined;
        if (input.pcmKey) {
          if (!(await deps.store.head(input.pcmKey)))
            throw new AudioPcmMissingError(input.pcmKey, shard.shardId);
          const bytes = await deps.store.get(input.pcmKey);
          pcm = new Float32Array(bytes.buffer.slice(bytes.byteOffset, bytes.byteOffset + bytes.byteLength));
        }
        // The sound ends inside the span when the PCM holds fewer samples than the span asked for.
        const audioEnd = !pcm ? 0 : pcm.length < span.end - span.start ? span.start + pcm.length : Infinity;
        const hasAudio = (frame: number): boolean => {
          const window = frameWindow(frame, video.fps, windowing);
          return Math.round(window.centreSeconds * AUDIO_SAMPLE_RATE) < audioEnd;
        };
        const rows = audioRows(shard, hasAudio);
        const session = await sessionFor(descriptor);
        const d = descriptor.hiddenDim;
        const embedding = new Float32Array(rows.length * d);
        // Frames sharing a window (hopFrames > 1) share its embedding: each window runs once.
        const anchors = [
          ...new Set(
            rows.filter((r) => !r.noFace).map((r) => frameWindow(r.frame, video.fps, windowing).anchor),
          ),
        ];
        const pooled = new Map<number, Float32Array>();
        const batchSize = input.batchSize ?? 32;
        for (let start = 0; start < anchors.length; start += batchSize) {
          const batch = anchors.slice(start, start + batchSize);
          const windows = batch.map((anchor) =>
            windowSamples(pcm!, span.start, frameWindow(anchor, video.fps, windowing)),
          );
          const samples = windows[0]!.length;
          const packed = new Float32Array(batch.length * samples);
          windows.forEach((w, i) => packed.set(w, i * samples));
          const out = await session.embed(packed, batch.length);
          batch.forEach((anchor, i) => pooled.set(anchor, out.slice(i * d, (i + 1) * d)));
          reportProgress({ windows: Math.min(start + batchSize, anchors.length), of: anchors.length });
        }
        rows.forEach((row, i) => {
          if (!row.noFace)
            embedding.set(pooled.get(frameWindow(row.frame, video.fps, windowing).anchor)!, i * d);
        });
        const noAudioRows = rows.filter((r) => r.noFace).length;
        const writer = EmbeddingShardWriter.open(
          deps.store,
          embeddingsKey,
          {
            dataset: manifest.datasetId,
            split: shard.split,
            backbone: descriptor.name,
            backboneVersion: descriptor.version,
            modelSha256: session.modelSha256,
            embeddingDim: d,
            scoresDim: 0,
          },
          {
            shardId: shard.shardId,
            configHash,
            backbone: JSON.stringify(descriptor),
            preprocessing: `audio: ffmpeg to ${AUDIO_SAMPLE_RATE} Hz mono float32; a ${windowing.windowSeconds} s window centred on each frame ((i - 0.5) / fps), hop ${windowing.hopFrames} frame(s), zeros outside the sound; mean over the hidden states`,
            extra: {
              modality: 'audio',
              execution_provider: session.provider,
              sample_rate: String(AUDIO_SAMPLE_RATE),
              window_seconds: String(windowing.windowSeconds),
              hop_frames: String(windowing.hopFrames),
              no_audio_frames: String(noAudioRows),
            },
          },
        );
        try {
          await writer.append(rows, embedding, new Float32Array(0));
        } catch (err) {
          await writer.abort();
          throw err;
        }
        const frames = rows.length;
        await writer.commit(
          { backbone: backboneId(descriptor), modality: 'audio' },
          { first: shard.firstFrame, last: shard.lastFrame, expected: frames, decoded: frames, damaged: [] },
        );
        if (input.pcmKey) await deps.store.delete(input.pcmKey);
        return { embeddingsKey, rows: frames, noAudioRows, reused: false };
      });
    },
  };
}
