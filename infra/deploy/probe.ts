/**
 * Readiness probe of a pool worker container (Kubernetes exec probe, infra/deploy/kubernetes/):
 *
 *   node build/infra/deploy/probe.js <task queue> <workflow|activity>
 *
 * Exits 0 when the Temporal server has seen a poller from this host on the task queue: the SDK
 * names a worker `<pid>@<hostname>` and a pod's hostname is its name, so the pod is ready exactly
 * when its own worker polls the queue the autoscaler watches. Exits 1 with one line otherwise
 * (server unreachable, no poller of this host, a queue of another store). Configuration comes from
 * the same environment as the worker's (TEMPORAL_ADDRESS, TEMPORAL_NAMESPACE, AFFECTFLOW_STORE).
 *
 * Readiness only: a worker whose activity slots are all busy does not poll until one frees, which
 * may take an activity's whole run, so the absence of a poller says nothing about liveness.
 */
import { hostname } from 'node:os';
import { Connection } from '@temporalio/client';
import proto from '@temporalio/proto';
import { loadConfig, storeIdentity, type AffectflowConfig } from '../../config/index.ts';

const TASK_KINDS = {
  workflow: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_WORKFLOW,
  activity: proto.temporal.api.enums.v1.TaskQueueType.TASK_QUEUE_TYPE_ACTIVITY,
} as const;

type TaskKind = keyof typeof TASK_KINDS;

interface ProbeVerdict {
  readonly ready: boolean;
  /** One line: what was seen on which queue and server. */
  readonly line: string;
}

/** Whether a worker of `host` polls `queue` for tasks of `kind` on the configured server. */
async function probeWorker(
  config: AffectflowConfig,
  queue: string,
  kind: TaskKind,
  host: string,
): Promise<ProbeVerdict> {
  const tag = storeIdentity(config.store).tag;
  if (!queue.endsWith(`-${tag}`)) {
    return {
      ready: false,
      line: `probe: task queue ${queue} is not one of store ${config.store.uri}'s (their names end in -${tag}); put the taskQueueSuffix that \`affectflow config\` prints into the manifests`,
    };
  }
  const address = config.temporalAddress ?? `127.0.0.1:${config.devPorts.temporal}`;
  let connection: Connection | undefined;
  try {
    connection = await Connection.connect({ address, connectTimeout: 5_000 });
    const response = await connection.workflowService.describeTaskQueue({
      namespace: config.temporalNamespace,
      taskQueue: { name: queue, kind: proto.temporal.api.enums.v1.TaskQueueKind.TASK_QUEUE_KIND_NORMAL },
      taskQueueType: TASK_KINDS[kind],
    });
    const own = (response.pollers ?? []).filter((poller) => poller.identity?.endsWith(`@${host}`));
    return own.length > 0
      ? { ready: true, line: `probe: ${own[0]!.identity} polls ${queue} (${kind}) on ${address}` }
      : {
          ready: false,
          line: `probe: no ${kind} poller of host ${host} on ${queue} at ${address} (${config.temporalNamespace}); pollers seen: ${(response.pollers ?? []).map((p) => p.identity).join(', ') || 'none'}`,
        };
  } catch (err) {
    return { ready: false, line: `probe: Temporal at ${address}: ${(err as Error).message}` };
  } finally {
    await connection?.close();
  }
}

async function main(argv: readonly string[]): Promise<number> {
  const [queue, kind] = argv;
  if (queue === undefined || (kind !== 'workflow' && kind !== 'activity')) {
    console.error(
      `probe: expected <task queue> <workflow|activity>, got ${JSON.stringify(argv)}; see infra/deploy/kubernetes/workers.yaml`,
    );
    return 2;
  }
  let config: AffectflowConfig;
  try {
    config = loadConfig();
  } catch (err) {
    console.error(`probe: ${(err as Error).message}`);
    return 2;
  }
  const verdict = await probeWorker(config, queue, kind, hostname());
  console.error(verdict.line);
  return verdict.ready ? 0 : 1;
}

process.exitCode = await main(process.argv.slice(2));
