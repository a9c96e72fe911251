/** CPU seconds of a process from /proc (Linux): its own, and that of its children it has waited for. */
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

const TICKS_PER_SECOND = 100;

export function processCpuSeconds(pid: number): { readonly self: number; readonly children: number } {
  // Fields after the command name: utime, stime, cutime, cstime are the 12th to 15th.
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]!.split(' ');
  const ticks = (i: number): number => Number(fields[i]);
  return {
    self: (ticks(11) + ticks(12)) / TICKS_PER_SECOND,
    children: (ticks(13) + ticks(14)) / TICKS_PER_SECOND,
  };
}

/** The pid of the process listening on a loopback TCP port, by its command line (`--port N`). */
export function pidServingPort(port: string): number {
  const out = execFileSync('pgrep', ['-f', '--', `--port ${port}( |$)`], { encoding: 'utf8' });
  const pid = Number(out.trim().split('\n')[0]);
  if (!Number.isInteger(pid) || pid <= 0) throw new Error(`no process started with --port ${port}`);
  return pid;
}
