/**
 * The two shard kinds and their Parquet schemas.
 *
 * Frames shard: one row per face crop per frame (and one row with no_face = true for a frame
 * without a face), crops as lossless PNG; independent of any backbone.
 * Embedding shard: the same rows plus backbone identity, embedding float32[D] and scores
 * float32[K]; no-face rows keep null vectors so "no face" differs from "missing".
 */
import { readFileSync } from 'node:fs';
import {
  Binary,
  Bool,
  Field,
  FixedSizeList,
  Float32,
  Int32,
  RecordBatch,
  Schema,
  Struct,
  Table,
  Utf8,
  makeData,
  makeVector,
  vectorFromArray,
  type Data,
  type DataType,
  type Vector,
} from 'apache-arrow';
import { decodeParquet, encodeParquet } from './parquet.ts';

export interface FaceRowKey {
  readonly video: string;
  /** 1-based frame number. */
  readonly frame: number;
  readonly faceIndex: number;
  readonly trackId: number;
  readonly noFace: boolean;
  /** x, y, width, height in source-frame pixels; null for no-face rows. */
  readonly box: readonly [number, number, number, number] | null;
  readonly detScore: number | null;
}

export interface FrameRow extends FaceRowKey {
  /** PNG crop; null for no-face rows. */
  readonly image: Uint8Array | null;
  /** Detector landmarks, 5 points as x0, y0, ..., x4, y4 in source-frame pixels; null when none. */
  readonly landmarks?: ArrayLike<number> | null;
  /** Stored crop size in pixels (after the maximum-side cap); null for no-face rows. */
  readonly cropWidth?: number | null;
  readonly cropHeight?: number | null;
}

/** The row of a frame with no face (none detected, no provided image, an unreadable one). */
export function noFaceRow(video: string, frame: number): FrameRow {
  return {
    video,
    frame,
    faceIndex: 0,
    trackId: -1,
    noFace: true,
    box: null,
    detScore: null,
    image: null,
    landmarks: null,
    cropWidth: null,
    cropHeight: null,
  };
}

function validityBitmap(valid: readonly boolean[]): { nullBitmap: Uint8Array; nullCount: number } {
  const nullBitmap = new Uint8Array(Math.ceil(valid.length / 8));
  let nullCount = 0;
  valid.forEach((v, i) => {
    if (v) nullBitmap[i >> 3]! |= 1 << (i & 7);
    else nullCount++;
  });
  return { nullBitmap, nullCount };
}

/** A nullable FixedSizeList<float32>[dim] column from row-major values; null rows hold zeros. */
export function fixedSizeFloatColumn(values: Float32Array, dim: number, valid: readonly boolean[]): Vector {
  const length = valid.length;
  if (values.length !== length * dim) {
    throw new Error(`column: expected ${length} x ${dim} = ${length * dim} values, got ${values.length}`);
  }
  const child = makeData({ type: new Float32(), length: values.length, data: values });
  const type = new FixedSizeList(dim, new Field('item', new Float32(), false));
  return makeVector(makeData({ type, length, child, ...validityBitmap(valid) }));
}

function keyColumns(rows: readonly FaceRowKey[]): Record<string, Vector> {
  const boxes = new Float32Array(rows.length * 4);
  rows.forEach((r, i) => r.box && boxes.set(r.box, i * 4));
  return {
    video: vectorFromArray(
      rows.map((r) => r.video),
      new Utf8(),
    ),
    frame: vectorFromArray(Int32Array.from(rows, (r) => r.frame)),
    face_index: vectorFromArray(Int16Array.from(rows, (r) => r.faceIndex)),
    track_id: vectorFromArray(Int32Array.from(rows, (r) => r.trackId)),
    no_face: vectorFromArray(
      rows.map((r) => r.noFace),
      new Bool(),
    ),
    box: fixedSizeFloatColumn(
      boxes,
      4,
      rows.map((r) => r.box !== null),
    ),
    det_score: vectorFromArray(
      rows.map((r) => r.detScore),
      new Float32(),
    ),
  };
}

export function encodeFramesShard(rows: readonly FrameRow[], metadata: Record<string, string>): Uint8Array {
  const landmarks = new Float32Array(rows.length * 10);
  rows.forEach((r, i) => r.landmarks && landmarks.set(Array.from(r.landmarks), i * 10));
  const table = new Table({
    ...keyColumns(rows),
    image: vectorFromArray(
      rows.map((r) => r.image),
      new Binary(),
    ),
    landmarks: fixedSizeFloatColumn(
      landmarks,
      10,
      rows.map((r) => r.landmarks != null),
    ),
    crop_width: vectorFromArray(
      rows.map((r) => r.cropWidth ?? null),
      new Int32(),
    ),
    crop_height: vectorFromArray(
      rows.map((r) => r.cropHeight ?? null),
      new Int32(),
    ),
  });
  return encodeParquet(table, metadata);
}

/** The face row key of row `i` of a frames or embedding shard table. */
export function readFaceRowKey(table: Table, i: number): FaceRowKey {
  const box = table.getChild('box')?.get(i) as { toArray(): Float32Array } | null;
  const b = box ? box.toArray() : null;
  return {
    video: table.getChild('video')!.get(i) as string,
    frame: table.getChild('frame')!.get(i) as number,
    faceIndex: table.getChild('face_index')!.get(i) as number,
    trackId: table.getChild('track_id')!.get(i) as number,
    noFace: table.getChild('no_face')!.get(i) as boolean,
    box: b ? [b[0]!, b[1]!, b[2]!, b[3]!] : null,
    detScore: (table.getChild('det_score')?.get(i) as number | null) ?? null,
  };
}

