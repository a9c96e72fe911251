/** Label orders of the ABAW tasks and the backbones' training sets (SPEC §2-§3). */

/** Aff-Wild2 expression classes, index = label value in EXPR annotation files. */
export const AFFWILD2_EXPRESSIONS = Object.freeze([
  'Neutral',
  'Anger',
  'Disgust',
  'Fear',
  'Happiness',
  'Sadness',
  'Surprise',
  'Other',
] as const);

/** AffectNet logit order of the 8-class HSEmotion backbones. */
export const AFFECTNET_EXPRESSIONS = Object.freeze([
  'Anger',
  'Contempt',
  'Disgust',
  'Fear',
  'Happiness',
  'Neutral',
  'Sadness',
  'Surprise',
] as const);

/** EXPR value marking a frame that is not annotated. */
export const EXPR_NOT_ANNOTATED = -1;

/** VA value marking a frame that is not annotated (a frame counts only if both values are >= -1). */
export const VA_NOT_ANNOTATED = -5;

/** Aff-Wild2 action units, in the column order of AU annotation files. */
export const AFFWILD2_ACTION_UNITS = Object.freeze([
  'AU1',
  'AU2',
  'AU4',
  'AU6',
  'AU7',
  'AU10',
  'AU12',
  'AU15',
  'AU23',
  'AU24',
  'AU25',
  'AU26',
] as const);

/** AU value marking a frame that is not annotated. */
export const AU_NOT_ANNOTATED = -1;

/** C-EXPR-DB compound expression classes, index = label value. */
export const COMPOUND_EXPRESSIONS = Object.freeze([
  'Fearfully Surprised',
  'Happily Surprised',
  'Sadly Surprised',
  'Disgustedly Surprised',
  'Angrily Surprised',
  'Sadly Fearful',
  'Sadly Angry',
] as const);

/** CE value marking a frame that is not annotated. */
export const CE_NOT_ANNOTATED = -1;

/** Hume-Vidmimic2 intensity columns after Filename, in CSV order; each in [0, 1]. */
export const EMI_DIMENSIONS = Object.freeze([
  'Admiration',
  'Amusement',
  'Determination',
  'Empathic Pain',
  'Excitement',
  'Joy',
] as const);

/** The challenge tasks a manifest can carry labels for. */
export const TASKS = Object.freeze(['VA', 'EXPR', 'AU', 'CE', 'EMI'] as const);
export type Task = (typeof TASKS)[number];

/**
 * Labels of one task for one video, as parsed. Per-frame tasks hold one entry per frame
 * (index 0 = frame 1) with the "not annotated" markers kept:
 * - EXPR: Int8Array [frames], -1..7.
 * - VA: Float64Array [frames * 2] (valence, arousal), -5 kept.
 * - AU: Int8Array [frames * 12] in AFFWILD2_ACTION_UNITS order, -1 kept.
 * - CE: Int8Array [frames], -1..6.
 * EMI is per video: Float64Array [6] in EMI_DIMENSIONS order.
 */
export type TaskLabels =
  | { readonly task: 'EXPR'; readonly values: Int8Array }
  | { readonly task: 'VA'; readonly values: Float64Array }
  | { readonly task: 'AU'; readonly values: Int8Array }
  | { readonly task: 'CE'; readonly values: Int8Array }
  | { readonly task: 'EMI'; readonly values: Float64Array };

/** The partition a video belongs to (per task where the task's files place it, as in Aff-Wild2). */
export type Split = 'Train' | 'Validation' | 'Test';
export const SPLITS: readonly Split[] = Object.freeze(['Train', 'Validation', 'Test']);

const WIDTH: Readonly<Record<Task, number>> = { EXPR: 1, VA: 2, AU: 12, CE: 1, EMI: 6 };

/** Frames covered by per-frame labels; undefined for per-video labels (EMI). */
export function labelFrames(labels: TaskLabels): number | undefined {
  return labels.task === 'EMI' ? undefined : labels.values.length / WIDTH[labels.task];
}

