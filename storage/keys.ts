/**
 * Object key layout. Keys are content-addressed: a new dataset version, backbone or configuration
 * gives new keys, so nothing committed is ever overwritten. What the hashes in them cover:
 * docs/STORE.md (Key layout).
 */
export const storeKeys = {
  /** One manifest per dataset version, so runs on different versions never read each other's. */
  manifest: (datasetId: string, version: string): string => `datasets/${datasetId}/manifests/${version}.json`,
  labels: (datasetId: string, task: string, video: string): string =>
    `datasets/${datasetId}/labels/${task}/${video}.json`,
  /** facesConfig: activities/frames.ts framesShardKey. */
  framesShard: (datasetId: string, facesConfig: string, shardId: string): string =>
    `frames/${datasetId}/${facesConfig}/${shardId}.parquet`,
  /** configHash: activities/embed.ts embeddingConfigHash (it covers the frames shard's facesConfig). */
  embeddingShard: (datasetId: string, backboneId: string, configHash: string, shardId: string): string =>
    `embeddings/${datasetId}/${backboneId}/${configHash}/${shardId}.parquet`,
  embeddingPrefix: (datasetId: string, backboneId: string, configHash: string): string =>
    `embeddings/${datasetId}/${backboneId}/${configHash}/`,
  head: (datasetId: string, task: string, headHash: string): string =>
    `heads/${datasetId}/${task}/${headHash}.json`,
  report: (runId: string): string => `reports/${runId}/report.json`,
  comparisonPrefix: (datasetId: string): string => `reports/compare/${datasetId}/`,
} as const;

/** The parts of a frames shard key (storeKeys.framesShard); undefined for any other key. */
export function parseFramesShardKey(
  key: string,
): { readonly datasetId: string; readonly facesConfig: string; readonly shardId: string } | undefined {
  const match = /^frames\/([^/]+)\/([^/]+)\/([^/]+)\.parquet$/.exec(key);
  return match ? { datasetId: match[1]!, facesConfig: match[2]!, shardId: match[3]! } : undefined;
}

/** The folder of a key, with its trailing slash: `a/b/c.parquet` → `a/b/`. */
export const keyFolder = (key: string): string => key.slice(0, key.lastIndexOf('/') + 1);

/** The deepest folder that holds every one of `folders` (each ending in `/`); '' when none is shared. */
export function commonFolder(folders: readonly string[]): string {
  if (folders.length === 0) return '';
  let common = folders[0]!;
  for (const folder of folders.slice(1)) {
    while (!folder.startsWith(common)) common = keyFolder(common.slice(0, -1));
  }
  return common;
}
