/** What the test command (test/run.ts) hands to every test: the real services it started. */
import { mkdtempSync } from 'node:fs';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { spawnSync } from 'node:child_process';
import type { S3Client } from '@aws-sdk/client-s3';
import { loadConfig, type AffectflowConfig } from '../../config/index.ts';
import { venvBin } from '../../base/paths.ts';
import { s3Client } from '../../storage/objectStore.ts';

function required(name: string): string {
  const value = process.env[name];
  if (!value) throw new Error(`test environment: ${name} is not set; run the suite with 'npm test'`);
  return value;
}

export const testServices = {
  temporalAddress: (): string => required('AFFECTFLOW_TEST_TEMPORAL_ADDRESS'),
  s3Endpoint: (): string => required('AFFECTFLOW_TEST_S3_ENDPOINT'),
  s3Bucket: (): string => required('AFFECTFLOW_TEST_S3_BUCKET'),
};

/** A fresh directory under the test stack's temporary state directory. */
export function tempDir(label: string): string {
  return mkdtempSync(join(required('AFFECTFLOW_TEST_STATE'), `${label}-`));
}

/** A configuration pointing at the test services, with a unique S3 prefix or a local store. */
export function testConfig(store: 's3' | 'local', label: string): AffectflowConfig {
  const stateDir = tempDir(label);
  return loadConfig(
    {
      TEMPORAL_ADDRESS: testServices.temporalAddress(),
      AFFECTFLOW_STORE:
        store === 's3' ? `s3://${testServices.s3Bucket()}/${label}-${randomUUID()}` : join(stateDir, 'store'),
      AFFECTFLOW_S3_ENDPOINT: testServices.s3Endpoint(),
      AWS_REGION: 'us-east-1',
      AFFECTFLOW_HOME: stateDir,
    },
    stateDir,
  );
}

/** A raw S3 client on the test server (credentials from the standard AWS environment variables). */
export function rawS3Client(): S3Client {
  return s3Client({ endpoint: testServices.s3Endpoint(), region: 'us-east-1', forcePathStyle: true });
}

/** Runs Python from the project environment (numpy, pyarrow, sklearn, ...) and parses its JSON output. */
export function python<T>(code: string, input?: unknown): T {
  const result = spawnSync(venvBin('python'), ['-c', code], {
    input: input === undefined ? '' : JSON.stringify(input),
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
  });
  if (result.status !== 0) throw new Error(`python failed (${result.status}): ${result.stderr}`);
  return JSON.parse(result.stdout) as T;
}
