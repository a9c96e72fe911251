/**
 * ONNX graphs of the one-hidden-layer heads (SPEC §4): a training graph that returns the batch
 * loss and the gradients of every parameter (explicit backward ops, no autodiff), and a predict
 * graph. They run through models/onnxRuntime.ts `openGraph`, so MatMul runs in ONNX Runtime's
 * kernels (CPU, or CUDA when the train worker has it).
 *
 * Parameters, float32 row-major: w1 [inputDim, hidden], b1 [hidden], w2 [hidden, outputs], b2 [outputs].
 * Both graphs take raw rows x and standardise them inside, xs = (x - mean) * scale with mean and
 * scale [inputDim], so the batch loop only copies rows and the predict path matches it.
 */
import { encodeModel, floatTensor, floatValueInfo, node } from '../models/onnxGraph.ts';
import { ADAM } from './adam.ts';

/** softmax: single-label classes (weighted cross-entropy); sigmoid: independent labels (weighted BCE). */
export type MlpOutput = 'softmax' | 'sigmoid';

export interface MlpShape {
  readonly inputDim: number;
  readonly hidden: number;
  readonly outputs: number;
  readonly output: MlpOutput;
}

const PARAMS = ['w1', 'b1', 'w2', 'b2'] as const;
export const MLP_GRADIENTS = ['grad_w1', 'grad_b1', 'grad_w2', 'grad_b2'] as const;

function inputs(shape: MlpShape) {
  const { inputDim: d, hidden: h, outputs: c } = shape;
  return [
    floatValueInfo('x', ['N', d]),
    floatValueInfo('mean', [d]),
    floatValueInfo('scale_x', [d]),
    floatValueInfo('w1', [d, h]),
    floatValueInfo('b1', [h]),
    floatValueInfo('w2', [h, c]),
    floatValueInfo('b2', [c]),
  ];
}

const forwardNodes = [
  node('Sub', ['x', 'mean'], ['xc']),
  node('Mul', ['xc', 'scale_x'], ['xs']),
  node('Gemm', ['xs', 'w1', 'b1'], ['z1']),
  node('Relu', ['z1'], ['h']),
  node('Gemm', ['h', 'w2', 'b2'], ['z2']),
];

/**
 * Training graph. Feeds: x [N, inputDim], mean and scale_x [inputDim]; target [N, outputs]; weight [N, outputs] (sigmoid only);
 * scale [1], the factor every per-element loss term is multiplied by (1 / N for a batch mean).
 *
 * softmax: target = class weight on the true class, 0 elsewhere;
 *   loss = -scale * sum(target * log_softmax(z2)); dL/dz2 = scale * (p * rowsum(target) - target).
 * sigmoid: target = w1 * y, weight = w0 * (1 - y) + w1 * y per element;
 *   loss = scale * sum(target * softplus(-z2) + (weight - target) * softplus(z2));
 *   dL/dz2 = scale * (p * weight - target).
 * Outputs: loss [1] and grad_w1, grad_b1, grad_w2, grad_b2 shaped as the parameters.
 *
 * The same graph also takes one Adam step (Keras form, heads/adam.ts), so a training run moves no
 * gradient through JavaScript: feeds m_<p>, v_<p> (moments, shaped as the parameters) and lr [1]
 * (the bias-corrected step lr * sqrt(1 - beta2^t) / (1 - beta1^t)); outputs new_<p>, new_m_<p>,
 * new_v_<p>. Fetch only the outputs needed: ONNX Runtime computes just what they depend on.
 */
