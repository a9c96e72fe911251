/**
 * Resumable model downloads (HTTP Range from a .part file, or a file:// URL) and how their progress
 * is shown.
 */
import { createReadStream, createWriteStream, statSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { fileURLToPath } from 'node:url';

export class DownloadError extends Error {
  constructor(
    readonly url: string,
    readonly detail: string,
  ) {
    super(`download ${url}: ${detail}`);
    this.name = 'DownloadError';
  }
}

/** Bytes received so far and the total (undefined when the server does not say). */
export type DownloadProgress = (received: number, total: number | undefined) => void;

/**
 * Appends the bytes from `offset` on to `part` (a Range request when offset > 0; a server that
 * answers 200 instead restarts the file). Throws DownloadError when the body ends short.
 */
export async function download(
  url: string,
  part: string,
  offset: number,
  options: { readonly progress?: DownloadProgress },
  redirects = 0,
): Promise<void> {
  if (url.startsWith('file://')) {
    const source = fileURLToPath(url);
    const total = statSync(source).size;
    await pipeTo(createReadStream(source, { start: offset }), part, offset, total, url, options);
    return;
  }
  if (!/^https?:\/\//.test(url)) throw new DownloadError(url, 'expected an http(s):// or file:// URL');
  const client = url.startsWith('https:') ? https : http;
  const response = await new Promise<http.IncomingMessage>((resolve, reject) => {
    const request = client.get(url, { headers: offset > 0 ? { Range: `bytes=${offset}-` } : {} }, resolve);
    request.on('error', (err) => reject(new DownloadError(url, err.message)));
  });
  const status = response.statusCode ?? 0;
  if (status >= 300 && status < 400 && response.headers.location) {
    response.resume();
    if (redirects >= 5) throw new DownloadError(url, 'more than 5 redirects');
    return download(new URL(response.headers.location, url).toString(), part, offset, options, redirects + 1);
  }
  if (status !== 200 && status !== 206) {
    response.resume();
    throw new DownloadError(url, `expected HTTP 200 or 206, got ${status}`);
  }
  const start = status === 206 ? offset : 0;
  const length = Number(response.headers['content-length'] ?? NaN);
  const total = Number.isFinite(length) ? start + length : undefined;
  await pipeTo(response, part, start, total, url, options);
}

async function pipeTo(
  body: NodeJS.ReadableStream,
  part: string,
  start: number,
  total: number | undefined,
  url: string,
  options: { readonly progress?: DownloadProgress },
): Promise<void> {
  const file = createWriteStream(part, start > 0 ? { flags: 'a' } : { flags: 'w' });
  let received = start;
  options.progress?.(received, total);
  try {
    await new Promise<void>((resolve, reject) => {
      body.on('data', (chunk: Buffer) => {
        received += chunk.length;
        if (!file.write(chunk)) body.pause();
        options.progress?.(received, total);
      });
      file.on('drain', () => body.resume());
      body.on('error', (err: Error) => reject(new DownloadError(url, err.message)));
      body.on('aborted', () => reject(new DownloadError(url, `connection closed after ${received} bytes`)));
      body.on('end', resolve);
    });
  } finally {
    await new Promise<void>((resolve) => file.end(resolve));
  }
  if (total !== undefined && received !== total) {
    throw new DownloadError(url, `expected ${total} bytes, got ${received}`);
  }
}

/**
 * A progress renderer: a redrawn bar on a TTY, plain lines at every 10% otherwise (logs, CI).
 * Sizes in MB (10^6 bytes).
 */
export function progressRenderer(
  stream: { isTTY?: boolean; write(text: string): unknown },
  label: string,
): (received: number, total: number | undefined) => void {
  let lastDecile = -1;
  let lastDraw = 0;
  const mb = (n: number): string => (n / 1e6).toFixed(1);
  return (received, total) => {
    const fraction = total ? Math.min(1, received / total) : undefined;
    if (stream.isTTY) {
      const now = Date.now();
      if (now - lastDraw < 100 && fraction !== 1) return;
      lastDraw = now;
      const width = 30;
      const filled = fraction === undefined ? 0 : Math.round(fraction * width);
      const bar = `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}]`;
      const pct = fraction === undefined ? '  ?%' : `${(fraction * 100).toFixed(0).padStart(3)}%`;
      stream.write(`\r${label} ${bar} ${pct} ${mb(received)}/${total ? mb(total) : '?'} MB`);
      if (fraction === 1) stream.write('\n');
      return;
    }
    const decile = fraction === undefined ? -1 : Math.floor(fraction * 10);
    if (decile > lastDecile) {
      lastDecile = decile;
      stream.write(`${label}: ${(decile * 10).toFixed(0)}% ${mb(received)}/${total ? mb(total) : '?'} MB\n`);
    }
  };
}
