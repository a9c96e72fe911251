/**
 * Generates the TINY_BACKBONE ONNX graphs (see models/registry.ts); deterministic from the seed.
 *
 * Like a real face backbone, the graph maps a crop to a semantic embedding and, through a final
 * Gemm on that embedding, to emotion scores that mean something: here for the synthetic world
 * rather than AffectNet. The fitted layers are ridge regressions computed
 * at build time on faces drawn in memory by the synthetic generator (datasets/drawnFaces.ts
 * drawFaces), with their expression and valence/arousal as targets, as HSEmotion was trained on
 * AffectNet's. Graph (D = (S/pool)^2):
 *
 *   input [N,3,S,S] -> luminance (1x1 Conv) -> pool x pool AveragePool -> flat [N,D]
 *   features = Relu(Gemm(flat))                 [N,D]   fixed random units (thresholds at drawn faces)
 *   semantic = Gemm(features)                   [N,10]  fitted: 8 centred expression log-probabilities, V, A
 *   embedding = Relu(Gemm(semantic))            [N,D]   fixed random expansion of the standardised semantic outputs
 *   output = Gemm(embedding)                    [N,K]   fitted: the 8 AffectNet logits, then V, A when K = 10
 */
import { AFFECTNET_EXPRESSIONS, AFFWILD2_EXPRESSIONS } from '../datasets/labels.ts';
import { gaussian, seededRandom } from '../base/random.ts';
import { drawFaces } from '../datasets/drawnFaces.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from './onnxGraph.ts';
import { IMAGENET_MEAN, IMAGENET_STD } from './registry.ts';

const LUMINANCE = Object.freeze([0.299, 0.587, 0.114] as const);

/** How the layers are fitted; a change here changes the weights, so bump the backbones' version. */
export const TINY_FIT = Object.freeze({
  /** Faces drawn for the fit. */
  faces: 6000,
  /** Share of compound-expression face tracks among them (their targets split between two basics). */
  compoundShare: 0.3,
  /** Gaussian pixel noise (0..255 scale) added to each drawn face: video coding and resizing. */
  pixelNoise: 6,
  /** Ridge penalty, relative to the mean diagonal of the inputs' centred Gram matrix. */
  ridge: 1e-3,
  /** Probability mass spread evenly over all classes in the expression targets. */
  labelSmoothing: 0.2,
});

/** Width of the semantic layer: the 8 expression log-probabilities, valence and arousal. */
const SEMANTIC = AFFECTNET_EXPRESSIONS.length + 2;

/** AffectNet logit column of each Aff-Wild2 expression; Other (a lopsided mouth) maps to Contempt. */
const AFFECTNET_COLUMN: readonly number[] = AFFWILD2_EXPRESSIONS.map((label) =>
  AFFECTNET_EXPRESSIONS.indexOf(label === 'Other' ? 'Contempt' : label),
);

export interface TinyNormalisation {
  readonly mean: readonly [number, number, number];
  readonly std: readonly [number, number, number];
}

/**
 * Pooled luminance of normalised RGB faces, exactly what the graph's first three nodes compute,
 * plus Gaussian noise of `pixelNoise` (0..255) per pixel and channel, drawn as its pooled effect.
 */
function pooledLuminance(
  rgb: Uint8Array,
  count: number,
  size: number,
  pool: number,
  norm: TinyNormalisation,
  pixelNoise: number,
  rand: () => number,
): Float64Array {
  const side = size / pool;
  const dim = side * side;
  const out = new Float64Array(count * dim);
  const scale = LUMINANCE.map((w, c) => w / (255 * norm.std[c]!));
  const shift = LUMINANCE.reduce((acc, w, c) => acc - (w * norm.mean[c]!) / norm.std[c]!, 0);
  const noise = (pixelNoise * Math.hypot(...scale)) / pool;
  const area = pool * pool;
  for (let i = 0; i < count; i++) {
    const face = i * size * size * 3;
    const row = out.subarray(i * dim, (i + 1) * dim);
    for (let y = 0; y < size; y++) {
      const cells = Math.floor(y / pool) * side;
      for (let x = 0; x < size; x++) {
        const o = face + (y * size + x) * 3;
        row[cells + Math.floor(x / pool)]! +=
          (scale[0]! * rgb[o]! + scale[1]! * rgb[o + 1]! + scale[2]! * rgb[o + 2]!) / area;
      }
    }
    for (let k = 0; k < dim; k++) row[k]! += shift + noise * gaussian(rand);
  }
  return out;
}

/** x W^T + b, then ReLU when asked: x [n, d], W [h, d] (Gemm transB layout) -> float64 [n, h]. */
function gemm(
  x: Float64Array,
  n: number,
  d: number,
  w: ArrayLike<number>,
  b: ArrayLike<number>,
  relu: boolean,
): Float64Array {
  const h = b.length;
  const out = new Float64Array(n * h);
  for (let i = 0; i < n; i++) {
    const xi = x.subarray(i * d, (i + 1) * d);
    for (let j = 0; j < h; j++) {
      let s = b[j]!;
      const wj = j * d;
      for (let k = 0; k < d; k++) s += xi[k]! * w[wj + k]!;
      out[i * h + j] = relu && s < 0 ? 0 : s;
    }
  }
  return out;
}

