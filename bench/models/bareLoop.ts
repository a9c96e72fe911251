/** The bare session.run loop of bench/models/graphs.ts bareRate, on this thread. */
import { openGraph, type ExecutionProvider } from '../../models/onnxRuntime.ts';
import type { BackboneDescriptor } from '../../models/registry.ts';

export interface BareJob {
  readonly modelPath: string;
  readonly descriptor: BackboneDescriptor;
  /** `batch` preprocessed crops, NCHW float32. */
  readonly input: Float32Array;
  readonly provider: ExecutionProvider;
  readonly intraOpThreads: number;
  readonly batch: number;
  readonly seconds: number;
}

/** Images per second: at least 3 batches and `seconds` after a warm-up batch. */
export async function bareLoop(job: BareJob): Promise<number> {
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
    const feeds = { [descriptor.inputName]: { data: job.input, dims: [batch, 3, s, s] } };
    const outputs = [descriptor.embeddingOutput, descriptor.scoresOutput];
    await session.run(feeds, outputs);
    const start = process.hrtime.bigint();
    let batches = 0;
    let seconds = 0;
    while (batches < 3 || seconds < job.seconds) {
      await session.run(feeds, outputs);
      batches++;
      seconds = Number(process.hrtime.bigint() - start) / 1e9;
    }
    return (batches * batch) / seconds;
  } finally {
    await session.release();
  }
}
