/**
 * Backbone descriptors: everything the pipeline must know about a frozen face backbone to turn a
 * face crop into an embedding and emotion scores (SPEC §2).
 */
import { AFFECTNET_EXPRESSIONS } from '../datasets/labels.ts';

export const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406] as const);
export const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225] as const);

export type ModelSource =
  /** Built by the project itself (models/tinyBackbone.ts); no download. */
  | {
      readonly kind: 'generated';
      readonly generator: 'tiny-pooling';
      readonly pool: number;
      readonly seed: number;
    }
  | { readonly kind: 'url'; readonly url: string; readonly sha256: string | undefined };

export interface BackboneDescriptor {
  readonly name: string;
  readonly version: string;
  readonly source: ModelSource;
  /** Square input side S: crops are squash-resized to S x S. */
  readonly inputSize: number;
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
  readonly channelOrder: 'RGB' | 'BGR';
  readonly layout: 'NCHW';
  readonly inputName: string;
  /** Graph output holding the embedding, float32 [N, embeddingDim]. */
  readonly embeddingOutput: string;
  /** Graph output holding the scores (logits), float32 [N, scoresDim]. */
  readonly scoresOutput: string;
  readonly embeddingDim: number;
  readonly scoresDim: number;
  /** Name of each score column, in output order. */
  readonly scoreLabels: readonly string[];
  /**
   * 'batchnorm': the file's scores output is a BatchNormalization over the classifier's logits
   * (DDAMFN), replaced by identity when `models pull` exposes the embedding, so the scores are the
   * logits (as the notebooks load it). Absent: the scores output is the classifier's.
   */
  readonly scoresHead?: 'batchnorm';
}

const AFFECTNET_7 = Object.freeze(AFFECTNET_EXPRESSIONS.filter((label) => label !== 'Contempt'));
const AFFECTNET_VA = Object.freeze([...AFFECTNET_EXPRESSIONS, 'Valence', 'Arousal']);

/**
 * A small real ONNX graph that the project generates (models/tinyBackbone.ts): luminance and 4x4
 * average pooling of a 64x64 crop, fixed random ReLU units, a 256-d embedding and a final Gemm to
 * 8 AffectNet logits plus valence and arousal. Its layers are fitted at build time on faces the
 * synthetic generator draws, so embedding and scores carry the synthetic faces' expression and
 * valence/arousal as HSEmotion's carry AffectNet's. Version 1 was a random classifier on pooled
 * luminance; version 2 had part of the embedding raw pixel units (left out: they let small heads
 * overfit each video's look).
 */
export const TINY_BACKBONE: BackboneDescriptor = Object.freeze({
  name: 'affectflow-tiny',
  version: '3',
  source: { kind: 'generated', generator: 'tiny-pooling', pool: 4, seed: 1 },
  inputSize: 64,
  mean: IMAGENET_MEAN as unknown as [number, number, number],
  std: IMAGENET_STD as unknown as [number, number, number],
  channelOrder: 'RGB',
  layout: 'NCHW',
  inputName: 'input',
  embeddingOutput: 'embedding',
  scoresOutput: 'output',
  embeddingDim: 256,
  scoresDim: AFFECTNET_VA.length,
  scoreLabels: AFFECTNET_VA,
} as const);

/**
 * A second generated backbone, coarser (8x8 pooling: a 64-d embedding) with other random
 * features, fitted the same way and weaker for it: what a "new backbone lands" looks like in the
 * demo and tests.
 */
export const TINY_BACKBONE_B: BackboneDescriptor = Object.freeze({
  ...TINY_BACKBONE,
  name: 'affectflow-tiny-b',
  source: { kind: 'generated', generator: 'tiny-pooling', pool: 8, seed: 2 },
  embeddingDim: 64,
} as const);

/** Where the author publishes the HSEmotion ONNX files (face-emotion-recognition repository). */
export const HSEMOTION_ONNX_BASE =
  'https://raw.githubusercontent.com/HSE-asavchenko/face-emotion-recognition/main/models/affectnet_emotions/onnx/';

/** The output that models/surgery.ts adds to a classifier-included file: the final Gemm's input. */
export const SURGERY_EMBEDDING_OUTPUT = 'embedding';

