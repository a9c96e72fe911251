/**
 * Running EmotiEffLib 1.1.1 (PyPI emotiefflib, the HSEmotion author's library; installed by
 * infra/bootstrap.sh from bench/peer-requirements.txt) on a bench graph: it loads
 * ~/.emotiefflib/<name>.onnx and would download a missing one, so each graph is placed under the
 * name EmotiEffLib expects in a bench-private HOME that the Python process gets.
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { venvBin } from '../../base/paths.ts';
import type { BackboneDescriptor } from '../../models/registry.ts';

/**
 * Whether EmotiEffLib 1.1.1 has a model of this architecture at all: it ships EfficientNet,
 * MobileViT and MobileFaceNet graphs, none of DDAMFN (its loader looks for a final Gemm that the
 * DDAMFN graph does not have, and fails), so DDAMFN has no peer figure.
 */
export function emotiEffLibHas(d: BackboneDescriptor): boolean {
  return !d.name.includes('ddamfn');
}

/**
 * The name EmotiEffLib knows a graph by: it decides EmotiEffLib's preprocessing (112 px and
 * 0.5/0.5 for mbf_*, 260 px for *_b2_*, else 224 px ImageNet) and whether the last two scores are
 * valence and arousal (*_mtl names, which need 10 scores).
 */
export function emotiEffLibName(d: BackboneDescriptor): string {
  const mtl = d.scoresDim === 10;
  if (d.inputSize === 112) return mtl ? 'mbf_va_mtl' : 'mbf_8';
  if (d.inputSize === 260) return d.scoresDim === 7 ? 'enet_b2_7' : 'enet_b2_8';
  if (d.name.includes('mobilevit')) return mtl ? 'mobilevit_va_mtl' : 'mobilevit_8';
  return mtl ? 'enet_b0_8_va_mtl' : 'enet_b0_8_best_vgaf';
}

/** The graph file as published (EmotiEffLib drops its final Gemm itself): a file:// source. */
function publishedGraph(d: BackboneDescriptor): string {
  if (d.source.kind !== 'url' || !d.source.url.startsWith('file://'))
    throw new Error(
      `bench ${d.name}: expected a file:// source for EmotiEffLib, got ${JSON.stringify(d.source)}`,
    );
  return fileURLToPath(d.source.url);
}

/**
 * Runs a Python script of bench/models with `args` in a HOME under `scratch` that holds the
 * backbone's graph as ~/.emotiefflib/<name>.onnx; returns the script's last stdout line, parsed.
 */
export function runWithEmotiEffLib<T>(
  scratch: string,
  d: BackboneDescriptor,
  script: string,
  args: readonly string[],
): T {
  const home = join(scratch, `emotiefflib-home-${d.name}`);
  mkdirSync(join(home, '.emotiefflib'), { recursive: true });
  copyFileSync(publishedGraph(d), join(home, '.emotiefflib', `${emotiEffLibName(d)}.onnx`));
  const child = spawnSync(venvBin('python'), [join(import.meta.dirname, script), ...args], {
    encoding: 'utf8',
    env: { ...process.env, HOME: home },
  });
  if (child.status !== 0)
    throw new Error(
      `bench ${d.name}: ${script} failed (exit ${child.status}): ${child.stderr.trim()}; is emotiefflib 1.1.1 installed (infra/bootstrap.sh installs bench/peer-requirements.txt)?`,
    );
  return JSON.parse(child.stdout.trim().split('\n').pop()!) as T;
}
