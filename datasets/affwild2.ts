/**
 * Aff-Wild2 (ABAW VA, EXPR and AU tasks). Layout under the root:
 *   videos/[<subfolder>/]<video>.<ext>                 raw videos (*_left / *_right share <video>)
 *   cropped/<name>/%05d.jpg, cropped_aligned/<name>/   per-frame face crops, 1-based; missing = no face
 *   annotations/{VA_Estimation_Challenge,EXPR_Recognition_Challenge,AU_Detection_Challenge}/
 *       {Train_Set,Validation_Set}/<name>.txt
 *   [annotations/ or names_of_videos_in_each_test_set/]*test_set*.txt   test lists, one name per line
 */
import { basename, extname } from 'node:path';
import { parseFrameAnnotation, parseVideoList } from './annotations.ts';
import type { Split, Task } from './labels.ts';
import {
  annotationFinding,
  type AdapterResult,
  type Finding,
  type LabelSource,
  type VideoEntry,
  type VideoSource,
  sourcePathOf,
} from './manifest.ts';
import type { DatasetSource } from './source.ts';

export { AnnotationError, EXPR_HEADER, formatExprAnnotation, parseExprAnnotation } from './annotations.ts';

export const VIDEO_EXTENSIONS: ReadonlySet<string> = new Set(['.mp4', '.avi', '.mkv', '.mov', '.webm']);

export const AFFWILD2_TASK_FOLDERS: readonly (readonly [string, 'VA' | 'EXPR' | 'AU'])[] = [
  ['VA_Estimation_Challenge', 'VA'],
  ['EXPR_Recognition_Challenge', 'EXPR'],
  ['AU_Detection_Challenge', 'AU'],
];
export const AFFWILD2_SPLIT_FOLDERS: readonly (readonly [string, Split])[] = [
  ['Train_Set', 'Train'],
  ['Validation_Set', 'Validation'],
];
export const FACE_FOLDERS = ['cropped', 'cropped_aligned'] as const;

/** Which frames a video's shards read: a face-crop folder, or the raw video; auto = cropped/, then cropped_aligned/, then the video. */
export type FacesChoice = 'auto' | 'video' | (typeof FACE_FOLDERS)[number];
export const FACES_CHOICES: readonly FacesChoice[] = Object.freeze(['auto', ...FACE_FOLDERS, 'video']);

const LEFT_RIGHT = /_(left|right)$/;

/** Video files under dir (and one level of subfolders), by name without extension. */
export function listVideoFiles(source: DatasetSource, dir: string): Map<string, string[]> {
  const files = new Map<string, string[]>();
  const visit = (rel: string, depth: number): void => {
    for (const entry of source.names(rel)) {
      const path = `${rel}/${entry.name}`;
      if (entry.isDir && depth > 0) visit(path, depth - 1);
      else if (entry.isFile && VIDEO_EXTENSIONS.has(extname(entry.name).toLowerCase())) {
        const name = basename(entry.name, extname(entry.name));
        files.set(name, [...(files.get(name) ?? []), path]);
      }
    }
  };
  if (source.isDir(dir)) visit(dir, 1);
  return files;
}

function taskOfList(file: string): Task | undefined {
  if (/^valence|^va_/i.test(file)) return 'VA';
  if (/^expr/i.test(file)) return 'EXPR';
  if (/^action|^au_/i.test(file)) return 'AU';
  return undefined;
}

