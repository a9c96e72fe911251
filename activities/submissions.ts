/** The Test split's predictions in the ABAW submission format, written next to the run's report. */
import type { Manifest } from '../datasets/manifest.ts';
import {
  AFFWILD2_ACTION_UNITS,
  AFFWILD2_EXPRESSIONS,
  COMPOUND_EXPRESSIONS,
  EMI_DIMENSIONS,
  TASKS,
  type Task,
} from '../datasets/labels.ts';
import { predictKeyed } from '../heads/embeddingRows.ts';
import { predictEmiVideo, predictVideo } from '../heads/prediction.ts';
import type { AuResult, EmiResult, ExprResult, HeadSettings, VaResult } from '../heads/tasks.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import type { FaceRowsRead } from './faceRows.ts';
import { splitOf } from './trainLabels.ts';

const submissionName = (video: string, frame: number): string =>
  `${video}/${String(frame).padStart(5, '0')}.jpg`;

/** ABAW submission text: a header naming the columns, then image_location and the prediction per frame. */
function submission(
  video: string,
  header: readonly string[],
  rows: number,
  row: (i: number) => string,
): string {
  const lines = [['image_location', ...header].join(',')];
  for (let i = 0; i < rows; i++) lines.push(`${submissionName(video, i + 1)},${row(i)}`);
  return `${lines.join('\n')}\n`;
}

/** Submission files for the Test split, written next to the report. */
export async function writeTestPredictions(
  store: ObjectStore,
  manifest: Manifest,
  faces: FaceRowsRead,
  runFolder: string,
  heads: {
    expr: ExprResult | undefined;
    va: VaResult | undefined;
    au: AuResult | undefined;
    ce: { scoreLabels: readonly string[] } | undefined;
    emi: EmiResult | undefined;
    settings: HeadSettings;
  },
): Promise<Partial<Record<Task, string[]>>> {
  const keys: Partial<Record<Task, string[]>> = {};
  const put = async (task: Task, name: string, body: string): Promise<void> => {
    const key = `${runFolder}predictions/${task}/${name}`;
    await store.put(key, body);
    (keys[task] ??= []).push(key);
  };
  const emiRows: string[] = [];
  // Head outputs per Test frame (8 or 12 floats a frame) in memory; the embeddings stream.
  const runtime = heads.settings.runtime;
  const exprOutputs = heads.expr
    ? await predictKeyed(heads.expr.head, faces.embeddings.EXPR.test, runtime)
    : undefined;
  const auOutputs = heads.au
    ? await predictKeyed(heads.au.head, faces.embeddings.AU.test, runtime)
    : undefined;
  for (const [index, video] of manifest.videos.entries()) {
    const videoFaces = faces.videos.get(video.name);
    if (!videoFaces) continue;
    const tested = (task: Task): boolean => splitOf(video, task) === 'Test';
    if (!TASKS.some(tested)) continue;
    const predicted = predictVideo(
      videoFaces,
      {
        expr:
          tested('EXPR') && heads.expr ? { result: heads.expr, outputs: exprOutputs?.get(index) } : undefined,
        va: tested('VA') ? heads.va : undefined,
        au: tested('AU') && heads.au ? { result: heads.au, outputs: auOutputs?.get(index) } : undefined,
        ce: tested('CE') ? heads.ce : undefined,
      },
      heads.settings,
    );
    const n = video.frameCount;
    const { EXPR: e, VA: v, AU: a, CE: c } = predicted;
    if (e)
      await put(
        'EXPR',
        `${video.name}.txt`,
        submission(video.name, AFFWILD2_EXPRESSIONS, n, (i) => String(e[i])),
      );
    if (v) {
      await put(
        'VA',
        `${video.name}.txt`,
        submission(
          video.name,
          ['valence', 'arousal'],
          n,
          (i) => `${v[i * 2]!.toFixed(6)},${v[i * 2 + 1]!.toFixed(6)}`,
        ),
      );
    }
    if (a) {
      const k = AFFWILD2_ACTION_UNITS.length;
      await put(
        'AU',
        `${video.name}.txt`,
        submission(video.name, AFFWILD2_ACTION_UNITS, n, (i) =>
          Array.from(a.subarray(i * k, (i + 1) * k)).join(','),
        ),
      );
    }
    if (c)
      await put(
        'CE',
        `${video.name}.txt`,
        submission(video.name, COMPOUND_EXPRESSIONS, n, (i) => String(c[i])),
      );
    if (tested('EMI') && heads.emi && videoFaces.frames.length > 0) {
      const p = predictEmiVideo(videoFaces, heads.emi);
      emiRows.push([video.name, ...Array.from(p, (x) => x.toFixed(6))].join(','));
    }
  }
  if (emiRows.length > 0)
    await put(
      'EMI',
      'predictions.csv',
      `${['Filename', ...EMI_DIMENSIONS].join(',')}\n${emiRows.join('\n')}\n`,
    );
  return keys;
}
