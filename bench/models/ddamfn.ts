/**
 * A DDAMFN-architecture ONNX graph with random weights, built in TypeScript (torch is not needed):
 * the network of Zhang et al. 2023, "A Dual-Direction Attention Mixed Feature Network for Facial
 * Expression Recognition", for descriptor, surgery and benchmark checks where the published
 * weights cannot be reached. BatchNorm is folded into each conv's bias, as an eval-mode export
 * with constant folding leaves it.
 *
 * - MixedFeatureNet base: a MobileFaceNet (112 px, stride 16 to a 512 x 7 x 7 map) whose
 *   depthwise convs are mixed (MixConv: channel groups with 3x3, 5x5 and 7x7 kernels), PReLU.
 * - Two dual-direction attention (DDA) heads: per head, depthwise 1x7 and 7x1 "linear" convs give
 *   a column and a row descriptor, concatenated, a shared 1x1 conv to 16 channels with h-swish,
 *   split back, a 1x1 conv and sigmoid each; the head's map is their product. The heads' maps
 *   are combined by element-wise Max and multiply the features.
 * - A depthwise 7x7 "linear" conv and Flatten: the 512-d embedding ("features"); the classifier
 *   Gemm ("logits"), then BatchNormalization over the classes: "output". The notebooks replace
 *   that BatchNorm head by identity (models/surgery.ts replaceBatchNormHead).
 */
import type onnxProto from 'onnx-proto';
import { seededRandom } from '../../base/random.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from '../../models/onnxGraph.ts';

export interface DdamfnOptions {
  /** 8 AffectNet classes (DDAMFN), or 10: 8 plus valence and arousal (MT-DDAMFN). */
  readonly classes?: number;
  readonly seed?: number;
  /** Attention heads (the paper's default 2). */
  readonly heads?: number;
}

/** MobileFaceNet stages after the stem: output channels, blocks, stride of the first. */
const STAGES = Object.freeze([
  { channels: 64, repeats: 5, stride: 2 },
  { channels: 128, repeats: 1, stride: 2 },
  { channels: 128, repeats: 6, stride: 1 },
  { channels: 128, repeats: 1, stride: 2 },
  { channels: 128, repeats: 2, stride: 1 },
]);
const MIX_KERNELS = Object.freeze([3, 5, 7]);
const SIZE = 112;
const EMBEDDING = 512;
const PROJECTION_GAIN = 0.1;
const EMBEDDING_GAIN = 100;

