/** Where affectflow's own files and the project-local tool installs live. */
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), '..');

/** The project-local Python environment that infra/bootstrap.sh creates. */
export function venvDir(): string {
  return process.env['AFFECTFLOW_VENV'] ?? join(projectRoot, '.affectflow', 'venv');
}

export function venvBin(name: string): string {
  return join(venvDir(), 'bin', name);
}
