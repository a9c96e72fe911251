/** Why a task got no head: the one line the report and the command line show for a skipped task. */
import type { Split } from '../datasets/labels.ts';
import {
  auAnnotated,
  exprAnnotated,
  primaryRows,
  vaAnnotated,
  videosOf,
  type FrameTask,
} from './evaluation.ts';
import type { LabelledVideo, VideoLabelSet } from './tasks.ts';

/** A task the run did not train or evaluate, and why: one line for the report and the command line. */
export interface SkippedTask {
  readonly task: keyof VideoLabelSet;
  readonly reason: string;
}

const FRAME_TASKS: Readonly<
  Record<FrameTask, { annotated: (l: VideoLabelSet, f: number) => boolean; width: number; missing: string }>
> = {
  EXPR: { annotated: exprAnnotated, width: 1, missing: '-1' },
  VA: { annotated: vaAnnotated, width: 2, missing: '-5' },
  AU: { annotated: auAnnotated, width: 12, missing: '-1' },
};

/** Whether any frame of a video's labels for `task` is annotated (with a face or not). */
function anyAnnotated(video: LabelledVideo, task: FrameTask): boolean {
  const { annotated, width } = FRAME_TASKS[task];
  const frames = (video.labels[task]?.length ?? 0) / width;
  for (let f = 1; f <= frames; f++) if (annotated(video.labels, f)) return true;
  return false;
}

/**
 * Why `task` got no head: the first unmet condition of the ones its run function checks (labels
 * at all; for EXPR, VA and AU labelled Train and Validation videos, annotated frames, annotated
 * frames with a face; for CE annotated frames with a face; for EMI two labelled videos with a face
 * per split). Called for a task whose run function returned undefined.
 */
export function untrainedReason(task: keyof VideoLabelSet, videos: readonly LabelledVideo[]): string {
  const labelled = videos.filter((v) => v.labels[task]);
  if (labelled.length === 0) return `no ${task} labels in the dataset`;
  if (task === 'CE') {
    const annotated = labelled.some((v) => v.labels.CE!.some((c) => c >= 0));
    return annotated ? 'no annotated CE frame has a face' : 'every CE label is -1 (not annotated)';
  }
  if (task === 'EMI') {
    const withFace = (split: Split): number =>
      videosOf(videos, 'EMI', split).filter((v) => v.faces.frames.length > 0).length;
    return `expected at least 2 EMI-labelled videos with a face in Train and in Validation, got ${withFace('Train')} and ${withFace('Validation')}`;
  }
  const { annotated, missing } = FRAME_TASKS[task];
  const minimum = task === 'VA' ? 2 : 1;
  for (const split of ['Train', 'Validation'] as const) {
    const inSplit = videosOf(videos, task, split);
    if (inSplit.length === 0) return `no ${task}-labelled videos in ${split}`;
    if (!inSplit.some((v) => anyAnnotated(v, task)))
      return `every ${split} ${task} label is ${missing} (not annotated)`;
    const withFace = inSplit.reduce(
      (n, v) => n + Array.from(primaryRows(v.faces).frames).filter((f) => annotated(v.labels, f)).length,
      0,
    );
    if (withFace < minimum)
      return minimum === 1
        ? `no annotated ${split} ${task} frame has a face`
        : `expected at least ${minimum} annotated ${split} ${task} frames with a face, got ${withFace}`;
  }
  return `too few annotated ${task} frames with a face in Train and Validation`;
}
