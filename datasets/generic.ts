/**
 * A user's own dataset. Layout under the root:
 *   videos.csv (optional)   header name,path[,split]; path relative to the root: a video file, a
 *                           photo or a folder of %05d.jpg frames; split Train, Validation or Test
 *                           (default Test)
 *   without videos.csv:     every video file (named by its base name) and every photo (.jpg,
 *                           .jpeg, .png, .webp, any case; named by its path, a one-frame video)
 *                           anywhere under the root, and every folder holding %05d.jpg images
 *                           directly under the root, videos/ or frames/; split Test
 *   labels.csv (optional)   header video,frame,<columns>; frame 1-based; columns any of: expr
 *                           (-1..7), valence and arousal ([-1, 1] or -5), AU1..AU26 (all 12; 0, 1
 *                           or -1), ce (-1..6). An empty cell or a frame without a row is not
 *                           annotated. A video's rows are contiguous with increasing frames, so
 *                           the file is streamed and each video's labels are read back alone.
 */
import { basename, extname } from 'node:path';
import { splitCsvLine } from './annotations.ts';
import { VIDEO_EXTENSIONS } from './affwild2.ts';
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  AU_NOT_ANNOTATED,
  CE_NOT_ANNOTATED,
  COMPOUND_EXPRESSIONS,
  EXPR_NOT_ANNOTATED,
  SPLITS,
  VA_NOT_ANNOTATED,
  type Split,
  type TaskLabels,
} from './labels.ts';
import type { AdapterResult, Finding, LabelSource, VideoEntry } from './manifest.ts';
import type { DatasetSource } from './source.ts';
import { FolderUnreadable } from './tree.ts';

const LABELS_FILE = 'labels.csv';
const VIDEOS_FILE = 'videos.csv';

/** Yields the lines of path[start, end) with their byte offsets; CRLF or LF. */
async function* linesWithOffsets(
  source: DatasetSource,
  path: string,
  start = 0,
  end?: number,
): AsyncGenerator<{ text: string; offset: number; next: number }> {
  let carry: Buffer = Buffer.alloc(0);
  let base = start;
  const stream = await source.stream(path, { start, ...(end === undefined ? {} : { end }) });
  for await (const chunk of stream as AsyncIterable<Buffer>) {
    const buf = carry.length ? Buffer.concat([carry, chunk]) : chunk;
    let from = 0;
    for (let i = buf.indexOf(10, from); i >= 0; i = buf.indexOf(10, from)) {
      yield {
        text: buf.toString('utf8', from, i).replace(/\r$/, ''),
        offset: base + from,
        next: base + i + 1,
      };
      from = i + 1;
    }
    base += from;
    carry = buf.subarray(from);
  }
  if (carry.length)
    yield { text: carry.toString('utf8').replace(/\r$/, ''), offset: base, next: base + carry.length };
}

/** Photos a generic dataset reads, each a one-frame video (extensions compared in lower case). */
export const PHOTO_EXTENSIONS: ReadonlySet<string> = new Set(['.jpg', '.jpeg', '.png', '.webp']);

const hasFrames = (source: DatasetSource, dir: string): boolean =>
  source.names(dir).some((f) => /^\d{5,}\.jpg$/.test(f.name));

/** Folders whose subfolders of %05d.jpg images are frame folders (provided crops). */
const FRAME_FOLDER_PARENTS: ReadonlySet<string> = new Set(['', 'videos', 'frames']);

const sourceKindOf = (path: string): 'video' | 'image' =>
  PHOTO_EXTENSIONS.has(extname(path).toLowerCase()) ? 'image' : 'video';

const MEDIA_TYPES = `a video: ${[...VIDEO_EXTENSIONS].sort().join(', ')}, or a photo: ${[...PHOTO_EXTENSIONS].sort().join(', ')}, any letter case`;

