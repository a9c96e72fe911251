/**
 * The C-EXPR-DB variants in real runs (heads/ceRuns.ts): an Aff-Wild2-layout run trains EXPR
 * heads for two backbones; a C-EXPR-DB-layout run with both backbones and `--expr-head-from`
 * that run reports, per backbone, the EXPR head applied to the CE embeddings, k-means on scores
 * and on embeddings, and the KL fit by which the run picks a backbone. Every value is computed
 * again here by numpy, sklearn and scipy from the same committed embedding shards (read with
 * pyarrow) and the same stored heads.
 */
import test from 'ava';
import { Command } from 'commander';
import { join } from 'node:path';
import { ExprHeadSourceError, resolveExprHead } from '../activities/ceVariantSources.ts';
import type { RunReport } from '../activities/index.ts';
import type { EmbeddingIndex } from '../reports/model.ts';
import { addRunFlags, inputFrom, type RunFlags } from '../cli/runFlags.ts';
import { extractionWorkflowId } from '../cli/runIdentity.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC, type SyntheticOptions } from '../datasets/synthetic.ts';
import { backboneId, getBackbone, TINY_BACKBONE, TINY_BACKBONE_B } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { python, tempDir, testConfig } from './helpers/env.ts';
import { activityQueues, startTestWorkers, uniqueQueues } from './helpers/workers.ts';

const BACKBONES = [TINY_BACKBONE.name, TINY_BACKBONE_B.name];

function parse(args: string[]): RunFlags {
  const command = addRunFlags(new Command()).exitOverride();
  command.parse(args, { from: 'user' });
  return command.opts<RunFlags>();
}

test('--expr-head-from enters the run input, so the run id changes with it', (t) => {
  const plain = inputFrom('/data', parse([]));
  const named = inputFrom('/data', parse(['--expr-head-from', 'run-a']));
  t.false('ce' in plain);
  t.deepEqual(named.ce, { exprHeadFrom: 'run-a' });
  const other = inputFrom('/data', parse(['--expr-head-from', 'run-b']));
  const ids = new Set([plain, named, other].map((input) => extractionWorkflowId(input, 'store-1')));
  t.is(ids.size, 3);
});

/** What the test computes for one backbone from the committed shards and the stored head. */
interface Independent {
  rows: number;
  frames: number;
  exprHead: number;
  kmeansScores: { f1: number; inertia: number };
  kmeansEmbeddings: { f1: number; inertia: number };
  kl: number;
  predicted: number[];
}

