/**
 * Backbone descriptors: everything the pipeline must know about a frozen face backbone to turn a
 * face crop into an embedding and emotion scores (SPEC §2).
 */
import { AFFECTNET_EXPRESSIONS } from '../datasets/labels.ts';

export const IMAGENET_MEAN = Object.freeze([0.485, 0.456, 0.406] as const);
export const IMAGENET_STD = Object.freeze([0.229, 0.224, 0.225] as const);

export type ModelSource =
  /** Built by the project itself (models/tinyBackbone.ts); no download. */
  | { readonly kind: 'generated'; readonly generator: 'tiny-pooling' }
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
}

/**
 * A small real ONNX graph that the project generates: luminance, 4x4 average pooling of a 64x64
 * crop (a 256-d embedding) and a fixed random linear classifier to 8 AffectNet logits.
 */
export const TINY_BACKBONE: BackboneDescriptor = Object.freeze({
  name: 'affectflow-tiny',
  version: '1',
  source: { kind: 'generated', generator: 'tiny-pooling' },
  inputSize: 64,
  mean: IMAGENET_MEAN as unknown as [number, number, number],
  std: IMAGENET_STD as unknown as [number, number, number],
  channelOrder: 'RGB',
  layout: 'NCHW',
  inputName: 'input',
  embeddingOutput: 'embedding',
  scoresOutput: 'output',
  embeddingDim: 256,
  scoresDim: 8,
  scoreLabels: AFFECTNET_EXPRESSIONS,
} as const);

const BUILTIN: ReadonlyMap<string, BackboneDescriptor> = new Map([[TINY_BACKBONE.name, TINY_BACKBONE]]);

export class UnknownBackboneError extends Error {
  constructor(readonly backbone: string) {
    super(`backbone ${backbone}: not in the registry; known: ${[...BUILTIN.keys()].join(', ')}`);
    this.name = 'UnknownBackboneError';
  }
}

export function getBackbone(name: string): BackboneDescriptor {
  const descriptor = BUILTIN.get(name);
  if (!descriptor) throw new UnknownBackboneError(name);
  return descriptor;
}

/** Stable id used in object keys: name@version. */
export function backboneId(descriptor: Pick<BackboneDescriptor, 'name' | 'version'>): string {
  return `${descriptor.name}@${descriptor.version}`;
}