/** Why the generic layout does not use a file. */
function unusedReason(hasList: boolean): (path: string) => string {
  return (path) => {
    if (hasList) return `not listed in ${VIDEOS_FILE}`;
    const ext = extname(path).toLowerCase();
    if (VIDEO_EXTENSIONS.has(ext) || PHOTO_EXTENSIONS.has(ext))
      return 'not part of the generic layout (docs/DATASETS.md)';
    return `unsupported file type ${ext ? JSON.stringify(ext) : '(no extension)'}, expected ${MEDIA_TYPES}`;
  };
}

type Listed = {
  name: string;
  path: string;
  split: Split;
  origin: string;
  kind: 'video' | 'frames' | 'image';
};

/** The dataset's entries, and every path videos.csv names (used or reported, never "unused"). */
async function listEntries(
  source: DatasetSource,
  findings: Finding[],
): Promise<{ listed: Listed[]; named: string[] }> {
  const listed: Listed[] = [];
  const named: string[] = [];
  if (source.exists(VIDEOS_FILE)) {
    const lines = (await source.readText(VIDEOS_FILE)).split(/\r?\n/);
    const header = splitCsvLine(lines[0] ?? '');
    const [nameAt, pathAt, splitAt] = ['name', 'path', 'split'].map((c) => header.indexOf(c)) as [
      number,
      number,
      number,
    ];
    if (nameAt === -1 || pathAt === -1) {
      findings.push({
        severity: 'error',
        file: VIDEOS_FILE,
        line: 1,
        message: `dataset ${VIDEOS_FILE} line 1: expected a header with columns name,path[,split], got ${JSON.stringify(lines[0] ?? '')}; the file is ignored`,
      });
      return { listed, named };
    }
    lines.forEach((text, i) => {
      if (i === 0 || text.trim() === '') return;
      const line = i + 1;
      const cells = splitCsvLine(text);
      const fail = (detail: string): void => {
        findings.push({
          severity: 'error',
          file: VIDEOS_FILE,
          line,
          message: `dataset ${VIDEOS_FILE} line ${line}: ${detail}; left out`,
        });
      };
      if (cells.length !== header.length)
        return fail(`expected ${header.length} columns, got ${cells.length}`);
      const name = cells[nameAt]!;
      const path = cells[pathAt]!.replace(/\/+$/, '');
      const split = (splitAt >= 0 && cells[splitAt] ? cells[splitAt] : 'Test') as Split;
      if (!name) return fail('expected a video name, got ""');
      if (!SPLITS.includes(split))
        return fail(`expected split Train, Validation or Test, got ${JSON.stringify(split)}`);
      if (path) named.push(path);
      if (!path || !source.insideRoot(path))
        return fail(`path ${JSON.stringify(path)} is outside the dataset root`);
      if (!source.exists(path)) return fail(`path ${JSON.stringify(path)} does not exist`);
      listed.push({
        name,
        path,
        split,
        origin: `${VIDEOS_FILE} line ${line}`,
        kind: source.isDir(path) ? 'frames' : sourceKindOf(path),
      });
    });
    return { listed, named };
  }
  // Names that are not UTF-8, links leaving the root and unreadable folders are skipped here and
  // reported by the manifest's unused-file pass.
  const walk = (dir: string): void => {
    let entries;
    try {
      entries = source.listFolder(dir);
    } catch (err) {
      if (err instanceof FolderUnreadable) return;
      throw err;
    }
    for (const entry of entries) {
      const { path } = entry;
      if (entry.kind === 'dir') {
        if (FRAME_FOLDER_PARENTS.has(dir) && hasFrames(source, path))
          listed.push({ name: basename(path), path, split: 'Test', origin: path, kind: 'frames' });
        else walk(path);
      } else if (entry.kind === 'file') {
        const ext = extname(path).toLowerCase();
        if (VIDEO_EXTENSIONS.has(ext))
          listed.push({
            name: basename(path, extname(path)),
            path,
            split: 'Test',
            origin: path,
            kind: 'video',
          });
        else if (PHOTO_EXTENSIONS.has(ext))
          listed.push({ name: path, path, split: 'Test', origin: path, kind: 'image' });
      }
    }
  };
  walk('');
  return { listed, named };
}