function hsemotion(
  name: string,
  inputSize: number,
  normalisation: 'imagenet' | 'half',
  embeddingDim: number,
  scoreLabels: readonly string[],
): BackboneDescriptor {
  const half = [0.5, 0.5, 0.5] as [number, number, number];
  return Object.freeze({
    name,
    version: '1',
    // sha256 undefined: `affectflow models pull` records it in the store registry on first pull.
    source: Object.freeze({ kind: 'url', url: `${HSEMOTION_ONNX_BASE}${name}.onnx`, sha256: undefined }),
    inputSize,
    mean: normalisation === 'half' ? half : ([...IMAGENET_MEAN] as [number, number, number]),
    std: normalisation === 'half' ? half : ([...IMAGENET_STD] as [number, number, number]),
    channelOrder: 'RGB',
    layout: 'NCHW',
    inputName: 'input',
    embeddingOutput: SURGERY_EMBEDDING_OUTPUT,
    scoresOutput: 'output',
    embeddingDim,
    scoresDim: scoreLabels.length,
    scoreLabels,
  } as const);
}

/**
 * The published HSEmotion backbones (SPEC §2). Their files hold the classifier: the embedding
 * output exists only after graph surgery (models/surgery.ts), which `models pull` performs.
 * Scores: AffectNet logits (7-class files drop Contempt); the multi-task (va_mtl) files append
 * valence and arousal.
 */
export const HSEMOTION_BACKBONES: readonly BackboneDescriptor[] = Object.freeze([
  hsemotion('enet_b0_8_best_vgaf', 224, 'imagenet', 1280, AFFECTNET_EXPRESSIONS),
  hsemotion('enet_b0_8_best_afew', 224, 'imagenet', 1280, AFFECTNET_EXPRESSIONS),
  hsemotion('enet_b0_8_va_mtl', 224, 'imagenet', 1280, AFFECTNET_VA),
  hsemotion('enet_b2_8', 260, 'imagenet', 1408, AFFECTNET_EXPRESSIONS),
  hsemotion('enet_b2_7', 260, 'imagenet', 1408, AFFECTNET_7),
  hsemotion('mbf_va_mtl', 112, 'half', 512, AFFECTNET_VA),
  hsemotion('mobilevit_va_mtl', 224, 'imagenet', 768, AFFECTNET_VA),
]);

/**
 * DDAMFN (Zhang et al. 2023: MixedFeatureNet base, two dual-direction attention heads, a depthwise
 * 7x7 linear conv to the 512-d embedding, Linear classifier, BatchNorm head) and its multi-task
 * variant MT-DDAMFN (8 AffectNet logits, valence, arousal): 112 px, ImageNet normalisation. Their
 * authors publish PyTorch weights only, so there is no file to pull by default: export the model to
 * ONNX (input "input", output "output" after the BatchNorm head, as bench/models/ddamfn.ts lays out
 * its random-weight graph) and register the descriptor this makes with its file:// or https:// URL
 * (`affectflow backbones add`); `models pull` then replaces the BatchNorm head by identity and
 * exposes the embedding.
 */
export function ddamfnDescriptor(options: {
  readonly multiTask: boolean;
  readonly url: string;
  readonly sha256?: string;
  readonly name?: string;
  readonly version?: string;
}): BackboneDescriptor {
  const labels = options.multiTask ? AFFECTNET_VA : AFFECTNET_EXPRESSIONS;
  return Object.freeze({
    name: options.name ?? (options.multiTask ? 'mt_ddamfn' : 'ddamfn'),
    version: options.version ?? '1',
    source: Object.freeze({ kind: 'url', url: options.url, sha256: options.sha256 }),
    inputSize: 112,
    mean: [...IMAGENET_MEAN] as [number, number, number],
    std: [...IMAGENET_STD] as [number, number, number],
    channelOrder: 'RGB',
    layout: 'NCHW',
    inputName: 'input',
    embeddingOutput: SURGERY_EMBEDDING_OUTPUT,
    scoresOutput: 'output',
    embeddingDim: 512,
    scoresDim: labels.length,
    scoreLabels: labels,
    scoresHead: 'batchnorm',
  } as const);
}

const BUILTIN: ReadonlyMap<string, BackboneDescriptor> = new Map([
  [TINY_BACKBONE.name, TINY_BACKBONE],
  [TINY_BACKBONE_B.name, TINY_BACKBONE_B],
  ...HSEMOTION_BACKBONES.map((d) => [d.name, d] as const),
]);

