/**
 * Checks the graphs that bench/models/build.sh wrote: each goes through `models pull` (checksum,
 * signature, surgery) into a scratch cache, then a batch of 2 random crops must give the
 * descriptor's embedding and score widths and embedding · Wᵀ + b = logits to 1e-4, relative to
 * the largest logit when that exceeds 1 (float32 rounding); the maximum difference is printed.
 *   node --import tsx bench/models/verify.ts [DIR]   (default ~/.cache/affectflow/bench-models)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join } from 'node:path';
import { seededRandom } from '../../base/random.ts';
import { onnx } from '../../models/onnxGraph.ts';
import { openGraph } from '../../models/onnxRuntime.ts';
import { pullBackbone } from '../../models/pull.ts';
import { resolveInitializer } from '../../models/surgery.ts';
import { validateDescriptor } from '../../models/registry.ts';
import { openStore } from '../../storage/objectStore.ts';

const dir =
  process.argv[2] ??
  process.env['AFFECTFLOW_BENCH_MODELS'] ??
  join(homedir(), '.cache', 'affectflow', 'bench-models');
const scratch = mkdtempSync(join(tmpdir(), 'affectflow-verify-'));
const store = openStore({ uri: join(scratch, 'store') } as Parameters<typeof openStore>[0]);
let failed = 0;
try {
  for (const file of readdirSync(dir).filter((f) => f.endsWith('.json'))) {
    const descriptor = validateDescriptor(JSON.parse(readFileSync(join(dir, file), 'utf8')), file);
    const pulled = await pullBackbone(descriptor, { cacheDir: join(scratch, 'models'), store });
    const model = new Uint8Array(readFileSync(pulled.path));
    const graph = onnx.ModelProto.decode(model).graph!;
    const gemm = graph.node!.find((n) => n.output?.includes(descriptor.scoresOutput))!;
    const producers = new Map(graph.node!.flatMap((n) => n.output!.map((o) => [o, n] as const)));
    const initializers = new Map(graph.initializer!.map((t) => [t.name!, t] as const));
    const tensor = (name: string | undefined | null): Float32Array => {
      const t = resolveInitializer(name ?? '', producers, initializers)!;
      return new Float32Array(Uint8Array.from(t.rawData!).buffer);
    };
    const w = tensor(gemm.input![1]);
    const b = tensor(gemm.input![2]);
    const session = await openGraph(model, { provider: 'cpu', intraOpThreads: 0, interOpThreads: 1 });
    const s = descriptor.inputSize;
    const rand = seededRandom(1);
    const input = Float32Array.from({ length: 2 * 3 * s * s }, () => rand() * 4 - 2);
    const out = await session.run({ [descriptor.inputName]: { data: input, dims: [2, 3, s, s] } });
    await session.release();
    const e = out[descriptor.embeddingOutput]! as { data: Float32Array; dims: readonly number[] };
    const logits = out[descriptor.scoresOutput]! as { data: Float32Array; dims: readonly number[] };
    const [k, c] = [descriptor.embeddingDim, descriptor.scoresDim];
    let maxDiff = 0;
    let maxLogit = 0;
    for (let row = 0; row < 2; row++) {
      for (let j = 0; j < c; j++) {
        let sum = b[j]!;
        for (let i = 0; i < k; i++) sum += e.data[row * k + i]! * w[j * k + i]!;
        const logit = logits.data[row * c + j]!;
        maxDiff = Math.max(maxDiff, Math.abs(sum - logit));
        maxLogit = Math.max(maxLogit, Math.abs(logit));
      }
    }
    const ok =
      e.dims.join(',') === `2,${k}` &&
      logits.dims.join(',') === `2,${c}` &&
      maxDiff <= 1e-4 * Math.max(1, maxLogit);
    if (!ok) failed++;
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${descriptor.name}: ${s}px, embedding [${e.dims.join(',')}] scores [${logits.dims.join(',')}], max |e·Wᵀ+b - logits| = ${maxDiff.toExponential(2)} (max |logit| ${maxLogit.toFixed(3)}), surgery ${pulled.surgery}`,
    );
  }
} finally {
  store.close();
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed > 0 ? 1 : 0;
