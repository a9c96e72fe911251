/**
 * A machine without CUDA, whatever machine the tests run on: while `run` runs, onnxruntime rejects
 * a session that asks for the CUDA execution provider as it does where the provider library is
 * missing, so the CPU fallback is tested on GPU workers too. CPU sessions are untouched.
 */
import * as ort from 'onnxruntime-node';

type Create = typeof ort.InferenceSession.create;

export const MISSING_CUDA_MESSAGE =
  'Failed to load shared library libonnxruntime_providers_cuda.so (injected by test/helpers/cuda.ts)';

export async function withoutCuda<T>(run: () => Promise<T>): Promise<T> {
  const original = Object.getOwnPropertyDescriptor(ort.InferenceSession, 'create')!;
  const create = ort.InferenceSession.create.bind(ort.InferenceSession) as (
    ...a: unknown[]
  ) => ReturnType<Create>;
  const refusing = ((...args: unknown[]) => {
    const options = args.find(
      (a): a is ort.InferenceSession.SessionOptions =>
        typeof a === 'object' && a !== null && 'executionProviders' in a,
    );
    if (options?.executionProviders?.some((p) => (typeof p === 'string' ? p : p.name) === 'cuda')) {
      return Promise.reject(new Error(MISSING_CUDA_MESSAGE));
    }
    return create(...args);
  }) as Create;
  ort.InferenceSession.create = refusing;
  try {
    return await run();
  } finally {
    Object.defineProperty(ort.InferenceSession, 'create', original);
  }
}