/** Audio backbones (wav2vec2 family) live in their own table, models/audioRegistry.ts. */
export {
  benchModelsDir,
  getAudioBackbone,
  listAudioBackbones,
  TINY_AUDIO,
  UnknownAudioBackboneError,
  wav2vec2BaseDescriptor,
  type AudioBackboneDescriptor,
  type AudioModelSource,
} from './audioRegistry.ts';

export class UnknownBackboneError extends Error {
  constructor(readonly backbone: string) {
    super(
      `backbone ${backbone}: not in the registry; known: ${listBackbones()
        .map((d) => d.name)
        .join(', ')}`,
    );
    this.name = 'UnknownBackboneError';
  }
}

/** Descriptors registered in the store, as this process last read them (loadRegistry). */
const registered = new Map<string, BackboneDescriptor>();

export function getBackbone(name: string): BackboneDescriptor {
  const descriptor = BUILTIN.get(name) ?? registered.get(name);
  if (!descriptor) throw new UnknownBackboneError(name);
  return descriptor;
}

export function listBackbones(): BackboneDescriptor[] {
  return [...BUILTIN.values(), ...[...registered.values()].filter((d) => !BUILTIN.has(d.name))];
}

export const REGISTRY_PREFIX = 'registry/backbones/';

/** The store holds the registry, so every worker sees the same descriptors. */
export interface RegistryStore {
  put(key: string, body: string): Promise<void>;
  get(key: string): Promise<Uint8Array>;
  list(prefix: string): AsyncIterable<{ key: string }>;
}

/** Reads every registered descriptor from the store into this process; returns how many. */
export async function loadRegistry(store: RegistryStore): Promise<number> {
  let count = 0;
  for await (const object of store.list(REGISTRY_PREFIX)) {
    if (!object.key.endsWith('.json')) continue;
    const descriptor = validateDescriptor(
      JSON.parse(new TextDecoder().decode(await store.get(object.key))),
      object.key,
    );
    registered.set(descriptor.name, descriptor);
    count++;
  }
  return count;
}

/** Validates and stores a descriptor; built-in names cannot be replaced. */
export async function registerBackbone(
  store: RegistryStore,
  value: unknown,
  source: string,
): Promise<BackboneDescriptor> {
  const descriptor = validateDescriptor(value, source);
  if (BUILTIN.has(descriptor.name))
    throw new DescriptorError(source, 'name', `${descriptor.name} is a built-in backbone`);
  await store.put(`${REGISTRY_PREFIX}${descriptor.name}.json`, JSON.stringify(descriptor, null, 2));
  registered.set(descriptor.name, descriptor);
  return descriptor;
}

/**
 * File name stem of a backbone's model in a worker's model cache (name@version, filesystem-safe):
 * where `models pull` writes and the embed workers read.
 */
export function cachedModelName(descriptor: Pick<BackboneDescriptor, 'name' | 'version'>): string {
  return backboneId(descriptor).replace(/[^A-Za-z0-9._@-]/g, '_');
}

/** Stable id used in object keys: name@version. */
export function backboneId(descriptor: Pick<BackboneDescriptor, 'name' | 'version'>): string {
  return `${descriptor.name}@${descriptor.version}`;
}

export class DescriptorError extends Error {
  constructor(
    readonly source: string,
    readonly field: string,
    readonly detail: string,
  ) {
    super(`backbone descriptor ${source}: ${field}: ${detail}`);
    this.name = 'DescriptorError';
  }
}

