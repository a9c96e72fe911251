/**
 * Label file parsers of the ABAW datasets (SPEC §3). Per-frame files have a header line, then line
 * i+1 holds frame i (1-based, the image %05d.jpg). Every error names the file, the line and what
 * was expected.
 */
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  AU_NOT_ANNOTATED,
  CE_NOT_ANNOTATED,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
  EXPR_NOT_ANNOTATED,
  VA_NOT_ANNOTATED,
  type TaskLabels,
} from './labels.ts';

/** A malformed line in a label, list or CSV file; `file` is relative to the dataset root. */
export class AnnotationError extends Error {
  constructor(
    readonly file: string,
    readonly line: number,
    readonly detail: string,
  ) {
    super(`annotation ${file} line ${line}: ${detail}`);
    this.name = 'AnnotationError';
  }
}

export const EXPR_HEADER = AFFWILD2_EXPRESSIONS.join(',');
export const VA_HEADER = 'valence,arousal';
export const AU_HEADER = AFFWILD2_ACTION_UNITS.join(',');
export const CE_HEADER = COMPOUND_EXPRESSIONS.join(',');
export const EMI_HEADER = ['Filename', ...EMI_DIMENSIONS].join(',');

const INTEGER = /^-?\d+$/;
const NUMBER = /^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$/;

/**
 * Splits text into lines (LF or CRLF), dropping the blank lines at the end (editors and
 * spreadsheet exports leave some); a blank line before the last value is still a line.
 */
function splitLines(text: string): string[] {
  const lines = text.split(/\r?\n/);
  while (lines.length > 0 && lines.at(-1)!.trim() === '') lines.pop();
  return lines;
}

/** Checks line 1 is a header (holds a letter), returns the data lines that follow it. */
function dataLines(text: string, file: string): string[] {
  const lines = splitLines(text);
  const header = lines[0]?.trim();
  if (header === undefined) throw new AnnotationError(file, 1, 'expected a header line, got an empty file');
  if (!/[A-Za-z]/.test(header))
    throw new AnnotationError(file, 1, `expected a header line, got ${JSON.stringify(header)}`);
  return lines.slice(1);
}

function parseClassFile(text: string, file: string, classes: number, notAnnotated: number): Int8Array {
  const lines = dataLines(text, file);
  const labels = new Int8Array(lines.length);
  for (let i = 0; i < lines.length; i++) {
    const raw = lines[i]!.trim();
    const value = INTEGER.test(raw) ? Number(raw) : NaN;
    if (!(value === notAnnotated || (value >= 0 && value < classes))) {
      throw new AnnotationError(
        file,
        i + 2,
        `expected an integer in ${notAnnotated}..${classes - 1}, got ${JSON.stringify(raw)}`,
      );
    }
    labels[i] = value;
  }
  return labels;
}

/** EXPR: one integer 0..7 per frame (Aff-Wild2 order), -1 = not annotated. Index 0 = frame 1. */
export function parseExprAnnotation(text: string, file: string): Int8Array {
  return parseClassFile(text, file, AFFWILD2_EXPRESSIONS.length, EXPR_NOT_ANNOTATED);
}

/** CE (C-EXPR-DB, the EXPR file format over 7 compound classes): 0..6 per frame, -1 = not annotated. */
export function parseCeAnnotation(text: string, file: string): Int8Array {
  return parseClassFile(text, file, COMPOUND_EXPRESSIONS.length, CE_NOT_ANNOTATED);
}

/** VA: "valence,arousal" per frame, each in [-1, 1] or -5 (not annotated). Float64 [frames * 2]. */
export function parseVaAnnotation(text: string, file: string): Float64Array {
  const lines = dataLines(text, file);
  const values = new Float64Array(lines.length * 2);
  for (let i = 0; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    if (cells.length !== 2)
      throw new AnnotationError(
        file,
        i + 2,
        `expected 2 comma-separated values (valence,arousal), got ${cells.length}`,
      );
    for (let k = 0; k < 2; k++) {
      const raw = cells[k]!.trim();
      const value = NUMBER.test(raw) ? Number(raw) : NaN;
      if (!((value >= -1 && value <= 1) || value === VA_NOT_ANNOTATED))
        throw new AnnotationError(
          file,
          i + 2,
          `expected ${k === 0 ? 'valence' : 'arousal'} in [-1, 1] or -5, got ${JSON.stringify(raw)}`,
        );
      values[i * 2 + k] = value;
    }
  }
  return values;
}

/** AU: 12 comma-separated 0/1 per frame (AFFWILD2_ACTION_UNITS order), -1 = not annotated. Int8 [frames * 12]. */
export function parseAuAnnotation(text: string, file: string): Int8Array {
  const lines = dataLines(text, file);
  const width = AFFWILD2_ACTION_UNITS.length;
  const values = new Int8Array(lines.length * width);
  for (let i = 0; i < lines.length; i++) {
    const cells = lines[i]!.split(',');
    if (cells.length !== width)
      throw new AnnotationError(file, i + 2, `expected ${width} comma-separated values, got ${cells.length}`);
    for (let k = 0; k < width; k++) {
      const raw = cells[k]!.trim();
      if (raw !== '0' && raw !== '1' && raw !== String(AU_NOT_ANNOTATED))
        throw new AnnotationError(
          file,
          i + 2,
          `expected ${AFFWILD2_ACTION_UNITS[k]} to be 0, 1 or -1, got ${JSON.stringify(raw)}`,
        );
      values[i * width + k] = Number(raw);
    }
  }
  return values;
}

