import { homedir } from 'node:os';
import { join } from 'node:path';

/** Where bench/models/build.sh writes its graphs: AFFECTFLOW_BENCH_MODELS, else ~/.cache/affectflow/bench-models. */
export function benchModelsDir(): string {
  return process.env['AFFECTFLOW_BENCH_MODELS'] ?? join(homedir(), '.cache', 'affectflow', 'bench-models');
}
