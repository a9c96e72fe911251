/**
 * Checks the graphs that bench/models/build.sh wrote: each goes through `models pull` (checksum,
 * signature, surgery) into a scratch cache, then a batch of 2 random crops must give the
 * descriptor's embedding and score widths and embedding · Wᵀ + b = logits to 1e-4, relative to
 * the largest logit when that exceeds 1 (float32 rounding); the maximum difference is printed.
 * Each audio graph (DIR/audio/*.json, bench/models/audioGraphs.ts) must have its sha256, give
 * torch's recorded hidden states on the check input to 1e-4 relative to their largest value, and
 * take another batch and length: [3, 16000] -> [3, frames, hiddenDim].
 *   node --import tsx bench/models/verify.ts [DIR]   (default ~/.cache/affectflow/bench-models)
 */
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { sha256Hex } from '../../base/hashing.ts';
import { seededRandom } from '../../base/random.ts';
import { onnx } from '../../models/onnxGraph.ts';
import { openGraph } from '../../models/onnxRuntime.ts';
import { pullBackbone } from '../../models/pull.ts';
import { resolveInitializer } from '../../models/surgery.ts';
import { validateDescriptor } from '../../models/registry.ts';
import { openStore } from '../../storage/objectStore.ts';
import { benchAudioGraphs, checkInput, framesFor, voiceWindows } from './audioGraphs.ts';
import { benchModelsDir } from './folder.ts';

const dir = process.argv[2] ?? benchModelsDir();
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
  for (const graph of benchAudioGraphs(dir)) {
    const sha256 = sha256Hex(readFileSync(graph.path));
    const session = await openGraph(graph.path, { provider: 'cpu', intraOpThreads: 0, interOpThreads: 1 });
    const { samples } = graph.check;
    const run = async (input: Float32Array, batch: number) =>
      (await session.run({ [graph.inputName]: { data: input, dims: [batch, input.length / batch] } }))[
        graph.outputName
      ]! as { data: Float32Array; dims: readonly number[] };
    const out = await run(checkInput(2, samples), 2);
    const other = await run(voiceWindows(3, 16000, graph.sampleRate), 3);
    await session.release();
    const frames = framesFor(graph, samples);
    const h = graph.hiddenDim;
    let maxDiff = 0;
    let maxValue = 0;
    for (const row of graph.check.rows) {
      row.first.forEach((want, k) => {
        const got = out.data[(row.batch * frames + row.frame) * h + k]!;
        maxDiff = Math.max(maxDiff, Math.abs(got - want));
        maxValue = Math.max(maxValue, Math.abs(want));
      });
    }
    const otherDims = `3,${framesFor(graph, 16000)},${h}`;
    const ok =
      sha256 === graph.sha256 &&
      frames === graph.check.frames &&
      out.dims.join(',') === `2,${frames},${h}` &&
      other.dims.join(',') === otherDims &&
      maxDiff <= 1e-4 * Math.max(1, maxValue);
    if (!ok) failed++;
    console.log(
      `${ok ? 'ok  ' : 'FAIL'} ${graph.name}: sha256 ${sha256 === graph.sha256 ? 'matches' : `${sha256}, expected ${graph.sha256}`}, [2,${samples}] -> [${out.dims.join(',')}] (expected 2,${frames},${h}), [3,16000] -> [${other.dims.join(',')}] (expected ${otherDims}), max |onnxruntime - torch| = ${maxDiff.toExponential(2)} (max |value| ${maxValue.toFixed(3)})`,
    );
  }
} finally {
  store.close();
  rmSync(scratch, { recursive: true, force: true });
}
process.exitCode = failed > 0 ? 1 : 0;
