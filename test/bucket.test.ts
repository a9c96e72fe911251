/**
 * ensureBucket against the test stack's SeaweedFS (issue 18): a bucket the server says is missing
 * is created; a refusal of the credentials is an answer (BucketAccessError naming the bucket and
 * what the server said), neither a missing bucket nor a server still starting; a server that does
 * not answer is "not ready yet" (false).
 */
import test from 'ava';
import { randomUUID } from 'node:crypto';
import { HeadBucketCommand } from '@aws-sdk/client-s3';
import { freePorts } from '../infra/services.ts';
import { BucketAccessError, ensureBucket, s3Client } from '../storage/objectStore.ts';
import { testServices } from './helpers/env.ts';

const client = (endpoint: string, credentials?: { accessKeyId: string; secretAccessKey: string }) =>
  s3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, ...(credentials ? { credentials } : {}) });

test('a missing bucket is created', async (t) => {
  const s3 = client(testServices.s3Endpoint());
  const bucket = `ensure-${randomUUID().slice(0, 8)}`;
  t.true(await ensureBucket(s3, bucket));
  await t.notThrowsAsync(s3.send(new HeadBucketCommand({ Bucket: bucket })));
  t.true(await ensureBucket(s3, bucket));
  s3.destroy();
});

test('credentials the server refuses throw BucketAccessError instead of reading as missing or not ready', async (t) => {
  const s3 = client(testServices.s3Endpoint(), { accessKeyId: 'not-a-key', secretAccessKey: 'not-a-secret' });
  const bucket = `refused-${randomUUID().slice(0, 8)}`;
  const err = await t.throwsAsync(ensureBucket(s3, bucket), { instanceOf: BucketAccessError });
  t.regex(
    err.message,
    new RegExp(
      `^bucket ${bucket}: the S3 server refused access \\(\\w+, HTTP 40[13]\\); expected credentials`,
    ),
  );
  s3.destroy();
  const own = client(testServices.s3Endpoint());
  await t.throwsAsync(
    own.send(new HeadBucketCommand({ Bucket: bucket })),
    undefined,
    'the refused call created the bucket',
  );
  own.destroy();
});

test('a server that does not answer is not ready yet', async (t) => {
  const [port] = await freePorts(1);
  const s3 = client(`http://127.0.0.1:${port}`, { accessKeyId: 'k', secretAccessKey: 's' });
  t.false(await ensureBucket(s3, 'affectflow'));
  s3.destroy();
});