/** Frames that carry a label (not the "not annotated" marker); EMI counts 1. */
export function annotatedFrames(labels: TaskLabels): number {
  const v = labels.values;
  let n = 0;
  switch (labels.task) {
    case 'EMI':
      return 1;
    case 'VA':
      for (let i = 0; i < v.length; i += 2) if (v[i]! >= -1 && v[i + 1]! >= -1) n++;
      return n;
    case 'AU':
      for (let i = 0; i < v.length; i += 12)
        if (v.subarray(i, i + 12).every((x) => x !== AU_NOT_ANNOTATED)) n++;
      return n;
    default:
      for (const x of v) if (x >= 0) n++;
      return n;
  }
}

/**
 * Pads (with the task's "not annotated" marker) or cuts per-frame labels to `frames` frames;
 * per-video labels are returned as they are.
 */
export function fitLabels(labels: TaskLabels, frames: number): TaskLabels {
  const have = labelFrames(labels);
  if (have === undefined || have === frames) return labels;
  const width = WIDTH[labels.task];
  const fill = labels.task === 'VA' ? VA_NOT_ANNOTATED : -1;
  if (labels.values instanceof Int8Array) {
    const out = new Int8Array(frames * width).fill(fill);
    out.set(labels.values.subarray(0, Math.min(have, frames) * width));
    return { task: labels.task, values: out } as TaskLabels;
  }
  const out = new Float64Array(frames * width).fill(fill);
  out.set(labels.values.subarray(0, Math.min(have, frames) * width));
  return { task: labels.task, values: out } as TaskLabels;
}

/**
 * The store encoding of one video's labels (storeKeys.labels(datasetId, task, video)), JSON:
 * EXPR and CE an array of ints per frame (-1 = not annotated); VA an array of [valence, arousal]
 * pairs per frame (-5 kept); AU an array of 12-int arrays per frame (-1 kept); EMI an array of 6
 * floats for the whole video.
 */
export function encodeLabels(labels: TaskLabels): string {
  const v = labels.values;
  const width = WIDTH[labels.task];
  if (width === 1 || labels.task === 'EMI') return JSON.stringify(Array.from(v));
  const rows: number[][] = [];
  for (let i = 0; i < v.length; i += width) rows.push(Array.from(v.subarray(i, i + width)));
  return JSON.stringify(rows);
}

/** A stored label file that does not hold what encodeLabels writes; permanent (base/permanentErrors.ts). */
export class LabelFileError extends Error {
  constructor(
    readonly key: string,
    detail: string,
  ) {
    super(`labels ${key}: ${detail}`);
    this.name = 'LabelFileError';
  }
}

/**
 * Decodes a stored label file (the text encodeLabels writes, at `key`) into the task's flat typed
 * values: Float64Array for VA and EMI, Int8Array otherwise. Throws LabelFileError naming the key.
 */
export function decodeStoredLabels(task: Task, key: string, json: string): Int8Array | Float64Array {
  let parsed: unknown;
  try {
    parsed = JSON.parse(json);
  } catch (err) {
    throw new LabelFileError(
      key,
      `expected JSON, got a parse error (${(err as Error).message}); re-run the manifest to rewrite it`,
    );
  }
  if (!Array.isArray(parsed)) throw new LabelFileError(key, `expected a JSON array, got ${typeof parsed}`);
  const width = WIDTH[task];
  const flat = task === 'VA' || task === 'AU' ? (parsed as unknown[]).flat() : parsed;
  if ((task === 'VA' || task === 'AU') && flat.length !== parsed.length * width) {
    throw new LabelFileError(key, `expected ${width} values per frame`);
  }
  if (task === 'EMI' && flat.length !== width) {
    throw new LabelFileError(key, `expected ${width} intensities, got ${flat.length}`);
  }
  const bad = flat.findIndex((v) => typeof v !== 'number' || !Number.isFinite(v));
  if (bad >= 0)
    throw new LabelFileError(key, `value ${bad}: expected a finite number, got ${JSON.stringify(flat[bad])}`);
  return task === 'VA' || task === 'EMI'
    ? Float64Array.from(flat as number[])
    : Int8Array.from(flat as number[]);
}