/** Parses one per-frame annotation file of an Aff-Wild2 or C-EXPR-DB task. */
export function parseFrameAnnotation(
  task: 'EXPR' | 'VA' | 'AU' | 'CE',
  text: string,
  file: string,
): TaskLabels {
  switch (task) {
    case 'EXPR':
      return { task, values: parseExprAnnotation(text, file) };
    case 'CE':
      return { task, values: parseCeAnnotation(text, file) };
    case 'VA':
      return { task, values: parseVaAnnotation(text, file) };
    case 'AU':
      return { task, values: parseAuAnnotation(text, file) };
  }
}

/** A test-set list: one video name per line, no header; blank lines ignored. */
export function parseVideoList(text: string, file: string): { name: string; line: number }[] {
  const names: { name: string; line: number }[] = [];
  splitLines(text).forEach((raw, i) => {
    const name = raw.trim();
    if (name === '') return;
    if (/[\\/]/.test(name) || name === '.' || name === '..')
      throw new AnnotationError(file, i + 1, `expected a video name, got the path ${JSON.stringify(name)}`);
    names.push({ name, line: i + 1 });
  });
  return names;
}

/** Splits one CSV line; fields may be double-quoted ("" inside quotes is a quote). */
export function splitCsvLine(line: string): string[] {
  const cells: string[] = [];
  let cell = '';
  let quoted = false;
  for (let i = 0; i < line.length; i++) {
    const c = line[i]!;
    if (quoted) {
      if (c === '"' && line[i + 1] === '"') {
        cell += '"';
        i++;
      } else if (c === '"') quoted = false;
      else cell += c;
    } else if (c === '"') quoted = true;
    else if (c === ',') {
      cells.push(cell);
      cell = '';
    } else cell += c;
  }
  cells.push(cell);
  return cells.map((s) => s.trim());
}

export interface EmiRow {
  /** Filename as written, without a video extension. */
  readonly name: string;
  readonly line: number;
  /** Float64 [6] in EMI_DIMENSIONS order, each in [0, 1]. */
  readonly intensities: Float64Array;
}

/**
 * Hume-Vidmimic2 train_split.csv / valid_split.csv: header Filename plus the six intensity
 * columns (any order), one row per video.
 */
export function parseEmiCsv(text: string, file: string): EmiRow[] {
  const lines = splitLines(text);
  const header = splitCsvLine(lines[0] ?? '');
  const expected = ['Filename', ...EMI_DIMENSIONS];
  const missing = expected.filter((c) => !header.includes(c));
  if (missing.length > 0 || header.length !== expected.length)
    throw new AnnotationError(
      file,
      1,
      `expected the header ${EMI_HEADER}, got ${JSON.stringify(lines[0] ?? '')}${missing.length ? ` (missing ${missing.join(', ')})` : ''}`,
    );
  const nameAt = header.indexOf('Filename');
  const columns = EMI_DIMENSIONS.map((d) => header.indexOf(d));
  const rows: EmiRow[] = [];
  for (let i = 1; i < lines.length; i++) {
    if (lines[i]!.trim() === '') continue;
    const cells = splitCsvLine(lines[i]!);
    if (cells.length !== expected.length)
      throw new AnnotationError(file, i + 1, `expected ${expected.length} columns, got ${cells.length}`);
    const intensities = new Float64Array(EMI_DIMENSIONS.length);
    columns.forEach((col, k) => {
      const raw = cells[col]!;
      const value = NUMBER.test(raw) ? Number(raw) : NaN;
      if (!(value >= 0 && value <= 1))
        throw new AnnotationError(
          file,
          i + 1,
          `expected ${EMI_DIMENSIONS[k]} in [0, 1], got ${JSON.stringify(raw)}`,
        );
      intensities[k] = value;
    });
    const filename = cells[nameAt]!;
    if (filename === '') throw new AnnotationError(file, i + 1, 'expected a Filename, got ""');
    rows.push({ name: filename.replace(/\.(mp4|avi|mkv|mov|webm)$/i, ''), line: i + 1, intensities });
  }
  return rows;
}

function formatRows(header: string, values: ArrayLike<number>, width: number): string {
  const out: string[] = [header];
  for (let i = 0; i < values.length; i += width) {
    const row: number[] = [];
    for (let k = 0; k < width; k++) row.push(values[i + k]!);
    out.push(row.join(','));
  }
  return `${out.join('\n')}\n`;
}

export function formatExprAnnotation(labels: ArrayLike<number>): string {
  return formatRows(EXPR_HEADER, labels, 1);
}
export function formatCeAnnotation(labels: ArrayLike<number>): string {
  return formatRows(CE_HEADER, labels, 1);
}
/** values: [frames * 2] valence, arousal. */
export function formatVaAnnotation(values: ArrayLike<number>): string {
  return formatRows(VA_HEADER, values, 2);
}
/** values: [frames * 12] in AFFWILD2_ACTION_UNITS order. */
export function formatAuAnnotation(values: ArrayLike<number>): string {
  return formatRows(AU_HEADER, values, AFFWILD2_ACTION_UNITS.length);
}
