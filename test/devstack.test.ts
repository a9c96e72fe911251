/**
 * The local S3 dev server is started from a shell that may hold someone's real AWS credentials.
 * SeaweedFS turns AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY in its environment into an admin
 * identity and logs the key id, so the dev stack must never hand them over, and its own
 * credentials and logs are for the owner only.
 */
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ListBucketsCommand } from '@aws-sdk/client-s3';
import test from 'ava';
import { startS3DevServer } from '../infra/devstack.ts';
import { freePorts, stopService } from '../infra/services.ts';
import { s3Client } from '../storage/objectStore.ts';

const AMBIENT = {
  accessKeyId: 'AKIAAMBIENTUSERKEY01',
  secretAccessKey: 'ambient-secret-never-to-be-used-0000',
};

test('the S3 dev server ignores ambient AWS credentials; its credentials and logs are owner-only', async (t) => {
  const stateDir = mkdtempSync(join(tmpdir(), 'affectflow-devstack-'));
  const saved = { id: process.env['AWS_ACCESS_KEY_ID'], secret: process.env['AWS_SECRET_ACCESS_KEY'] };
  process.env['AWS_ACCESS_KEY_ID'] = AMBIENT.accessKeyId;
  process.env['AWS_SECRET_ACCESS_KEY'] = AMBIENT.secretAccessKey;
  const [temporalPort, temporalUiPort, s3Port] = await freePorts(3);
  const runDir = join(stateDir, 's3');
  try {
    const s3 = await startS3DevServer({
      stateDir,
      temporalPort: temporalPort!,
      temporalUiPort: temporalUiPort!,
      s3Port: s3Port!,
      ui: false,
    });
    t.not(s3.credentials.accessKeyId, AMBIENT.accessKeyId);
    const endpoint = `http://127.0.0.1:${s3Port}`;
    const as = (credentials: typeof AMBIENT) =>
      s3Client({ endpoint, region: 'us-east-1', forcePathStyle: true, credentials });

    const own = as(s3.credentials);
    const buckets = await own.send(new ListBucketsCommand({}));
    t.true((buckets.Buckets ?? []).some((b) => b.Name === 'affectflow'));
    own.destroy();

    // Before the ambient key is presented below (a refused request is logged with its key id).
    for (const file of readdirSync(runDir, { withFileTypes: true })) {
      if (!file.isFile()) continue;
      const path = join(runDir, file.name);
      t.is(statSync(path).mode & 0o077, 0, `${file.name} is readable by others`);
      t.false(
        readFileSync(path, 'utf8').includes(AMBIENT.accessKeyId),
        `${file.name} holds the ambient key id`,
      );
    }
    const ambient = as(AMBIENT);
    const refused = await t.throwsAsync(ambient.send(new ListBucketsCommand({})));
    t.regex(refused?.name ?? '', /InvalidAccessKeyId|AccessDenied|SignatureDoesNotMatch/);
    ambient.destroy();

    t.is(statSync(runDir).mode & 0o077, 0, 'the S3 state folder is open to others');
  } finally {
    if (saved.id === undefined) delete process.env['AWS_ACCESS_KEY_ID'];
    else process.env['AWS_ACCESS_KEY_ID'] = saved.id;
    if (saved.secret === undefined) delete process.env['AWS_SECRET_ACCESS_KEY'];
    else process.env['AWS_SECRET_ACCESS_KEY'] = saved.secret;
    await stopService(runDir, 'seaweedfs');
    rmSync(stateDir, { recursive: true, force: true });
  }
});