type Column = { task: 'EXPR' | 'CE' | 'VA' | 'AU'; at: number; slot: number };

function columnsOf(header: readonly string[]): { columns: Column[]; unknown: string[] } {
  const columns: Column[] = [];
  const unknown: string[] = [];
  header.slice(2).forEach((name, k) => {
    const at = k + 2;
    if (name === 'expr') columns.push({ task: 'EXPR', at, slot: 0 });
    else if (name === 'ce') columns.push({ task: 'CE', at, slot: 0 });
    else if (name === 'valence' || name === 'arousal')
      columns.push({ task: 'VA', at, slot: name === 'valence' ? 0 : 1 });
    else if ((AFFWILD2_ACTION_UNITS as readonly string[]).includes(name))
      columns.push({
        task: 'AU',
        at,
        slot: AFFWILD2_ACTION_UNITS.indexOf(name as (typeof AFFWILD2_ACTION_UNITS)[number]),
      });
    else unknown.push(name);
  });
  return { columns, unknown };
}

/** Checks one cell; returns the value, or the task's not-annotated marker for an empty cell. */
function cellValue(column: Column, raw: string): number | string {
  const value = raw === '' ? NaN : Number(raw);
  switch (column.task) {
    case 'EXPR':
      if (raw === '') return EXPR_NOT_ANNOTATED;
      return Number.isInteger(value) && value >= -1 && value < AFFWILD2_EXPRESSIONS.length
        ? value
        : 'an integer in -1..7';
    case 'CE':
      if (raw === '') return CE_NOT_ANNOTATED;
      return Number.isInteger(value) && value >= -1 && value < COMPOUND_EXPRESSIONS.length
        ? value
        : 'an integer in -1..6';
    case 'VA':
      if (raw === '') return VA_NOT_ANNOTATED;
      return (value >= -1 && value <= 1) || value === VA_NOT_ANNOTATED ? value : 'a number in [-1, 1] or -5';
    case 'AU':
      if (raw === '') return AU_NOT_ANNOTATED;
      return value === 0 || value === 1 || value === -1 ? value : '0, 1 or -1';
  }
}

interface Block {
  readonly start: number;
  end: number;
  readonly firstLine: number;
  lastFrame: number;
}

