/**
 * Audio heads and late fusion end to end (issue 17): the extractionRun workflow with
 * `audioBackbone: 'tiny_audio'` on synthetic videos whose sound carries the labels (audio
 * embedding shards by activities/audio.ts, then trainAndEvaluate). Audio-only and fused must beat
 * chance by the stated margins, and fused must reach the better modality, for EXPR, VA and EMI.
 */
import test, { type ExecutionContext } from 'ava';
import type { RunReport } from '../activities/index.ts';
import { TINY_SYNTHETIC } from '../datasets/synthetic.ts';
import { TINY_AUDIO } from '../models/registry.ts';
import { macroF1Chance } from './helpers/chance.ts';
import { runSyntheticPipeline } from './helpers/syntheticRun.ts';

/** Margins asserted for audio-only and fused (docs/HEADS.md, "Audio heads and late fusion"). */
const E2E_MARGINS = Object.freeze({ EXPR: 0.35, VA: 0.35, EMI: 0.3 });

/** Asserts one task's rows: audio above chance by `margin`, fused at least the better modality. */
function assertFused(
  t: ExecutionContext,
  report: RunReport,
  task: 'EXPR' | 'VA' | 'EMI',
  chance: number,
  margin: number,
) {
  const visual = report.tasks[task]!.score;
  const heard = report.audio!.tasks[task]!.score;
  const fused = report.audio!.fused[task]!;
  t.log(
    `${task}: visual ${visual.toFixed(3)}, audio ${heard.toFixed(3)} (chance ${chance.toFixed(3)}), fused ${fused.score.toFixed(3)} at w=${fused.weights.map((w) => w.toFixed(1)).join(',')}`,
  );
  t.true(heard > chance + margin, `${task} audio ${heard} vs chance ${chance}`);
  t.true(fused.score > chance + margin, `${task} fused ${fused.score} vs chance ${chance}`);
  t.true(
    fused.score >= Math.max(visual, heard) - 1e-9,
    `${task} fused ${fused.score} vs ${visual}, ${heard}`,
  );
}

test.serial(
  'end to end with tiny_audio: audio-only and fused beat chance, fused reaches the better modality (EXPR, VA; EMI)',
  async (t) => {
    const affwild = await runSyntheticPipeline(
      t,
      'fusion-affwild2',
      { ...TINY_SYNTHETIC, seed: 31, trainVideos: 8, validationVideos: 4, framesPerVideo: 60 },
      {
        audioBackbone: TINY_AUDIO.name,
        expr: { epochs: 20, batchSize: 32, hidden: 64, learningRate: 3e-3 },
        va: { epochs: 40, batchSize: 32, learningRate: 1e-2 },
        au: { epochs: 5, batchSize: 32, hidden: 64, learningRate: 3e-3 },
        windows: { EXPR: 2, VA: 5, AU: 1 },
      },
    );
    t.is(affwild.report.audio!.backbone.split('@')[0], TINY_AUDIO.name);
    const exprLabels = affwild.videos
      .filter((v) => v.split === 'Validation_Set')
      .flatMap((v) => Array.from(v.expr ?? []))
      .filter((y) => y >= 0);
    assertFused(t, affwild.report, 'EXPR', macroF1Chance(exprLabels, 8), E2E_MARGINS.EXPR);
    assertFused(t, affwild.report, 'VA', 0, E2E_MARGINS.VA);
    const hume = await runSyntheticPipeline(
      t,
      'fusion-hume',
      {
        ...TINY_SYNTHETIC,
        layout: 'hume',
        seed: 33,
        size: 64,
        trainVideos: 24,
        validationVideos: 12,
        framesPerVideo: 60,
      },
      { audioBackbone: TINY_AUDIO.name, emi: { frameStride: 1, l2: 1e-2 } },
    );
    assertFused(t, hume.report, 'EMI', 0, E2E_MARGINS.EMI);
  },
);
