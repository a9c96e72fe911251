/**
 * One folder of a dataset, listed by name bytes: every entry is a file or folder to read, or says
 * why it cannot be (a name that is not UTF-8, a symbolic link leaving the root or pointing
 * nowhere, a FIFO or device, a folder that cannot be listed). Symbolic links that stay inside
 * the root count as what they point to; links to folders are not followed (no cycles).
 */
import { readdirSync, readlinkSync, realpathSync, statSync, type Dirent } from 'node:fs';
import { isAbsolute, join, relative, resolve, sep } from 'node:path';
import { escapedName, utf8Name } from './fileNames.ts';

export type TreeEntry =
  | { readonly kind: 'file' | 'dir'; readonly path: string }
  | { readonly kind: 'link-out' | 'link-dir' | 'dangling'; readonly path: string; readonly target: string }
  | { readonly kind: 'special'; readonly path: string }
  /** path: the name with its undecodable bytes escaped (fileNames.ts escapedName). */
  | { readonly kind: 'not-utf8'; readonly path: string; readonly dir: boolean };

/** Thrown when a folder cannot be listed; `detail` is the system's reason. */
export class FolderUnreadable extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`${path}: ${detail}`);
    this.name = 'FolderUnreadable';
  }
}

const byBytes = (a: Dirent<Buffer>, b: Dirent<Buffer>): number => Buffer.compare(a.name, b.name);

/** The entries of folder `dir` (relative to root, '' for the root), in name-byte order. */
export function listFolder(root: string, dir: string): TreeEntry[] {
  let dirents: Dirent<Buffer>[];
  try {
    dirents = readdirSync(join(root, dir), { withFileTypes: true, encoding: 'buffer' });
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    // Node's message already starts with the code ("EACCES: permission denied, scandir '...'").
    const reason = e.message.split(', ')[0] ?? e.message;
    throw new FolderUnreadable(dir, e.code && !reason.startsWith(e.code) ? `${e.code}: ${reason}` : reason);
  }
  const entries: TreeEntry[] = [];
  for (const dirent of dirents.sort(byBytes)) {
    const name = utf8Name(dirent.name);
    if (name === null) {
      const escaped = escapedName(dirent.name);
      entries.push({
        kind: 'not-utf8',
        path: dir ? `${dir}/${escaped}` : escaped,
        dir: dirent.isDirectory(),
      });
      continue;
    }
    const path = dir ? `${dir}/${name}` : name;
    if (dirent.isFile()) entries.push({ kind: 'file', path });
    else if (dirent.isDirectory()) entries.push({ kind: 'dir', path });
    else if (dirent.isSymbolicLink()) entries.push(linkEntry(root, path));
    else entries.push({ kind: 'special', path });
  }
  return entries;
}

function linkEntry(root: string, path: string): TreeEntry {
  const target = readlinkSync(join(root, path));
  try {
    realpathSync(join(root, path));
  } catch {
    return { kind: 'dangling', path, target };
  }
  if (!insideRoot(root, path)) return { kind: 'link-out', path, target };
  const stat = statSync(join(root, path));
  if (stat.isDirectory()) return { kind: 'link-dir', path, target };
  return stat.isFile() ? { kind: 'file', path } : { kind: 'special', path };
}

/** True when `path` (relative to root) stays inside root, also after following symbolic links. */
export function insideRoot(root: string, path: string): boolean {
  if (isAbsolute(path)) return false;
  const within = (base: string, target: string): boolean => {
    const rel = relative(base, target);
    return rel === '' || (!rel.startsWith(`..${sep}`) && rel !== '..' && !isAbsolute(rel));
  };
  const target = resolve(root, path);
  if (!within(resolve(root), target)) return false;
  try {
    return within(realpathSync(root), realpathSync(target));
  } catch {
    return true;
  }
}
