/**
 * `affectflow schedule ...`: the dataset's re-evaluation schedule (a Temporal Schedule). On the
 * embedded default it fires only while `affectflow serve` keeps the dev server and workers up.
 */
import { resolve } from 'node:path';
import type { AffectflowConfig } from '../config/index.ts';
import { openStore } from '../storage/objectStore.ts';
import type { ReevaluateResult } from '../workflows/index.ts';
import { comparisonLines, readComparison } from './comparison.ts';
import { openTemporal } from './embedded.ts';
import { checkStore } from './preflight.ts';
import { closedRun, earlierEvaluations, scheduleId, upsertSchedule, type RunSettings } from './reevaluate.ts';
import { runScope } from './runIdentity.ts';
import { runningServe } from './serve.ts';
import { storeView } from './storeView.ts';

/** Next run times `schedule describe` lists. */
const NEXT_TIMES_SHOWN = 3;

export type ScheduleVerb = 'trigger' | 'pause' | 'unpause' | 'describe' | 'delete';

export async function createSchedule(
  config: AffectflowConfig,
  options: {
    /** The command line's run settings. */
    settings: RunSettings;
    /** Run flags were given: use them rather than the settings of the dataset's latest run. */
    explicitSettings: boolean;
    backbones: readonly string[];
    every: string | undefined;
  },
  say: (line: string) => void,
): Promise<void> {
  const temporal = await openTemporal(config, say);
  try {
    const scope = runScope(config);
    // Like `backbones add`: the dataset's latest run's settings, so the scheduled backbones are
    // compared with the ones evaluated then, on the same frames (their shards are reused).
    const earlier = options.explicitSettings
      ? undefined
      : await earlierEvaluations(temporal.client, options.settings.datasetPath, scope);
    const settings = earlier?.settings ?? options.settings;
    const evaluated = (earlier?.evaluated ?? []).filter((e) => !options.backbones.includes(e.backbone));
    const id = await upsertSchedule(temporal.client, {
      settings,
      backbones: options.backbones,
      every: options.every,
      scope,
      evaluated,
    });
    say(
      `schedule ${id}: ${options.every ? `every ${options.every}` : 'on trigger only'}, backbones ${options.backbones.join(', ')}, overlap BUFFER_ONE` +
        (earlier ? `; settings of the dataset's latest run` : '') +
        (evaluated.length ? `; compared with ${evaluated.map((e) => e.backbone).join(', ')}` : ''),
    );
    if (config.temporalAddress === undefined)
      say(
        runningServe(config)
          ? 'schedule: `affectflow serve` runs: the schedule fires while it does'
          : 'schedule: on the embedded dev server a schedule fires only while `affectflow serve` (or a cluster, TEMPORAL_ADDRESS) runs: start `affectflow serve --detach`',
      );
  } finally {
    await temporal.close();
  }
}

export async function manageSchedule(
  config: AffectflowConfig,
  verb: ScheduleVerb,
  dataset: string,
  say: (line: string) => void,
): Promise<void> {
  const temporal = await openTemporal(config, () => {});
  try {
    const id = scheduleId(resolve(dataset), runScope(config).store);
    const handle = temporal.client.schedule.getHandle(id);
    if (verb === 'trigger') await handle.trigger();
    else if (verb === 'pause') await handle.pause();
    else if (verb === 'unpause') await handle.unpause();
    else if (verb === 'delete') await handle.delete();
    if (verb !== 'describe') {
      say(`schedule ${id}: ${verb} done`);
      return;
    }
    const d = await handle.describe();
    const next = d.info.nextActionTimes.slice(0, NEXT_TIMES_SHOWN).map((t) => t.toISOString());
    say(
      `schedule ${id}: ${d.state.paused ? 'paused' : 'active'}; next ${next.join(', ') || 'on trigger only'}`,
    );
    for (const a of d.info.recentActions)
      say(`  ${a.takenAt.toISOString()}  ${a.action.workflow.workflowId}`);
    const last = d.info.recentActions.at(-1)?.action.workflow;
    if (!last) return;
    const status = (
      await temporal.client.workflow.getHandle(last.workflowId, last.firstExecutionRunId).describe()
    ).status.name;
    say(`schedule: last result: ${last.workflowId} ${status}`);
    if (status !== 'COMPLETED') return;
    const { result } = await closedRun<unknown, ReevaluateResult>(temporal.client, last.workflowId);
    if (!result?.comparisonKey) return;
    const store = openStore(config.store);
    try {
      await checkStore(store, config);
      const comparison = await readComparison(store, result.comparisonKey);
      for (const line of comparisonLines(comparison, result.comparisonKey, storeView(config, store)))
        say(line);
    } finally {
      store.close();
    }
  } finally {
    await temporal.close();
  }
}
