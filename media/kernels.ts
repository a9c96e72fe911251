/**
 * The WebAssembly build of media/kernels/resample.ts (AssemblyScript with SIMD), compiled at
 * install by `npm run build:kernel` (part of `npm run build`, which infra/bootstrap.sh runs) into
 * build/kernels/resample.wasm. Nothing here compiles: a missing or stale artefact is an error
 * naming the build command. One instance per thread, with a scratch memory that grows to the
 * largest call seen.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { join, relative } from 'node:path';
import { buildDir, projectRoot } from '../base/paths.ts';

/** The parts of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: unknown };
};

/** The compiled kernel that `npm run build:kernel` writes. */
export const KERNEL_FILE = join(buildDir, 'kernels', 'resample.wasm');
const SOURCE = join(projectRoot, 'media', 'kernels', 'resample.ts');

export interface ResampleKernel {
  horizontal(
    src: number,
    srcStride: number,
    rows: number,
    outWidth: number,
    dst: number,
    first: number,
    taps: number,
    weights: number,
    stride: number,
  ): void;
  vertical(
    src: number,
    srcStride: number,
    line: number,
    row0: number,
    outHeight: number,
    dst: number,
    first: number,
    taps: number,
    weights: number,
    stride: number,
  ): void;
  dropAlpha(rgba: number, rgb: number, pixels: number): void;
  normalize(rgb: number, pixels: number, lut: number, out: number, s0: number, s1: number, s2: number): void;
  readonly memory: WasmMemory;
}

/** The compiled kernel is missing or older than its source: the build step did not run. */
export class KernelMissingError extends Error {
  constructor(
    readonly file: string,
    detail: string,
  ) {
    super(
      `preprocessing kernel ${file.startsWith(`${projectRoot}/`) ? relative(projectRoot, file) : file}: ${detail}; run \`npm run build\` (or \`npm run build:kernel\`; infra/bootstrap.sh runs it at install)`,
    );
    this.name = 'KernelMissingError';
  }
}

/**
 * The compiled kernel's bytes from `file`. Where the AssemblyScript source is present (a checkout,
 * not a shipped build) an artefact older than it is refused, so an edited kernel never runs stale.
 */
export function readKernel(file: string = KERNEL_FILE): Uint8Array {
  if (!existsSync(file)) throw new KernelMissingError(file, 'not built (expected the .wasm file)');
  if (existsSync(SOURCE) && statSync(SOURCE).mtimeMs > statSync(file).mtimeMs) {
    throw new KernelMissingError(file, `older than its source ${relative(projectRoot, SOURCE)}`);
  }
  return readFileSync(file);
}

let instance: ResampleKernel | undefined;

/** This thread's kernel instance. */
export function resampleKernel(): ResampleKernel {
  instance ??= new WebAssembly.Instance(new WebAssembly.Module(readKernel())).exports as ResampleKernel;
  return instance;
}

/** Byte offsets in kernel memory for buffers of the given sizes, 16-byte aligned with 16 bytes of slack each; grows the memory to fit. */
export function layout<const Sizes extends readonly number[]>(
  kernel: ResampleKernel,
  sizes: Sizes,
): { [K in keyof Sizes]: number } {
  const offsets: number[] = [];
  let at = 1024; // the first kilobyte stays free for the kernel's own statics
  for (const size of sizes) {
    offsets.push(at);
    at += Math.ceil((size + 16) / 16) * 16;
  }
  const have = kernel.memory.buffer.byteLength;
  if (at > have) kernel.memory.grow(Math.ceil((at - have) / 65536));
  return offsets as { [K in keyof Sizes]: number };
}
