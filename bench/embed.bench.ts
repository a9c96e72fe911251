/** embed.<backbone>.bare.b32.per_s: ONNX Runtime's own ceiling per real-architecture graph (bench/models/bare.ts). */
export { benchmarks } from './models/bare.ts';
