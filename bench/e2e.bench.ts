/**
 * End to end on video (`npm run bench -- --only e2e`): a generated 720p clip with three real
 * faces moving across it (the portraits of test/fixtures/faces, faces about 75-150 px tall; 600
 * frames at 30 fps, 20 s: ten shards of the default 64 frames, so the run is mostly steady state
 * rather than the filling and draining of its pipeline; Aff-Wild2's videos average 5,300
 * frames), turned into committed face embeddings of EfficientNet-B0 (the build.sh graph
 * bench_enet_b0 when it was built, else the TypeScript-built ts_enet_b0) two ways on the same
 * cores:
 *
 * - e2e.affectflow.*: the real extractionRun workflow (skipTraining) on a throwaway Temporal dev
 *   server with one worker of each pool in this process (the embedded CLI's setup, default
 *   settings): manifest, frames with YuNet, embedding, shards committed to a local store. Timed
 *   from the workflow's start to its result; the workers, sessions and model cache are ready
 *   before (as in a running `affectflow serve`). Per stage: the summed wall time of its
 *   activities (shards overlap, so stages add up to more than the run).
 * - e2e.python_loop.*: the plain Python way (bench/models/e2e_python.py): OpenCV decoding,
 *   OpenCV's FaceDetectorYN on the same YuNet file at the same detector size, crops, EmotiEffLib
 *   1.1.1 on the same graph in batches of 32.
 *
 * CPU: each way's CPU seconds over its timed span (ours: this process with every thread, its
 * ffmpeg children and the Temporal server, also each alone; Python's: its process, also per
 * stage), per frame, and
 * e2e.affectflow.cpu_bound_frames_per_s, the rate ours would reach if its work filled every
 * core: over the Python loop's rate it is the most the ratio can reach with ours' CPU per frame
 * (e2e.cpu_bound_vs_python_loop), which says whether a short ratio is overlap or work.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { availableParallelism, tmpdir } from 'node:os';
import { join } from 'node:path';
import { Client, Connection } from '@temporalio/client';
import { loadConfig } from '../config/index.ts';
import { withThrowawayTemporal } from '../infra/devstack.ts';
import { pullBackbone } from '../models/pull.ts';
import { registerBackbone, type BackboneDescriptor } from '../models/registry.ts';
import { DEFAULT_DETECTOR_OPTIONS, YUNET_MODEL_PATH } from '../models/yunet.ts';
import { openStore } from '../storage/objectStore.ts';
import { installQuietRuntime, runPoolWorkers, type WorkerRole } from '../workers/pools.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../workflows/index.ts';
import { generateClip } from './clip720p.ts';
import { pidServingPort, processCpuSeconds } from './processCpu.ts';
import type { Benchmark, Figure } from './harness.ts';
import { emotiEffLibName, runWithEmotiEffLib } from './models/emotiefflib.ts';
import { benchBackbones } from './models/graphs.ts';

const FRAMES = 600;
const FPS = 30;
const BATCH = 32;

/**
 * Three faces: about 120 px tall going right and back (300 px every 10 s), 150 px going left and
 * back, 75 px swaying; all stay in the picture.
 */
function writeClip(path: string): void {
  generateClip(path, FRAMES, FPS, [
    { portrait: 'portrait-1.jpg', filter: 'scale=-2:420', x: '40+150*(1-cos(t*PI/5))', y: '40' },
    { portrait: 'portrait-1.jpg', filter: 'scale=-2:260', x: '480+40*sin(t)', y: '430' },
    {
      portrait: 'portrait-2.jpg',
      filter: 'crop=970:1000:0:0,scale=-2:400',
      x: '860-150*(1-cos(t*PI/5))',
      y: '300',
    },
  ]);
}

/** The EfficientNet-B0 graph to run: build.sh's when it exists, else the TypeScript-built one. */
function enetB0(scratch: string): BackboneDescriptor {
  const found = benchBackbones(scratch);
  return found.find((d) => d.name === 'bench_enet_b0') ?? found.find((d) => d.name === 'ts_enet_b0')!;
}

/** CPU seconds of our way by process: this one (every thread), its ffmpeg children, the Temporal server. */
interface OursCpu {
  readonly process: number;
  readonly ffmpeg: number;
  readonly temporal: number;
}

