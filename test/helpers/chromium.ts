/** What the report tests read of a rendered page. */
import { pathToFileURL } from 'node:url';
import { runHeadlessChromium } from '../../reports/chromium.ts';

/** The serialised DOM of an HTML file after Chromium has loaded and laid it out. */
export function dumpDom(htmlPath: string, timeoutMs = 60_000): Promise<string> {
  return runHeadlessChromium(['--dump-dom', pathToFileURL(htmlPath).href], timeoutMs);
}
