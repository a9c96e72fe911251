/**
 * A chaos run (issue 15, build item 5), shared by test/chaos.test.ts (CI-sized) and
 * bench/chaos.ts (`npm run chaos`): a synthetic dataset extracted and trained on by external
 * worker processes (two per pool) on an S3 store, with Temporal and SeaweedFS of the run's own,
 * while seeded faults hit it: SIGKILLs of frames, embed, train and orchestrator workers and of the
 * frames workers' ffmpeg children (each killed worker started again by the supervisor), one
 * Temporal restart, one object-store outage and one SIGSTOP of an embed worker. Faults are spread
 * over the run by its progress (shard commit markers counted in the store), not by the clock;
 * only the outage and the SIGSTOP last a stated time. Afterwards the independent check
 * (chaosCheck.ts) counts what the markers commit. Without faults the same run gives the clean
 * wall time.
 */
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { ListObjectsV2Command, type S3Client } from '@aws-sdk/client-s3';
import { Client, Connection, WorkflowFailedError, type WorkflowHandle } from '@temporalio/client';
import { seededRandom } from '../../base/random.ts';
import { generateSyntheticDataset, TINY_SYNTHETIC } from '../../datasets/synthetic.ts';
import { TINY_BACKBONE } from '../../models/registry.ts';
import { s3Client } from '../../storage/objectStore.ts';
import type { ExtractionRunInput, ExtractionRunResult } from '../../workflows/index.ts';
import { checkCommitted, type ChaosCheck } from './chaosCheck.ts';
import { startChaosStack, WorkerSupervisor, type ChaosStack } from './chaosStack.ts';
import { activityQueues, prebuildGeneratedModels, uniqueQueues } from './workers.ts';

export interface ChaosOptions {
  /** Holds the dataset, both services' state, the workers' home and logs, the check's copy. */
  readonly stateDir: string;
  /** Where the synthetic dataset is (made there unless already made), shared by a clean and a chaos run. */
  readonly datasetPath: string;
  readonly videos: number;
  readonly framesPerVideo: number;
  readonly shardFrames: number;
  readonly seed: number;
  /** false: the same run without any fault (the clean wall time). */
  readonly faults: boolean;
  readonly kills: number;
  readonly outageSeconds: number;
  readonly stopSeconds: number;
  readonly log: (line: string) => void;
  /** Called with each new count of committed shards (frames and embeddings) while the run goes on. */
  readonly onProgress?: (committed: number) => void;
}

export const CHAOS_CI: Omit<ChaosOptions, 'stateDir' | 'datasetPath' | 'faults' | 'log'> = Object.freeze({
  videos: 10,
  framesPerVideo: 2000,
  shardFrames: 250,
  seed: 15,
  kills: 52,
  outageSeconds: 60,
  stopSeconds: 30,
});

export type KillTarget = 'frames' | 'embed' | 'train' | 'orchestrator' | 'ffmpeg';
const TARGETS: readonly KillTarget[] = ['frames', 'embed', 'ffmpeg', 'orchestrator', 'train'];

export interface ChaosOutcome {
  readonly result: ExtractionRunResult;
  readonly check: ChaosCheck;
  /** SIGKILLs sent, per target. */
  readonly kills: Readonly<Record<KillTarget, number>>;
  readonly killCount: number;
  /** Worker processes started again by the supervisor. */
  readonly restarts: number;
  readonly outageSeconds: number;
  readonly stoppedSeconds: number;
  readonly temporalRestarts: number;
  /** From the workflow's start to its result. */
  readonly wallSeconds: number;
}

/** The kill plan: which target each kill hits, every target at least once, then drawn at random. */
function killPlan(count: number, rand: () => number): KillTarget[] {
  const plan = [...TARGETS].sort(() => rand() - 0.5);
  while (plan.length < count) plan.push(TARGETS[Math.floor(rand() * TARGETS.length)]!);
  return plan;
}

/** Shard commit markers under the prefix (frames and embeddings); undefined while the store is away. */
async function committedShards(
  client: S3Client,
  bucket: string,
  prefix: string,
): Promise<number | undefined> {
  try {
    let count = 0;
    let token: string | undefined;
    do {
      const page = await client.send(
        new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }),
      );
      count += (page.Contents ?? []).filter(
        (o) => o.Key!.endsWith('.commit.json') && /\/(frames|embeddings)\//.test(o.Key!),
      ).length;
      token = page.NextContinuationToken;
    } while (token);
    return count;
  } catch {
    return undefined;
  }
}