/** Encoded ONNX model (opset 11): input [N,3,112,112] -> output [N,classes]; embedding [N,512] = the classifier's input. */
export function buildDdamfnModel(options: DdamfnOptions = {}): Uint8Array {
  const classes = options.classes ?? 8;
  const rand = seededRandom(options.seed ?? 1);
  const nodes: onnxProto.onnx.INodeProto[] = [];
  const initializer: onnxProto.onnx.ITensorProto[] = [];
  let counter = 0;
  const fresh = (label: string): string => `${label}_${counter++}`;
  const tensor = (name: string, dims: number[], value: () => number): string => {
    const count = dims.reduce((a, b) => a * b, 1);
    initializer.push(floatTensor(name, dims, Float32Array.from({ length: count }, value)));
    return name;
  };
  const conv = (
    x: string,
    cin: number,
    cout: number,
    [kh, kw]: readonly [number, number],
    stride: number,
    group: number,
    pad: readonly [number, number],
    gain = 1,
  ): string => {
    const out = fresh('conv');
    const bound = Math.sqrt((6 * gain) / ((cin / group) * kh * kw));
    const w = tensor(`${out}.weight`, [cout, cin / group, kh, kw], () => (rand() * 2 - 1) * bound);
    const b = tensor(`${out}.bias`, [cout], () => (rand() - 0.5) * 0.1);
    nodes.push(
      node('Conv', [x, w, b], [out], {
        kernel_shape: [kh, kw],
        strides: [stride, stride],
        pads: [pad[0], pad[1], pad[0], pad[1]],
        group,
      }),
    );
    return out;
  };
  const square = (x: string, cin: number, cout: number, k: number, stride: number, group = 1, gain = 1) =>
    conv(x, cin, cout, [k, k], stride, group, [Math.floor(k / 2), Math.floor(k / 2)], gain);
  const prelu = (x: string, channels: number): string => {
    const out = fresh('prelu');
    nodes.push(node('PRelu', [x, tensor(`${out}.slope`, [channels, 1, 1], () => 0.25)], [out]));
    return out;
  };
  const op = (
    type: string,
    inputs: string[],
    attributes: Record<string, number | readonly number[]> = {},
  ) => {
    const out = fresh(type.toLowerCase());
    nodes.push(node(type, inputs, [out], attributes));
    return out;
  };
  /** MixConv: channel groups each with its own depthwise kernel, concatenated back. */
  const mixedDepthwise = (x: string, channels: number, stride: number): string => {
    const split = MIX_KERNELS.map(
      (_, i) => Math.floor(channels / MIX_KERNELS.length) + (i < channels % MIX_KERNELS.length ? 1 : 0),
    );
    const parts = split.map(() => fresh('mix_part'));
    nodes.push(node('Split', [x], parts, { axis: 1, split }));
    return op(
      'Concat',
      parts.map((p, i) => square(p, split[i]!, split[i]!, MIX_KERNELS[i]!, stride, split[i])),
      { axis: 1 },
    );
  };
  const bottleneck = (x: string, cin: number, cout: number, stride: number): string => {
    const hidden = cin * 2;
    const h = prelu(mixedDepthwise(prelu(square(x, cin, hidden, 1, 1), hidden), hidden, stride), hidden);
    // A small gain on the projection keeps the residual sums from growing block by block.
    const projected = square(h, hidden, cout, 1, 1, 1, PROJECTION_GAIN);
    return stride === 1 && cin === cout ? op('Add', [x, projected]) : projected;
  };
  /** One dual-direction attention head on the [N,512,7,7] features: its [N,512,7,7] map. */
  const ddaHead = (x: string): string => {
    const mip = Math.max(8, EMBEDDING / 32);
    const columns = conv(x, EMBEDDING, EMBEDDING, [1, 7], 1, EMBEDDING, [0, 0]); // [N,512,7,1]
    const rows = op('Transpose', [conv(x, EMBEDDING, EMBEDDING, [7, 1], 1, EMBEDDING, [0, 0])], {
      perm: [0, 1, 3, 2],
    }); // [N,512,7,1]
    const joined = conv(op('Concat', [columns, rows], { axis: 2 }), EMBEDDING, mip, [1, 1], 1, 1, [0, 0]);
    const hswish = op('Mul', [joined, op('HardSigmoid', [joined], { alpha: 1 / 6, beta: 0.5 })]);
    const [h, w] = [fresh('dda_h'), fresh('dda_w')];
    nodes.push(node('Split', [hswish], [h, w], { axis: 2, split: [7, 7] }));
    const gateH = op('Sigmoid', [conv(h, mip, EMBEDDING, [1, 1], 1, 1, [0, 0])]); // [N,512,7,1]
    const wT = op('Transpose', [w], { perm: [0, 1, 3, 2] }); // [N,16,1,7]
    const gateW = op('Sigmoid', [conv(wT, mip, EMBEDDING, [1, 1], 1, 1, [0, 0])]); // [N,512,1,7]
    return op('Mul', [gateW, gateH]);
  };

  let x = prelu(square('input', 3, 64, 3, 2), 64);
  x = prelu(square(x, 64, 64, 3, 1, 64), 64);
  let channels = 64;
  for (const stage of STAGES) {
    for (let i = 0; i < stage.repeats; i++) {
      x = bottleneck(x, channels, stage.channels, i === 0 ? stage.stride : 1);
      channels = stage.channels;
    }
  }
  const features = prelu(square(x, channels, EMBEDDING, 1, 1), EMBEDDING); // [N,512,7,7]
  const heads = Array.from({ length: options.heads ?? 2 }, () => ddaHead(features));
  const attention = heads.length === 1 ? heads[0]! : op('Max', heads);
  const attended = op('Mul', [features, attention]);
  // Random weights: a gain on the last linear conv brings the embedding to a unit scale.
  const pooled = conv(attended, EMBEDDING, EMBEDDING, [7, 7], 1, EMBEDDING, [0, 0], EMBEDDING_GAIN);
  nodes.push(node('Flatten', [pooled], ['features'], { axis: 1 }));
  const fcBound = Math.sqrt(6 / EMBEDDING);
  const fcWeight = tensor('fc.weight', [classes, EMBEDDING], () => (rand() * 2 - 1) * fcBound);
  const fcBias = tensor('fc.bias', [classes], () => rand() - 0.5);
  nodes.push(node('Gemm', ['features', fcWeight, fcBias], ['logits'], { transB: 1 }));
  nodes.push(
    node(
      'BatchNormalization',
      [
        'logits',
        tensor('bn.weight', [classes], () => 0.5 + rand()),
        tensor('bn.bias', [classes], () => rand() - 0.5),
        tensor('bn.running_mean', [classes], () => rand() - 0.5),
        tensor('bn.running_var', [classes], () => 0.5 + rand()),
      ],
      ['output'],
      { epsilon: 1e-5 },
    ),
  );
  return encodeModel({
    name: classes > 8 ? 'mt_ddamfn_random' : 'ddamfn_random',
    input: [floatValueInfo('input', ['N', 3, SIZE, SIZE])],
    output: [floatValueInfo('output', ['N', classes])],
    initializer,
    node: nodes,
  });
}