/**
 * Ridge regression with an unpenalised bias: x [n, d], y [n, k] -> weight [k, d] (Gemm transB
 * layout) and bias [k]. Solved through the Cholesky factor of the centred Gram matrix + lambda I,
 * lambda = relativeRidge x its mean diagonal.
 */
export function fitRidge(
  x: Float64Array,
  y: Float64Array,
  n: number,
  d: number,
  k: number,
  relativeRidge: number,
): { weight: Float32Array; bias: Float32Array } {
  const mx = new Float64Array(d);
  const my = new Float64Array(k);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) mx[a]! += x[i * d + a]! / n;
    for (let c = 0; c < k; c++) my[c]! += y[i * k + c]! / n;
  }
  const gram = new Float64Array(d * d);
  const xty = new Float64Array(d * k);
  const xc = new Float64Array(d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) xc[a] = x[i * d + a]! - mx[a]!;
    for (let a = 0; a < d; a++) {
      const va = xc[a]!;
      if (va === 0) continue;
      const row = a * d;
      for (let b = a; b < d; b++) gram[row + b]! += va * xc[b]!;
      for (let c = 0; c < k; c++) xty[a * k + c]! += va * (y[i * k + c]! - my[c]!);
    }
  }
  let trace = 0;
  for (let a = 0; a < d; a++) trace += gram[a * d + a]!;
  const lambda = (relativeRidge * trace) / d || relativeRidge;
  // Cholesky of the upper triangle into L (lower), in place over a full copy.
  const l = new Float64Array(d * d);
  for (let a = 0; a < d; a++) {
    for (let b = 0; b <= a; b++) {
      let s = gram[b * d + a]! + (a === b ? lambda : 0);
      for (let m = 0; m < b; m++) s -= l[a * d + m]! * l[b * d + m]!;
      l[a * d + b] = a === b ? Math.sqrt(s) : s / l[b * d + b]!;
    }
  }
  const weight = new Float32Array(k * d);
  const bias = new Float32Array(k);
  const z = new Float64Array(d);
  for (let c = 0; c < k; c++) {
    for (let a = 0; a < d; a++) {
      let s = xty[a * k + c]!;
      for (let m = 0; m < a; m++) s -= l[a * d + m]! * z[m]!;
      z[a] = s / l[a * d + a]!;
    }
    for (let a = d - 1; a >= 0; a--) {
      let s = z[a]!;
      for (let m = a + 1; m < d; m++) s -= l[m * d + a]! * z[m]!;
      z[a] = s / l[a * d + a]!;
    }
    let b = my[c]!;
    for (let a = 0; a < d; a++) {
      weight[c * d + a] = z[a]!;
      b -= z[a]! * mx[a]!;
    }
    bias[c] = b;
  }
  return { weight, bias };
}

/**
 * Targets [n, SEMANTIC]: the log of the label-smoothed expression distribution (a compound face
 * splits its mass between its two basics), centred per face as logits are free to be, then
 * valence and arousal.
 */
function semanticTargets(basics: Uint8Array, va: Float32Array, n: number): Float64Array {
  const logits = AFFECTNET_EXPRESSIONS.length;
  const y = new Float64Array(n * SEMANTIC);
  const p = new Float64Array(logits);
  const eps = TINY_FIT.labelSmoothing;
  for (let i = 0; i < n; i++) {
    p.fill(eps / logits);
    p[AFFECTNET_COLUMN[basics[i * 2]!]!]! += (1 - eps) / 2;
    p[AFFECTNET_COLUMN[basics[i * 2 + 1]!]!]! += (1 - eps) / 2;
    let mean = 0;
    for (let c = 0; c < logits; c++) mean += Math.log(p[c]!) / logits;
    for (let c = 0; c < logits; c++) y[i * SEMANTIC + c] = Math.log(p[c]!) - mean;
    y[i * SEMANTIC + logits] = va[i * 2]!;
    y[i * SEMANTIC + logits + 1] = va[i * 2 + 1]!;
  }
  return y;
}

/** Unit-norm Gaussian directions, [rows, dim]. */
function randomDirections(rand: () => number, rows: number, dim: number): Float32Array {
  const w = new Float32Array(rows * dim);
  for (let j = 0; j < rows; j++) {
    const row = w.subarray(j * dim, (j + 1) * dim);
    let norm2 = 0;
    for (let k = 0; k < dim; k++) norm2 += (row[k] = gaussian(rand)) ** 2;
    for (let k = 0; k < dim; k++) row[k]! /= Math.sqrt(norm2);
  }
  return w;
}

export class TinyBackboneError extends Error {
  constructor(detail: string) {
    super(`tiny backbone: ${detail}`);
    this.name = 'TinyBackboneError';
  }
}

/**
 * The generated backbone: input float32 [N, 3, S, S] normalised with `norm`; outputs `embedding`
 * float32 [N, (S/pool)^2] and `output` float32 [N, classes], classes 8 (AffectNet logits) or 10
 * (plus valence, arousal). Takes about two seconds (pool 4) on one core.
 */
