/**
 * The YuNet face detector (OpenCV Zoo architecture, models/assets/face_detection_yunet.onnx,
 * shipped with the package: models/assets/README.md):
 * input preparation, output decoding and non-maximum suppression. The session comes from
 * models/onnxRuntime.ts (openGraph), the one module that owns ONNX Runtime.
 *
 * Graph: input "input" float32 [1, 3, H, W], BGR, 0..255, H and W multiples of 32. For each
 * stride s in 8/16/32 one anchor per cell, row-major: cls_s, obj_s [1, A, 1], bbox_s [1, A, 4],
 * kps_s [1, A, 10]. score = sqrt(cls * obj); centre = ((col + b0) * s, (row + b1) * s);
 * size = (exp(b2) * s, exp(b3) * s); landmark j = ((col + k[2j]) * s, (row + k[2j+1]) * s).
 */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import sharp from 'sharp';
import { sha256Hex } from '../base/hashing.ts';
import { projectRoot } from '../base/paths.ts';
import { boxIou } from '../media/boxes.ts';
import { resizeBilinearRgb } from '../media/resample.ts';
import {
  invalidOnnx,
  openGraph,
  type GraphSession,
  type GraphTensor,
  type RuntimeOptions,
} from './onnxRuntime.ts';

export const YUNET_MODEL_PATH = resolve(projectRoot, 'models', 'assets', 'face_detection_yunet.onnx');
export const YUNET_SHA256 = 'ebafce4e3c118d6554634be5c27ab333b4c047a9a8c3faf1d7cf93101c22f0f0';
const STRIDES = [8, 16, 32] as const;

/** What puts the shipped YuNet file back. */
const YUNET_RESTORE =
  'the YuNet model ships with affectflow as models/assets/face_detection_yunet.onnx: restore it with `git checkout -- models/assets/face_detection_yunet.onnx` in the affectflow checkout';

export class DetectorModelError extends Error {
  constructor(
    readonly path: string,
    readonly detail: string,
  ) {
    super(`face detector ${path}: ${detail}`);
    this.name = 'DetectorModelError';
  }
}

export interface DetectorOptions {
  /** Faces scoring below this (0..1) are dropped. */
  readonly scoreThreshold: number;
  /** Non-maximum suppression: a face overlapping a better one by more than this IoU is dropped. */
  readonly nmsIou: number;
  /** Faces whose shorter box side is below this many source pixels are dropped. */
  readonly minFaceSize: number;
  /** The frame is scaled down (never up) so its longer side is at most this before detection. */
  readonly inputLongSide: number;
  /**
   * How the frame is scaled down: 'antialiased', PIL's bilinear resize (its filter widened with
   * the scale, so every source pixel counts) in the SIMD kernel of media/resample.ts; 'linear',
   * sharp's bilinear kernel (the detector before 2026-12, which samples a 2x-reduced 720p frame).
   */
  readonly downscale: 'antialiased' | 'linear';
}

/**
 * Defaults. 320 px, antialiased: a 720p frame is detected on 320x180, about 4-5 ms of inference
 * on one core against 19-22 ms for 640x360, which is what lets decoding and detection keep up
 * with 60 frames/s (docs/FRAMES.md, measured). Boxes stay within the tolerance
 * test/yunet-downscale.test.ts states against full-resolution detection; the price is the
 * smallest faces: at 720p a face needs to be about 60 px tall instead of about 30 (set
 * inputLongSide 640 for videos of small faces).
 */
export const DEFAULT_DETECTOR_OPTIONS: DetectorOptions = Object.freeze({
  scoreThreshold: 0.6,
  nmsIou: 0.3,
  minFaceSize: 16,
  inputLongSide: 320,
  downscale: 'antialiased',
});

/** The detector's input for an image: the scaled image, and the graph input padded to multiples of 32. */
export interface DetectorInputSize {
  readonly width: number;
  readonly height: number;
  readonly inputWidth: number;
  readonly inputHeight: number;
}

/** The image scaled down (never up) so its longer side is at most inputLongSide; padded to 32. */
export function detectorInputSize(
  imageWidth: number,
  imageHeight: number,
  inputLongSide: number,
): DetectorInputSize {
  const scale = Math.min(1, inputLongSide / Math.max(imageWidth, imageHeight));
  const width = Math.max(1, Math.round(imageWidth * scale));
  const height = Math.max(1, Math.round(imageHeight * scale));
  return { width, height, inputWidth: Math.ceil(width / 32) * 32, inputHeight: Math.ceil(height / 32) * 32 };
}

/** YuNet's input, float32 [1, 3, inputHeight, inputWidth]: BGR planes of packed RGB, 0..255, zero padding right and bottom. */
function bgrPlanes(pixels: Uint8Array, size: DetectorInputSize): Float32Array {
  const { width: w, height: h, inputWidth } = size;
  const plane = inputWidth * size.inputHeight;
  const input = new Float32Array(3 * plane);
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const s = (y * w + x) * 3;
      const d = y * inputWidth + x;
      input[d] = pixels[s + 2]!;
      input[plane + d] = pixels[s + 1]!;
      input[2 * plane + d] = pixels[s]!;
    }
  }
  return input;
}

/** The image's pixels at the detector's size, packed RGB. */
async function scaled(
  image: { width: number; height: number; rgb: Uint8Array },
  size: DetectorInputSize,
  downscale: DetectorOptions['downscale'],
): Promise<Uint8Array> {
  const { width: w, height: h } = size;
  if (w === image.width && h === image.height) return image.rgb;
  if (downscale === 'antialiased') return resizeBilinearRgb(image.rgb, image.width, image.height, w, h);
  return sharp(image.rgb, { raw: { width: image.width, height: image.height, channels: 3 } })
    .resize({ width: w, height: h, fit: 'fill', kernel: 'linear' })
    .raw()
    .toBuffer();
}

