/** Where affectflow's own files and the project-local tool installs live. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * True when this process runs the compiled JavaScript under build/ (`npm run build`, production)
 * rather than the TypeScript sources through tsx (development and tests).
 */
export const runsCompiled = import.meta.url.endsWith('.js');

/** The repository root: the parent of infra/, or of build/infra/ in the compiled build. */
export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), runsCompiled ? '../..' : '..');

/** The folder `npm run build` writes: the compiled JavaScript and the preprocessing kernel. */
export const buildDir = join(projectRoot, 'build');

/**
 * A project module named by its TypeScript source path relative to `base` (an import.meta.url):
 * its compiled .js sibling when this process runs compiled, for worker threads and the workflow
 * bundler, which take a file rather than an import.
 */
export function projectModule(relative: string, base: string | URL): URL {
  return new URL(runsCompiled ? relative.replace(/\.ts$/, '.js') : relative, base);
}

/** The project-local Python environment that infra/bootstrap.sh creates. */
export function venvDir(): string {
  return process.env['AFFECTFLOW_VENV'] ?? join(projectRoot, '.affectflow', 'venv');
}

export function venvBin(name: string): string {
  return join(venvDir(), 'bin', name);
}
