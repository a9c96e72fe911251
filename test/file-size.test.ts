/**
 * Files doing one job (issue 18): no source file, tests included, over 450 lines. Large files are
 * split at their seams into modules of their own; generated and installed files are not checked.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { extname, join, relative } from 'node:path';
import { projectRoot } from '../base/paths.ts';

const MAX_LINES = 450;

/** Top-level folders that hold no project source: installed, built, generated or run state. */
const NOT_SOURCE = new Set(['node_modules', 'build', '.affectflow', '.git', 'shared']);

const SOURCE_EXTENSIONS = new Set(['.ts', '.js', '.mjs', '.py', '.sh']);

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
    .map((f) => ({ file: f, lines: lineCount(f) }))
    .filter((f) => f.lines > MAX_LINES)
    .map((f) => `${f.file}: ${f.lines} lines, expected at most ${MAX_LINES}; split it at its seams`);
  t.deepEqual(over, []);
});