const INDEPENDENT = `
import sys, json, numpy as np, pyarrow.parquet as pq
from scipy.optimize import linear_sum_assignment
from scipy.stats import entropy
from sklearn.cluster import KMeans
from sklearn.metrics import f1_score
a = json.load(sys.stdin)
cols = ["video", "frame", "face_index", "no_face", "embedding", "scores"]
t = [pq.read_table(p, columns=cols).to_pydict() for p in a["files"]]
rows = {}
for part in t:
    for v, f, fi, nf, e, s in zip(*[part[c] for c in cols]):
        if nf or v not in a["labels"]:
            continue
        if (v, f) not in rows or rows[(v, f)][0] > fi:
            rows[(v, f)] = (fi, e, s)
keys = sorted(rows)
x = np.array([rows[k][1] for k in keys], dtype=np.float64)
s = np.array([rows[k][2] for k in keys], dtype=np.float64)
labels = np.array([a["labels"][v][f - 1] for v, f in keys])
names = a["scoreLabels"]
def pairs(classes):
    return [(classes.index(p), classes.index(q)) for p, q in a["basics"]]
logit = [i for i, n in enumerate(names) if n in a["affectnet"]]
z = np.exp(s[:, logit] - s[:, logit].max(axis=1, keepdims=True))
p = np.zeros((len(keys), len(names)))
p[:, logit] = z / z.sum(axis=1, keepdims=True)
zs = np.stack([(p[:, names.index(u)] + p[:, names.index(w)]) / 2 for u, w in a["basics"]], axis=1)
scored = labels >= 0
def f1(pred):
    return float(f1_score(labels[scored], pred[scored], labels=list(range(7)), average="macro", zero_division=0))
h = a["head"]
d, hid = h["shape"]["inputDim"], h["shape"]["hidden"]
xs = (x - np.array(h["mean"])) * np.array(h["scale"])
hidden = np.maximum(xs @ np.array(h["w1"]).reshape(d, hid) + np.array(h["b1"]), 0)
logits = hidden @ np.array(h["w2"]).reshape(hid, 8) + np.array(h["b2"])
e8 = np.exp(logits - logits.max(axis=1, keepdims=True))
e8 /= e8.sum(axis=1, keepdims=True)
compound = np.stack([(e8[:, i] + e8[:, j]) / 2 for i, j in pairs(a["affwild2"])], axis=1)
def clusters(features):
    km = KMeans(n_clusters=7, n_init=50, random_state=0).fit(features)
    affinity = np.array([zs[km.labels_ == c].mean(axis=0) if (km.labels_ == c).any() else np.zeros(7) for c in range(7)])
    _, cls = linear_sum_assignment(affinity, maximize=True)
    return {"f1": f1(cls[km.labels_]), "inertia": float(km.inertia_)}
freq = np.bincount(labels[scored], minlength=7).astype(float)
predicted = zs.mean(axis=0)
print(json.dumps({
    "rows": len(keys),
    "frames": int(sum(len(v) for v in a["labels"].values())),
    "exprHead": f1(compound.argmax(axis=1)),
    "kmeansScores": clusters(zs),
    "kmeansEmbeddings": clusters(x),
    "kl": float(entropy(freq, predicted)),
    "predicted": predicted.tolist(),
}))
`;

