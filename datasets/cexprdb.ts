/**
 * C-EXPR-DB (CE task). Layout under the root:
 *   videos/[<subfolder>/]<video>.<ext>     raw videos
 *   annotations/<video>.txt                optional per-frame labels: a header line of the 7
 *                                          compound classes, then one integer 0..6 per frame, -1 =
 *                                          not annotated (the Aff-Wild2 EXPR file format)
 * ABAW-6 ships no training labels, so labelled videos form the Validation split, the rest Test.
 */
import { basename, extname } from 'node:path';
import { parseFrameAnnotation } from './annotations.ts';
import { listVideoFiles } from './affwild2.ts';
import type { AdapterResult, Finding, VideoEntry } from './manifest.ts';
import type { DatasetSource } from './source.ts';

export function readCExprDb(source: DatasetSource): AdapterResult {
  const findings: Finding[] = [];
  const videoFiles = listVideoFiles(source, 'videos');
  const annotated = new Map<string, string>();
  for (const { name: file } of source.names('annotations')) {
    if (extname(file) === '.txt') annotated.set(basename(file, '.txt'), `annotations/${file}`);
  }
  const entries: VideoEntry[] = [];
  for (const [name, path] of annotated) {
    if (!videoFiles.has(name))
      findings.push({
        severity: 'error',
        file: path,
        message: `annotation ${path}: expected a video videos/${name}.<ext>, found none; ignored`,
      });
  }
  for (const [name, files] of videoFiles) {
    for (const path of files) {
      const label = annotated.get(name);
      entries.push({
        name,
        source: { kind: 'video', path },
        origin: path,
        labels: label
          ? [
              {
                task: 'CE',
                file: label,
                split: 'Validation',
                load: async () => parseFrameAnnotation('CE', await source.readText(label), label),
              },
            ]
          : [],
      });
    }
  }
  return { kind: 'cexprdb', entries, findings, layoutFiles: [...videoFiles.values()].flat() };
}
