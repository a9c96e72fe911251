/**
 * Hume-Vidmimic2 (EMI task). Layout under the root:
 *   train_split.csv, valid_split.csv    Filename, Admiration, Amusement, Determination,
 *                                       Empathic Pain, Excitement, Joy (intensities in [0, 1])
 *   face_images/<Filename>/%05d.jpg     per-frame face images (1-based; missing = no face), or
 *   videos/<Filename>.<ext>             the raw video when there is no image folder
 * Videos in neither CSV form the Test split.
 */
import { parseEmiCsv, type EmiRow } from './annotations.ts';
import { frameSource, listVideoFiles, supersededVideoNotes } from './affwild2.ts';
import {
  annotationFinding,
  sourcePathOf,
  type AdapterResult,
  type Finding,
  type VideoEntry,
} from './manifest.ts';
import type { Split } from './labels.ts';
import type { DatasetSource } from './source.ts';

export const HUME_SPLIT_FILES: readonly (readonly [string, Split])[] = [
  ['train_split.csv', 'Train'],
  ['valid_split.csv', 'Validation'],
];

export async function readHumeVidmimic(source: DatasetSource): Promise<AdapterResult> {
  const findings: Finding[] = [];
  const rows = new Map<string, { row: EmiRow; file: string; split: Split }>();
  for (const [file, split] of HUME_SPLIT_FILES) {
    if (!source.exists(file)) continue;
    let parsed: EmiRow[];
    try {
      parsed = parseEmiCsv(await source.readText(file), file);
    } catch (err) {
      findings.push(annotationFinding(err, 'the CSV is ignored'));
      continue;
    }
    for (const row of parsed) {
      const earlier = rows.get(row.name);
      if (earlier) {
        findings.push({
          severity: 'error',
          file,
          line: row.line,
          message: `annotation ${file} line ${row.line}: duplicate Filename ${JSON.stringify(row.name)} (first at ${earlier.file} line ${earlier.row.line}); ignored`,
        });
        continue;
      }
      if (row.name === '..' || /[\\/]/.test(row.name) || !source.insideRoot(`face_images/${row.name}`)) {
        findings.push({
          severity: 'error',
          file,
          line: row.line,
          message: `annotation ${file} line ${row.line}: Filename ${JSON.stringify(row.name)} names a path outside the dataset's folders; ignored`,
        });
        continue;
      }
      rows.set(row.name, { row, file, split });
    }
  }
  const folders = new Set<string>();
  for (const { name } of source.names('face_images'))
    if (source.isDir(`face_images/${name}`)) folders.add(name);
  const videoFiles = listVideoFiles(source, 'videos');
  const names = new Set([...rows.keys(), ...folders, ...videoFiles.keys()]);
  const entries: VideoEntry[] = [];
  for (const name of [...names].sort()) {
    const labelled = rows.get(name);
    const files = videoFiles.get(name) ?? [];
    const frames = frameSource(name, folders.has(name) ? `face_images/${name}` : undefined, files, findings);
    if (frames === 'duplicate') continue;
    if (!frames) {
      findings.push({
        severity: 'error',
        file: labelled!.file,
        line: labelled!.row.line,
        message: `annotation ${labelled!.file} line ${labelled!.row.line}: expected face_images/${name}/ or videos/${name}.<ext>, found neither; left out`,
      });
      continue;
    }
    entries.push({
      name,
      source: frames,
      origin: sourcePathOf(frames),
      labels: labelled
        ? [
            {
              task: 'EMI',
              file: labelled.file,
              split: labelled.split,
              load: () => Promise.resolve({ task: 'EMI', values: labelled.row.intensities }),
            },
          ]
        : [],
    });
  }
  findings.push(...supersededVideoNotes(videoFiles, entries));
  return {
    kind: 'hume',
    entries,
    findings,
    layoutFiles: [
      ...HUME_SPLIT_FILES.map(([f]) => f).filter((f) => source.exists(f)),
      ...[...videoFiles.values()].flat(),
    ],
  };
}
