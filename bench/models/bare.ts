/**
 * embed.<backbone>.bare.b32.per_s: a bare session.run loop (both outputs, batch 32, CPU, intra-op
 * threads = cores), ONNX Runtime's own ceiling for each real-architecture graph. Graphs: those
 * bench/models/build.sh wrote (AFFECTFLOW_BENCH_MODELS, default ~/.cache/affectflow/bench-models),
 * put through `models pull` for the embedding output; always also the EfficientNet-B0 topology
 * built in TypeScript (models/efficientnet.ts) as "ts_enet_b0". Export `benchmarks` from a
 * bench/*.bench.ts module to include it in `npm run bench`.
 */
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { availableParallelism, homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../datasets/synthetic.ts';
import { buildEfficientNetModel } from '../../models/efficientnet.ts';
import { openGraph } from '../../models/onnxRuntime.ts';
import { pullBackbone } from '../../models/pull.ts';
import { validateDescriptor } from '../../models/registry.ts';
import { exposeGemmInput } from '../../models/surgery.ts';
import { openStore } from '../../storage/objectStore.ts';
import type { Benchmark, Figure } from '../harness.ts';

const BATCH = 32;

interface Graph {
  readonly name: string;
  readonly model: Uint8Array | string;
  readonly inputSize: number;
}

async function graphs(scratch: string): Promise<Graph[]> {
  const found: Graph[] = [
    { name: 'ts_enet_b0', model: exposeGemmInput(buildEfficientNetModel({ seed: 1 })).model, inputSize: 224 },
  ];
  const dir =
    process.env['AFFECTFLOW_BENCH_MODELS'] ?? join(homedir(), '.cache', 'affectflow', 'bench-models');
  if (!existsSync(dir)) return found;
  const store = openStore({ uri: join(scratch, 'store') } as Parameters<typeof openStore>[0]);
  try {
    for (const file of readdirSync(dir)
      .filter((f) => f.endsWith('.json'))
      .sort()) {
      const descriptor = validateDescriptor(JSON.parse(readFileSync(join(dir, file), 'utf8')), file);
      const pulled = await pullBackbone(descriptor, { cacheDir: join(scratch, 'models'), store });
      found.push({ name: descriptor.name, model: pulled.path, inputSize: descriptor.inputSize });
    }
  } finally {
    store.close();
  }
  return found;
}

/** Batches per second over at least 3 batches and 3 s, after one warm-up batch; in images/s. */
async function bare(graph: Graph): Promise<number> {
  const session = await openGraph(
    graph.model,
    { provider: 'cpu', intraOpThreads: availableParallelism(), interOpThreads: 1 },
    graph.name,
  );
  try {
    const s = graph.inputSize;
    const rand = seededRandom(1);
    const input = {
      input: {
        data: Float32Array.from({ length: BATCH * 3 * s * s }, () => rand() * 4 - 2),
        dims: [BATCH, 3, s, s],
      },
    };
    const outputs = ['embedding', 'output'];
    await session.run(input, outputs);
    const start = process.hrtime.bigint();
    let batches = 0;
    let seconds = 0;
    while (batches < 3 || seconds < 3) {
      await session.run(input, outputs);
      batches++;
      seconds = Number(process.hrtime.bigint() - start) / 1e9;
    }
    return (batches * BATCH) / seconds;
  } finally {
    await session.release();
  }
}

export const benchmarks: Benchmark[] = [
  {
    name: 'embed',
    async run() {
      const scratch = mkdtempSync(join(tmpdir(), 'affectflow-bench-models-'));
      try {
        const figures: Record<string, Figure> = {};
        for (const graph of await graphs(scratch)) {
          figures[`embed.${graph.name}.bare.b${BATCH}.per_s`] = {
            value: await bare(graph),
            unit: 'images/s',
          };
        }
        return figures;
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  },
];