/** Checks a descriptor read from JSON (a user's file, the store registry); throws naming the field. */
export function validateDescriptor(value: unknown, source: string): BackboneDescriptor {
  const fail = (field: string, expected: string, got: unknown): never => {
    throw new DescriptorError(source, field, `expected ${expected}, got ${JSON.stringify(got)}`);
  };
  if (value === null || typeof value !== 'object' || Array.isArray(value))
    fail('(root)', 'a JSON object', value);
  const d = value as Record<string, unknown>;
  const text = (field: string): string =>
    typeof d[field] === 'string' && d[field].length > 0
      ? d[field]
      : fail(field, 'a non-empty string', d[field]);
  const positive = (field: string): number =>
    Number.isInteger(d[field]) && (d[field] as number) > 0
      ? (d[field] as number)
      : fail(field, 'a positive integer', d[field]);
  const triple = (field: string, positiveOnly: boolean): [number, number, number] => {
    const v = d[field];
    if (
      !Array.isArray(v) ||
      v.length !== 3 ||
      !v.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positiveOnly || x > 0))
    ) {
      return fail(field, `three ${positiveOnly ? 'positive ' : ''}numbers`, v);
    }
    return v as [number, number, number];
  };
  const name = text('name');
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(name)) fail('name', 'letters, digits, ".", "_" or "-"', name);
  const source_ = d['source'] as Record<string, unknown> | undefined;
  let modelSource: ModelSource;
  if (source_?.['kind'] === 'url') {
    if (typeof source_['url'] !== 'string' || !/^(https?|file|s3):\/\//.test(source_['url']))
      fail('source.url', 'an http(s)://, file:// or s3:// URL', source_['url']);
    const sha = source_['sha256'];
    if (sha !== undefined && (typeof sha !== 'string' || !/^[0-9a-f]{64}$/.test(sha)))
      fail('source.sha256', '64 lowercase hex digits', sha);
    modelSource = { kind: 'url', url: source_['url'] as string, sha256: sha as string | undefined };
  } else if (source_?.['kind'] === 'generated' && source_['generator'] === 'tiny-pooling') {
    modelSource = {
      kind: 'generated',
      generator: 'tiny-pooling',
      pool: Number(source_['pool'] ?? 4),
      seed: Number(source_['seed'] ?? 1),
    };
  } else {
    return fail('source', '{"kind": "url", "url": ..., "sha256"?: ...}', source_);
  }
  const channelOrder = d['channelOrder'] ?? 'RGB';
  if (channelOrder !== 'RGB' && channelOrder !== 'BGR') fail('channelOrder', '"RGB" or "BGR"', channelOrder);
  if ((d['layout'] ?? 'NCHW') !== 'NCHW') fail('layout', '"NCHW"', d['layout']);
  const scoresDim = positive('scoresDim');
  const scoresHead = d['scoresHead'];
  if (scoresHead !== undefined && scoresHead !== 'batchnorm')
    fail('scoresHead', '"batchnorm" or absent', scoresHead);
  const labels = d['scoreLabels'];
  if (!Array.isArray(labels) || labels.length !== scoresDim || !labels.every((l) => typeof l === 'string')) {
    fail('scoreLabels', `${scoresDim} strings (one per score)`, labels);
  }
  return Object.freeze({
    name,
    version: text('version'),
    source: modelSource,
    inputSize: positive('inputSize'),
    mean: triple('mean', false),
    std: triple('std', true),
    channelOrder: channelOrder as 'RGB' | 'BGR',
    layout: 'NCHW',
    inputName: text('inputName'),
    embeddingOutput: text('embeddingOutput'),
    scoresOutput: text('scoresOutput'),
    embeddingDim: positive('embeddingDim'),
    scoresDim,
    scoreLabels: labels as string[],
    ...(scoresHead === 'batchnorm' ? { scoresHead: 'batchnorm' as const } : {}),
  });
}

export const CHECKSUM_PREFIX = 'registry/checksums/';

/**
 * The sha256 a backbone's model file must have: the descriptor's own, else the one recorded in the
 * store on the first pull (recordSha256); undefined when neither exists yet.
 */
export async function expectedSha256(
  store: RegistryStore,
  descriptor: BackboneDescriptor,
): Promise<string | undefined> {
  if (descriptor.source.kind === 'url' && descriptor.source.sha256) return descriptor.source.sha256;
  const key = `${CHECKSUM_PREFIX}${backboneId(descriptor)}.sha256`;
  for await (const object of store.list(key)) {
    if (object.key === key) return new TextDecoder().decode(await store.get(key)).trim();
  }
  return undefined;
}

/** Records the sha256 of a backbone's model file in the store, so every later pull is checked. */
export async function recordSha256(
  store: RegistryStore,
  descriptor: BackboneDescriptor,
  sha256: string,
): Promise<void> {
  if (!/^[0-9a-f]{64}$/.test(sha256))
    throw new DescriptorError(
      backboneId(descriptor),
      'source.sha256',
      `expected 64 hex digits, got ${sha256}`,
    );
  await store.put(`${CHECKSUM_PREFIX}${backboneId(descriptor)}.sha256`, `${sha256}\n`);
}