/** The workflow's result, through Temporal restarts (a lost connection is tried again, a failed run is not). */
async function resultThroughRestarts(handle: WorkflowHandle): Promise<ExtractionRunResult> {
  for (;;) {
    try {
      return (await handle.result()) as ExtractionRunResult;
    } catch (err) {
      if (err instanceof WorkflowFailedError) throw err;
      await sleep(1000);
    }
  }
}

/** Sends the faults as the run commits shards; `finish()` waits for those in progress to end. */
class FaultInjector {
  readonly kills: Record<KillTarget, number> = { frames: 0, embed: 0, train: 0, orchestrator: 0, ffmpeg: 0 };
  outageSeconds = 0;
  stoppedSeconds = 0;
  temporalRestarts = 0;
  private readonly running: Promise<void>[] = [];
  private readonly plan: KillTarget[];
  private readonly killAt: number[];
  private next = 0;
  private outageDone = false;
  private restartDone = false;
  private readonly rand: () => number;

  constructor(
    private readonly options: ChaosOptions,
    private readonly stack: ChaosStack,
    private readonly workers: WorkerSupervisor,
    private readonly expectedCommits: number,
  ) {
    this.rand = seededRandom(options.seed);
    this.plan = killPlan(options.kills, this.rand);
    // Kills at evenly spread commit counts from 3 % to 95 % of the run's commits.
    this.killAt = this.plan.map((_, i) => Math.floor(expectedCommits * (0.03 + (0.92 * i) / options.kills)));
  }

  /** Called with each new commit count. */
  onProgress(committed: number): void {
    if (!this.outageDone && committed >= this.expectedCommits * 0.25) {
      this.outageDone = true;
      this.running.push(this.outage(), this.stopEmbedWorker());
    }
    if (!this.restartDone && committed >= this.expectedCommits * 0.55) {
      this.restartDone = true;
      this.running.push(this.restartTemporal());
    }
    while (this.next < this.plan.length && committed >= this.killAt[this.next]!) {
      this.running.push(this.kill(this.plan[this.next++]!));
    }
  }

  /** Waits for the faults in progress; kills the run ended before are not sent (killCount says). */
  async finish(): Promise<void> {
    await Promise.all(this.running);
  }

  private pick<T>(items: readonly T[]): T | undefined {
    return items.length === 0 ? undefined : items[Math.floor(this.rand() * items.length)];
  }

  private async kill(target: KillTarget): Promise<void> {
    let pid: number | undefined;
    if (target === 'ffmpeg') {
      // ffmpeg lives while a frames activity decodes: wait a little for one, else kill its worker.
      for (let i = 0; i < 25 && pid === undefined; i++) {
        pid = this.pick(this.workers.ffmpegPids());
        if (pid === undefined) await sleep(200);
      }
      if (pid === undefined) target = 'frames';
    }
    if (target !== 'ffmpeg') {
      for (let i = 0; i < 100 && pid === undefined; i++) {
        pid = this.pick(this.workers.pids(target));
        if (pid === undefined) await sleep(200); // both restarting
      }
    }
    if (pid === undefined) return;
    try {
      process.kill(pid, 'SIGKILL');
      this.kills[target]++;
      this.options.log(`chaos: SIGKILL ${target} ${pid}`);
    } catch {
      // it ended by itself in between; the next planned kill goes on
    }
  }

  private async outage(): Promise<void> {
    const started = Date.now();
    await this.stack.stopS3();
    this.options.log(`chaos: object store stopped for ${this.options.outageSeconds} s`);
    await sleep(this.options.outageSeconds * 1000);
    await this.stack.startS3();
    this.outageSeconds = (Date.now() - started) / 1000;
    this.options.log(`chaos: object store back after ${this.outageSeconds.toFixed(0)} s`);
  }

  private async stopEmbedWorker(): Promise<void> {
    const pid = this.pick(this.workers.pids('embed'));
    if (pid === undefined) return;
    const started = Date.now();
    process.kill(pid, 'SIGSTOP');
    this.options.log(`chaos: SIGSTOP embed ${pid} for ${this.options.stopSeconds} s`);
    await sleep(this.options.stopSeconds * 1000);
    try {
      process.kill(pid, 'SIGCONT');
    } catch {
      // killed while stopped, and started again by the supervisor
    }
    this.stoppedSeconds = (Date.now() - started) / 1000;
  }

