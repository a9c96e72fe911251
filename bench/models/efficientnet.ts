/**
 * An EfficientNet-B0-topology ONNX graph with random weights, built in TypeScript: the real
 * architecture of the HSEmotion enet_b0 files (input "input" NCHW, dynamic batch, output "output"
 * = logits of a final Gemm over the 1280-d pooled features), for surgery tests and benchmarks
 * where torch is not available. BatchNorm is folded into each conv's bias.
 */
import type onnxProto from 'onnx-proto';
import { seededRandom } from '../../base/random.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from '../../models/onnxGraph.ts';

/** One MBConv stage: expansion ratio, kernel, stride of its first block, output channels, blocks. */
interface Stage {
  readonly expand: number;
  readonly kernel: number;
  readonly stride: number;
  readonly channels: number;
  readonly repeats: number;
}

/** EfficientNet-B0 (Tan & Le 2019, table 1), as in timm's efficientnet_b0. */
export const EFFICIENTNET_B0_STAGES: readonly Stage[] = Object.freeze([
  { expand: 1, kernel: 3, stride: 1, channels: 16, repeats: 1 },
  { expand: 6, kernel: 3, stride: 2, channels: 24, repeats: 2 },
  { expand: 6, kernel: 5, stride: 2, channels: 40, repeats: 2 },
  { expand: 6, kernel: 3, stride: 2, channels: 80, repeats: 3 },
  { expand: 6, kernel: 5, stride: 1, channels: 112, repeats: 3 },
  { expand: 6, kernel: 5, stride: 2, channels: 192, repeats: 4 },
  { expand: 6, kernel: 3, stride: 1, channels: 320, repeats: 1 },
]);

/**
 * Random weights shrink the signal through the stack (SiLU, SE gates) and any uniform gain above
 * He init makes it explode; a larger gain on the last 1x1 conv alone brings the 1280-d features
 * (the embedding) to a unit scale, so the logits are O(1) too.
 */
const HEAD_GAIN = 400;

export interface EfficientNetOptions {
  readonly inputSize?: number;
  readonly classes?: number;
  readonly stemChannels?: number;
  readonly headChannels?: number;
  readonly stages?: readonly Stage[];
  readonly seed?: number;
}

/** Encoded ONNX model (opset 11): input [N,3,S,S] -> output [N,classes]; embedding = Gemm input [N,headChannels]. */
export function buildEfficientNetModel(options: EfficientNetOptions = {}): Uint8Array {
  const size = options.inputSize ?? 224;
  const classes = options.classes ?? 8;
  const stem = options.stemChannels ?? 32;
  const head = options.headChannels ?? 1280;
  const rand = seededRandom(options.seed ?? 1);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  let counter = 0;
  const fresh = (label: string): string => `${label}_${counter++}`;
  /** Uniform weights with variance 2/fanIn (He), biases small: activations stay O(1) through the stack. */
  const weights = (name: string, dims: number[], fanIn: number, gain = 1): string => {
    const bound = Math.sqrt((6 * gain) / fanIn);
    const count = dims.reduce((a, b) => a * b, 1);
    initializer.push(
      floatTensor(
        name,
        dims,
        Float32Array.from({ length: count }, () => (rand() * 2 - 1) * bound),
      ),
    );
    return name;
  };
  const bias = (name: string, length: number): string => {
    initializer.push(
      floatTensor(
        name,
        [length],
        Float32Array.from({ length }, () => (rand() - 0.5) * 0.1),
      ),
    );
    return name;
  };
  const conv = (
    x: string,
    cin: number,
    cout: number,
    kernel: number,
    stride: number,
    group = 1,
    gain = 1,
  ): string => {
    const out = fresh('conv');
    const fanIn = (cin / group) * kernel * kernel;
    const w = weights(`${out}.weight`, [cout, cin / group, kernel, kernel], fanIn, gain);
    const pad = Math.floor(kernel / 2);
    nodes.push(
      node('Conv', [x, w, bias(`${out}.bias`, cout)], [out], {
        kernel_shape: [kernel, kernel],
        strides: [stride, stride],
        pads: [pad, pad, pad, pad],
        group,
      }),
    );
    return out;
  };
  const silu = (x: string): string => {
    const sigmoid = fresh('sigmoid');
    const out = fresh('silu');
    nodes.push(node('Sigmoid', [x], [sigmoid]), node('Mul', [x, sigmoid], [out]));
    return out;
  };
  const mbconv = (x: string, cin: number, cout: number, stage: Stage, stride: number): string => {
    const hidden = cin * stage.expand;
    let h = stage.expand === 1 ? x : silu(conv(x, cin, hidden, 1, 1));
    h = silu(conv(h, hidden, hidden, stage.kernel, stride, hidden));
    const squeezed = Math.max(1, Math.floor(cin / 4));
    const pooled = fresh('se_pool');
    nodes.push(node('GlobalAveragePool', [h], [pooled]));
    const gate = fresh('se_gate');
    nodes.push(
      node('Sigmoid', [conv(silu(conv(pooled, hidden, squeezed, 1, 1)), squeezed, hidden, 1, 1)], [gate]),
    );
    const excited = fresh('se_mul');
    nodes.push(node('Mul', [h, gate], [excited]));
    const projected = conv(excited, hidden, cout, 1, 1);
    if (stride !== 1 || cin !== cout) return projected;
    const out = fresh('residual');
    nodes.push(node('Add', [projected, x], [out]));
    return out;
  };

  let x = silu(conv('input', 3, stem, 3, 2));
  let channels = stem;
  for (const stage of options.stages ?? EFFICIENTNET_B0_STAGES) {
    for (let i = 0; i < stage.repeats; i++) {
      x = mbconv(x, channels, stage.channels, stage, i === 0 ? stage.stride : 1);
      channels = stage.channels;
    }
  }
  x = silu(conv(x, channels, head, 1, 1, 1, HEAD_GAIN));
  nodes.push(
    node('GlobalAveragePool', [x], ['pooled']),
    node('Flatten', ['pooled'], ['features'], { axis: 1 }),
  );
  const classifier = weights('classifier.weight', [classes, head], head);
  nodes.push(
    node('Gemm', ['features', classifier, bias('classifier.bias', classes)], ['output'], { transB: 1 }),
  );
  return encodeModel({
    name: 'efficientnet_b0_random',
    input: [floatValueInfo('input', ['N', 3, size, size])],
    output: [floatValueInfo('output', ['N', classes])],
    initializer,
    node: nodes,
  });
}