export async function readGeneric(source: DatasetSource): Promise<AdapterResult> {
  const findings: Finding[] = [];
  const { listed, named } = await listEntries(source, findings);
  const names = new Set(listed.map((e) => e.name));
  const blocks = new Map<string, Block>();
  let columns: Column[] = [];
  if (source.exists(LABELS_FILE)) {
    let line = 0;
    let current: string | undefined;
    let width = 0;
    const dropped = new Set<string>();
    for await (const { text, offset, next } of linesWithOffsets(source, LABELS_FILE)) {
      line++;
      const fail = (detail: string): void => {
        findings.push({
          severity: 'error',
          file: LABELS_FILE,
          line,
          message: `annotation ${LABELS_FILE} line ${line}: ${detail}`,
        });
      };
      if (line === 1) {
        const header = splitCsvLine(text);
        const parsed = columnsOf(header);
        const au = parsed.columns.filter((c) => c.task === 'AU').length;
        const va = parsed.columns.filter((c) => c.task === 'VA').length;
        if (
          header[0] !== 'video' ||
          header[1] !== 'frame' ||
          parsed.unknown.length ||
          (au !== 0 && au !== 12) ||
          va === 1
        ) {
          fail(
            `expected the header video,frame followed by expr, valence,arousal, all of ${AFFWILD2_ACTION_UNITS.join(',')}, or ce; got ${JSON.stringify(text)}; the file is ignored`,
          );
          break;
        }
        columns = parsed.columns;
        width = header.length;
        continue;
      }
      if (text.trim() === '') continue;
      const cells = splitCsvLine(text);
      if (cells.length !== width) {
        fail(`expected ${width} columns, got ${cells.length}; row ignored`);
        continue;
      }
      const video = cells[0]!;
      const frame = Number(cells[1]);
      if (!names.has(video)) {
        if (!dropped.has(video))
          fail(`video ${JSON.stringify(video)} is not in the dataset; its rows are ignored`);
        dropped.add(video);
        continue;
      }
      if (!(Number.isInteger(frame) && frame >= 1)) {
        fail(`expected a 1-based frame number, got ${JSON.stringify(cells[1])}; row ignored`);
        continue;
      }
      const bad = columns
        .map((c) => [c, cellValue(c, cells[c.at]!)] as const)
        .find(([, v]) => typeof v === 'string');
      if (bad) {
        fail(
          `expected ${header(bad[0])} to be ${bad[1] as string}, got ${JSON.stringify(cells[bad[0].at])}; row ignored`,
        );
        continue;
      }
      let block = blocks.get(video);
      if (block && current !== video) {
        fail(
          `rows of ${video} must be contiguous (its first rows start at line ${block.firstLine}); row ignored`,
        );
        continue;
      }
      if (!block) {
        block = { start: offset, end: next, firstLine: line, lastFrame: 0 };
        blocks.set(video, block);
      }
      current = video;
      if (frame <= block.lastFrame) {
        fail(`expected a frame after ${block.lastFrame} for ${video}, got ${frame}; row ignored`);
        continue;
      }
      block.lastFrame = frame;
      block.end = next;
    }
  }
  function header(c: Column): string {
    if (c.task === 'AU') return AFFWILD2_ACTION_UNITS[c.slot]!;
    if (c.task === 'VA') return c.slot === 0 ? 'valence' : 'arousal';
    return c.task.toLowerCase();
  }
  const tasks = [...new Set(columns.map((c) => c.task))];
  const entries: VideoEntry[] = listed.map((e) => {
    const block = blocks.get(e.name);
    const labels: LabelSource[] = block
      ? tasks.map((task) => ({
          task,
          file: LABELS_FILE,
          split: e.split,
          load: () => loadBlock(source, e.name, block, columns, task),
        }))
      : [];
    return {
      name: e.name,
      source: e.kind === 'frames' ? { kind: 'frames', dir: e.path } : { kind: e.kind, path: e.path },
      origin: e.origin,
      split: e.split,
      labels,
    };
  });
  const hasList = source.exists(VIDEOS_FILE);
  return {
    kind: 'generic',
    entries,
    findings,
    layoutFiles: [...[VIDEOS_FILE, LABELS_FILE].filter((f) => source.exists(f)), ...named],
    unusedReason: unusedReason(hasList),
    unusedSeverity: hasList ? 'note' : 'warning',
  };
}

async function loadBlock(
  source: DatasetSource,
  video: string,
  block: Block,
  columns: Column[],
  task: Column['task'],
): Promise<TaskLabels> {
  const width = task === 'AU' ? 12 : task === 'VA' ? 2 : 1;
  const frames = block.lastFrame;
  const fill = task === 'VA' ? VA_NOT_ANNOTATED : -1;
  const values =
    task === 'VA' ? new Float64Array(frames * 2).fill(fill) : new Int8Array(frames * width).fill(fill);
  const mine = columns.filter((c) => c.task === task);
  let lastFrame = 0;
  for await (const { text } of linesWithOffsets(source, LABELS_FILE, block.start, block.end)) {
    const cells = splitCsvLine(text);
    const frame = Number(cells[1]);
    if (cells[0] !== video || !(frame > lastFrame)) continue;
    const parsed = mine.map((c) => cellValue(c, cells[c.at] ?? ''));
    if (parsed.some((v) => typeof v === 'string')) continue;
    lastFrame = frame;
    mine.forEach((c, k) => (values[(frame - 1) * width + c.slot] = parsed[k] as number));
  }
  return { task, values } as TaskLabels;
}
