/**
 * Face tracks: greedy IoU tracking that never joins faces across a shot cut, a look-back before each shard's
 * range so tracks continue across shard boundaries, the links that let a reader give a whole
 * video one set of track ids, and the choice of the left or right person's track for Aff-Wild2's
 * `_left` / `_right` videos. docs/FRAMES.md, "Tracks".
 */
import { boxIou } from './boxes.ts';
import { sceneDistance, type FrameSignature } from './sceneCut.ts';

export type Box = readonly [number, number, number, number];

/**
 * Every tracking setting; all of it is hashed into the YuNet frames shards' key (framesShardKey),
 * so a change here writes new shards. `version` names the algorithm, its inputs included: tracks/3
 * samples a frame's colours on every fourth row (media/sceneCut.ts), where tracks/2 read every row.
 */
export const TRACKING = Object.freeze({
  version: 'tracks/3',
  /** A face joins a track whose last box overlaps it at least this much. */
  minIou: 0.3,
  /** A track not seen for more than this many frames is over. */
  maxGap: 25,
  /** Sampled frames decoded before a shard's range and tracked, not stored (> maxGap frames). */
  lookBack: 32,
  /**
   * sceneDistance from which two frames are different shots: a track last seen in one is never
   * joined in the other, and consecutive frames this far apart start a new scene (`_left` / `_right`).
   */
  sceneCut: 0.3,
  /** `_left` / `_right`: tracks with at least this share of a scene's longest track compete. */
  sideMinShare: 0.5,
});

/**
 * Greedy IoU tracking: each face joins the unmatched track whose last box overlaps it most (IoU
 * at least minIou, last seen at most maxGap frames ago), else starts a new track. Track ids are
 * 0, 1, 2, ... in order of first appearance within one tracker.
 */
export class IouTracker {
  private readonly tracks: { id: number; box: Box; frame: number }[] = [];
  private nextId = 0;
  constructor(
    private readonly minIou: number = TRACKING.minIou,
    private readonly maxGap: number = TRACKING.maxGap,
  ) {}

  /**
   * Track ids for the boxes of one frame (frames must come in increasing order); `joinable` may
   * rule tracks out (the shot changed since they were seen).
   */
  assign(frame: number, boxes: readonly Box[], joinable: (id: number) => boolean = () => true): number[] {
    const live = this.tracks.filter((t) => frame - t.frame <= this.maxGap && joinable(t.id));
    const pairs: { face: number; track: number; iou: number }[] = [];
    boxes.forEach((box, face) =>
      live.forEach((t, track) => {
        const iou = boxIou(box, t.box);
        if (iou >= this.minIou) pairs.push({ face, track, iou });
      }),
    );
    pairs.sort((a, b) => b.iou - a.iou);
    const ids = boxes.map(() => -1);
    const usedTracks = new Set<number>();
    for (const { face, track } of pairs) {
      if (ids[face] !== -1 || usedTracks.has(track)) continue;
      ids[face] = live[track]!.id;
      usedTracks.add(track);
    }
    boxes.forEach((box, face) => {
      if (ids[face] === -1) {
        ids[face] = this.nextId++;
        this.tracks.push({ id: ids[face], box, frame });
      } else {
        const t = this.tracks.find((tr) => tr.id === ids[face])!;
        t.box = box;
        t.frame = frame;
      }
    });
    return ids;
  }
}

/**
 * A track of this shard that continues one of the previous shard's: its last face in the look-back
 * is the previous shard's row (frame, faceIndex).
 */
export interface TrackLink {
  readonly track: number;
  readonly frame: number;
  readonly faceIndex: number;
}

/** Which person a video follows: Aff-Wild2's `<video>_left` and `<video>_right`. */
export type PersonSide = 'left' | 'right';

