/** The train pool worker process. */
import { runWorkerProcess } from './main.ts';

await runWorkerProcess('train');
