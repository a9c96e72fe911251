/** The embed pool worker process. */
import { runWorkerProcess } from './main.ts';

await runWorkerProcess('embed');
