/**
 * Building and reading ONNX protobuf graphs in TypeScript (onnx-proto). Used to generate the
 * project's own small models; later also for graph surgery on published files.
 */
import onnxProto from 'onnx-proto';

export const { onnx } = onnxProto;

const FLOAT = onnx.TensorProto.DataType.FLOAT;

export function floatTensor(
  name: string,
  dims: readonly number[],
  values: Float32Array,
): onnxProto.onnx.ITensorProto {
  const expected = dims.reduce((a, b) => a * b, 1);
  if (values.length !== expected) {
    throw new Error(
      `tensor ${name}: expected ${expected} values for dims [${dims.join(',')}], got ${values.length}`,
    );
  }
  return {
    name,
    dims: [...dims],
    dataType: FLOAT,
    rawData: new Uint8Array(values.buffer, values.byteOffset, values.byteLength),
  };
}

/** A float32 value info; a string dimension is symbolic (e.g. the dynamic batch "N"). */
export function floatValueInfo(
  name: string,
  dims: readonly (number | string)[],
): onnxProto.onnx.IValueInfoProto {
  return {
    name,
    type: {
      tensorType: {
        elemType: FLOAT,
        shape: { dim: dims.map((d) => (typeof d === 'string' ? { dimParam: d } : { dimValue: d })) },
      },
    },
  };
}

export function node(
  opType: string,
  inputs: readonly string[],
  outputs: readonly string[],
  attributes: Record<string, number | readonly number[]> = {},
): onnxProto.onnx.INodeProto {
  const attribute = Object.entries(attributes).map(([name, value]) =>
    typeof value === 'number'
      ? Number.isInteger(value)
        ? { name, type: onnx.AttributeProto.AttributeType.INT, i: value }
        : { name, type: onnx.AttributeProto.AttributeType.FLOAT, f: value }
      : { name, type: onnx.AttributeProto.AttributeType.INTS, ints: [...value] },
  );
  return { opType, input: [...inputs], output: [...outputs], name: `${opType}_${outputs[0]}`, attribute };
}

export function encodeModel(graph: onnxProto.onnx.IGraphProto, opset = 11): Uint8Array {
  const model = onnx.ModelProto.create({
    irVersion: 6,
    producerName: 'affectflow',
    opsetImport: [{ domain: '', version: opset }],
    graph,
  });
  return onnx.ModelProto.encode(model).finish();
}
