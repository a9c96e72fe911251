/**
 * A backbone file's input/output signature against its descriptor: the shapes its ONNX protobuf
 * declares, and one zero batch run through the final graph.
 */
import { onnx } from './onnxGraph.ts';
import { ModelSignatureError, openGraph } from './onnxRuntime.ts';
import { backboneId, type BackboneDescriptor } from './registry.ts';

export function signatureError(descriptor: BackboneDescriptor, got: string): ModelSignatureError {
  const s = descriptor.inputSize;
  return new ModelSignatureError(
    backboneId(descriptor),
    `inputs [${descriptor.inputName} float32 [N,3,${s},${s}]] outputs [${descriptor.scoresOutput} float32 [N,${descriptor.scoresDim}], ${descriptor.embeddingOutput} float32 [N,${descriptor.embeddingDim}] (present, or the final Gemm's input)]`,
    got,
  );
}

type Dim = number | string | undefined;

function declaredDims(info: {
  type?: {
    tensorType?: {
      elemType?: number | null;
      shape?: { dim?: { dimValue?: unknown; dimParam?: string | null }[] | null } | null;
    } | null;
  } | null;
}): { elem: number | undefined; dims: Dim[] } {
  const tensor = info.type?.tensorType;
  return {
    elem: tensor?.elemType ?? undefined,
    dims: (tensor?.shape?.dim ?? []).map((d) =>
      d.dimParam
        ? d.dimParam
        : d.dimValue !== undefined && d.dimValue !== null
          ? Number(d.dimValue)
          : undefined,
    ),
  };
}

const FLOAT = onnx.TensorProto.DataType.FLOAT;

/** The shapes the ONNX protobuf declares for the input and the outputs the descriptor names. */
export function checkDeclaredSignature(descriptor: BackboneDescriptor, model: Uint8Array): void {
  const graph = onnx.ModelProto.decode(model).graph;
  const initializers = new Set((graph?.initializer ?? []).map((t) => t.name));
  const inputs = (graph?.input ?? []).filter((i) => !initializers.has(i.name));
  const outputs = graph?.output ?? [];
  const show = (infos: typeof outputs): string =>
    infos
      .map((i) => {
        const { dims } = declaredDims(i);
        return `${i.name} [${dims.map((d) => d ?? '?').join(',')}]`;
      })
      .join(', ');
  const got = `inputs [${show(inputs)}] outputs [${show(outputs)}]`;
  const matches = (name: string, want: Dim[]): boolean | undefined => {
    const info = [...inputs, ...outputs].find((i) => i.name === name);
    if (!info) return undefined;
    const { elem, dims } = declaredDims(info);
    if (elem !== FLOAT || dims.length !== want.length) return false;
    // Dim 0 is the batch (symbolic or any size); a dimension declared symbolic is accepted.
    return want.every((w, k) => k === 0 || typeof dims[k] !== 'number' || dims[k] === w);
  };
  const s = descriptor.inputSize;
  const ok =
    matches(descriptor.inputName, ['N', 3, s, s]) === true &&
    matches(descriptor.scoresOutput, ['N', descriptor.scoresDim]) === true &&
    matches(descriptor.embeddingOutput, ['N', descriptor.embeddingDim]) !== false;
  if (!ok) throw signatureError(descriptor, got);
}

/** One zero batch through the final graph: the embedding and scores come out with the descriptor's widths. */
export async function checkRunSignature(descriptor: BackboneDescriptor, model: Uint8Array): Promise<void> {
  const session = await openGraph(
    model,
    { provider: 'cpu', intraOpThreads: 1, interOpThreads: 1 },
    descriptor.name,
  );
  try {
    const s = descriptor.inputSize;
    const out = await session.run(
      { [descriptor.inputName]: { data: new Float32Array(3 * s * s), dims: [1, 3, s, s] } },
      [descriptor.scoresOutput, descriptor.embeddingOutput],
    );
    const dims = (name: string): string => `[${out[name]?.dims.join(',') ?? 'missing'}]`;
    const embedding = out[descriptor.embeddingOutput];
    const scores = out[descriptor.scoresOutput];
    if (
      embedding?.dims.join(',') !== `1,${descriptor.embeddingDim}` ||
      scores?.dims.join(',') !== `1,${descriptor.scoresDim}`
    ) {
      throw signatureError(
        descriptor,
        `run on [1,3,${s},${s}]: ${descriptor.scoresOutput} ${dims(descriptor.scoresOutput)}, ${descriptor.embeddingOutput} ${dims(descriptor.embeddingOutput)}`,
      );
    }
  } finally {
    await session.release();
  }
}
