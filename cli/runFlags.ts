/**
 * The run flags shared by `run`, `demo`, `backbones add` and `schedule create`, and the extraction
 * run input they make.
 */
import { resolve } from 'node:path';
import { InvalidArgumentError, type Command } from 'commander';
import { FACES_CHOICES, type FacesChoice } from '../datasets/affwild2.ts';
import { DATASET_KINDS, type DatasetKind } from '../datasets/manifest.ts';
import { FACE_SOURCES, type FaceSource } from '../media/faces.ts';
import { EMI_LINEAR } from '../heads/emi.ts';
import {
  CHALLENGE_PROTOCOL,
  PROTOCOL_CHOICES,
  REFERENCE_PROTOCOL,
  type HeadProtocol,
} from '../heads/protocol.ts';
import { listAudioBackbones, TINY_BACKBONE } from '../models/registry.ts';
import type { ExtractionRunInput } from '../workflows/index.ts';

function windowSize(value: string): number {
  const n = positiveInt(value);
  if (n > 1_000) throw new InvalidArgumentError(`expected at most 1000 shards in flight, got ${value}`);
  return n;
}

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1)
    throw new InvalidArgumentError(`expected a positive integer, got ${value}`);
  return n;
}

export interface RunFlags {
  backbone: string[];
  audioBackbone?: string;
  shardFrames: number;
  window: number;
  batchSize: number;
  maxCropSide: number;
  epochs?: number;
  headBatchSize?: number;
  hidden?: number;
  externalWorkers?: boolean;
  watch?: boolean;
  format?: DatasetKind;
  faces?: FacesChoice;
  faceSource?: FaceSource;
  detectorThreshold?: number;
  minFace?: number;
  margin?: number;
  square?: boolean;
  sampleEvery?: number;
  sampleFps?: number;
  decoderThreads?: number;
  smooth?: Windows;
  protocol?: 'challenge' | 'reference';
  fitOn?: HeadProtocol['fitOn'];
  scoredFrames?: HeadProtocol['scoredFrames'];
  bestEpoch?: HeadProtocol['bestEpoch'];
  auThresholds?: HeadProtocol['auThresholds'];
  emiHead?: 'linear' | 'reference';
}

export function addRunFlags(command: Command): Command {
  return command
    .option('--backbone <name...>', 'backbone(s) from the registry', [TINY_BACKBONE.name])
    .option(
      '--audio-backbone <name>',
      `audio backbone for audio embedding shards beside the visual ones: ${listAudioBackbones()
        .map((d) => d.name)
        .join(' | ')} (default: none)`,
      choice(listAudioBackbones().map((d) => d.name)),
    )
    .option('--shard-frames <n>', 'target frames per shard', positiveInt, 64)
    .option(
      '--window <n>',
      'shards in flight per partition (at most 1,000: Temporal allows 2,000 pending activities)',
      windowSize,
      8,
    )
    .option('--batch-size <n>', 'embedding batch size', positiveInt, 32)
    .option('--max-crop-side <px>', 'longest side of stored face crops', positiveInt, 256)
    .option('--epochs <n>', 'EXPR head epochs (SPEC default 10)', positiveInt)
    .option('--head-batch-size <n>', 'EXPR head batch size (SPEC default 256)', positiveInt)
    .option('--hidden <n>', 'EXPR head hidden units (SPEC default 128)', positiveInt)
    .option(
      '--format <kind>',
      'dataset layout: affwild2 | cexprdb | hume | generic (default: detected)',
      choice(DATASET_KINDS),
    )
    .option('--faces <choice>', `Aff-Wild2 faces: ${FACES_CHOICES.join(' | ')}`, choice(FACES_CHOICES))
    .option(
      '--face-source <source>',
      "provided | whole-frame | yunet (default: the dataset's crops (frame folders), else yunet)",
      choice(FACE_SOURCES),
    )
    .option('--detector-threshold <score>', 'YuNet score threshold (0..1)', fraction)
    .option('--min-face <px>', 'smallest face side kept, in source pixels', positiveInt)
    .option('--margin <fraction>', 'crop margin around the detected box, per side', fraction)
    .option('--square', 'grow detected boxes to squares')
    .option('--sample-every <k>', 'take every k-th frame', positiveInt)
    .option('--sample-fps <fps>', 'take frames at this rate', positiveNumber)
    .option('--decoder-threads <n>', 'ffmpeg threads per decode', positiveInt)
    .option(
      '--smooth <task=d...>',
      'smoothing half-width per task, e.g. EXPR=50 VA=50 AU=5 CE=0 (SPEC §5 defaults)',
      smoothing,
    )
    .option(
      '--protocol <name>',
      'challenge (every frame scored) | reference (the notebooks: face frames only, their best epoch, AU thresholds once on raw outputs)',
      choice(['challenge', 'reference'] as const),
    )
    .option(
      '--fit-on <splits>',
      'Train | Train+Validation (final heads for the test submission; Validation scores then in-sample)',
      choice(PROTOCOL_CHOICES.fitOn),
    )
    .option('--scored-frames <which>', 'every-frame | face-frames', choice(PROTOCOL_CHOICES.scoredFrames))
    .option('--best-epoch <criterion>', 'challenge-metric | reference', choice(PROTOCOL_CHOICES.bestEpoch))
    .option('--au-thresholds <how>', 'per-window | raw-once', choice(PROTOCOL_CHOICES.auThresholds))
    .option(
      '--emi-head <head>',
      'reference (default, the notebooks: Dense(64, relu) -> Dense(6), raw inputs, lr 1e-3, batch 512, L2 1/512) | linear (Dense(6), standardised inputs, lr 1e-2, batch 64, no L2)',
      choice(['linear', 'reference'] as const),
    )
    .option('--external-workers', 'do not start workers in this process; pools run elsewhere')
    .option('--watch', 'draw progress bars');
}

