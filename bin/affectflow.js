#!/usr/bin/env node
// The package bin: runs the compiled CLI (build/cli/main.js, written by `npm run build`), with node
// alone. Development runs the TypeScript through tsx instead: `npm run affectflow -- <args>`.
import { existsSync } from 'node:fs';

const main = new URL('../build/cli/main.js', import.meta.url);
if (!existsSync(main)) {
  console.error(
    `affectflow: ${main.pathname} is missing: the CLI runs compiled; run \`npm run build\` in ${new URL('..', import.meta.url).pathname} (infra/bootstrap.sh does) and try again`,
  );
  process.exit(2);
}
await import(main.href);