  private async restartTemporal(): Promise<void> {
    await this.stack.stopTemporal();
    this.options.log('chaos: Temporal stopped; starting it again on the same port and SQLite file');
    await this.stack.startTemporal();
    this.temporalRestarts++;
  }
}

/** Runs the scenario of `options` and checks what it committed; stops everything it started. */
export async function runChaos(options: ChaosOptions): Promise<ChaosOutcome> {
  await generateSyntheticDataset(options.datasetPath, {
    ...TINY_SYNTHETIC,
    trainVideos: options.videos - Math.max(1, Math.floor(options.videos / 5)),
    validationVideos: Math.max(1, Math.floor(options.videos / 5)),
    framesPerVideo: options.framesPerVideo,
    size: 64,
  });
  const home = join(options.stateDir, 'home');
  prebuildGeneratedModels(home);
  const stack = await startChaosStack(options.stateDir);
  const prefix = 'chaos';
  const credentials = stack.credentials;
  const inherited = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !/^(AWS_|AFFECTFLOW_|TEMPORAL_)/.test(name)),
  );
  const queues = uniqueQueues('chaos');
  const workers = new WorkerSupervisor(
    {
      ...inherited,
      TEMPORAL_ADDRESS: stack.temporalAddress,
      AFFECTFLOW_STORE: `s3://${stack.bucket}/${prefix}`,
      AFFECTFLOW_S3_ENDPOINT: stack.s3Endpoint,
      AWS_REGION: 'us-east-1',
      AWS_ACCESS_KEY_ID: credentials.accessKeyId,
      AWS_SECRET_ACCESS_KEY: credentials.secretAccessKey,
      AWS_EC2_METADATA_DISABLED: 'true',
      AFFECTFLOW_HOME: home,
      AFFECTFLOW_EMBED_THREADS: '1',
      AFFECTFLOW_SHUTDOWN_GRACE_SECONDS: '5',
    },
    queues,
    join(options.stateDir, 'logs'),
  );
  const s3 = s3Client({ endpoint: stack.s3Endpoint, region: 'us-east-1', forcePathStyle: true, credentials });
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address: stack.temporalAddress });
    const client = new Client({ connection });
    const input: ExtractionRunInput = {
      datasetPath: options.datasetPath,
      backbones: [TINY_BACKBONE.name],
      shardFrames: options.shardFrames,
      maxShardsInFlight: 8,
      embedBatchSize: 50,
      maxCropSide: 64,
      faceSource: 'whole-frame',
      expr: { epochs: 2, batchSize: 256, hidden: 8 },
      taskQueues: activityQueues(queues),
      // How soon a killed or stopped worker's shard moves to another worker.
      heartbeatTimeoutSeconds: 10,
    };
    const shards = options.videos * Math.ceil(options.framesPerVideo / options.shardFrames);
    const faults = new FaultInjector(options, stack, workers, 2 * shards);
    const started = Date.now();
    const handle = await client.workflow.start('extractionRun', {
      taskQueue: queues.orchestrator,
      workflowId: `chaos-${queues.frames}`,
      args: [input],
    });
    let done = false;
    const watching = (async () => {
      let seen = -1;
      while (!done) {
        const committed = await committedShards(s3, stack.bucket, `${prefix}/`);
        if (committed !== undefined && committed !== seen) {
          seen = committed;
          options.onProgress?.(committed);
          if (options.faults) faults.onProgress(committed);
        }
        await sleep(500); // the store has no event to wait on: list it
      }
    })();
    let result: ExtractionRunResult;
    try {
      result = await resultThroughRestarts(handle);
    } finally {
      done = true;
      await watching;
    }
    const wallSeconds = (Date.now() - started) / 1000;
    if (options.faults) await faults.finish();
    options.log(`chaos: run ended ${result.status} after ${wallSeconds.toFixed(0)} s`);
    await workers.stop();
    const check = await checkCommitted(
      s3,
      stack.bucket,
      `${prefix}/`,
      result.manifestKey,
      join(options.stateDir, 'check'),
    );
    return {
      result,
      check,
      kills: faults.kills,
      killCount: Object.values(faults.kills).reduce((a, b) => a + b, 0),
      restarts: workers.restarts(),
      outageSeconds: faults.outageSeconds,
      stoppedSeconds: faults.stoppedSeconds,
      temporalRestarts: faults.temporalRestarts,
      wallSeconds,
    };
  } finally {
    await workers.stop();
    s3.destroy();
    await connection?.close().catch(() => undefined);
    await stack.stop();
  }
}
