/**
 * Files doing one job (issue 18): no source file, tests included, over 450 lines. Large files are
 * split at their seams into modules of their own; generated and installed files are not checked.
 */
import test from 'ava';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { projectRoot } from '../base/paths.ts';

const MAX_LINES = 450;

/** Top-level folders that hold no project source: installed, built, generated or run state. */
const NOT_SOURCE = new Set(['node_modules', 'build', '.affectflow', '.git', 'shared']);

const SOURCE_EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.py', '.sh']);

/**
 * Files being split in parallel work on issue 18 (first half: heads/tasks.ts, activities/train.ts,
 * datasets/synthetic.ts, test/completeness.test.ts, done). Remove each one here as its split lands;
 * the second test fails on an entry that no longer needs to be here.
 */
const BEING_SPLIT = new Set([
  'datasets/manifest.ts',
  'media/ffmpeg.ts',
  'models/pull.ts',
  'test/datasets.test.ts',
  'test/cli.test.ts',
]);

function sourceFiles(dir = projectRoot): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    const rel = relative(projectRoot, path);
    if (entry.isDirectory()) {
      if (dir === projectRoot && NOT_SOURCE.has(entry.name)) continue;
      if (rel === join('bench', 'results')) continue;
      files.push(...sourceFiles(path));
    } else if (entry.isFile() && SOURCE_EXTENSIONS.has(extname(entry.name))) {
      files.push(rel);
    }
  }
  return files;
}

function lineCount(file: string): number {
  const text = readFileSync(join(projectRoot, file), 'utf8');
  return text.split('\n').length - (text.endsWith('\n') ? 1 : 0);
}

test('no source file is over 450 lines', (t) => {
  const files = sourceFiles();
  t.true(files.includes(join('heads', 'tasks.ts')), 'the walk finds the sources');
  const over = files
    .filter((f) => !BEING_SPLIT.has(f))
    .map((f) => ({ file: f, lines: lineCount(f) }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.file}: ${f.lines} lines, expected at most ${MAX_LINES}; split it at its seams`);
  t.deepEqual(over, []);
});

test('every file listed as being split is still over 450 lines', (t) => {
  const done = [...BEING_SPLIT]
    .map((f) => ({ file: f, lines: existsSync(join(projectRoot, f)) ? lineCount(f) : 0 }))
    .filter((f) => f.lines <= MAX_LINES)
    .map((f) => `${f.file}: ${f.lines} lines; remove it from BEING_SPLIT in test/file-size.test.ts`);
  t.deepEqual(done, []);
});
