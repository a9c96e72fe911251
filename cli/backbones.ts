/**
 * `affectflow backbones add`: register a backbone and re-evaluate datasets with it. On the embedded
 * default with no `affectflow serve` running it runs the workers itself and follows the
 * re-evaluation to its comparison; with `serve` or a cluster it follows with --wait, else it says
 * how to follow.
 */
import { existsSync, readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { WorkflowFailedError, type Client } from '@temporalio/client';
import { defaultPayloadConverter } from '@temporalio/common';
import type { AffectflowConfig } from '../config/index.ts';
import { canonicalHash } from '../base/canonicalJson.ts';
import { getBackbone, loadRegistry, registerBackbone } from '../models/registry.ts';
import { openStore } from '../storage/objectStore.ts';
import type {
  ExtractionRunResult,
  ReevaluateResult,
  ReevaluationState,
  RunProgress,
} from '../workflows/index.ts';
import { comparisonLines, readComparison } from './comparison.ts';
import { openTemporal, startEmbeddedWorkers, type EmbeddedWorkers } from './embedded.ts';
import { RunEndedError } from './errors.ts';
import { checkStore } from './preflight.ts';
import { progressLines } from './progress.ts';
import { earlierEvaluations, knownDatasets, signalBackbone, type RunSettings } from './reevaluate.ts';
import { runScope, withStoreQueues } from './runIdentity.ts';
import { runningServe } from './serve.ts';
import { storeView } from './storeView.ts';

export interface AddBackboneOptions {
  /** A descriptor JSON file, or the name of a registered backbone. */
  readonly descriptor: string;
  /** Dataset roots (resolved); undefined: every dataset with a manifest in the store. */
  readonly datasets: readonly string[] | undefined;
  /** The command line's run settings for a dataset. */
  readonly settingsFor: (datasetPath: string) => RunSettings;
  /** Run flags were given: use them rather than the settings of the dataset's latest run. */
  readonly explicitSettings: boolean;
  /** Follow the re-evaluation even when the workers run elsewhere (`serve` or a cluster). */
  readonly wait: boolean;
  readonly say: (line: string) => void;
}

/** Where a followed re-evaluation ended for one backbone. */
interface Followed {
  readonly comparisonKey: string | undefined;
  /** The backbone's extraction run, as its child workflow returned it. */
  readonly run: ExtractionRunResult | undefined;
}

export async function addBackbone(config: AffectflowConfig, options: AddBackboneOptions): Promise<void> {
  const { say } = options;
  const store = openStore(config.store);
  let workers: EmbeddedWorkers | undefined;
  const temporal = await openTemporal(config, say);
  try {
    await checkStore(store, config);
    await loadRegistry(store);
    let name = options.descriptor;
    if (existsSync(name)) {
      const descriptor = await registerBackbone(store, JSON.parse(readFileSync(name, 'utf8')), name);
      name = descriptor.name;
      say(`backbones: registered ${descriptor.name}@${descriptor.version} in ${store.uri}`);
    } else {
      getBackbone(name);
    }
    const datasets = options.datasets ?? (await knownDatasets(store));
    if (datasets.length === 0)
      say('backbones: no dataset has a manifest in the store yet; nothing to re-evaluate');
    const serve = runningServe(config);
    const embedded = config.temporalAddress === undefined && serve === undefined;
    if (embedded && datasets.length > 0)
      workers = await startEmbeddedWorkers(config, temporal.address, store, say);
    const scope = runScope(config);
    const view = storeView(config, store);
    for (const dataset of datasets) {
      const earlier = await earlierEvaluations(temporal.client, dataset, scope);
      const settings = earlier && !options.explicitSettings ? earlier.settings : options.settingsFor(dataset);
      const sameSettings =
        earlier !== undefined &&
        canonicalHash(withStoreQueues(settings, scope), 16) ===
          canonicalHash(withStoreQueues(earlier.settings, scope), 16);
      const evaluated = sameSettings ? earlier.evaluated.filter((e) => e.backbone !== name) : [];
      const workflowId = await signalBackbone(temporal.client, settings, name, scope, {
        evaluated,
        // Run by this command's own workers: it ends when the queue is empty, before they stop.
        ...(embedded ? { idleMinutes: 0 } : {}),
      });
      say(
        `backbones: ${name} queued on ${workflowId} for ${dataset}` +
          (evaluated.length ? `; compared with ${evaluated.map((e) => e.backbone).join(', ')}` : ''),
      );
      if (!embedded && !options.wait) {
        say(
          `backbones: ${serve ? `\`affectflow serve\` (pid ${serve.pid})` : `the workers of Temporal ${temporal.address}`} will run it; follow it with \`affectflow status ${workflowId}\``,
        );
        continue;
      }
      const followed = await followBackbone(temporal.client, workflowId, name, say, embedded);
      const run = followed.run;
      if (run)
        say(
          `backbones: ${name}: frames shards reused ${run.framesShardsReused}/${run.shards}` +
            (run.framesShardsReused === run.shards ? ' (none decoded again)' : '') +
            `, embedding shards written ${run.embeddingShardsWritten}`,
        );
      if (followed.comparisonKey) {
        const comparison = await readComparison(store, followed.comparisonKey);
        for (const line of comparisonLines(comparison, followed.comparisonKey, view)) say(line);
      }
    }
  } finally {
    await workers?.stop();
    await temporal.close();
    store.close();
  }
}

