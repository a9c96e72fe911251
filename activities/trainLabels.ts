/** The train activity's labels and splits per manifest video, as the dataset stage stored them. */
import type { Manifest, ManifestVideo } from '../datasets/manifest.ts';
import { decodeStoredLabels, TASKS, type Split, type Task } from '../datasets/labels.ts';
import type { VideoLabelSet } from '../heads/tasks.ts';
import { storeKeys } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';

async function readJson(store: ObjectStore, key: string): Promise<string | undefined> {
  if (!(await store.head(key))) return undefined;
  return new TextDecoder().decode(await store.get(key));
}

export function splitOf(video: ManifestVideo, task: Task): Split {
  return video.taskSplits?.[task] ?? video.split;
}

/** The labels of every task that the manifest lists for a video (or, for older manifests, that exist). */
export async function loadLabels(
  store: ObjectStore,
  manifest: Manifest,
  video: ManifestVideo,
): Promise<VideoLabelSet> {
  const labels: Record<string, Int8Array | Float64Array> = {};
  for (const task of TASKS) {
    if (video.labels && !video.labels[task]) continue;
    const key = storeKeys.labels(manifest.datasetId, task, video.name);
    const json = await readJson(store, key);
    if (json !== undefined) labels[task] = decodeStoredLabels(task, key, json);
  }
  return labels;
}
