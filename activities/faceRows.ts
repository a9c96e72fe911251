/** The train activity's one pass over a run's committed embedding shards (face rows, spilled embeddings). */
import type { Manifest } from '../datasets/manifest.ts';
import { EmbeddingRowRouter, type EmbeddingRows } from '../heads/embeddingRows.ts';
import type { HeadSettings, LabelledVideo, VideoFaces } from '../heads/tasks.ts';
import { committedObject, listCommitted, type CommitRecord } from '../storage/commit.ts';
import { keyFolder } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { CommittedShardFile, floatVectors } from '../storage/shardReader.ts';
import { reportProgress } from './context.ts';
import type { SpillDirectory } from './trainSpill.ts';

/** What one pass over the committed shards leaves: keys and scores per video, embeddings spilled. */
export interface FaceRowsRead {
  /** Per manifest video: its face rows' keys and scores, sorted by frame and face (no embeddings). */
  readonly videos: Map<string, VideoFaces>;
  /** The EXPR and AU heads' embedding rows, spilled under the activity's state directory. */
  readonly embeddings: EmbeddingRows;
  readonly shards: number;
  /** Rows of the shards read (no-face rows included). */
  readonly rows: number;
  /** The data objects of the shards read, as their markers name them, in key order. */
  readonly objects: readonly string[];
  /** Wall seconds of the pass (store reads, Parquet decoding, spill writes). */
  readonly seconds: number;
}

interface ShardKeys {
  /** Index of the row's video in the manifest; -1 for a video the manifest does not list. */
  readonly video: Int32Array;
  readonly frame: Int32Array;
  /** 1 for the first face (lowest face index) of its frame, 2 for any other face, 0 for no face. */
  readonly face: Int32Array;
  readonly faceIndex: Int32Array;
}

const KEY_COLUMNS = ['video', 'frame', 'face_index', 'no_face'] as const;

/** The key columns of a shard file (a few int32 a row), and which row is the first face of its frame. */
async function shardKeys(
  file: CommittedShardFile,
  videoIndex: ReadonlyMap<string, number>,
): Promise<ShardKeys> {
  const video: number[] = [];
  const frame: number[] = [];
  const faceIndex: number[] = [];
  const isFace: boolean[] = [];
  for await (const table of file.batches({ columns: KEY_COLUMNS, batchSize: 8192 })) {
    const [names, frames, faces, noFace] = KEY_COLUMNS.map((c) => table.getChild(c)!);
    let last: { name: string; index: number } | undefined;
    for (let i = 0; i < table.numRows; i++) {
      const name = String(names!.get(i));
      if (last?.name !== name) last = { name, index: videoIndex.get(name) ?? -1 };
      video.push(last.index);
      frame.push(Number(frames!.get(i)));
      faceIndex.push(Number(faces!.get(i)));
      isFace.push(noFace!.get(i) !== true);
    }
  }
  // The first face of a frame: the lowest face index among the frame's rows in this shard (a
  // shard holds whole frames of one video).
  const lowest = new Map<number, number>();
  const slot = (i: number): number => video[i]! * 2 ** 24 + frame[i]!;
  isFace.forEach((f, i) => {
    if (f) lowest.set(slot(i), Math.min(lowest.get(slot(i)) ?? Infinity, faceIndex[i]!));
  });
  return {
    video: Int32Array.from(video),
    frame: Int32Array.from(frame),
    face: Int32Array.from(isFace, (f, i) => (!f ? 0 : lowest.get(slot(i)) === faceIndex[i] ? 1 : 2)),
    faceIndex: Int32Array.from(faceIndex),
  };
}

interface FacePart {
  readonly frames: Int32Array;
  readonly faces: Int32Array;
  scores: Float32Array;
  filled: number;
}

/** The committed shards among `keys`, one listing per key folder (most runs have one). */
async function* committedAmong(store: ObjectStore, keys: readonly string[]): AsyncIterable<CommitRecord> {
  const wanted = new Set(keys);
  const folders = new Set(keys.map(keyFolder));
  for (const folder of folders) {
    for await (const record of listCommitted(store, folder)) if (wanted.has(record.key)) yield record;
  }
}

/**
 * One pass over the run's committed embedding shards (`embeddingKeys`: the manifest's shards
 * under the run's settings), one shard file at a time: the key columns first, then the embedding
 * and scores in batches of 1,024 rows. Each face row's key and
 * scores are kept per video; the first face of each frame goes to the EXPR and AU row sets
 * (EmbeddingRowRouter) in `spill`. Memory: one shard's keys, one batch, the spill writers' stages.
 */