/** A shard's tracks once every frame has been seen: links and (with a side) the tracks kept. */
export interface ShardTrackResult {
  /** Per tracker id with a face in the range, in order of first appearance there: its last look-back face. */
  readonly lookBack: ReadonlyMap<number, { frame: number; faceIndex: number } | null>;
  /** With a side: whether a frame's face of a track is kept (one track per scene); without, null. */
  readonly keeps: ((frame: number, track: number) => boolean) | null;
}

interface TrackStats {
  /** The box centre x of each of its faces, look-back included. */
  readonly centres: number[];
  /** Its faces per scene. */
  readonly perScene: Map<number, number>;
  /** The colours of the frame it was last seen in. */
  signature: FrameSignature | null;
  inRange: boolean;
  lastLookBack: { frame: number; faceIndex: number } | null;
}

/**
 * Tracking over one shard's frames: the look-back frames first (context), then the range, in
 * increasing frame order, every sampled frame (with or without faces) so cuts are seen. A face
 * joins a track only when its frame's colours are close to those of the frame the track was last
 * seen in (sceneDistance below TRACKING.sceneCut): a cut ends every track, while a blank frame or
 * a flash inside a shot does not.
 */
export class ShardTracker {
  private readonly tracker = new IouTracker();
  private readonly stats = new Map<number, TrackStats>();
  private readonly order: number[] = [];
  /** Scenes: runs of frames between two consecutive frames whose colours differ by a cut. */
  private readonly sceneOf = new Map<number, number>();
  private previous: FrameSignature | null = null;
  private scene = 0;

  /**
   * Track ids (the tracker's own; settleTracks turns them into stored ids) for one frame's boxes,
   * ordered as its faceIndex. `signature` is null when the frame's pixels are not known.
   */
  frame(frame: number, signature: FrameSignature | null, boxes: readonly Box[], context: boolean): number[] {
    if (signature && this.previous && sceneDistance(this.previous, signature) >= TRACKING.sceneCut)
      this.scene++;
    if (signature) this.previous = signature;
    this.sceneOf.set(frame, this.scene);
    const sameScene = (id: number): boolean => {
      const last = this.stats.get(id)?.signature;
      return !signature || !last || sceneDistance(last, signature) < TRACKING.sceneCut;
    };
    const ids = this.tracker.assign(frame, boxes, sameScene);
    ids.forEach((id, faceIndex) => {
      let s = this.stats.get(id);
      if (!s) {
        s = { centres: [], perScene: new Map(), signature: null, inRange: false, lastLookBack: null };
        this.stats.set(id, s);
      }
      s.centres.push(boxes[faceIndex]![0] + boxes[faceIndex]![2] / 2);
      s.perScene.set(this.scene, (s.perScene.get(this.scene) ?? 0) + 1);
      s.signature = signature ?? s.signature;
      if (context) s.lastLookBack = { frame, faceIndex };
      else if (!s.inRange) {
        s.inRange = true;
        this.order.push(id);
      }
    });
    return ids;
  }

  finish(side: PersonSide | null): ShardTrackResult {
    const chosen = side ? this.sideTracks(side) : null;
    return {
      lookBack: new Map(this.order.map((id) => [id, this.stats.get(id)!.lastLookBack])),
      keeps: chosen && ((frame, track) => chosen.get(this.sceneOf.get(frame)!) === track),
    };
  }

  /**
   * Per scene, the track whose median box centre (over all its faces) is leftmost (or rightmost)
   * among the scene's long tracks (at least sideMinShare of the faces of the scene's longest),
   * look-back included; ties go to the earlier track.
   */
  private sideTracks(side: PersonSide): Map<number, number> {
    const byScene = new Map<number, { id: number; faces: number; median: number }[]>();
    for (const [id, s] of this.stats) {
      const centre = median(s.centres);
      for (const [scene, faces] of s.perScene) {
        const list = byScene.get(scene) ?? [];
        list.push({ id, faces, median: centre });
        byScene.set(scene, list);
      }
    }
    const chosen = new Map<number, number>();
    const sign = side === 'left' ? 1 : -1;
    for (const [scene, tracks] of byScene) {
      const most = Math.max(...tracks.map((t) => t.faces));
      const best = tracks
        .filter((t) => t.faces >= TRACKING.sideMinShare * most)
        .sort((a, b) => sign * (a.median - b.median) || a.id - b.id)[0]!;
      chosen.set(scene, best.id);
    }
    return chosen;
  }
}