function choice<T extends string>(allowed: readonly T[]): (value: string) => T {
  return (value) => {
    if (!(allowed as readonly string[]).includes(value))
      throw new InvalidArgumentError(`expected one of ${allowed.join(', ')}, got ${value}`);
    return value as T;
  };
}

const SMOOTHED_TASKS = ['EXPR', 'VA', 'AU', 'CE'] as const;
type Windows = Partial<Record<(typeof SMOOTHED_TASKS)[number], number>>;

function smoothing(value: string, previous: Windows | undefined): Windows {
  const match = /^(EXPR|VA|AU|CE)=(\d+)$/.exec(value);
  if (!match)
    throw new InvalidArgumentError(
      `expected TASK=d with TASK one of ${SMOOTHED_TASKS.join(', ')} and d >= 0, got ${value}`,
    );
  return { ...previous, [match[1]!]: Number(match[2]) };
}

function fraction(value: string): number {
  const n = Number(value);
  if (!(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a number in 0..1, got ${value}`);
  return n;
}

function positiveNumber(value: string): number {
  const n = Number(value);
  if (!(n > 0) || !Number.isFinite(n))
    throw new InvalidArgumentError(`expected a positive number, got ${value}`);
  return n;
}

export function inputFrom(datasetPath: string, flags: RunFlags): ExtractionRunInput {
  const detector = (
    [
      ['scoreThreshold', flags.detectorThreshold],
      ['minFaceSize', flags.minFace],
      ['margin', flags.margin],
      ['square', flags.square],
    ] as const
  ).filter(([, v]) => v !== undefined);
  const expr = {
    ...(flags.epochs ? { epochs: flags.epochs } : {}),
    ...(flags.headBatchSize ? { batchSize: flags.headBatchSize } : {}),
    ...(flags.hidden ? { hidden: flags.hidden } : {}),
  };
  return {
    datasetPath: datasetPath.startsWith('s3://') ? datasetPath.replace(/\/+$/, '') : resolve(datasetPath),
    backbones: flags.backbone,
    ...(flags.audioBackbone ? { audioBackbone: flags.audioBackbone } : {}),
    shardFrames: flags.shardFrames,
    maxShardsInFlight: flags.window,
    embedBatchSize: flags.batchSize,
    maxCropSide: flags.maxCropSide,
    expr,
    ...(flags.format ? { format: flags.format } : {}),
    ...(flags.faces ? { faces: flags.faces } : {}),
    ...(flags.faceSource ? { faceSource: flags.faceSource } : {}),
    ...(detector.length > 0
      ? { detector: Object.fromEntries(detector) as NonNullable<ExtractionRunInput['detector']> }
      : {}),
    ...(flags.sampleEvery
      ? { sampling: { every: flags.sampleEvery } }
      : flags.sampleFps
        ? { sampling: { targetFps: flags.sampleFps } }
        : {}),
    ...(flags.decoderThreads ? { decoderThreads: flags.decoderThreads } : {}),
    ...(flags.smooth ? { windows: flags.smooth } : {}),
    ...protocolInput(flags),
    ...(flags.emiHead === 'linear'
      ? {
          emi: {
            head: 'linear',
            batchSize: EMI_LINEAR.batchSize,
            learningRate: EMI_LINEAR.learningRate,
            l2: EMI_LINEAR.l2,
          },
        }
      : {}),
  };
}

/** The run input's protocol: the preset's choices that differ from the challenge's, then each flag. */
function protocolInput(flags: RunFlags): Pick<ExtractionRunInput, 'protocol'> {
  const preset = flags.protocol === 'reference' ? REFERENCE_PROTOCOL : CHALLENGE_PROTOCOL;
  const chosen: HeadProtocol = {
    fitOn: flags.fitOn ?? preset.fitOn,
    scoredFrames: flags.scoredFrames ?? preset.scoredFrames,
    bestEpoch: flags.bestEpoch ?? preset.bestEpoch,
    auThresholds: flags.auThresholds ?? preset.auThresholds,
  };
  // Only departures from the challenge protocol go in, so a run without these flags keeps its id.
  const changed = Object.fromEntries(
    Object.entries(chosen).filter(([k, v]) => CHALLENGE_PROTOCOL[k as keyof HeadProtocol] !== v),
  ) as Partial<HeadProtocol>;
  return Object.keys(changed).length > 0 ? { protocol: changed } : {};
}
