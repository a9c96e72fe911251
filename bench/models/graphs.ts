/**
 * What the embedding benchmarks share (bench/embed.bench.ts on the CPU, bench/gpu.ts on CUDA): the
 * real-architecture backbones to measure, a frame folder of real face crops, and the bare
 * session.run loop that gives ONNX Runtime's own ceiling for a graph.
 */
import { existsSync, mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import sharp from 'sharp';
import { manifestReader, type ActivityDeps } from '../../activities/context.ts';
import { createEmbedActivities } from '../../activities/embed.ts';
import { createFramesActivities } from '../../activities/frames.ts';
import { createManifestActivities } from '../../activities/manifest.ts';
import { seededRandom } from '../../base/random.ts';
import { loadConfig } from '../../config/index.ts';
import { startTypeScriptWorker } from '../../infra/threads.ts';
import { preprocessCrops } from '../../media/preprocess.ts';
import { buildDdamfnModel } from './ddamfn.ts';
import { buildEfficientNetModel } from './efficientnet.ts';
import { Embedder, embedderOptions, type EmbedderOptions } from '../../models/embedder.ts';
import type { ExecutionProvider } from '../../models/onnxRuntime.ts';
import { pullBackbone } from '../../models/pull.ts';
import {
  ddamfnDescriptor,
  IMAGENET_MEAN,
  IMAGENET_STD,
  registerBackbone,
  validateDescriptor,
  type BackboneDescriptor,
} from '../../models/registry.ts';
import { sha256Hex } from '../../base/hashing.ts';
import { readCommitted } from '../../storage/commit.ts';
import { readFramesShard } from '../../storage/shardReader.ts';
import { EmbeddingShardWriter } from '../../storage/shardWriter.ts';
import { benchModelsDir } from './folder.ts';
import { bareLoop, type BareJob, type BareResult } from './bareLoop.ts';
import { LocalDirStore } from '../../storage/objectStore.ts';
import { decodeFramesShard } from '../../storage/shards.ts';

const PORTRAITS = join(import.meta.dirname, '..', '..', 'test', 'fixtures', 'faces');
/** Face regions of the two real portraits (left, top, width, height), from test/preprocess.test.ts. */
const FACE_REGIONS = [
  { file: 'portrait-1.jpg', left: 371, top: 90, width: 240, height: 329 },
  { file: 'portrait-2.jpg', left: 427, top: 177, width: 286, height: 398 },
] as const;

/**
 * The backbones to measure: the TypeScript-built B0 and DDAMFN (bench/models/ddamfn.ts, about a
 * second to build; pulled through its descriptor, BatchNorm head replaced), plus every graph
 * build.sh left.
 */
export function benchBackbones(scratch: string): BackboneDescriptor[] {
  const model = buildEfficientNetModel({ seed: 1 });
  const path = join(scratch, 'ts_enet_b0.onnx');
  writeFileSync(path, model);
  const found = [
    validateDescriptor(
      {
        name: 'ts_enet_b0',
        version: 'seed1',
        source: { kind: 'url', url: `file://${path}`, sha256: sha256Hex(model) },
        inputSize: 224,
        mean: [...IMAGENET_MEAN],
        std: [...IMAGENET_STD],
        channelOrder: 'RGB',
        layout: 'NCHW',
        inputName: 'input',
        embeddingOutput: 'embedding',
        scoresOutput: 'output',
        embeddingDim: 1280,
        scoresDim: 8,
        scoreLabels: ['Anger', 'Contempt', 'Disgust', 'Fear', 'Happiness', 'Neutral', 'Sadness', 'Surprise'],
      },
      'ts_enet_b0',
    ),
  ];
  const ddamfn = buildDdamfnModel({ seed: 1 });
  const ddamfnPath = join(scratch, 'ddamfn.onnx');
  writeFileSync(ddamfnPath, ddamfn);
  found.push(
    ddamfnDescriptor({
      multiTask: false,
      url: `file://${ddamfnPath}`,
      sha256: sha256Hex(ddamfn),
      version: 'random-seed1',
    }),
  );
  const dir = benchModelsDir();
  if (!existsSync(dir)) return found;
  for (const file of readdirSync(dir)
    .filter((f) => f.endsWith('.json'))
    .sort()) {
    found.push(validateDescriptor(JSON.parse(readFileSync(join(dir, file), 'utf8')), join(dir, file)));
  }
  return found;
}

/**
 * A generic dataset of one frame folder: `faces` JPEG crops of the two real portraits, boxes
 * jittered in place and size (about 150 to 400 px, as faces in 720p video), the way Aff-Wild2
 * ships its cropped faces.
 */
export async function writeCropDataset(root: string, faces: number): Promise<void> {
  const dir = join(root, 'frames', 'portraits');
  mkdirSync(dir, { recursive: true });
  const rand = seededRandom(5);
  const images = await Promise.all(
    FACE_REGIONS.map(async (r) => {
      const { data, info } = await sharp(join(PORTRAITS, r.file)).raw().toBuffer({ resolveWithObject: true });
      return { region: r, data, width: info.width, height: info.height, channels: info.channels };
    }),
  );
  for (let i = 0; i < faces; i++) {
    const { region, data, width, height, channels } = images[i % images.length]!;
    const scale = 0.6 + rand() * 0.6;
    const w = Math.round(region.width * scale);
    const h = Math.round(region.height * scale);
    const left = Math.max(
      0,
      Math.min(width - w, Math.round(region.left + (region.width - w) / 2 + (rand() - 0.5) * 40)),
    );
    const top = Math.max(
      0,
      Math.min(height - h, Math.round(region.top + (region.height - h) / 2 + (rand() - 0.5) * 40)),
    );
    await sharp(data, { raw: { width, height, channels } })
      .extract({ left, top, width: w, height: h })
      .jpeg({ quality: 95 })
      .toFile(join(dir, `${String(i + 1).padStart(5, '0')}.jpg`));
  }
}

export interface BareOptions {
  readonly provider: ExecutionProvider;
  /** Sessions run side by side, one per thread (1: on this thread). */
  readonly threads: number;
  /** Intra-op threads of each session. */
  readonly intraOpThreads: number;
  readonly batch: number;
  readonly seconds: number;
  /**
   * Distinct crops the loop cycles through, a run taking the next `batch` of them (default: one
   * batch, the same input every run, which stays in the caches as no real pipeline's does).
   */
  readonly distinct?: number;
}

/**
 * Images per second of bare session.run loops (both outputs) on `batch` of the given crops,
 * preprocessed beforehand: `threads` sessions side by side (each on a worker thread when more
 * than one, as the embedder runs them), each for at least 3 batches and `seconds` after a
 * warm-up batch. Real crops, not random input: random input ran the MobileFaceNet graph 2.5x
 * slower than real or constant input here (74 against 190 images/s), which would make a ceiling
 * the activity could beat. Throws when CUDA was asked for and the session fell back.
 */
export async function bareRate(
  modelPath: string,
  descriptor: BackboneDescriptor,
  crops: readonly Uint8Array[],
  options: BareOptions,
): Promise<number> {
  return (await bareMeasure(modelPath, descriptor, crops, options)).perSecond;
}

/**
 * bareRate's loops, with the CPU time they cost: `cpuMsPerImage` is the process's CPU time (every
 * thread) per image over the loops' timed window, the ceiling's side of the CPU budget that
 * embedThroughputBound compares the activity's stages against.
 */
export async function bareMeasure(
  modelPath: string,
  descriptor: BackboneDescriptor,
  crops: readonly Uint8Array[],
  options: BareOptions,
): Promise<{ perSecond: number; cpuMsPerImage: number }> {
  const { batch } = options;
  const count = Math.max(batch, Math.floor((options.distinct ?? batch) / batch) * batch);
  const input = await preprocessCrops(
    Array.from({ length: count }, (_, i) => crops[i % crops.length]!),
    descriptor,
  );
  const job: BareJob = { modelPath, descriptor, input, ...options };
  const results =
    options.threads <= 1
      ? [await bareLoop(job)]
      : await Promise.all(
          Array.from(
            { length: options.threads },
            () =>
              new Promise<BareResult>((resolve, reject) => {
                const worker = startTypeScriptWorker(new URL('./bareThread.ts', import.meta.url), job);
                worker.once('message', (reply: { result?: BareResult; error?: string }) => {
                  void worker.terminate();
                  if (reply.result) resolve(reply.result);
                  else reject(new Error(reply.error));
                });
                worker.once('error', reject);
              }),
          ),
        );
  // The loops run side by side, so each one's window saw the process's CPU time for all of them.
  const cpu = results.reduce((a, r) => a + r.processCpuMs, 0) / results.length;
  return {
    perSecond: results.reduce((a, r) => a + r.perSecond, 0),
    cpuMsPerImage: cpu / results.reduce((a, r) => a + r.images, 0),
  };
}

/**
 * The most activity / `bare.embedder` can reach when the embedder's threads fill every core, as
 * they do on the CPU by default (one single-threaded session per core): the bare loop spends all
 * the cores' time on inference, the activity must spend some of it on the other stages, and
 * overlapping stages only moves work between cores that are all busy. `inference` is the bare
 * loop's CPU ms per image (bareMeasure), the stages CPU ms per face (EmbedBenchRig.stageCosts).
 * Message passing, garbage collection and the edges of a run (the first shard read before any
 * inference, the last commit after it) come on top.
 */
export function embedThroughputBound(
  inference: number,
  stages: { readonly preprocess: number; readonly read: number; readonly commit: number },
): number {
  return inference / (inference + stages.preprocess + stages.read + stages.commit);
}

/**
 * A local store holding committed frames shards of real crops (writeCropDataset), and the embed
 * activity wired as an embed pool would wire it for `provider` (its embedder configured from
 * the config, as workers/pools.ts does): what both embedding benchmarks measure the activity on.
 */
export class EmbedBenchRig {
  readonly store: LocalDirStore;
  readonly embedder: Embedder;
  /** The embedder's options, resolved from the config as an embed pool resolves them. */
  readonly options: EmbedderOptions;
  private readonly embed: ReturnType<typeof createEmbedActivities>;
  private shards: { manifestKey: string; shardId: string; framesKey: string }[] = [];

  constructor(
    readonly scratch: string,
    provider: ExecutionProvider,
  ) {
    this.store = new LocalDirStore(join(scratch, 'store'));
    this.options = embedderOptions(loadConfig().embedRuntime, provider, {
      modelCacheDir: join(scratch, 'models'),
      log: (line) => console.error(line),
    });
    this.embedder = new Embedder(this.options);
    this.embed = createEmbedActivities(this.deps());
  }

  private deps(): ActivityDeps {
    const { store, embedder } = this;
    return { store, embedder, config: { stateDir: this.scratch }, log: () => {} };
  }

  /**
   * Writes `faces` crops as a dataset, manifests it in shards of `shardFrames` and extracts every
   * frames shard; returns the crops.
   */
  async prepare(faces: number, shardFrames = faces): Promise<Uint8Array[]> {
    const datasetPath = join(this.scratch, 'data');
    await writeCropDataset(datasetPath, faces);
    const manifest = await createManifestActivities(this.deps()).manifestDataset({
      datasetPath,
      shardFrames,
    });
    const frames = createFramesActivities(this.deps());
    const crops: Uint8Array[] = [];
    this.shards = [];
    // The activity returns counts; the shard list is in the stored manifest.
    for (const { shardId } of (await manifestReader(this.store)(manifest.manifestKey)).shards) {
      const { framesKey } = await frames.extractFrames({
        manifestKey: manifest.manifestKey,
        shardId,
        maxCropSide: 256,
      });
      this.shards.push({ manifestKey: manifest.manifestKey, shardId, framesKey });
      const rows = decodeFramesShard((await readCommitted(this.store, framesKey))!.bytes);
      crops.push(...rows.map((r) => r.image!));
    }
    return crops;
  }

  /** Registers and pulls a backbone (surgery included); returns the model file the sessions run. */
  async pull(descriptor: BackboneDescriptor): Promise<string> {
    await registerBackbone(this.store, descriptor, descriptor.name);
    return (await pullBackbone(descriptor, { cacheDir: join(this.scratch, 'models'), store: this.store }))
      .path;
  }

  /**
   * Embeddings per second of embed activities over every shard, from nothing committed, run
   * `concurrency` at a time as an embed pool runs them (AFFECTFLOW_EMBED_CONCURRENCY).
   */
  async activityRate(backbone: string, batchSize: number, concurrency: number): Promise<number> {
    if (this.shards.length === 0) throw new Error('EmbedBenchRig: prepare() first');
    for await (const o of this.store.list('embeddings/')) await this.store.delete(o.key);
    const queue = [...this.shards];
    let rows = 0;
    const start = process.hrtime.bigint();
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        for (let shard = queue.shift(); shard; shard = queue.shift()) {
          const result = await this.embed.embedShard({ ...shard, backbone, batchSize });
          rows += result.rows;
        }
      }),
    );
    return rows / (Number(process.hrtime.bigint() - start) / 1e9);
  }

  /**
   * What the activity does per face besides inference, each stage run alone on this thread with
   * the embedder idle, in ms of the process's CPU time per face (the least of `repeats`: CPU time,
   * not wall time, so other load on a shared machine barely moves it):
   * `preprocess`, the embedder threads' crop decoding, resize and normalisation (runs of the
   * embedder's runBatch into one reused tensor); `read`, the frames shard read (get, sha256,
   * Parquet decode, checks against the marker); `commit`, the embedding shard's Parquet encode,
   * sha256, store and marker.
   */
  async stageCosts(
    descriptor: BackboneDescriptor,
    crops: readonly Uint8Array[],
    repeats = 3,
  ): Promise<{ preprocess: number; read: number; commit: number }> {
    const bestOf = async (run: () => Promise<unknown>): Promise<number> => {
      let top = Infinity;
      for (let i = 0; i < repeats; i++) {
        const cpu = process.cpuUsage();
        await run();
        const { user, system } = process.cpuUsage(cpu);
        top = Math.min(top, (user + system) / 1000);
      }
      return top;
    };
    const run = this.options.runBatch || 32;
    const tensor = new Float32Array(run * 3 * descriptor.inputSize * descriptor.inputSize);
    const preprocess = await bestOf(async () => {
      for (let i = 0; i < crops.length; i += run) {
        const part = crops.slice(i, i + run);
        await preprocessCrops(part, descriptor, tensor.subarray(0, (part.length * tensor.length) / run));
      }
    });
    const shards = await Promise.all(this.shards.map((s) => readFramesShard(this.store, s.framesKey)));
    const faces = shards.reduce((n, s) => n + s!.rows.length, 0);
    const read = await bestOf(async () => {
      for (const { framesKey } of this.shards) await readFramesShard(this.store, framesKey);
    });
    const { embeddingDim: d, scoresDim: k } = descriptor;
    // Embedding-like values: constant ones would compress to nothing and flatter the encode.
    const rand = seededRandom(7);
    const values = Float32Array.from({ length: 64 * d }, () => rand() * 2 - 1);
    const embeddings = (n: number): Float32Array =>
      Float32Array.from({ length: n * d }, (_, i) => values[i % values.length]!);
    let written = 0;
    const commit = await bestOf(async () => {
      for (const shard of shards) {
        const { rows, record } = shard!;
        const writer = EmbeddingShardWriter.open(
          this.store,
          `embeddings/stage-costs/${descriptor.name}@${descriptor.version}/x/${written++}.parquet`,
          {
            dataset: 'stage-costs',
            split: 'Train',
            backbone: descriptor.name,
            backboneVersion: descriptor.version,
            modelSha256: '0'.repeat(64),
            embeddingDim: d,
            scoresDim: k,
          },
          {
            shardId: String(written),
            configHash: 'x',
            backbone: JSON.stringify(descriptor),
            preprocessing: '',
          },
        );
        await writer.append(rows, embeddings(rows.length), new Float32Array(rows.length * k));
        await writer.commit({}, record.coverage);
      }
    });
    for await (const o of this.store.list('embeddings/stage-costs/')) await this.store.delete(o.key);
    return { preprocess: preprocess / crops.length, read: read / faces, commit: commit / faces };
  }

  async close(): Promise<void> {
    await this.embedder.close();
    this.store.close();
  }
}
