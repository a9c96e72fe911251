/** The orchestrator pool worker process. */
import { runWorkerProcess } from './main.ts';

await runWorkerProcess('orchestrator');
