/**
 * Orchestration overhead: 20,000 shards through the real run and partition workflows on a fresh
 * in-memory Temporal dev server, activities that only report. Fails if any history reaches
 * Temporal's warning threshold (10,240 events).
 */
import { withThrowawayTemporal } from '../infra/devstack.ts';
import type { Benchmark } from './harness.ts';
import { runReportingScale } from './orchestrationScale.ts';

const SHARDS = 20_000;

export const benchmarks: Benchmark[] = [
  {
    name: 'orchestration',
    run: () =>
      withThrowawayTemporal(async (address) => {
        const run = await runReportingScale({
          address,
          shards: SHARDS,
          partitionShards: 1_000,
          pageShards: 200,
          window: 50,
          partitionsInFlight: 4,
        });
        if (run.result.embeddingShardsWritten !== SHARDS) {
          throw new Error(`scale run finished ${run.result.embeddingShardsWritten} of ${SHARDS} shards`);
        }
        if (run.maxHistoryLength >= 10_240)
          throw new Error(`a history reached ${run.maxHistoryLength} events`);
        return {
          'orchestration.shards_per_s': { value: SHARDS / run.seconds, unit: 'shards/s' },
          'orchestration.overhead_ms_per_shard': { value: (run.seconds * 1000) / SHARDS, unit: 'ms/shard' },
          'orchestration.max_history_events': { value: run.maxHistoryLength, unit: 'events' },
          'orchestration.max_history_kb': { value: run.maxHistoryBytes / 1024, unit: 'KB' },
          'orchestration.executions': { value: run.executions, unit: 'workflow runs' },
        };
      }),
  },
];
