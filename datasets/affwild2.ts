/**
 * Aff-Wild2 annotation files: a header line, then line i+1 holds frame i (1-based, the image
 * %05d.jpg). EXPR lines hold one integer 0..7, or -1 for a frame that is not annotated.
 */
import { AFFWILD2_EXPRESSIONS, EXPR_NOT_ANNOTATED } from './labels.ts';

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

/**
 * Parses an EXPR file into one label per frame (index 0 = frame 1); -1 keeps "not annotated".
 * `file` only names the source in errors.
 */
export function parseExprAnnotation(text: string, file: string): Int8Array {
  const lines = text.split(/\r?\n/);
  if (lines.at(-1) === '') lines.pop();
  const header = lines[0]?.trim();
  if (header === undefined) throw new AnnotationError(file, 1, 'expected a header line, got an empty file');
  if (/^-?\d+$/.test(header))
    throw new AnnotationError(file, 1, `expected a header line, got ${JSON.stringify(header)}`);
  const labels = new Int8Array(lines.length - 1);
  for (let i = 1; i < lines.length; i++) {
    const raw = (lines[i] ?? '').trim();
    const value = /^-?\d+$/.test(raw) ? Number(raw) : NaN;
    if (!(value === EXPR_NOT_ANNOTATED || (value >= 0 && value < AFFWILD2_EXPRESSIONS.length))) {
      throw new AnnotationError(file, i + 1, `expected an integer in -1..7, got ${JSON.stringify(raw)}`);
    }
    labels[i - 1] = value;
  }
  return labels;
}

export function formatExprAnnotation(labels: ArrayLike<number>): string {
  return `${EXPR_HEADER}\n${Array.from(labels).join('\n')}\n`;
}