/** The newest child run for `backbone` in a re-evaluation's history, with its result once it completed. */
async function childRun(
  client: Client,
  workflowId: string,
  backbone: string,
): Promise<{ id: string | undefined; result: ExtractionRunResult | undefined }> {
  const events = (await client.workflow.getHandle(workflowId).fetchHistory()).events ?? [];
  let id: string | undefined;
  let result: ExtractionRunResult | undefined;
  for (const event of events) {
    const started = event.startChildWorkflowExecutionInitiatedEventAttributes?.workflowId;
    if (started?.endsWith(`-${backbone}`)) [id, result] = [started, undefined];
    const completed = event.childWorkflowExecutionCompletedEventAttributes;
    const payload = completed?.result?.payloads?.[0];
    if (payload && completed?.workflowExecution?.workflowId === id)
      result = defaultPayloadConverter.fromPayload<ExtractionRunResult>(payload);
  }
  return { id, result };
}

/**
 * Follows a re-evaluation until `backbone` is evaluated and compared (and, when `untilClosed`, the
 * workflow has ended), printing what it is doing and its extraction run's progress.
 */
async function followBackbone(
  client: Client,
  workflowId: string,
  backbone: string,
  say: (line: string) => void,
  untilClosed: boolean,
): Promise<Followed> {
  const handle = client.workflow.getHandle(workflowId);
  let last = '';
  const tell = (line: string): void => {
    if (line !== last) say((last = line));
  };
  for (;;) {
    const description = await handle.describe();
    if (description.status.name !== 'RUNNING') {
      let result: ReevaluateResult;
      try {
        result = (await handle.result()) as ReevaluateResult;
      } catch (err) {
        if (err instanceof WorkflowFailedError) throw new RunEndedError(workflowId, err);
        throw err;
      }
      return {
        comparisonKey: result.comparisonKey,
        run: (await childRun(client, workflowId, backbone)).result,
      };
    }
    const state = await handle.query<ReevaluationState>('reevaluation').catch(() => undefined);
    const child = await childRun(client, workflowId, backbone);
    if (state) {
      const done =
        child.result !== undefined &&
        state.current !== backbone &&
        !state.pending.includes(backbone) &&
        state.comparisonKey !== undefined &&
        state.compared === state.evaluated.length;
      if (done && !untilClosed) return { comparisonKey: state.comparisonKey, run: child.result };
      if (state.current === backbone && child.id) {
        const progress = await client.workflow
          .getHandle(child.id)
          .query<RunProgress>('progress')
          .catch(() => undefined);
        if (progress) {
          const lines = progressLines(progress);
          tell(`backbones: ${backbone}: ${lines[0]} | ${lines[1]?.replace(/\s+\[[#.]+\]\s+/, ' ')}`);
        }
      } else if (state.current) tell(`backbones: evaluating ${state.current} first`);
      else if (done) tell(`backbones: ${backbone} compared; the re-evaluation ends`);
    }
    await sleep(1_000);
  }
}
