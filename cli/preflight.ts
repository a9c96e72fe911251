/**
 * Checks a command makes before it starts anything, so a wrong path, endpoint or credential ends
 * in one line that names it (UsageError, exit 2) rather than in retries or a stack trace.
 */
import { statSync } from 'node:fs';
import { join } from 'node:path';
import type { AffectflowConfig } from '../config/index.ts';
import { LocalDirStore, type ObjectStore } from '../storage/objectStore.ts';
import { firstLine, UsageError } from './errors.ts';

/** The dataset root must be a folder on this machine (the embedded frames worker reads it). */
export function checkDataset(path: string): void {
  let isFolder: boolean;
  try {
    isFolder = statSync(path).isDirectory();
  } catch {
    throw new UsageError(
      `dataset ${path} not found: expected a dataset folder (layouts in docs/DATASETS.md); check the path`,
    );
  }
  if (!isFolder)
    throw new UsageError(
      `dataset ${path} is a file: expected a dataset folder (layouts in docs/DATASETS.md); pass the folder that holds it`,
    );
}

const UNREACHABLE = new Set(['ECONNREFUSED', 'ENOTFOUND', 'EHOSTUNREACH', 'ETIMEDOUT', 'ECONNRESET']);
const REJECTED = new Set(['InvalidAccessKeyId', 'SignatureDoesNotMatch', 'AccessDenied', 'Forbidden']);

/** One request to an S3 store (a listing of at most one key); local stores need no check. */
export async function checkStore(store: ObjectStore, config: AffectflowConfig): Promise<void> {
  if (store instanceof LocalDirStore) return;
  const endpoint = config.store.s3Endpoint ?? 'AWS S3';
  try {
    await store.list('registry/')[Symbol.asyncIterator]().next();
  } catch (err) {
    const e = err as Error & { code?: string; $metadata?: { httpStatusCode?: number } };
    const seen = `${e.name}: ${firstLine(e.message)}`;
    if (e.name === 'CredentialsProviderError')
      throw new UsageError(
        `store ${store.uri}: no S3 credentials found (${seen}): set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (the dev stack's are in ${join(config.stateDir, 's3', 'credentials.json')})`,
      );
    if (e.code && UNREACHABLE.has(e.code))
      throw new UsageError(
        `store ${store.uri}: nothing answers at S3 endpoint ${endpoint} (${firstLine(e.message)}): start it (\`affectflow stack start\` for the dev store) or set AFFECTFLOW_S3_ENDPOINT to a running one`,
      );
    if (REJECTED.has(e.name) || e.$metadata?.httpStatusCode === 403)
      throw new UsageError(
        `store ${store.uri}: S3 endpoint ${endpoint} rejected the credentials (${seen}): check AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY`,
      );
    if (e.name === 'NoSuchBucket')
      throw new UsageError(
        `store ${store.uri}: the bucket does not exist at S3 endpoint ${endpoint}: create it, or set AFFECTFLOW_STORE to an existing bucket`,
      );
    throw err;
  }
}
