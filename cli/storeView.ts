/**
 * Where a run's outputs are, in the terms a user needs: a local path or an s3:// URI per key, and
 * a one-line Python read of a run's committed embeddings (through the index of committed data
 * objects that trainAndEvaluate writes beside the report, so an orphan object is never read).
 */
import { venvBin } from '../base/paths.ts';
import type { AffectflowConfig } from '../config/index.ts';
import { LocalDirStore, S3Store, type ObjectStore } from '../storage/objectStore.ts';
import { shellQuote } from './shellQuote.ts';

export interface StoreView {
  readonly uri: string;
  /** A local file path (local store) or an s3:// URI. */
  locate(key: string): string;
  /** A shell command printing the row count and columns of the committed embeddings an index lists. */
  readCommand(indexKey: string): string;
}

const py = (text: string): string => JSON.stringify(text);

export function storeView(config: AffectflowConfig, store: ObjectStore): StoreView {
  const python = (code: string): string => `${shellQuote(venvBin('python'))} -c ${shellQuote(code)}`;
  const read = (open: string, root: string, filesystem: string): string =>
    `root = ${py(root)}; keys = json.load(${open}(root + INDEX))["objects"]; ` +
    `t = ds.dataset([root + k for k in keys], format="parquet"${filesystem}).to_table(); print(t.num_rows, "rows:", ", ".join(t.column_names))`;
  if (store instanceof S3Store) {
    const base = store.prefix ? `${store.bucket}/${store.prefix}/` : `${store.bucket}/`;
    const endpoint = config.store.s3Endpoint ? new URL(config.store.s3Endpoint) : undefined;
    const s3 = endpoint
      ? `fs.S3FileSystem(endpoint_override=${py(endpoint.host)}, scheme=${py(endpoint.protocol.slice(0, -1))}, region=${py(config.store.s3Region)})`
      : `fs.S3FileSystem(region=${py(config.store.s3Region)})`;
    return {
      uri: store.uri,
      locate: (key) => `s3://${base}${key}`,
      readCommand: (indexKey) =>
        python(
          `import json, pyarrow.fs as fs, pyarrow.dataset as ds; s3 = ${s3}; INDEX = ${py(indexKey)}; ` +
            read('s3.open_input_stream', base, ', filesystem=s3'),
        ),
    };
  }
  const root = store instanceof LocalDirStore ? `${store.root}/` : `${store.uri}/`;
  return {
    uri: store.uri,
    locate: (key) => `${root}${key}`,
    readCommand: (indexKey) =>
      python(`import json, pyarrow.dataset as ds; INDEX = ${py(indexKey)}; ` + read('open', root, '')),
  };
}
