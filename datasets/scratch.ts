/**
 * Scratch folders for dataset files copied to this machine (an S3 dataset's video while ffprobe
 * or ffmpeg reads it): one folder per copy under `<stateDir>/dataset-scratch/`, named by the
 * process id, removed when the copy is released; folders left by a process that was killed are
 * removed by the next process that makes one.
 */
import { randomUUID } from 'node:crypto';
import { mkdirSync, readdirSync, rmSync } from 'node:fs';
import { join } from 'node:path';

export const SCRATCH_FOLDER = 'dataset-scratch';

const alive = (pid: number): boolean => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the scratch folders of processes that are gone. */
export function sweepScratch(stateDir: string): void {
  const root = join(stateDir, SCRATCH_FOLDER);
  let names: string[];
  try {
    names = readdirSync(root);
  } catch {
    return;
  }
  for (const name of names) {
    const pid = Number(name.split('-')[0]);
    if (Number.isInteger(pid) && pid > 0 && pid !== process.pid && !alive(pid))
      rmSync(join(root, name), { recursive: true, force: true });
  }
}

/** A new, empty scratch folder of this process (older ones of dead processes swept first). */
export function makeScratchDir(stateDir: string): string {
  sweepScratch(stateDir);
  const dir = join(stateDir, SCRATCH_FOLDER, `${process.pid}-${randomUUID()}`);
  mkdirSync(dir, { recursive: true });
  return dir;
}