export function buildMlpTrainingGraph(shape: MlpShape): Uint8Array {
  const { outputs: c } = shape;
  const dimsOf = (i: number): number[] =>
    [[shape.inputDim, shape.hidden], [shape.hidden], [shape.hidden, c], [c]][i]!;
  const lossNodes =
    shape.output === 'softmax'
      ? [
          node('LogSoftmax', ['z2'], ['logp'], { axis: 1 }),
          node('Exp', ['logp'], ['p']),
          node('Mul', ['target', 'logp'], ['tl']),
          node('ReduceSum', ['tl'], ['tl_sum'], { keepdims: 0 }),
          node('Neg', ['tl_sum'], ['neg_sum']),
          node('ReduceSum', ['target'], ['row_weight'], { axes: [1], keepdims: 1 }),
          node('Mul', ['p', 'row_weight'], ['pw']),
          node('Sub', ['pw', 'target'], ['dz2_unscaled']),
        ]
      : [
          node('Sigmoid', ['z2'], ['p']),
          node('Neg', ['z2'], ['neg_z2']),
          node('Softplus', ['neg_z2'], ['sp_neg']),
          node('Softplus', ['z2'], ['sp_pos']),
          node('Sub', ['weight', 'target'], ['neg_weight']),
          node('Mul', ['target', 'sp_neg'], ['pos_terms']),
          node('Mul', ['neg_weight', 'sp_pos'], ['neg_terms']),
          node('Add', ['pos_terms', 'neg_terms'], ['terms']),
          node('ReduceSum', ['terms'], ['neg_sum'], { keepdims: 0 }),
          node('Mul', ['p', 'weight'], ['pw']),
          node('Sub', ['pw', 'target'], ['dz2_unscaled']),
        ];
  const graph = {
    name: `mlp_${shape.output}_train`,
    input: [
      ...inputs(shape),
      floatValueInfo('target', ['N', c]),
      ...(shape.output === 'sigmoid' ? [floatValueInfo('weight', ['N', c])] : []),
      floatValueInfo('scale', [1]),
      ...PARAMS.flatMap((p, i) => [floatValueInfo(`m_${p}`, dimsOf(i)), floatValueInfo(`v_${p}`, dimsOf(i))]),
      floatValueInfo('lr', [1]),
    ],
    output: [
      floatValueInfo('loss', [1]),
      ...PARAMS.flatMap((p, i) => [
        floatValueInfo(`new_${p}`, dimsOf(i)),
        floatValueInfo(`new_m_${p}`, dimsOf(i)),
        floatValueInfo(`new_v_${p}`, dimsOf(i)),
      ]),
      ...MLP_GRADIENTS.map((g, i) => floatValueInfo(g, dimsOf(i))),
    ],
    initializer: [
      floatTensor('adam_beta1', [], Float32Array.of(ADAM.beta1)),
      floatTensor('adam_one_minus_beta1', [], Float32Array.of(1 - ADAM.beta1)),
      floatTensor('adam_beta2', [], Float32Array.of(ADAM.beta2)),
      floatTensor('adam_one_minus_beta2', [], Float32Array.of(1 - ADAM.beta2)),
      floatTensor('adam_epsilon', [], Float32Array.of(ADAM.epsilon)),
    ],
    node: [
      ...forwardNodes,
      ...lossNodes,
      ...PARAMS.flatMap((p, i) => adamNodes(p, MLP_GRADIENTS[i]!)),
      node('Mul', ['neg_sum', 'scale'], ['loss']),
      node('Mul', ['dz2_unscaled', 'scale'], ['dz2']),
      node('Gemm', ['h', 'dz2'], ['grad_w2'], { transA: 1 }),
      node('ReduceSum', ['dz2'], ['grad_b2'], { axes: [0], keepdims: 0 }),
      node('Gemm', ['dz2', 'w2'], ['dh'], { transB: 1 }),
      // relu'(z1) as 0/1: h = relu(z1) >= 0, so sign(h) is the mask.
      node('Sign', ['h'], ['mask']),
      node('Mul', ['dh', 'mask'], ['dz1']),
      node('Gemm', ['xs', 'dz1'], ['grad_w1'], { transA: 1 }),
      node('ReduceSum', ['dz1'], ['grad_b1'], { axes: [0], keepdims: 0 }),
    ],
  };
  return encodeModel(graph, 11);
}

/** m' = b1 m + (1 - b1) g; v' = b2 v + (1 - b2) g^2; p' = p - lr m' / (sqrt(v') + eps). */
function adamNodes(p: string, g: string) {
  return [
    node('Mul', [`m_${p}`, 'adam_beta1'], [`adam_${p}_m1`]),
    node('Mul', [g, 'adam_one_minus_beta1'], [`adam_${p}_m2`]),
    node('Add', [`adam_${p}_m1`, `adam_${p}_m2`], [`new_m_${p}`]),
    node('Mul', [g, g], [`adam_${p}_g2`]),
    node('Mul', [`v_${p}`, 'adam_beta2'], [`adam_${p}_v1`]),
    node('Mul', [`adam_${p}_g2`, 'adam_one_minus_beta2'], [`adam_${p}_v2`]),
    node('Add', [`adam_${p}_v1`, `adam_${p}_v2`], [`new_v_${p}`]),
    node('Sqrt', [`new_v_${p}`], [`adam_${p}_sqrt`]),
    node('Add', [`adam_${p}_sqrt`, 'adam_epsilon'], [`adam_${p}_den`]),
    node('Div', [`new_m_${p}`, `adam_${p}_den`], [`adam_${p}_ratio`]),
    node('Mul', [`adam_${p}_ratio`, 'lr'], [`adam_${p}_step`]),
    node('Sub', [p, `adam_${p}_step`], [`new_${p}`]),
  ];
}

/** Predict graph: raw x [N, inputDim], mean, scale_x -> probabilities [N, outputs] (softmax rows or sigmoids). */
export function buildMlpPredictGraph(shape: MlpShape): Uint8Array {
  return encodeModel(
    {
      name: `mlp_${shape.output}_predict`,
      input: inputs(shape),
      output: [floatValueInfo('p', ['N', shape.outputs])],
      node: [
        ...forwardNodes,
        shape.output === 'softmax'
          ? node('Softmax', ['z2'], ['p'], { axis: 1 })
          : node('Sigmoid', ['z2'], ['p']),
      ],
    },
    11,
  );
}

export { PARAMS as MLP_PARAMS };
