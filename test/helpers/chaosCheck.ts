/**
 * The independent check of a chaos run: every object under the run's store prefix is copied out
 * with a plain S3 client, incomplete multipart uploads are listed, and pyarrow (the project venv,
 * not this project's Parquet code) reads what the commit markers name: each marker's data object
 * must exist with the marker's size, sha256 and row count, and the committed rows must hold every
 * frame of the manifest's shards exactly once. Data objects no marker names (left by a writer
 * killed between its upload and its marker) are counted as orphans and never as rows.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import {
  GetObjectCommand,
  ListMultipartUploadsCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { python } from './env.ts';

export interface CommittedCount {
  readonly markers: number;
  readonly rows: number;
  /** Manifest frames no committed row holds. */
  readonly lost: number;
  /** Rows beyond the first of a frame, plus rows of frames the manifest does not list. */
  readonly duplicated: number;
}

export interface ChaosCheck {
  readonly manifestFrames: number;
  readonly manifestShards: number;
  readonly frames: CommittedCount;
  readonly embeddings: CommittedCount;
  /** Data objects under frames/ or embeddings/ that no marker names. */
  readonly orphans: number;
  /** Markers whose data object is missing or differs from the marker (size, sha256, rows). */
  readonly badMarkers: readonly string[];
  readonly incompleteUploads: number;
}

async function mirror(client: S3Client, bucket: string, prefix: string, dir: string): Promise<void> {
  let token: string | undefined;
  do {
    const page = await client.send(
      new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
    );
    for (const object of page.Contents ?? []) {
      const body = await client.send(new GetObjectCommand({ Bucket: bucket, Key: object.Key! }));
      const path = join(dir, object.Key!.slice(prefix.length));
      mkdirSync(dirname(path), { recursive: true });
      writeFileSync(path, await body.Body!.transformToByteArray());
    }
    token = page.NextContinuationToken;
  } while (token);
}

async function incompleteUploads(client: S3Client, bucket: string, prefix: string): Promise<number> {
  const listed = await client.send(new ListMultipartUploadsCommand({ Bucket: bucket, Prefix: prefix }));
  return listed.Uploads?.length ?? 0;
}

const CHECK = String.raw`
import hashlib, json, os, sys
from collections import Counter
import pyarrow.parquet as pq

args = json.load(sys.stdin)
root = args['dir']
manifest = json.load(open(os.path.join(root, args['manifestKey'])))
expected = set()
for shard in manifest['shards']:
    for frame in range(shard['firstFrame'], shard['lastFrame'] + 1):
        expected.add((shard['video'], frame))

named = set()
bad = []
counts = {'frames': Counter(), 'embeddings': Counter()}
markers = {'frames': 0, 'embeddings': 0}
for folder, _, files in os.walk(root):
    for name in files:
        if not name.endswith('.commit.json'):
            continue
        rel = os.path.relpath(os.path.join(folder, name), root)
        kind = rel.split(os.sep)[0]
        if kind not in counts:
            continue
        record = json.load(open(os.path.join(folder, name)))
        data = record.get('object') or record['key']
        named.add(data)
        path = os.path.join(root, data)
        if not os.path.exists(path):
            bad.append(rel + ': data object missing')
            continue
        blob = open(path, 'rb').read()
        if len(blob) != record['size'] or hashlib.sha256(blob).hexdigest() != record['sha256']:
            bad.append(rel + ': size or sha256 differs from the data object')
            continue
        table = pq.read_table(path, columns=['video', 'frame'])
        if table.num_rows != record['rows']:
            bad.append(rel + ': %d rows, marker says %d' % (table.num_rows, record['rows']))
            continue
        markers[kind] += 1
        counts[kind].update(zip(table.column('video').to_pylist(), table.column('frame').to_pylist()))

orphans = 0
for kind in counts:
    for folder, _, files in os.walk(os.path.join(root, kind)):
        for name in files:
            rel = os.path.relpath(os.path.join(folder, name), root)
            if name.endswith('.parquet') and rel not in named:
                orphans += 1

def tally(kind):
    c = counts[kind]
    return {
        'markers': markers[kind],
        'rows': sum(c.values()),
        'lost': sum(1 for f in expected if c[f] == 0),
        'duplicated': sum(n - 1 for f, n in c.items() if f in expected and n > 1)
        + sum(n for f, n in c.items() if f not in expected),
    }

print(json.dumps({
    'manifestFrames': len(expected),
    'manifestShards': len(manifest['shards']),
    'frames': tally('frames'),
    'embeddings': tally('embeddings'),
    'orphans': orphans,
    'badMarkers': bad[:20],
}))
`;

/**
 * Copies the store prefix into dir and counts what its markers commit against the manifest at
 * manifestKey (relative to the prefix).
 */
export async function checkCommitted(
  client: S3Client,
  bucket: string,
  prefix: string,
  manifestKey: string,
  dir: string,
): Promise<ChaosCheck> {
  await mirror(client, bucket, prefix, dir);
  const uploads = await incompleteUploads(client, bucket, prefix);
  const counted = python<Omit<ChaosCheck, 'incompleteUploads'>>(CHECK, { dir, manifestKey });
  return { ...counted, incompleteUploads: uploads };
}