/** A stored row as tracking sees it: rows of one frame are adjacent, frames ascending. */
interface TrackedRow {
  readonly frame: number;
  readonly faceIndex: number;
  readonly noFace: boolean;
  readonly trackId: number;
}

/**
 * A shard's rows with their stored track ids (0, 1, ... in order of first appearance among the
 * kept faces) in place of the tracker's, the faces of tracks not kept dropped (a frame left
 * without a face gets `noFace(frame)`), and the links of the kept tracks.
 */
export function settleTracks<R extends TrackedRow>(
  rows: readonly R[],
  result: ShardTrackResult,
  noFace: (frame: number) => R,
): { rows: R[]; links: TrackLink[] } {
  const stored = new Map<number, number>();
  const settled: R[] = [];
  for (let i = 0; i < rows.length;) {
    const frame = rows[i]!.frame;
    const before = settled.length;
    for (; i < rows.length && rows[i]!.frame === frame; i++) {
      const row = rows[i]!;
      if (row.noFace || (result.keeps && !result.keeps(frame, row.trackId))) continue;
      if (!stored.has(row.trackId)) stored.set(row.trackId, stored.size);
      settled.push({ ...row, trackId: stored.get(row.trackId)! });
    }
    if (settled.length === before) settled.push(noFace(frame));
  }
  const links: TrackLink[] = [];
  for (const [id, track] of stored) {
    const back = result.lookBack.get(id);
    if (back) links.push({ track, ...back });
  }
  return { rows: settled, links };
}

function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/** One committed frames shard of a video, as videoTrackIds reads it. */
export interface ShardTracks {
  readonly rows: readonly { frame: number; faceIndex: number; trackId: number; noFace: boolean }[];
  readonly links: readonly TrackLink[];
}

/**
 * Track ids for a whole video from its shards in frame order (each shard's stored ids are its
 * own): a linked track takes the id of the previous shard's track that holds the linked row,
 * every other track a new id, 0, 1, ... in order of first appearance in the video. Returns per
 * shard the map from stored id to video id. A missing shard (not passed) breaks the chain: the
 * next shard's tracks get new ids.
 */
export function videoTrackIds(shards: readonly ShardTracks[]): Map<number, number>[] {
  let next = 0;
  let previousRows = new Map<string, number>();
  return shards.map((shard) => {
    const ids = new Map<number, number>();
    const taken = new Set<number>();
    for (const link of shard.links) {
      const id = previousRows.get(`${link.frame}:${link.faceIndex}`);
      if (id !== undefined && !taken.has(id) && !ids.has(link.track)) {
        ids.set(link.track, id);
        taken.add(id);
      }
    }
    const local = [...new Set(shard.rows.filter((r) => !r.noFace).map((r) => r.trackId))].sort(
      (a, b) => a - b,
    );
    for (const track of local) if (!ids.has(track)) ids.set(track, next++);
    previousRows = new Map(
      shard.rows.filter((r) => !r.noFace).map((r) => [`${r.frame}:${r.faceIndex}`, ids.get(r.trackId)!]),
    );
    return ids;
  });
}

/** The links a frames shard's commit marker records (`trackLinks`, JSON); none when absent. */
export function parseTrackLinks(meta: Readonly<Record<string, string | number>>): TrackLink[] {
  const value = meta['trackLinks'];
  return typeof value === 'string' ? (JSON.parse(value) as TrackLink[]) : [];
}