test.serial(
  'a C-EXPR-DB run with two backbones reports the EXPR head from an Aff-Wild2 run, k-means on scores and embeddings and the KL choice, as sklearn and scipy compute them',
  async (t) => {
    const config = testConfig('local', 'ce-runs');
    const store = openStore(config.store);
    const queues = uniqueQueues('ce-runs');
    const workers = await startTestWorkers(config, store, queues);
    t.teardown(async () => {
      await workers.stop();
      store.close();
    });
    const run = async (
      label: string,
      options: SyntheticOptions,
      extra: Partial<ExtractionRunInput>,
    ): Promise<{
      result: ExtractionRunResult;
      videos: Awaited<ReturnType<typeof generateSyntheticDataset>>['videos'];
    }> => {
      const datasetPath = join(tempDir(`ce-runs-${label}`), 'ds');
      const { videos } = await generateSyntheticDataset(datasetPath, options);
      const input: ExtractionRunInput = {
        datasetPath,
        backbones: BACKBONES,
        shardFrames: 64,
        maxShardsInFlight: 4,
        embedBatchSize: 32,
        maxCropSide: 64,
        // Synthetic faces fill the frame: one face on every frame.
        faceSource: 'whole-frame',
        taskQueues: activityQueues(queues),
        ...extra,
      };
      const result = (await workers.client.workflow.execute('extractionRun', {
        taskQueue: queues.orchestrator,
        workflowId: `test-ce-runs-${label}-${queues.frames}`,
        args: [input],
      })) as ExtractionRunResult;
      t.is(result.status, 'completed');
      return { result, videos };
    };
    const read = async <T>(key: string): Promise<T> =>
      JSON.parse(new TextDecoder().decode(await store.get(key))) as T;

    const affwild2 = await run(
      'affwild2',
      { ...TINY_SYNTHETIC, seed: 41, size: 64, trainVideos: 3, validationVideos: 1, framesPerVideo: 40 },
      {
        expr: { epochs: 4, batchSize: 32, hidden: 32, learningRate: 3e-3 },
        va: { epochs: 1 },
        au: { epochs: 1, hidden: 8 },
      },
    );
    // The report folder reports/<run>/<backbone>/ names the run, as the command line shows it.
    const exprRun = affwild2.result.reports[0]!.reportKey.split('/')[1]!;
    const exprReports = new Map<string, RunReport>();
    for (const r of affwild2.result.reports) exprReports.set(r.backbone, await read<RunReport>(r.reportKey));

    const cexprdb = await run(
      'cexprdb',
      {
        ...TINY_SYNTHETIC,
        layout: 'cexprdb',
        seed: 42,
        size: 64,
        trainVideos: 4,
        validationVideos: 0,
        framesPerVideo: 40,
      },
      { windows: { CE: 0 }, ce: { exprHeadFrom: exprRun } },
    );
    const labels = Object.fromEntries(
      cexprdb.videos.filter((v) => v.ce).map((v) => [v.name, Array.from(v.ce!)]),
    );
    const reports = await Promise.all(cexprdb.result.reports.map((r) => read<RunReport>(r.reportKey)));
    const computed = new Map<string, Independent>();
    for (const report of reports) {
      const descriptor = getBackbone(report.backbone.split('@')[0]!);
      const ce = report.tasks.CE!;
      const variants = ce.variants!;
      const headKey = exprReports.get(descriptor.name)!.tasks.EXPR!.headKey;
      const index = await read<EmbeddingIndex>(report.embeddings!.indexKey);
      const mine = python<Independent>(INDEPENDENT, {
        files: index.objects.map((key) => join(config.store.uri, key)),
        labels,
        scoreLabels: descriptor.scoreLabels,
        head: (await read<{ head: unknown }>(headKey)).head,
        basics: [
          ['Fear', 'Surprise'],
          ['Happiness', 'Surprise'],
          ['Sadness', 'Surprise'],
          ['Disgust', 'Surprise'],
          ['Anger', 'Surprise'],
          ['Sadness', 'Fear'],
          ['Sadness', 'Anger'],
        ],
        affectnet: ['Anger', 'Contempt', 'Disgust', 'Fear', 'Happiness', 'Neutral', 'Sadness', 'Surprise'],
        affwild2: ['Neutral', 'Anger', 'Disgust', 'Fear', 'Happiness', 'Sadness', 'Surprise', 'Other'],
      });
      computed.set(report.backbone, mine);
      const byName = new Map(variants.variants.map((v) => [v.variant, v]));
      t.log(
        `${report.backbone}: zero-shot ${ce.score.toFixed(3)}, ` +
          variants.variants.map((v) => `${v.label} ${v.score.toFixed(3)}`).join(', ') +
          `, KL ${variants.fit!.kl.toFixed(4)}`,
      );
      // Every frame has its face, so filling adds nothing at window 0 and the scored frames agree.
      t.is(mine.rows, mine.frames);
      t.is(variants.faces, mine.rows);
      t.deepEqual(variants.notComputed, []);
      const head = byName.get('expr-head')!;
      t.deepEqual(head.head, {
        key: headKey,
        datasetId: headKey.split('/')[1],
        backbone: backboneId(descriptor),
      });
      t.true(Math.abs(head.score - mine.exprHead) < 1e-9, `EXPR head ${head.score} vs ${mine.exprHead}`);
      for (const [variant, theirs] of [
        ['kmeans-scores', mine.kmeansScores],
        ['kmeans-embeddings', mine.kmeansEmbeddings],
      ] as const) {
        const v = byName.get(variant)!;
        // k-means is a local search: 50 seeded starts here and 50 in sklearn usually reach the same
        // optimum, but not always (after the synthetic videos got sound, ours stopped 1.2 % above
        // sklearn's on one backbone). Ours must come within 2 % of sklearn's best; where both reach
        // the same optimum (the same partition) the F1 must be sklearn's to 1e-9.
        t.true(
          v.inertia! <= theirs.inertia * 1.02,
          `${variant} inertia ${v.inertia} vs sklearn ${theirs.inertia}`,
        );
        if (Math.abs(v.inertia! - theirs.inertia) <= 1e-6 * theirs.inertia)
          t.true(Math.abs(v.score - theirs.f1) < 1e-9, `${variant} F1 ${v.score} vs ${theirs.f1}`);
        else t.log(`${variant}: inertia ${v.inertia} vs sklearn ${theirs.inertia}: another local optimum`);
        t.is(v.window, 0);
      }
      t.true(Math.abs(variants.fit!.kl - mine.kl) < 1e-9, `KL ${variants.fit!.kl} vs scipy ${mine.kl}`);
      variants.fit!.predicted.forEach((p, c) => t.true(Math.abs(p - mine.predicted[c]!) < 1e-6));
      const html = new TextDecoder().decode(await store.get(report.htmlKey));
      for (const row of ['CE EXPR head', 'CE k-means on scores', 'CE k-means on embeddings', 'CE KL choice'])
        t.true(html.includes(`<td>${row}</td>`), `${report.backbone}: HTML row ${row}`);
    }
    // The last backbone's report sees both: the KL criterion picks the least KL, with its F1.
    const last = reports.at(-1)!;
    const choice = last.tasks.CE!.variants!.backboneChoice!;
    t.deepEqual(choice.candidates.map((c) => c.backbone).sort(), reports.map((r) => r.backbone).sort());
    const best = [...computed].sort((a, b) => a[1].kl - b[1].kl)[0]!;
    t.is(choice.picked, best[0]);
    t.is(choice.score, reports.find((r) => r.backbone === best[0])!.tasks.CE!.score);
    for (const c of choice.candidates) t.true(Math.abs(c.kl - computed.get(c.backbone)!.kl) < 1e-9);
    t.true(new TextDecoder().decode(await store.get(last.htmlKey)).includes('data-plot="ce-kl"'));

    // Naming a head that does not fit is one line naming it and what was expected.
    const tinyB = { name: TINY_BACKBONE_B.name, id: backboneId(TINY_BACKBONE_B) };
    const tinyHead = exprReports.get(TINY_BACKBONE.name)!.tasks.EXPR!.headKey;
    await t.throwsAsync(resolveExprHead(store, tinyHead, tinyB), {
      instanceOf: ExprHeadSourceError,
      message: `--expr-head-from ${tinyHead}: head ${tinyHead} was trained on ${backboneId(TINY_BACKBONE)} embeddings, expected ${tinyB.id} (the backbone evaluated); name a head of that backbone`,
    });
    await t.throwsAsync(resolveExprHead(store, 'no-such-run', tinyB), {
      instanceOf: ExprHeadSourceError,
      message:
        '--expr-head-from no-such-run: no run no-such-run in the store (no reports/no-such-run/…/report.json); expected the run id of a report folder (reports/<run>/<backbone>/) or a heads key (heads/<dataset>/EXPR/<hash>.json)',
    });
    // A backbone the run did not report (one added later and re-evaluated with the run's settings)
    // gets no EXPR head row, with the reason, rather than a failed run.
    t.deepEqual(await resolveExprHead(store, exprRun, { name: 'ddamfn', id: 'ddamfn@1' }), {
      missing: `no report of backbone ddamfn in run ${exprRun} (it has ${affwild2.result.reports
        .map((r) => r.reportKey)
        .sort()
        .join(', ')})`,
    });
    const ceRun = cexprdb.result.reports[0]!.reportKey.split('/')[1]!;
    await t.throwsAsync(resolveExprHead(store, ceRun, tinyB), {
      instanceOf: ExprHeadSourceError,
      message: new RegExp(`has no EXPR head \\(.*\\); expected a run that trained one`),
    });
  },
);