interface StageTimes {
  [activity: string]: number;
}

/** Wraps every activity of a pool so its wall time is added to `stages` under its name (and the faces extractFrames found under `faces`). */
function timedActivities(stages: StageTimes) {
  return <A extends object>(activities: A): A =>
    Object.fromEntries(
      Object.entries(activities).map(([name, fn]) => [
        name,
        async (...args: unknown[]) => {
          const start = process.hrtime.bigint();
          try {
            const result = await (fn as (...a: unknown[]) => Promise<unknown>)(...args);
            if (name === 'extractFrames')
              stages['faces'] = (stages['faces'] ?? 0) + (result as { faces: number }).faces;
            return result;
          } finally {
            stages[name] = (stages[name] ?? 0) + Number(process.hrtime.bigint() - start) / 1e9;
          }
        },
      ]),
    ) as A;
}

async function affectflowRun(
  scratch: string,
  datasetPath: string,
  descriptor: BackboneDescriptor,
): Promise<{ seconds: number; cpu: OursCpu; result: ExtractionRunResult; stages: StageTimes }> {
  return withThrowawayTemporal(async (address) => {
    const temporalPid = pidServingPort(address.split(':').at(-1)!);
    /** This process (every thread), the children it has reaped (ffmpeg) and the Temporal server. */
    const cpuNow = (): OursCpu => {
      const own = processCpuSeconds(process.pid);
      return { process: own.self, ffmpeg: own.children, temporal: processCpuSeconds(temporalPid).self };
    };
    const home = join(scratch, 'home');
    const config = loadConfig(
      { TEMPORAL_ADDRESS: address, AFFECTFLOW_STORE: join(home, 'store'), AFFECTFLOW_HOME: home },
      home,
    );
    const store = openStore(config.store);
    await registerBackbone(store, descriptor, descriptor.name);
    await pullBackbone(descriptor, { cacheDir: join(config.stateDir, 'models'), store });
    installQuietRuntime();
    const id = randomUUID().slice(0, 8);
    const queue = (role: WorkerRole): string => `bench-e2e-${id}-${role}`;
    const stages: StageTimes = {};
    const timed = timedActivities(stages);
    const pools = await runPoolWorkers(['orchestrator', 'frames', 'embed'], {
      config,
      address,
      store,
      taskQueue: queue,
      log: () => {},
      wrapActivities: { frames: timed, embed: timed },
    });
    const clientConnection = await Connection.connect({ address });
    try {
      const input: ExtractionRunInput = {
        datasetPath,
        backbones: [descriptor.name],
        shardFrames: 64,
        maxShardsInFlight: 4,
        embedBatchSize: BATCH,
        maxCropSide: 256,
        skipTraining: true,
        taskQueues: { frames: queue('frames'), embed: queue('embed'), train: queue('train') },
      };
      const client = new Client({ connection: clientConnection });
      const start = process.hrtime.bigint();
      const cpu = cpuNow();
      const result = await client.workflow.execute<(i: ExtractionRunInput) => Promise<ExtractionRunResult>>(
        'extractionRun',
        { taskQueue: queue('orchestrator'), workflowId: `bench-e2e-${id}`, args: [input] },
      );
      const seconds = Number(process.hrtime.bigint() - start) / 1e9;
      const after = cpuNow();
      const spent: OursCpu = {
        process: after.process - cpu.process,
        ffmpeg: after.ffmpeg - cpu.ffmpeg,
        temporal: after.temporal - cpu.temporal,
      };
      if (result.status !== 'completed' || result.embeddingShardsWritten !== result.shards)
        throw new Error(`bench e2e: the run ended ${result.status}: ${JSON.stringify(result.failedShards)}`);
      return { seconds, cpu: spent, result, stages };
    } finally {
      await pools.stop();
      await clientConnection.close();
      store.close();
    }
  });
}

interface PythonLoop {
  readonly frames: number;
  readonly faces: number;
  readonly seconds: number;
  readonly cpu_seconds: number;
  readonly stages: { readonly decode: number; readonly detect: number; readonly embed: number };
  /** The process's CPU seconds (every thread) in each stage. */
  readonly stage_cpu: { readonly decode: number; readonly detect: number; readonly embed: number };
}

