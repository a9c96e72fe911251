/**
 * Headless Chromium (Debian's chromium package) for looking at HTML reports: a PNG screenshot
 * (the tests also read the DOM after rendering). Every launch gets a fresh profile directory and the flags that
 * keep Chromium from reaching the network.
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { promisify } from 'node:util';

const run = promisify(execFile);

export class ChromiumError extends Error {
  constructor(detail: string) {
    super(`chromium: ${detail}`);
    this.name = 'ChromiumError';
  }
}

/** The chromium executable on PATH, or undefined. */
export function findChromium(): string | undefined {
  for (const dir of (process.env['PATH'] ?? '').split(delimiter)) {
    for (const name of ['chromium', 'chromium-browser']) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
        return path;
      } catch {
        // not here
      }
    }
  }
  return undefined;
}

const FLAGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--hide-scrollbars',
];

/**
 * Runs headless Chromium with the flags above and a fresh profile on `args` (the page's URL
 * last); resolves to its stdout. ChromiumError when none is installed, it fails or times out.
 */
export async function runHeadlessChromium(args: readonly string[], timeoutMs: number): Promise<string> {
  const binary = findChromium();
  if (!binary)
    throw new ChromiumError(
      'expected a chromium executable on PATH (infra/bootstrap.sh installs it), found none',
    );
  const profile = mkdtempSync(join(tmpdir(), 'affectflow-chromium-'));
  try {
    const { stdout } = await run(binary, [...FLAGS, `--user-data-dir=${profile}`, ...args], {
      timeout: timeoutMs,
      maxBuffer: 64 * 1024 * 1024,
    });
    return stdout;
  } catch (err) {
    throw new ChromiumError(`${args.at(-1)}: ${(err as Error).message.split('\n')[0]}`);
  } finally {
    rmSync(profile, { recursive: true, force: true });
  }
}

/** Writes a PNG screenshot of an HTML file at the given window size (CSS pixels). */
export async function screenshot(
  htmlPath: string,
  pngPath: string,
  size: { width: number; height: number } = { width: 1280, height: 4000 },
  timeoutMs = 60_000,
): Promise<void> {
  await runHeadlessChromium(
    [`--screenshot=${pngPath}`, `--window-size=${size.width},${size.height}`, pathToFileURL(htmlPath).href],
    timeoutMs,
  );
}
