/**
 * Whether a process holds the listening socket of a TCP port, read from Linux's /proc. A service
 * picks its ports free just before it starts, so another process can take one in between; a
 * readiness probe alone would then be answered by that other process.
 */
import { existsSync, readdirSync, readFileSync, readlinkSync } from 'node:fs';

const LISTEN = '0A';

/** Inodes of the sockets listening on `port` (any local address), from /proc/net/tcp and tcp6. */
function listeningInodes(port: number): Set<string> {
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    if (!existsSync(table)) continue;
    // Columns: sl local_address rem_address st tx_queue:rx_queue tr:tm->when retrnsmt uid timeout inode
    for (const line of readFileSync(table, 'utf8').split('\n').slice(1)) {
      const fields = line.trim().split(/\s+/);
      if (fields.length < 10 || fields[3] !== LISTEN) continue;
      const localPort = Number.parseInt(fields[1]!.split(':').pop()!, 16);
      if (localPort === port) inodes.add(fields[9]!);
    }
  }
  return inodes;
}

/** True when some process listens on `port`; undefined where /proc cannot tell. */
export function portInUse(port: number): boolean | undefined {
  if (!existsSync('/proc/net/tcp')) return undefined;
  return listeningInodes(port).size > 0;
}

/**
 * True when process `pid` holds a socket listening on `port`, false when it does not (nobody
 * listens, or another process does); undefined where /proc cannot tell (not Linux, or the
 * process's descriptors are not readable).
 */
export function listensOn(pid: number, port: number): boolean | undefined {
  if (!existsSync('/proc/net/tcp')) return undefined;
  const inodes = listeningInodes(port);
  if (inodes.size === 0) return false;
  let fds: string[];
  try {
    fds = readdirSync(`/proc/${pid}/fd`);
  } catch (err) {
    // Gone (it exited, say on its own bind) holds nothing; unreadable (another user's) is unknown.
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return false;
    return undefined;
  }
  for (const fd of fds) {
    let target: string;
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue; // closed while we looked
    }
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode && inodes.has(inode)) return true;
  }
  return false;
}
