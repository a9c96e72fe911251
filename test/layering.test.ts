/**
 * The folders are the architecture (issue 18): docs/ARCHITECTURE.md lists them top to bottom under
 * "Folders", and every import from one folder into another must go down that list. The file-level
 * import/no-cycle lint does not see folder-level cycles (a.ts -> b/x.ts, b/y.ts -> a/z.ts); this
 * check does. Imports are read from the source text: static and type-only imports, re-exports,
 * dynamic `import('...')` and `new URL('...', import.meta.url)` references to other .ts files.
 */
import test from 'ava';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, normalize, relative } from 'node:path';
import { projectRoot } from '../base/paths.ts';

/** Folders outside the layering: they may import any folder, and none imports them. */
const OUTSIDE = new Set(['test', 'bench', 'node_modules', '.affectflow', '.git', 'shared']);

interface FolderImport {
  readonly from: string;
  readonly to: string;
  readonly file: string;
  readonly target: string;
}

function layering(): string[] {
  const doc = readFileSync(join(projectRoot, 'docs', 'ARCHITECTURE.md'), 'utf8');
  const section = /^## Folders\n([\s\S]*?)(?=^## )/m.exec(doc)?.[1];
  if (!section) throw new Error('docs/ARCHITECTURE.md: expected a "## Folders" section, found none');
  return [...section.matchAll(/^- `([\w-]+)\/`/gm)].map((m) => m[1]!);
}

function sourceFiles(dir = projectRoot): string[] {
  const files: string[] = [];
  for (const entry of readdirSync(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (dir === projectRoot && OUTSIDE.has(entry.name)) continue;
      files.push(...sourceFiles(path));
    } else if (entry.isFile() && entry.name.endsWith('.ts') && dir !== projectRoot) {
      files.push(relative(projectRoot, path));
    }
  }
  return files;
}

const IMPORT =
  /(?:^|[\s;])(?:import|export)\s+(?:type\s+)?(?:[^'";]*?\sfrom\s+)?['"](\.{1,2}\/[^'"]+)['"]|import\(\s*['"](\.{1,2}\/[^'"]+)['"]\s*\)|new URL\(\s*['"](\.{1,2}\/[^'"]+\.ts)['"]\s*,\s*import\.meta\.url/g;

function folderImports(): FolderImport[] {
  const imports: FolderImport[] = [];
  for (const file of sourceFiles()) {
    const text = readFileSync(join(projectRoot, file), 'utf8');
    for (const m of text.matchAll(IMPORT)) {
      const target = normalize(join(dirname(file), m[1] ?? m[2] ?? m[3]!));
      const from = file.split('/')[0]!;
      const to = target.split('/')[0]!;
      if (from !== to) imports.push({ from, to, file, target });
    }
  }
  return imports;
}

/** Strongly connected components of more than one folder (Tarjan). */
function folderCycles(imports: readonly FolderImport[]): string[][] {
  const next = new Map<string, Set<string>>();
  for (const { from, to } of imports) {
    if (!next.has(from)) next.set(from, new Set());
    if (!next.has(to)) next.set(to, new Set());
    next.get(from)!.add(to);
  }
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const cycles: string[][] = [];
  const visit = (v: string): void => {
    index.set(v, index.size);
    low.set(v, index.get(v)!);
    stack.push(v);
    for (const w of next.get(v)!) {
      if (!index.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (stack.includes(w)) low.set(v, Math.min(low.get(v)!, index.get(w)!));
    }
    if (low.get(v) === index.get(v)) {
      const component: string[] = [];
      let w: string;
      do component.push((w = stack.pop()!));
      while (w !== v);
      if (component.length > 1) cycles.push(component.sort());
    }
  };
  for (const v of [...next.keys()].sort()) if (!index.has(v)) visit(v);
  return cycles;
}

test('the Folders section of docs/ARCHITECTURE.md places every folder that holds TypeScript', (t) => {
  const layers = layering();
  t.true(
    layers.length > 5,
    `docs/ARCHITECTURE.md "## Folders": expected one "- \`folder/\`" line per folder, found ${layers.length}`,
  );
  t.is(
    new Set(layers).size,
    layers.length,
    `docs/ARCHITECTURE.md "## Folders" names a folder twice: ${layers.join(', ')}`,
  );
  const folders = [...new Set(sourceFiles().map((f) => f.split('/')[0]!))].sort();
  const unplaced = folders.filter((f) => !layers.includes(f));
  t.deepEqual(
    unplaced,
    [],
    `folders with .ts files that docs/ARCHITECTURE.md "## Folders" does not place: ${unplaced.join(', ')}; add each at its layer`,
  );
});

test('no folder-level import cycle', (t) => {
  const imports = folderImports();
  const cycles = folderCycles(imports).map((folders) => {
    const ties = imports.filter((i) => folders.includes(i.from) && folders.includes(i.to));
    return `${folders.join(' <-> ')}: ${ties.map((i) => `${i.file} -> ${i.target}`).join(', ')}`;
  });
  t.deepEqual(cycles, [], `folders that import each other in a loop:\n${cycles.join('\n')}`);
});

test('every import between folders goes down the layering in docs/ARCHITECTURE.md', (t) => {
  const layers = layering();
  const upward = folderImports()
    .filter((i) => layers.includes(i.from) && layers.includes(i.to))
    .filter((i) => layers.indexOf(i.to) < layers.indexOf(i.from))
    .map((i) => `${i.file} -> ${i.target} (${i.from}/ sits below ${i.to}/)`);
  t.deepEqual(
    upward,
    [],
    `imports that run up the layering (top to bottom: ${layers.join(', ')}):\n${upward.join('\n')}`,
  );
});
