/**
 * The WebAssembly build of media/kernels/resample.ts (AssemblyScript with SIMD): compiled on first
 * use into node_modules/.cache/affectflow/, under a name carrying the hash of its source and the
 * compiler version, so a changed kernel is never run stale; infra/bootstrap.sh builds it ahead.
 * One instance per thread, with a scratch memory that grows to the largest call seen.
 */
import { spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, renameSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { threadId } from 'node:worker_threads';
import { projectRoot } from '../base/paths.ts';

/** The parts of the WebAssembly JS API used here (the project's TypeScript libs do not declare it). */
interface WasmMemory {
  readonly buffer: ArrayBuffer;
  grow(pages: number): number;
}
declare const WebAssembly: {
  Module: new (bytes: Uint8Array) => object;
  Instance: new (module: object) => { readonly exports: unknown };
};

const SOURCE = join(projectRoot, 'media', 'kernels', 'resample.ts');
const require = createRequire(import.meta.url);

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

export class KernelBuildError extends Error {
  constructor(detail: string) {
    super(`building the preprocessing kernel ${SOURCE}: ${detail}`);
    this.name = 'KernelBuildError';
  }
}

/** Path of the compiled kernel, building it first when this source and compiler have no build yet. */
export function kernelFile(): string {
  const compiler = require.resolve('assemblyscript/package.json');
  const version = (JSON.parse(readFileSync(compiler, 'utf8')) as { version: string }).version;
  const hash = createHash('sha256').update(readFileSync(SOURCE)).update(version).digest('hex').slice(0, 16);
  const dir = join(projectRoot, 'node_modules', '.cache', 'affectflow');
  const file = join(dir, `resample-${hash}.wasm`);
  if (existsSync(file)) return file;
  mkdirSync(dir, { recursive: true });
  const tmp = `${file}.tmp-${process.pid}-${threadId}`; // embedder threads may build at once
  const asc = join(compiler, '..', 'bin', 'asc.js');
  const args = [asc, SOURCE, '-O3', '--runtime', 'stub', '--noAssert', '--enable', 'simd', '--outFile', tmp];
  const built = spawnSync(process.execPath, args, { encoding: 'utf8' });
  if (built.status !== 0 || !existsSync(tmp)) {
    rmSync(tmp, { force: true });
    throw new KernelBuildError(`asc exited ${built.status}: ${built.stderr || built.error?.message}`);
  }
  renameSync(tmp, file); // atomic: processes and threads building at once each rename a complete file
  return file;
}

let instance: ResampleKernel | undefined;

/** This thread's kernel instance. */
export function resampleKernel(): ResampleKernel {
  instance ??= new WebAssembly.Instance(new WebAssembly.Module(readFileSync(kernelFile())))
    .exports as ResampleKernel;
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