export const benchmarks: Benchmark[] = [
  {
    name: 'e2e',
    async run() {
      const scratch = mkdtempSync(join(tmpdir(), 'affectflow-bench-e2e-'));
      try {
        const datasetPath = join(scratch, 'data');
        mkdirSync(join(datasetPath, 'videos'), { recursive: true });
        const clip = join(datasetPath, 'videos', 'clip.mp4');
        writeClip(clip);
        const descriptor = enetB0(scratch);
        process.stderr.write(`bench: e2e with ${descriptor.name}: affectflow ...\n`);
        const ours = await affectflowRun(scratch, datasetPath, descriptor);
        process.stderr.write(`bench: e2e python loop ...\n`);
        const { scoreThreshold, nmsIou, inputLongSide } = DEFAULT_DETECTOR_OPTIONS;
        const python = runWithEmotiEffLib<PythonLoop>(scratch, descriptor, 'e2e_python.py', [
          clip,
          YUNET_MODEL_PATH,
          emotiEffLibName(descriptor),
          String(BATCH),
          String(inputLongSide),
          String(scoreThreshold),
          String(nmsIou),
        ]);
        const s = (value: number): Figure => ({ value, unit: 's' });
        const oursFps = FRAMES / ours.seconds;
        const pythonFps = python.frames / python.seconds;
        const cpuMsPerFrame = (seconds: number, frames: number): Figure => ({
          value: (seconds * 1000) / frames,
          unit: 'ms',
        });
        const oursCpu = ours.cpu.process + ours.cpu.ffmpeg + ours.cpu.temporal;
        const oursBound = (FRAMES * availableParallelism()) / oursCpu;
        return {
          'e2e.affectflow.frames_per_s': { value: oursFps, unit: 'frames/s' },
          'e2e.affectflow.faces': { value: ours.stages['faces'] ?? 0, unit: 'faces' },
          'e2e.affectflow.seconds': s(ours.seconds),
          'e2e.affectflow.manifest.s': s(ours.stages['manifestDataset'] ?? 0),
          'e2e.affectflow.frames.s': s(ours.stages['extractFrames'] ?? 0),
          'e2e.affectflow.embed.s': s(ours.stages['embedShard'] ?? 0),
          'e2e.python_loop.frames_per_s': { value: pythonFps, unit: 'frames/s' },
          'e2e.python_loop.faces': { value: python.faces, unit: 'faces' },
          'e2e.python_loop.seconds': s(python.seconds),
          'e2e.python_loop.decode.s': s(python.stages.decode),
          'e2e.python_loop.detect.s': s(python.stages.detect),
          'e2e.python_loop.embed.s': s(python.stages.embed),
          'e2e.affectflow_vs_python_loop': { value: oursFps / pythonFps, unit: 'ratio' },
          'e2e.affectflow.cpu_s': s(oursCpu),
          'e2e.affectflow.cpu_ms_per_frame': cpuMsPerFrame(oursCpu, FRAMES),
          'e2e.affectflow.cpu_ms_per_frame.process': cpuMsPerFrame(ours.cpu.process, FRAMES),
          'e2e.affectflow.cpu_ms_per_frame.ffmpeg': cpuMsPerFrame(ours.cpu.ffmpeg, FRAMES),
          'e2e.affectflow.cpu_ms_per_frame.temporal': cpuMsPerFrame(ours.cpu.temporal, FRAMES),
          'e2e.python_loop.cpu_s': s(python.cpu_seconds),
          'e2e.python_loop.cpu_ms_per_frame': cpuMsPerFrame(python.cpu_seconds, python.frames),
          'e2e.python_loop.cpu_ms_per_frame.decode': cpuMsPerFrame(python.stage_cpu.decode, python.frames),
          'e2e.python_loop.cpu_ms_per_frame.detect': cpuMsPerFrame(python.stage_cpu.detect, python.frames),
          'e2e.python_loop.cpu_ms_per_frame.embed': cpuMsPerFrame(python.stage_cpu.embed, python.frames),
          'e2e.affectflow.cpu_bound_frames_per_s': { value: oursBound, unit: 'frames/s' },
          'e2e.cpu_bound_vs_python_loop': { value: oursBound / pythonFps, unit: 'ratio' },
        };
      } finally {
        rmSync(scratch, { recursive: true, force: true });
      }
    },
  },
];