export function decodeFramesShard(bytes: Uint8Array): FrameRow[] {
  const table = decodeParquet(bytes);
  const images = table.getChild('image')!;
  const landmarks = table.getChild('landmarks');
  const cropWidth = table.getChild('crop_width');
  const cropHeight = table.getChild('crop_height');
  return Array.from({ length: table.numRows }, (_, i) => ({
    ...readFaceRowKey(table, i),
    image: (images.get(i) as Uint8Array | null) ?? null,
    landmarks: (landmarks?.get(i) as { toArray(): Float32Array } | null)?.toArray() ?? null,
    cropWidth: (cropWidth?.get(i) as number | null) ?? null,
    cropHeight: (cropHeight?.get(i) as number | null) ?? null,
  }));
}

export interface EmbeddingIdentity {
  readonly dataset: string;
  readonly split: string;
  readonly backbone: string;
  readonly backboneVersion: string;
  readonly modelSha256: string;
  readonly embeddingDim: number;
  readonly scoresDim: number;
}

/**
 * The embedding shard's columns, in file order: dataset, split, the face row key columns,
 * backbone, backbone_version, model_sha256, embedding FixedSizeList<float32>[embeddingDim] and
 * scores FixedSizeList<float32>[scoresDim]. embeddings and scores are row-major
 * [rows, dim]; a no-face row's slice is ignored and stored as null.
 */
export function embeddingColumns(
  identity: EmbeddingIdentity,
  rows: readonly FaceRowKey[],
  embeddings: Float32Array,
  scores: Float32Array,
): Record<string, Vector> {
  const valid = rows.map((r) => !r.noFace);
  const constant = (value: string): Vector =>
    vectorFromArray(
      rows.map(() => value),
      new Utf8(),
    );
  return {
    dataset: constant(identity.dataset),
    split: constant(identity.split),
    ...keyColumns(rows),
    backbone: constant(identity.backbone),
    backbone_version: constant(identity.backboneVersion),
    model_sha256: constant(identity.modelSha256),
    embedding: fixedSizeFloatColumn(embeddings, identity.embeddingDim, valid),
    scores: fixedSizeFloatColumn(scores, identity.scoresDim, valid),
  };
}

/** The embedding shard's Arrow schema; every top-level field nullable, whatever the rows hold. */
export function embeddingSchema(identity: EmbeddingIdentity): Schema {
  const columns = embeddingColumns(identity, [], new Float32Array(0), new Float32Array(0));
  return new Schema(Object.entries(columns).map(([name, vector]) => new Field(name, vector.type, true)));
}

/** Columns as one record batch of exactly `schema` (streamed batches must share one schema). */
export function recordBatchOf(schema: Schema, columns: Record<string, Vector>): RecordBatch {
  const children: Data[] = schema.fields.map((field): Data => {
    const vector: Vector<DataType> | undefined = columns[field.name];
    if (!vector) throw new Error(`record batch: column ${field.name} missing`);
    const [data, ...more] = vector.data;
    if (!data || more.length > 0) {
      throw new Error(`record batch: column ${field.name}: expected one chunk, got ${vector.data.length}`);
    }
    return data;
  });
  const length = children[0]?.length ?? 0;
  return new RecordBatch(
    schema,
    makeData({ type: new Struct(schema.fields), length, nullCount: 0, children }),
  );
}

export const EMBEDDING_SCHEMA_VERSION = '1';

/** The package.json beside storage/, or two folders up from build/storage/ when running compiled. */
const PACKAGE_JSON = new URL(
  import.meta.url.endsWith('.js') ? '../../package.json' : '../package.json',
  import.meta.url,
);

/** The code that wrote a file: `affectflow@<package version>`, in every embedding shard's metadata. */
export const CODE_VERSION = `affectflow@${(JSON.parse(readFileSync(PACKAGE_JSON, 'utf8')) as { version: string }).version}`;

/** What an embedding shard's file-level metadata records besides its identity. */
export interface EmbeddingFileMetadata {
  readonly shardId: string;
  /** Hash of everything that shapes an embedding besides the crop (storage key component). */
  readonly configHash: string;
  /** The backbone descriptor as JSON. */
  readonly backbone: string;
  /** How crops become input tensors, in words. */
  readonly preprocessing: string;
  /** Further keys, written with an `affectflow.` prefix. */
  readonly extra?: Readonly<Record<string, string>>;
}

/** File-level key/value metadata of an embedding shard. */
export function embeddingFileMetadata(
  identity: EmbeddingIdentity,
  file: EmbeddingFileMetadata,
): Record<string, string> {
  return {
    ...Object.fromEntries(Object.entries(file.extra ?? {}).map(([k, v]) => [`affectflow.${k}`, v])),
    'affectflow.kind': 'embeddings',
    'affectflow.schema_version': EMBEDDING_SCHEMA_VERSION,
    'affectflow.code_version': CODE_VERSION,
    'affectflow.dataset': identity.dataset,
    'affectflow.split': identity.split,
    'affectflow.shard_id': file.shardId,
    'affectflow.config_hash': file.configHash,
    'affectflow.backbone': file.backbone,
    'affectflow.preprocessing': file.preprocessing,
  };
}

/** Columns worth dictionary encoding and statistics in an embedding shard: keys and constants. */
export const EMBEDDING_INDEXED_COLUMNS = [
  'dataset',
  'split',
  'video',
  'frame',
  'track_id',
  'backbone',
  'backbone_version',
  'model_sha256',
] as const;
