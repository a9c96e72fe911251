/** The bare session.run loop of bench/models/graphs.ts bareRate, on this thread. */
import { openGraph, type ExecutionProvider } from '../../models/onnxRuntime.ts';
import type { BackboneDescriptor } from '../../models/registry.ts';

export interface BareJob {
  readonly modelPath: string;
  readonly descriptor: BackboneDescriptor;
  /** `batch` preprocessed crops, NCHW float32, or a multiple of it: each run takes the next `batch`. */
  readonly input: Float32Array;
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  readonly batch: number;
  readonly seconds: number;
}

/**
 * What one loop measured: images per second, and the images and the process's CPU time (all its
 * threads, ms) over the same timed window.
 */
export interface BareResult {
  readonly perSecond: number;
  readonly images: number;
  readonly processCpuMs: number;
}

/** At least 3 batches and `seconds` after a warm-up batch. */
export async function bareLoop(job: BareJob): Promise<BareResult> {
  const { descriptor, batch } = job;
  const s = descriptor.inputSize;
  const session = await openGraph(
    job.modelPath,
    { provider: job.provider, intraOpThreads: job.intraOpThreads, interOpThreads: 1 },
    descriptor.name,
  );
  try {
    if (session.provider !== job.provider)
      throw new Error(`${descriptor.name}: asked for ${job.provider}, got ${session.provider}`);
    const plane = batch * 3 * s * s;
    const inputs = Math.max(1, Math.floor(job.input.length / plane));
    const feeds = Array.from({ length: inputs }, (_, i) => ({
      [descriptor.inputName]: {
        data: job.input.subarray(i * plane, (i + 1) * plane),
        dims: [batch, 3, s, s],
      },
    }));
    const outputs = [descriptor.embeddingOutput, descriptor.scoresOutput];
    await session.run(feeds[0]!, outputs);
    const cpu = process.cpuUsage();
    const start = process.hrtime.bigint();
    let batches = 0;
    let seconds = 0;
    while (batches < 3 || seconds < job.seconds) {
      await session.run(feeds[batches % inputs]!, outputs);
      batches++;
      seconds = Number(process.hrtime.bigint() - start) / 1e9;
    }
    const { user, system } = process.cpuUsage(cpu);
    return {
      perSecond: (batches * batch) / seconds,
      images: batches * batch,
      processCpuMs: (user + system) / 1000,
    };
  } finally {
    await session.release();
  }
}
