/**
 * The train activity's audio half: the committed audio embedding shards of the run's audio
 * backbone (one row per video frame, `embeddings/<datasetId>/<audioBackbone@version>/<configHash>/`),
 * the audio heads of every task trained on them exactly as the visual heads on face rows, and the
 * late fusion of both per task (heads/fusionRuns.ts), with heads and fusion weights stored under
 * keys that hash the audio backbone and its embedding configuration.
 */
import { shortHash } from '../base/hashing.ts';
import type { Task } from '../datasets/labels.ts';
import type { Manifest } from '../datasets/manifest.ts';
import type { VideoOutputs } from '../heads/evaluation.ts';
import type { VideoLevelOutputs } from '../heads/fusion.ts';
import { fuseAu, fuseEmi, fuseExpr, fuseVa, type FusedResult, type FusedTask } from '../heads/fusionRuns.ts';
import type { HeadSettings, LabelledVideo } from '../heads/tasks.ts';
import { runAu, runEmi, runExpr, runVa } from '../heads/taskRuns.ts';
import { untrainedReason } from '../heads/untrained.ts';
import type { AudioReport, FusedReport } from '../reports/model.ts';
import { markerKey } from '../storage/commit.ts';
import { keyFolder } from '../storage/keys.ts';
import type { ObjectStore } from '../storage/objectStore.ts';
import { listAudioBackbones } from '../models/registry.ts';
import { audioShardKeys, type AudioSelection } from './audio.ts';
import { reportProgress, type ActivityDeps } from './context.ts';
import { readFaceRows } from './faceRows.ts';
import { SpillDirectory } from './trainSpill.ts';

/** No committed audio embeddings for the run, or more than one configuration of them. */
export class AudioEmbeddingsError extends Error {
  override readonly name = 'AudioEmbeddingsError';
  constructor(
    readonly datasetId: string,
    readonly audioBackbone: string,
    detail: string,
  ) {
    super(`audio embeddings of ${audioBackbone} for dataset ${datasetId}: ${detail}`);
  }
}

/**
 * Where the run's audio embedding shards are: `prefix` when given (a folder
 * `embeddings/<datasetId>/<audioBackbone@version>/<configHash>/`), else the one such folder of
 * `audioBackbone` (a name, or name@version) holding committed shards of the manifest. Returns the
 * folder, the backbone id it names and the key of each manifest shard in it; a folder without any
 * committed shard of the manifest, or more than one candidate, is an AudioEmbeddingsError.
 */
export async function audioEmbeddingKeys(
  store: ObjectStore,
  manifest: Pick<Manifest, 'datasetId' | 'shards'>,
  audioBackbone: string,
  prefix?: string,
): Promise<{ folder: string; backbone: string; keys: string[] }> {
  const root = `embeddings/${manifest.datasetId}/`;
  const fail = (detail: string) => new AudioEmbeddingsError(manifest.datasetId, audioBackbone, detail);
  if (
    prefix !== undefined &&
    (!/^embeddings\/[^/]+\/[^/]+\/[^/]+\/$/.test(prefix) || !prefix.startsWith(root))
  )
    throw fail(`audio embedding folder ${prefix}: expected ${root}<backbone@version>/<configHash>/`);
  const wanted = new Set(manifest.shards.map((s) => s.shardId));
  const suffix = markerKey('.parquet');
  const found = new Map<string, number>();
  const under =
    prefix ?? (audioBackbone.includes('@') ? `${root}${audioBackbone}/` : `${root}${audioBackbone}@`);
  for await (const object of store.list(under)) {
    if (!object.key.endsWith(suffix)) continue;
    const f = keyFolder(object.key);
    if (wanted.has(object.key.slice(f.length, -suffix.length))) found.set(f, (found.get(f) ?? 0) + 1);
  }
  const folders = [...found.keys()];
  if (folders.length === 0)
    throw fail(
      `expected committed shards of this dataset's manifest under ${under}${prefix ? '' : '…'}, found none; run the extraction with --audio-backbone ${audioBackbone} first`,
    );
  if (folders.length > 1)
    throw fail(
      `expected one embedding configuration, found ${folders.length} (${folders.join(', ')}); name the one to use with audioEmbeddingPrefix`,
    );
  const folder = folders[0]!;
  return {
    folder,
    backbone: folder.split('/')[2]!,
    keys: manifest.shards.map((s) => `${folder}${s.shardId}.parquet`),
  };
}