/** One detected face in source-image pixels. */
export interface DetectedFace {
  /** x, y, width, height of the raw detector box (may extend past the image). */
  readonly box: readonly [number, number, number, number];
  readonly score: number;
  /** 5 points (right eye, left eye, nose tip, right and left mouth corner) as x0, y0, ..., x4, y4. */
  readonly landmarks: Float32Array;
}

/** Greedy NMS: keeps faces in descending score order unless one kept overlaps by more than iou. */
export function nonMaxSuppression(faces: readonly DetectedFace[], iou: number): DetectedFace[] {
  const sorted = [...faces].sort((a, b) => b.score - a.score);
  const kept: DetectedFace[] = [];
  for (const face of sorted) {
    if (kept.every((k) => boxIou(k.box, face.box) <= iou)) kept.push(face);
  }
  return kept;
}

type Outputs = Readonly<Record<string, GraphTensor>>;

/**
 * Decodes raw YuNet outputs for an input of inputWidth x inputHeight into faces above the score
 * threshold, in input pixels (before NMS).
 */
export function decodeYuNetOutputs(
  outputs: Outputs,
  inputWidth: number,
  inputHeight: number,
  scoreThreshold: number,
): DetectedFace[] {
  const faces: DetectedFace[] = [];
  for (const stride of STRIDES) {
    const cols = inputWidth / stride;
    const rows = inputHeight / stride;
    const tensor = (name: string, per: number): Float32Array => {
      const t = outputs[`${name}_${stride}`];
      if (!t || !(t.data instanceof Float32Array) || t.data.length !== rows * cols * per) {
        throw new DetectorModelError(
          'yunet',
          `expected ${name}_${stride} with ${rows * cols} x ${per} values, got ${t ? t.data.length : 'no such output'}`,
        );
      }
      return t.data;
    };
    const cls = tensor('cls', 1);
    const obj = tensor('obj', 1);
    const bbox = tensor('bbox', 4);
    const kps = tensor('kps', 10);
    for (let i = 0; i < rows * cols; i++) {
      const c = Math.min(Math.max(cls[i]!, 0), 1);
      const o = Math.min(Math.max(obj[i]!, 0), 1);
      const score = Math.sqrt(c * o);
      if (score < scoreThreshold) continue;
      const row = Math.floor(i / cols);
      const col = i % cols;
      const cx = (col + bbox[i * 4]!) * stride;
      const cy = (row + bbox[i * 4 + 1]!) * stride;
      const w = Math.exp(bbox[i * 4 + 2]!) * stride;
      const h = Math.exp(bbox[i * 4 + 3]!) * stride;
      const landmarks = new Float32Array(10);
      for (let j = 0; j < 5; j++) {
        landmarks[2 * j] = (col + kps[i * 10 + 2 * j]!) * stride;
        landmarks[2 * j + 1] = (row + kps[i * 10 + 2 * j + 1]!) * stride;
      }
      faces.push({ box: [cx - w / 2, cy - h / 2, w, h], score, landmarks });
    }
  }
  return faces;
}

export interface FaceDetector {
  /** Faces in a packed RGB image, best score first, in image pixels. */
  detect(image: { width: number; height: number; rgb: Uint8Array }): Promise<DetectedFace[]>;
  release(): Promise<void>;
}

/** Opens YuNet from modelPath (checked against its published sha256) through openGraph. */
export async function openYuNet(
  runtime: Pick<RuntimeOptions, 'provider' | 'intraOpThreads' | 'interOpThreads' | 'log'>,
  options: DetectorOptions = DEFAULT_DETECTOR_OPTIONS,
  modelPath: string = YUNET_MODEL_PATH,
): Promise<FaceDetector> {
  let bytes: Uint8Array;
  try {
    bytes = readFileSync(modelPath);
  } catch (err) {
    throw new DetectorModelError(modelPath, `cannot read it (${(err as Error).message}); ${YUNET_RESTORE}`);
  }
  const sha = sha256Hex(bytes);
  if (sha !== YUNET_SHA256)
    throw new DetectorModelError(modelPath, `expected sha256 ${YUNET_SHA256}, got ${sha}; ${YUNET_RESTORE}`);
  let session: GraphSession;
  try {
    session = await openGraph(bytes, runtime, 'yunet');
  } catch (err) {
    throw new DetectorModelError(modelPath, `${invalidOnnx(err)}; ${YUNET_RESTORE}`);
  }
  const inputName = session.inputNames[0] ?? 'input';
  return {
    async detect(image) {
      const size = detectorInputSize(image.width, image.height, options.inputLongSide);
      const { width: w, height: h, inputWidth, inputHeight } = size;
      const input = bgrPlanes(await scaled(image, size, options.downscale), size);
      const outputs = await session.run({
        [inputName]: { data: input, dims: [1, 3, inputHeight, inputWidth] },
      });
      const sx = image.width / w;
      const sy = image.height / h;
      const faces = decodeYuNetOutputs(outputs, inputWidth, inputHeight, options.scoreThreshold)
        .map((f) => ({
          ...f,
          box: [f.box[0] * sx, f.box[1] * sy, f.box[2] * sx, f.box[3] * sy] as const,
          landmarks: f.landmarks.map((v, i) => v * (i % 2 === 0 ? sx : sy)),
        }))
        .filter((f) => Math.min(f.box[2], f.box[3]) >= options.minFaceSize);
      return nonMaxSuppression(faces, options.nmsIou);
    },
    release: () => session.release(),
  };
}