export function buildTinyBackboneModel(
  inputSize = 64,
  pool = 4,
  classes = 8,
  seed = 1,
  norm: TinyNormalisation = { mean: [...IMAGENET_MEAN], std: [...IMAGENET_STD] },
): Uint8Array {
  const logits = AFFECTNET_EXPRESSIONS.length;
  if (classes !== logits && classes !== SEMANTIC)
    throw new TinyBackboneError(`expected ${logits} or ${SEMANTIC} scores, got ${classes}`);
  if (inputSize % pool !== 0)
    throw new TinyBackboneError(`expected the pool (${pool}) to divide the input size (${inputSize})`);
  const dim = (inputSize / pool) ** 2;
  const rand = seededRandom(seed);

  const faces = drawFaces(seed, TINY_FIT.faces, inputSize, TINY_FIT.compoundShare);
  const n = faces.count;
  const flat = pooledLuminance(faces.rgb, n, inputSize, pool, norm, TINY_FIT.pixelNoise, rand);
  // Random units whose thresholds sit at a drawn face's projection, so about half the faces activate each.
  const featuresWeight = randomDirections(rand, dim, dim);
  const featuresBias = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    const face = Math.floor(rand() * n) * dim;
    let s = 0;
    for (let k = 0; k < dim; k++) s += featuresWeight[j * dim + k]! * flat[face + k]!;
    featuresBias[j] = -s;
  }
  const features = gemm(flat, n, dim, featuresWeight, featuresBias, true);
  const targets = semanticTargets(faces.basics, faces.va, n);
  const semanticLayer = fitRidge(features, targets, n, dim, SEMANTIC, TINY_FIT.ridge);
  const semantic = gemm(features, n, dim, semanticLayer.weight, semanticLayer.bias, false);

  // Expansion of the semantic outputs, standardised with their moments on the drawn faces.
  const mean = new Float64Array(SEMANTIC);
  const variance = new Float64Array(SEMANTIC);
  for (let i = 0; i < n; i++) for (let c = 0; c < SEMANTIC; c++) mean[c]! += semantic[i * SEMANTIC + c]! / n;
  for (let i = 0; i < n; i++)
    for (let c = 0; c < SEMANTIC; c++) variance[c]! += (semantic[i * SEMANTIC + c]! - mean[c]!) ** 2 / n;
  const expandWeight = new Float32Array(dim * SEMANTIC);
  const expandBias = new Float32Array(dim);
  for (let j = 0; j < dim; j++) {
    let b = gaussian(rand);
    for (let c = 0; c < SEMANTIC; c++) {
      const w = gaussian(rand) / Math.sqrt(variance[c]! || 1);
      expandWeight[j * SEMANTIC + c] = w;
      b -= w * mean[c]!;
    }
    expandBias[j] = b;
  }
  const embedding = gemm(semantic, n, SEMANTIC, expandWeight, expandBias, true);
  const scoreTargets = classes === SEMANTIC ? targets : targets.filter((_, i) => i % SEMANTIC < classes);
  const classifier = fitRidge(embedding, scoreTargets, n, dim, classes, TINY_FIT.ridge);

  return encodeModel({
    name: `affectflow-tiny-pool${pool}`,
    input: [floatValueInfo('input', ['N', 3, inputSize, inputSize])],
    output: [floatValueInfo('output', ['N', classes]), floatValueInfo('embedding', ['N', dim])],
    initializer: [
      floatTensor('luminance', [1, 3, 1, 1], Float32Array.from(LUMINANCE)),
      floatTensor('features.weight', [dim, dim], featuresWeight),
      floatTensor('features.bias', [dim], featuresBias),
      floatTensor('semantic.weight', [SEMANTIC, dim], semanticLayer.weight),
      floatTensor('semantic.bias', [SEMANTIC], semanticLayer.bias),
      floatTensor('expand.weight', [dim, SEMANTIC], expandWeight),
      floatTensor('expand.bias', [dim], expandBias),
      floatTensor('classifier.weight', [classes, dim], classifier.weight),
      floatTensor('classifier.bias', [classes], classifier.bias),
    ],
    node: [
      node('Conv', ['input', 'luminance'], ['gray'], { kernel_shape: [1, 1] }),
      node('AveragePool', ['gray'], ['pooled'], { kernel_shape: [pool, pool], strides: [pool, pool] }),
      node('Flatten', ['pooled'], ['flat'], { axis: 1 }),
      node('Gemm', ['flat', 'features.weight', 'features.bias'], ['features.linear'], { transB: 1 }),
      node('Relu', ['features.linear'], ['features']),
      node('Gemm', ['features', 'semantic.weight', 'semantic.bias'], ['semantic'], { transB: 1 }),
      node('Gemm', ['semantic', 'expand.weight', 'expand.bias'], ['expand.linear'], { transB: 1 }),
      node('Relu', ['expand.linear'], ['embedding']),
      node('Gemm', ['embedding', 'classifier.weight', 'classifier.bias'], ['output'], { transB: 1 }),
    ],
  });
}