/**
 * The audio embedding folder a registered audio backbone and window selection key their shards
 * under (activities/audio.ts audioShardKeys); undefined for a name the registry does not know.
 */
function registeredAudioFolder(
  deps: ActivityDeps,
  datasetId: string,
  selection: AudioSelection,
): string | undefined {
  if (!listAudioBackbones().some((d) => d.name === selection.audioBackbone)) return undefined;
  return keyFolder(audioShardKeys(deps, selection).keyOf(datasetId, 'shard'));
}

/** A run's Validation outputs per task, as the task runs hand them over (`observe`). */
export class ObservedOutputs {
  readonly frames: Partial<Record<'EXPR' | 'VA' | 'AU', readonly VideoOutputs[]>> = {};
  emi: VideoLevelOutputs | undefined;

  of(task: 'EXPR' | 'VA' | 'AU'): (outputs: readonly VideoOutputs[]) => void {
    return (outputs) => (this.frames[task] = outputs);
  }

  readonly ofEmi = (outputs: VideoLevelOutputs): void => {
    this.emi = outputs;
  };
}

/** A head as stored: `heads/<datasetId>/<task>/<hash>.json`. */
export function headDocument(fields: {
  task: Task;
  backbone: string;
  config: unknown;
  extra: object;
  head: unknown;
}): string {
  const plain = JSON.stringify(fields.head, (_k, v: unknown) =>
    ArrayBuffer.isView(v) ? Array.from(v as unknown as ArrayLike<number>) : v,
  );
  return `{"task":${JSON.stringify(fields.task)},"backbone":${JSON.stringify(fields.backbone)},"config":${JSON.stringify(fields.config)},"extra":${JSON.stringify(fields.extra)},"head":${plain}}`;
}

export interface AudioRunInput {
  readonly runId: string;
  readonly manifest: Manifest;
  readonly audioBackbone: string;
  readonly audioEmbeddingPrefix?: string;
  readonly audioWindow?: AudioSelection['audioWindow'];
  readonly labelled: readonly Pick<LabelledVideo, 'labels' | 'splits'>[];
  readonly settings: HeadSettings;
  /** The visual heads' key folders, hashed into the fusion records' keys. */
  readonly visualFolders: readonly string[];
  /** The visual heads' keys by task, and their Validation outputs. */
  readonly visualHeads: Readonly<Partial<Record<Task, string>>>;
  readonly visual: ObservedOutputs;
  /** The visual AU head's training prevalence: the fused AU fill of a video with no output. */
  readonly auPrior?: readonly number[];
  /** The stage the activity's heartbeats name. */
  readonly stage: (name: string) => void;
}

