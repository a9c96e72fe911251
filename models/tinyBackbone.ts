/** Generates the TINY_BACKBONE ONNX graph (see models/registry.ts); deterministic. */
import { seededRandom } from '../datasets/synthetic.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from './onnxGraph.ts';

export function buildTinyBackboneModel(inputSize = 64, pool = 4, classes = 8, seed = 1): Uint8Array {
  const side = inputSize / pool;
  const dim = side * side;
  const rand = seededRandom(seed);
  const classifier = Float32Array.from({ length: classes * dim }, () => (rand() - 0.5) * 0.2);
  const bias = Float32Array.from({ length: classes }, () => (rand() - 0.5) * 0.1);
  return encodeModel({
    name: `affectflow-tiny-pool${pool}`,
    input: [floatValueInfo('input', ['N', 3, inputSize, inputSize])],
    output: [floatValueInfo('output', ['N', classes]), floatValueInfo('embedding', ['N', dim])],
    initializer: [
      floatTensor('luminance', [1, 3, 1, 1], Float32Array.from([0.299, 0.587, 0.114])),
      floatTensor('classifier.weight', [classes, dim], classifier),
      floatTensor('classifier.bias', [classes], bias),
    ],
    node: [
      node('Conv', ['input', 'luminance'], ['gray'], { kernel_shape: [1, 1] }),
      node('AveragePool', ['gray'], ['pooled'], { kernel_shape: [pool, pool], strides: [pool, pool] }),
      node('Flatten', ['pooled'], ['embedding'], { axis: 1 }),
      node('Gemm', ['embedding', 'classifier.weight', 'classifier.bias'], ['output'], { transB: 1 }),
    ],
  });
}
