/**
 * A clone is enough: nothing in the repository reads the team's shared folder beside it, and the
 * files copied from it (the YuNet model, the portraits, the specification) are here, intact.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import test from 'ava';
import { projectRoot } from '../base/paths.ts';
import { YUNET_MODEL_PATH, YUNET_SHA256 } from '../models/yunet.ts';

const sha256 = (path: string): string => createHash('sha256').update(readFileSync(path)).digest('hex');

test('no tracked file reads the shared folder beside the checkout', (t) => {
  const grep = spawnSync(
    'git',
    ['grep', '-nE', String.raw`\.\./shared|'\.\.',[[:space:]]*('\.\.',[[:space:]]*)*'shared'`],
    { cwd: projectRoot, encoding: 'utf8' },
  );
  // git grep exits 1 when nothing matches; outside a git checkout there is nothing to check.
  if (grep.status === 128) return t.pass('not a git checkout');
  t.is(grep.status, 1, grep.stdout);
  t.is(grep.stdout, '');
});

test('the shipped YuNet model, portraits and specification are in the repository', (t) => {
  t.true(YUNET_MODEL_PATH.startsWith(projectRoot));
  t.is(sha256(YUNET_MODEL_PATH), YUNET_SHA256);
  for (const portrait of ['portrait-1.jpg', 'portrait-2.jpg']) {
    t.true(readFileSync(join(projectRoot, 'test', 'fixtures', 'faces', portrait)).length > 100_000);
  }
  t.regex(
    readFileSync(join(projectRoot, 'docs', 'SPEC.md'), 'utf8'),
    /^# affectflow: what the pipeline must compute/,
  );
});