/** The audio heads of every task with labels, and their fusion with the visual ones. */
export async function trainAudioHeads(deps: ActivityDeps, input: AudioRunInput): Promise<AudioReport> {
  const { manifest, settings } = input;
  const selection = {
    audioBackbone: input.audioBackbone,
    ...(input.audioWindow ? { audioWindow: input.audioWindow } : {}),
  };
  const located = await audioEmbeddingKeys(
    deps.store,
    manifest,
    input.audioBackbone,
    input.audioEmbeddingPrefix ?? registeredAudioFolder(deps, manifest.datasetId, selection),
  );
  const spill = await SpillDirectory.create(deps.config.stateDir);
  try {
    input.stage('audio read');
    const rows = await readFaceRows(
      deps.store,
      manifest,
      located.keys,
      input.labelled,
      settings,
      spill,
      'embedding',
    );
    deps.log(
      `trainAndEvaluate ${input.runId}: audio ${located.backbone}: read ${rows.rows} rows of ${rows.shards} shards in ${rows.seconds.toFixed(1)} s`,
    );
    const videos: LabelledVideo[] = manifest.videos.map((video, i) => ({
      faces: rows.videos.get(video.name)!,
      ...input.labelled[i]!,
    }));
    const audio = new ObservedOutputs();
    input.stage('audio EXPR');
    const expr = await runExpr(videos, rows.embeddings.EXPR, [], settings, audio.of('EXPR'));
    input.stage('audio VA');
    const va = runVa(videos, settings, audio.of('VA'));
    input.stage('audio AU');
    const au = await runAu(videos, rows.embeddings.AU, settings, audio.of('AU'));
    input.stage('audio EMI');
    const emi = runEmi(videos, settings, audio.ofEmi);
    const results = { EXPR: expr, VA: va, AU: au, EMI: emi };

    const headKey = (task: Task, ...parts: (string | number)[]) =>
      `heads/${manifest.datasetId}/${task}/${shortHash(...parts, JSON.stringify(settings.windows), JSON.stringify(settings.protocol))}.json`;
    const tasks: Record<string, unknown> = {};
    const audioHeads: Partial<Record<Task, string>> = {};
    for (const [task, r] of Object.entries(results) as [FusedTask, (typeof results)[FusedTask]][]) {
      if (!r) continue;
      const key = headKey(
        task,
        'audio',
        located.folder,
        task,
        JSON.stringify(r.config),
        JSON.stringify(settings.streaming),
        r.trainSamples,
      );
      const { head, ...rest } = r;
      await deps.store.put(
        key,
        headDocument({ task, backbone: located.backbone, config: r.config, extra: { score: r.score }, head }),
      );
      audioHeads[task] = key;
      tasks[task] = { ...rest, headKey: key };
    }

    input.stage('fusion');
    const fused: Partial<Record<FusedTask, FusedResult>> = {};
    const v = input.visual;
    if (v.frames.EXPR && audio.frames.EXPR) fused.EXPR = fuseExpr(v.frames.EXPR, audio.frames.EXPR, settings);
    if (v.frames.VA && audio.frames.VA) fused.VA = fuseVa(v.frames.VA, audio.frames.VA, settings);
    if (v.frames.AU && audio.frames.AU && input.auPrior)
      fused.AU = fuseAu(v.frames.AU, audio.frames.AU, input.auPrior, settings);
    if (v.emi && audio.emi) fused.EMI = fuseEmi(v.emi, audio.emi);
    const fusedReports: Partial<Record<FusedTask, FusedReport>> = {};
    for (const [task, f] of Object.entries(fused) as [FusedTask, FusedResult][]) {
      const visualHead = input.visualHeads[task] ?? '';
      const audioHead = audioHeads[task] ?? '';
      const key = headKey(
        task,
        'fusion',
        input.visualFolders.join(' '),
        located.folder,
        visualHead,
        audioHead,
      );
      await deps.store.put(
        key,
        JSON.stringify({ task, modality: 'fusion', visualHead, audioHead, fusion: f }),
      );
      fusedReports[task] = { ...f, headKey: key };
      deps.log(
        `trainAndEvaluate ${input.runId}: ${task} fused ${f.score.toFixed(3)} with visual weight ${f.weights.map((w) => w.toFixed(1)).join(' ')} (chosen on ${f.chosenOn})`,
      );
    }
    reportProgress({ stage: 'audio done' });
    return {
      backbone: located.backbone,
      prefix: located.folder,
      embeddingShards: rows.shards,
      embeddingRows: rows.rows,
      tasks,
      fused: fusedReports,
      skipped: (Object.keys(results) as FusedTask[])
        .filter((task) => !results[task])
        .map((task) => ({ task, reason: untrainedReason(task, videos) })),
    };
  } finally {
    await spill.dispose();
  }
}
