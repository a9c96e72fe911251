/**
 * Published-model stand-ins for model tests: small classifier-included ONNX graphs like the
 * HSEmotion files, served by a local HTTP server (node:http on 127.0.0.1) with Range support.
 */
import { createHash } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { seededRandom } from '../../base/random.ts';
import { encodeModel, floatTensor, floatValueInfo, node } from '../../models/onnxGraph.ts';
import { validateDescriptor, type BackboneDescriptor } from '../../models/registry.ts';

/** Input side of the served graphs. */
export const SERVED_SIZE = 16;
/** Width of the served graphs' Gemm input: the embedding surgery exposes. */
export const SERVED_FEATURES = 24;

/** Like the published files: input "input" [N,3,S,S], output "output" = Gemm logits, no embedding output. */
export function classifierModel(seed: number, classes = 8): Uint8Array {
  const rand = seededRandom(seed);
  const values = (n: number): Float32Array => Float32Array.from({ length: n }, () => rand() - 0.5);
  const [size, features] = [SERVED_SIZE, SERVED_FEATURES];
  return encodeModel({
    name: `classifier-${seed}`,
    input: [floatValueInfo('input', ['batch', 3, size, size])],
    output: [floatValueInfo('output', ['batch', classes])],
    initializer: [
      floatTensor('conv.weight', [features, 3, 3, 3], values(features * 27)),
      floatTensor('conv.bias', [features], values(features)),
      floatTensor('fc.weight', [classes, features], values(classes * features)),
      floatTensor('fc.bias', [classes], values(classes)),
    ],
    node: [
      node('Conv', ['input', 'conv.weight', 'conv.bias'], ['c'], {
        kernel_shape: [3, 3],
        pads: [1, 1, 1, 1],
      }),
      node('Relu', ['c'], ['r']),
      node('GlobalAveragePool', ['r'], ['p']),
      node('Flatten', ['p'], ['f'], { axis: 1 }),
      node('Gemm', ['f', 'fc.weight', 'fc.bias'], ['output'], { transB: 1 }),
    ],
  });
}

export interface Served {
  body: Uint8Array;
  /** Bytes to send of the first full response before cutting the connection. */
  truncateFirstAt?: number;
}

export interface ModelServer {
  readonly base: string;
  /** Every request's path and Range header, in order. */
  readonly requests: { path: string; range: string | undefined }[];
  close(): Promise<void>;
}

/** A local file server with Range support; what it serves can change while it runs (`files`). */
export async function startModelServer(files: Map<string, Served>): Promise<ModelServer> {
  const requests: ModelServer['requests'] = [];
  const server = http.createServer((req, res) => {
    const path = req.url ?? '';
    const range = req.headers.range;
    requests.push({ path, range });
    const served = files.get(path);
    if (!served) {
      res.writeHead(404).end();
      return;
    }
    const body = Buffer.from(served.body);
    const match = range ? /^bytes=(\d+)-$/.exec(range) : null;
    if (match) {
      const start = Number(match[1]);
      res.writeHead(206, {
        'content-length': body.length - start,
        'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
      });
      res.end(body.subarray(start));
      return;
    }
    res.writeHead(200, { 'content-length': body.length });
    if (served.truncateFirstAt !== undefined) {
      const cut = served.truncateFirstAt;
      served.truncateFirstAt = undefined;
      res.write(body.subarray(0, cut), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return { base, requests, close: () => new Promise<void>((resolve) => server.close(() => resolve())) };
}

/** A descriptor for `${base}/good.onnx` (a classifierModel with 8 classes); `patch` overrides fields. */
export function servedDescriptor(base: string, patch: Record<string, unknown> = {}): BackboneDescriptor {
  return validateDescriptor(
    {
      name: 'served',
      version: '1',
      source: { kind: 'url', url: `${base}/good.onnx` },
      inputSize: SERVED_SIZE,
      mean: [0.485, 0.456, 0.406],
      std: [0.229, 0.224, 0.225],
      inputName: 'input',
      embeddingOutput: 'embedding',
      scoresOutput: 'output',
      embeddingDim: SERVED_FEATURES,
      scoresDim: 8,
      scoreLabels: ['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h'],
      ...patch,
    },
    'test',
  );
}

export const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex');