export async function readAffWild2(
  source: DatasetSource,
  faces: FacesChoice = 'auto',
): Promise<AdapterResult> {
  const findings: Finding[] = [];
  const labels = new Map<string, LabelSource[]>();
  const names = new Set<string>();
  for (const [folder, task] of AFFWILD2_TASK_FOLDERS) {
    const seen = new Map<string, string>();
    for (const [splitFolder, split] of AFFWILD2_SPLIT_FOLDERS) {
      const rel = `annotations/${folder}/${splitFolder}`;
      for (const { name: file } of source.names(rel)) {
        if (extname(file) !== '.txt') continue;
        const name = basename(file, '.txt');
        const path = `${rel}/${file}`;
        const earlier = seen.get(name);
        if (earlier) {
          findings.push({
            severity: 'error',
            file: path,
            message: `annotation ${path}: ${name} is also listed in ${earlier}; this file is ignored`,
          });
          continue;
        }
        seen.set(name, path);
        names.add(name);
        const load = async () => parseFrameAnnotation(task, await source.readText(path), path);
        labels.set(name, [...(labels.get(name) ?? []), { task, file: path, split, load }]);
      }
    }
  }

  const testNames = new Set<string>();
  const lists: string[] = [];
  for (const dir of ['', 'annotations', 'names_of_videos_in_each_test_set']) {
    for (const { name: file } of source.names(dir)) {
      if (!/test_set.*\.txt$/i.test(file)) continue;
      const path = dir ? `${dir}/${file}` : file;
      lists.push(path);
      try {
        for (const { name, line } of parseVideoList(await source.readText(path), path)) {
          if (labels.has(name)) {
            findings.push({
              severity: 'warning',
              file: path,
              line,
              message: `annotation ${path} line ${line}: ${name} has ${taskOfList(file) ?? 'some'} labels in a Train or Validation set; kept there`,
            });
            continue;
          }
          testNames.add(name);
          names.add(name);
        }
      } catch (err) {
        findings.push(annotationFinding(err, 'the list is ignored'));
      }
    }
  }

  const videoFiles = listVideoFiles(source, 'videos');
  const folders = new Map<string, string>();
  const folderKinds = faces === 'auto' ? FACE_FOLDERS : faces === 'video' ? [] : [faces];
  for (const kind of [...folderKinds].reverse()) {
    for (const entry of source.names(kind)) {
      if (entry.isDir) folders.set(entry.name, `${kind}/${entry.name}`);
    }
  }
  for (const name of folders.keys()) names.add(name);
  const usedByPairs = new Set(
    [...names].filter((n) => LEFT_RIGHT.test(n)).map((n) => n.replace(LEFT_RIGHT, '')),
  );
  for (const name of videoFiles.keys()) if (!usedByPairs.has(name) || labels.has(name)) names.add(name);

  const entries: VideoEntry[] = [];
  for (const name of [...names].sort()) {
    const dir = folders.get(name);
    const files = videoFiles.get(name) ?? videoFiles.get(name.replace(LEFT_RIGHT, '')) ?? [];
    const source = frameSource(name, dir, files, findings);
    if (source === 'duplicate') continue;
    if (!source) {
      const where = labels.get(name)?.[0]?.file ?? (testNames.has(name) ? 'a test-set list' : 'the dataset');
      findings.push({
        severity: 'error',
        file: where,
        message: `dataset: ${name} (named in ${where}) has no video file under videos/ and no frame folder; left out`,
      });
      continue;
    }
    entries.push({
      name,
      source,
      origin: sourcePathOf(source),
      ...(testNames.has(name) ? { split: 'Test' as const } : {}),
      labels: labels.get(name) ?? [],
    });
  }
  findings.push(...supersededVideoNotes(videoFiles, entries));
  return {
    kind: 'affwild2',
    entries,
    findings,
    layoutFiles: [...lists, ...[...videoFiles.values()].flat()],
    unusedReason: (path) =>
      (FACE_FOLDERS as readonly string[]).includes(path.split('/')[0]!)
        ? `frame folder not read (faces: ${faces}; auto takes cropped/, then cropped_aligned/, then the video)`
        : `not part of the affwild2 layout (docs/DATASETS.md)`,
  };
}

/**
 * Notes for the video files no entry reads because a frame folder of the same name came first
 * (the files stay known: they are not reported as unused).
 */
export function supersededVideoNotes(
  videoFiles: ReadonlyMap<string, readonly string[]>,
  entries: readonly VideoEntry[],
): Finding[] {
  const read = new Set(entries.map((e) => sourcePathOf(e.source)));
  const folders = new Map(
    entries.flatMap((e) => (e.source.kind === 'frames' ? [[e.name, e.source.dir]] : [])),
  );
  const notes: Finding[] = [];
  for (const [name, files] of videoFiles) {
    const dir = folders.get(name) ?? folders.get(`${name}_left`) ?? folders.get(`${name}_right`);
    if (!dir) continue;
    for (const path of files.filter((f) => !read.has(f)))
      notes.push({
        severity: 'note',
        file: path,
        message: `dataset ${path}: not read, the frames of ${name} come from ${dir}/`,
      });
  }
  return notes;
}

/**
 * A video's frame source: its frame folder, else its one video file. Several video files under
 * one name are a finding that leaves the video out ('duplicate'); neither gives undefined.
 */
export function frameSource(
  name: string,
  dir: string | undefined,
  files: readonly string[],
  findings: Finding[],
): VideoSource | 'duplicate' | undefined {
  if (dir) return { kind: 'frames', dir };
  if (files.length === 1) return { kind: 'video', path: files[0]! };
  if (files.length === 0) return undefined;
  findings.push({
    severity: 'error',
    file: files[0]!,
    message: `dataset: duplicate video name ${JSON.stringify(name)} (${files.join(' and ')}); left out`,
  });
  return 'duplicate';
}