export async function readFaceRows(
  store: ObjectStore,
  manifest: Manifest,
  embeddingKeys: readonly string[],
  labelled: readonly Pick<LabelledVideo, 'labels' | 'splits'>[],
  settings: HeadSettings,
  spill: SpillDirectory,
  /**
   * The per-row vectors kept per video as VideoFaces.scores (the VA and EMI heads' input): the
   * shards' scores, or their embeddings for an audio backbone, whose shards have no scores.
   */
  kept: 'scores' | 'embedding' = 'scores',
  /** Also sent every first-face row (e.g. heads/ceRuns.ts CeRowCollector). */
  extraRows?: { add(video: number, frame: number, embedding: Float32Array): Promise<void> },
): Promise<FaceRowsRead> {
  const started = process.hrtime.bigint();
  const videoIndex = new Map(manifest.videos.map((v, i) => [v.name, i]));
  const router = new EmbeddingRowRouter(
    labelled,
    settings.streaming,
    { EXPR: settings.expr.seed, AU: settings.au.seed },
    (name, layout) => spill.writer(name, layout),
    settings.protocol.fitOn,
  );
  const parts = manifest.videos.map((): FacePart[] => []);
  let shards = 0;
  let rows = 0;
  let scoresDim = 0;
  const objects: string[] = [];
  for await (const record of committedAmong(store, embeddingKeys)) {
    objects.push(committedObject(record));
    const file = await CommittedShardFile.open(store, record, { tempDir: spill.path });
    try {
      const keys = await shardKeys(file, videoIndex);
      const shardParts = new Map<number, FacePart>();
      const counts = new Map<number, number>();
      keys.video.forEach((v, i) => {
        if (v >= 0 && keys.face[i] !== 0) counts.set(v, (counts.get(v) ?? 0) + 1);
      });
      for (const [v, count] of counts) {
        const part = {
          frames: new Int32Array(count),
          faces: new Int32Array(count),
          scores: new Float32Array(0),
          filled: 0,
        };
        shardParts.set(v, part);
        parts[v]!.push(part);
      }
      let base = 0;
      for await (const table of file.batches({ columns: ['embedding', 'scores'], batchSize: 1024 })) {
        const embedding = floatVectors(table, 'embedding');
        const scores = kept === 'embedding' ? embedding : floatVectors(table, 'scores');
        scoresDim = scores.dim;
        for (let r = 0; r < table.numRows; r++) {
          const i = base + r;
          const part = shardParts.get(keys.video[i]!);
          if (!part || keys.face[i] === 0) continue;
          if (part.scores.length === 0) part.scores = new Float32Array(part.frames.length * scoresDim);
          part.frames[part.filled] = keys.frame[i]!;
          part.faces[part.filled] = keys.faceIndex[i]!;
          part.scores.set(
            scores.values.subarray(r * scoresDim, (r + 1) * scoresDim),
            part.filled * scoresDim,
          );
          part.filled++;
          if (keys.face[i] === 1) {
            const d = embedding.dim;
            const row = embedding.values.subarray(r * d, (r + 1) * d);
            await router.add(keys.video[i]!, keys.frame[i]!, row);
            await extraRows?.add(keys.video[i]!, keys.frame[i]!, row);
          }
        }
        base += table.numRows;
      }
    } finally {
      await file.close();
    }
    shards++;
    rows += record.rows;
    reportProgress({ stage: 'read', shards });
  }
  const embeddings = await router.finish();
  const videos = new Map<string, VideoFaces>();
  manifest.videos.forEach((video, v) => {
    const list = parts[v]!;
    const n = list.reduce((a, p) => a + p.filled, 0);
    const frames = new Int32Array(n);
    const faces = new Int32Array(n);
    const scores = new Float32Array(n * scoresDim);
    let o = 0;
    for (const p of list) {
      frames.set(p.frames.subarray(0, p.filled), o);
      faces.set(p.faces.subarray(0, p.filled), o);
      scores.set(p.scores.subarray(0, p.filled * scoresDim), o * scoresDim);
      o += p.filled;
    }
    const order = Array.from({ length: n }, (_, i) => i).sort(
      (a, b) => frames[a]! - frames[b]! || faces[a]! - faces[b]!,
    );
    const sortedScores = new Float32Array(n * scoresDim);
    order.forEach((from, to) =>
      sortedScores.set(scores.subarray(from * scoresDim, (from + 1) * scoresDim), to * scoresDim),
    );
    videos.set(video.name, {
      video: video.name,
      frameCount: video.frameCount,
      frames: Int32Array.from(order, (i) => frames[i]!),
      faceIndex: Int32Array.from(order, (i) => faces[i]!),
      scores: sortedScores,
    });
    parts[v] = [];
  });
  return {
    videos,
    embeddings,
    shards,
    rows,
    objects,
    seconds: Number(process.hrtime.bigint() - started) / 1e9,
  };
}
