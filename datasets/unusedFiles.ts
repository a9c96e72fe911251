/**
 * What a dataset left out: every file under the root that no video, label or layout file uses
 * gets a finding with its reason. Names that are not UTF-8, symbolic links leaving the root or
 * pointing nowhere and folders that cannot be listed are errors, each reported alone; other
 * unused files are warnings (notes where a list chose the files), one per file, or one per
 * folder when nothing in it is used, at most UNUSED_LISTED of them and then a count.
 */
import type { Finding, Severity } from './manifest.ts';
import type { DatasetSource } from './source.ts';
import { FolderUnreadable, type TreeEntry } from './tree.ts';

/** Per-file (or per-folder) "not used" warnings listed before the rest is only counted. */
export const UNUSED_LISTED = 200;

/** Files the tools write into a dataset root themselves (datasets/synthetic.ts's stamp). */
const TOOL_FILES: ReadonlySet<string> = new Set(['affectflow-synthetic.json']);

export interface DatasetUse {
  /** Files (relative to the root) a video, a label source or the layout reads. */
  readonly files: ReadonlySet<string>;
  /** Files or folders that already have a finding, and folders read whole (frame folders). */
  readonly covered: ReadonlySet<string>;
  /** Why a file nobody uses is not used, e.g. `unsupported file type ".txt" (...)`. */
  readonly reason: (path: string) => string;
  /** Of an unused file: 'warning', or 'note' where leaving files out is the user's choice (a list). */
  readonly severity: Extract<Severity, 'warning' | 'note'>;
}

interface Unused {
  readonly path: string;
  readonly reason: string;
}

interface FolderReport {
  /** Errors and per-file warnings of the folder's subtree, kept only while something in it is used. */
  readonly unused: Unused[];
  /** Unused ordinary files in the subtree. */
  readonly count: number;
  readonly anyUsed: boolean;
}

/** The error finding of an entry that cannot be read as a file (an odd name, a link leaving the root or to nothing). */
export function treeEntryProblem(entry: TreeEntry): Finding | null {
  switch (entry.kind) {
    case 'not-utf8':
      return {
        severity: 'error',
        file: entry.path,
        message: `dataset ${entry.path}: expected a UTF-8 ${entry.dir ? 'folder' : 'file'} name, got bytes that are not (shown as \\xNN); left out${entry.dir ? ' with everything in it' : ''}: rename it`,
      };
    case 'link-out':
      return {
        severity: 'error',
        file: entry.path,
        message: `dataset ${entry.path}: symbolic link to ${JSON.stringify(entry.target)} leaves the dataset root; left out: copy the file into the dataset or link to a path inside it`,
      };
    case 'dangling':
      return {
        severity: 'error',
        file: entry.path,
        message: `dataset ${entry.path}: symbolic link to ${JSON.stringify(entry.target)} points to nothing; left out`,
      };
    default:
      return null;
  }
}

/** The findings for every file under root that `use` does not account for. */
export function unusedFileFindings(source: DatasetSource, use: DatasetUse): Finding[] {
  const errors: Finding[] = [];
  const visit = (dir: string): FolderReport => {
    const unused: Unused[] = [];
    let count = 0;
    let anyUsed = false;
    let entries: TreeEntry[];
    try {
      entries = source.listFolder(dir);
    } catch (err) {
      if (!(err instanceof FolderUnreadable)) throw err;
      errors.push({
        severity: 'error',
        file: dir,
        message: `dataset ${dir || '.'}/: cannot be listed (${err.detail}); everything in it left out`,
      });
      return { unused, count, anyUsed: true };
    }
    for (const entry of entries) {
      const problem = treeEntryProblem(entry);
      if (problem) {
        if (!use.covered.has(entry.path) && !use.files.has(entry.path)) errors.push(problem);
        anyUsed = true;
        continue;
      }
      if (use.covered.has(entry.path) || use.files.has(entry.path) || (!dir && TOOL_FILES.has(entry.path))) {
        anyUsed = true;
        continue;
      }
      if (entry.kind === 'dir') {
        const sub = visit(entry.path);
        anyUsed ||= sub.anyUsed;
        count += sub.count;
        if (sub.anyUsed) unused.push(...sub.unused.slice(0, UNUSED_LISTED + 1 - unused.length));
        else if (sub.count === 1) unused.push(sub.unused[0]!);
        else if (sub.count > 1)
          unused.push({
            path: `${entry.path}/`,
            reason: `none of its ${sub.count} files is used, e.g. ${sub.unused[0]!.path}: ${sub.unused[0]!.reason}`,
          });
        continue;
      }
      count++;
      if (unused.length > UNUSED_LISTED) continue;
      unused.push({
        path: entry.path,
        reason:
          entry.kind === 'link-dir'
            ? `symbolic link to the folder ${JSON.stringify(entry.target)}, not followed`
            : entry.kind === 'special'
              ? 'not a regular file (a FIFO, socket or device)'
              : use.reason(entry.path),
      });
    }
    return { unused, count, anyUsed };
  };
  const top = visit('');
  const listed = top.unused.slice(0, UNUSED_LISTED).map((u): Finding => ({
    severity: use.severity,
    file: u.path,
    message: `dataset ${u.path}: ${u.reason}; not used`,
  }));
  if (top.unused.length > UNUSED_LISTED)
    listed.push({
      severity: use.severity,
      file: '.',
      message: `dataset: more files not used than the ${UNUSED_LISTED} findings listed (${top.count} unused files in all)`,
    });
  return [...errors, ...listed];
}
