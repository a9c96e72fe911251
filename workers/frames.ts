/** The frames pool worker process. */
import { runWorkerProcess } from './main.ts';

await runWorkerProcess('frames');
