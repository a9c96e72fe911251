/**
 * Graph surgery on classifier-included ONNX files (the published HSEmotion models): expose the
 * tensor that feeds the final Gemm (the classifier's input, i.e. the embedding) as an extra graph
 * output, so that one inference yields both the embedding and the scores.
 */
import { existsSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs';
import type onnxProto from 'onnx-proto';
import { floatValueInfo, node, onnx } from './onnxGraph.ts';

export class SurgeryError extends Error {
  constructor(
    readonly place: string,
    readonly detail: string,
  ) {
    super(`graph surgery on ${place}: ${detail}`);
    this.name = 'SurgeryError';
  }
}

export interface SurgeryOptions {
  /** Graph output carrying the classifier's scores (the final Gemm's output, possibly via Identity/Flatten). */
  readonly scoresOutput?: string;
  /** Name of the new graph output: float32 [N, embeddingDim]. */
  readonly embeddingOutput?: string;
  /** File or label used in error messages. */
  readonly label?: string;
  /**
   * The scores output comes from a BatchNormalization over the classifier's logits (DDAMFN's
   * head), which becomes an Identity: the scores are the final Gemm's logits, as the notebooks
   * load the model with that BatchNorm replaced by identity.
   */
  readonly replaceBatchNormHead?: boolean;
}

export interface SurgeryResult {
  readonly model: Uint8Array;
  /** The tensor inside the graph that feeds the final Gemm. */
  readonly gemmInput: string;
  /** Embedding width, from the Gemm weight's shape. */
  readonly embeddingDim: number;
  /** True when the model already had the embedding output and was returned unchanged. */
  readonly unchanged: boolean;
}

/** Nodes allowed between the final Gemm and the scores output; each passes one tensor through. */
const PASS_THROUGH = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze', 'Dropout']);

/**
 * Adds `embeddingOutput` (an Identity of the final Gemm's input A) to the graph outputs. The
 * Gemm must compute A·Bᵀ + C (transB = 1, the PyTorch Linear export) or A·B + C, with B an
 * initializer; the embedding's batch dimension is declared like the scores output's.
 */
export function exposeGemmInput(model: Uint8Array, options: SurgeryOptions = {}): SurgeryResult {
  const scoresOutput = options.scoresOutput ?? 'output';
  const embeddingOutput = options.embeddingOutput ?? 'embedding';
  const place = options.label ?? 'model';
  const decoded = onnx.ModelProto.decode(model);
  const graph = decoded.graph;
  if (!graph) throw new SurgeryError(place, 'expected a graph, got none');
  const outputs = graph.output ?? [];
  const scores = outputs.find((o) => o.name === scoresOutput);
  if (!scores) {
    throw new SurgeryError(
      place,
      `expected a graph output ${scoresOutput}, got [${outputs.map((o) => o.name).join(', ')}]`,
    );
  }
  const producers = new Map<string, onnxProto.onnx.INodeProto>();
  for (const n of graph.node ?? []) for (const out of n.output ?? []) producers.set(out, n);
  const initializers = new Map((graph.initializer ?? []).map((t) => [t.name ?? '', t]));
  let replaced = false;
  if (options.replaceBatchNormHead) {
    const head = producers.get(scoresOutput);
    if (head?.opType === 'BatchNormalization' && head.input?.[0]) {
      const identity = node('Identity', [head.input[0]], [scoresOutput]);
      graph.node = (graph.node ?? []).map((n) => (n === head ? identity : n));
      producers.set(scoresOutput, identity);
      // The BatchNorm's parameters go with it unless another node reads them.
      const read = new Set((graph.node ?? []).flatMap((n) => n.input ?? []));
      graph.initializer = (graph.initializer ?? []).filter((t) => read.has(t.name ?? ''));
      replaced = true;
    } else if (head?.opType !== 'Identity') {
      throw new SurgeryError(
        place,
        `expected ${scoresOutput} to be produced by the BatchNormalization head, got ${head?.opType ?? 'a graph input'}`,
      );
    }
  }

  let tensor = scoresOutput;
  let gemm: onnxProto.onnx.INodeProto | undefined;
  for (let step = 0; step < 8 && !gemm; step++) {
    const producer = producers.get(tensor);
    if (!producer) break;
    if (producer.opType === 'Gemm') gemm = producer;
    else if (PASS_THROUGH.has(producer.opType ?? '') && producer.input?.[0]) tensor = producer.input[0];
    else break;
  }
  if (!gemm) {
    throw new SurgeryError(
      place,
      `expected ${scoresOutput} to be produced by a Gemm (through ${[...PASS_THROUGH].join('/')} at most), got ${producers.get(tensor)?.opType ?? 'a graph input'} producing ${tensor}`,
    );
  }
  const attribute = (name: string): number => Number(gemm.attribute?.find((a) => a.name === name)?.i ?? 0);
  if (attribute('transA') !== 0)
    throw new SurgeryError(place, `expected the final Gemm with transA = 0, got 1`);
  const [input, weightName] = gemm.input ?? [];
  const weight = weightName ? resolveInitializer(weightName, producers, initializers) : undefined;
  if (!input || !weight || weight.dims?.length !== 2) {
    throw new SurgeryError(
      place,
      `expected the final Gemm's weight ${weightName ?? '(none)'} to be a 2-d initializer, got ${weight ? `dims [${weight.dims?.join(',')}]` : 'no initializer'}`,
    );
  }
  const embeddingDim = Number(attribute('transB') === 1 ? weight.dims[1] : weight.dims[0]);

  const existing = outputs.find((o) => o.name === embeddingOutput);
  if (existing) {
    const feeds = producers.get(embeddingOutput);
    if (embeddingOutput === input || (feeds?.opType === 'Identity' && feeds.input?.[0] === input)) {
      return replaced
        ? {
            model: onnx.ModelProto.encode(decoded).finish(),
            gemmInput: input,
            embeddingDim,
            unchanged: false,
          }
        : { model, gemmInput: input, embeddingDim, unchanged: true };
    }
    throw new SurgeryError(
      place,
      `expected output ${embeddingOutput} to be free or the final Gemm's input ${input}, got another tensor`,
    );
  }
  if (producers.has(embeddingOutput) || initializers.has(embeddingOutput)) {
    throw new SurgeryError(
      place,
      `expected the name ${embeddingOutput} to be unused, got a tensor of that name`,
    );
  }
  const batch = scores.type?.tensorType?.shape?.dim?.[0];
  const batchDim = batch?.dimParam ? batch.dimParam : batch?.dimValue ? Number(batch.dimValue) : 'N';
  graph.node = [...(graph.node ?? []), node('Identity', [input], [embeddingOutput])];
  graph.output = [...outputs, floatValueInfo(embeddingOutput, [batchDim, embeddingDim])];
  return {
    model: onnx.ModelProto.encode(decoded).finish(),
    gemmInput: input,
    embeddingDim,
    unchanged: false,
  };
}

/**
 * The initializer behind a tensor name, through Identity nodes (the TorchScript exporter shares
 * identical initializers that way).
 */
export function resolveInitializer(
  name: string,
  producers: ReadonlyMap<string, onnxProto.onnx.INodeProto>,
  initializers: ReadonlyMap<string, onnxProto.onnx.ITensorProto>,
): onnxProto.onnx.ITensorProto | undefined {
  let current = name;
  for (let step = 0; step < 8; step++) {
    const found = initializers.get(current);
    if (found) return found;
    const producer = producers.get(current);
    if (producer?.opType !== 'Identity' || !producer.input?.[0]) return undefined;
    current = producer.input[0];
  }
  return undefined;
}

/**
 * Surgery with a file cache: writes `<source>.embedding.onnx` (or `target`) next to the original
 * unless a copy at least as new as the source exists; returns its path.
 */
export function exposeGemmInputFile(
  source: string,
  options: SurgeryOptions & { readonly target?: string } = {},
): string {
  const target = options.target ?? source.replace(/\.onnx$/, '') + '.embedding.onnx';
  if (existsSync(target) && statSync(target).mtimeMs >= statSync(source).mtimeMs) return target;
  const result = exposeGemmInput(readFileSync(source), { label: source, ...options });
  const tmp = `${target}.tmp-${process.pid}`;
  writeFileSync(tmp, result.model);
  renameSync(tmp, target);
  return target;
}
