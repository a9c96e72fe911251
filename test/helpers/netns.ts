/**
 * Hosts in Linux network namespaces for the multi-host test: each host is a namespace with one
 * veth link to a bridge that lives in a "switch" namespace of its own. Addresses come from
 * 198.18.0.0/15 (RFC 2544, set aside for benchmarking); no namespace has a default route and the
 * root namespace gets a blackhole route for the range, so no packet of the test can leave the
 * machine. Everything carries the fixed prefix `afmh`, so a run removes what a crashed run left.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import { setTimeout as pollInterval } from 'node:timers/promises';

export const NETNS_PREFIX = 'afmh';
export const TEST_RANGE = '198.18.0.0/15';
const SWITCH = `${NETNS_PREFIX}-switch`;
const BRIDGE = `${NETNS_PREFIX}br`;
/** The pid of the process whose test owns the prefixed namespaces now. */
const OWNER_FILE = `/run/${NETNS_PREFIX}-netns.owner`;

function ip(...args: string[]): string {
  return execFileSync('ip', args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });
}

function ipQuiet(...args: string[]): void {
  try {
    ip(...args);
  } catch {
    // already gone
  }
}

/** Why namespaces cannot be made here (the test then skips), or undefined when they can. */
export function netnsUnavailable(): string | undefined {
  if (process.getuid?.() !== 0)
    return 'network namespaces need root (ip netns add); this runs as a non-root user';
  const probe = `${NETNS_PREFIX}-probe`;
  try {
    ipQuiet('netns', 'del', probe);
    ip('netns', 'add', probe);
    ip('netns', 'del', probe);
    return undefined;
  } catch (err) {
    return `ip netns add failed: ${((err as { stderr?: string }).stderr ?? (err as Error).message).trim()}`;
  }
}

/** The namespace names holding the prefix, from `ip netns list`. */
function ourNamespaces(): string[] {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0] ?? '')
    .filter((name) => name.startsWith(`${NETNS_PREFIX}-`));
}

/** Pids of every process in the namespace (`ip netns pids`). */
export function namespacePids(ns: string): number[] {
  try {
    return ip('netns', 'pids', ns)
      .split('\n')
      .filter(Boolean)
      .map(Number)
      .filter((pid) => pid !== process.pid);
  } catch {
    return [];
  }
}

/** SIGKILLs every process in the namespace, as a host losing power; returns what was killed. */
export function killNamespace(ns: string): number[] {
  const killed: number[] = [];
  // A dying process may still fork once: repeat until the namespace is empty.
  for (let round = 0; round < 20; round++) {
    const pids = namespacePids(ns);
    if (pids.length === 0) break;
    for (const pid of pids) {
      try {
        process.kill(pid, 'SIGKILL');
        killed.push(pid);
      } catch {
        // exited meanwhile
      }
    }
  }
  return killed;
}

/** Names of a process's running children's commands in the namespace (`/proc/PID/comm`). */
export function namespaceCommands(ns: string): string[] {
  return namespacePids(ns).flatMap((pid) => {
    try {
      return [readFileSync(`/proc/${pid}/comm`, 'utf8').trim()];
    } catch {
      return [];
    }
  });
}

/** True while the root namespace routes the test range into a blackhole. */
export function blackholePresent(): boolean {
  return ip('route', 'show', 'type', 'blackhole', TEST_RANGE).trim() !== '';
}

/**
 * Removes every namespace and root-namespace link with the prefix (their processes killed first),
 * and the blackhole route when `blackhole` says this run added it. Synchronous, so it also runs
 * in a process 'exit' hook.
 */
export function removeNetwork(blackhole: boolean): void {
  for (const ns of ourNamespaces()) {
    killNamespace(ns);
    ipQuiet('netns', 'del', ns);
  }
  for (const line of ip('-o', 'link', 'show').split('\n')) {
    const name = /^\d+: ([^:@]+)/.exec(line)?.[1];
    if (name?.startsWith(NETNS_PREFIX)) ipQuiet('link', 'del', name);
  }
  if (blackhole && blackholePresent()) ipQuiet('route', 'del', 'blackhole', TEST_RANGE);
}

export interface Host {
  readonly name: string;
  /** Its network namespace. */
  readonly ns: string;
  /** Its address in 198.18.0.0/24. */
  readonly address: string;
  /** Its link's end in the switch namespace: down is a partition. */
  readonly switchPort: string;
}

export interface Network {
  readonly hosts: Readonly<Record<string, Host>>;
  /** Cuts the host's link at the switch (`ip link set ... down`), or restores it. */
  setLink(host: Host, up: boolean): void;
  /** Removes every namespace and link, and the blackhole route unless it pre-existed. */
  remove(): void;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function ownerPid(): number | undefined {
  try {
    return Number(readFileSync(OWNER_FILE, 'utf8').trim()) || undefined;
  } catch {
    return undefined;
  }
}

/**
 * Waits while another live process (a second suite on this machine) owns the prefixed names, then
 * claims them: without this, removing a crashed run's leftovers would tear down a running test.
 */
async function claimPrefix(waitMs = 8 * 60_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (
    let owner = ownerPid();
    owner !== undefined && owner !== process.pid && isAlive(owner);
    owner = ownerPid()
  ) {
    if (Date.now() > deadline)
      throw new Error(
        `network namespaces ${NETNS_PREFIX}-*: process ${owner} (${OWNER_FILE}) still holds them after ${waitMs / 1000} s; let its test end or kill it, then run again`,
      );
    await pollInterval(1_000); // the other test's process has no exit event to wait on from here
  }
  writeFileSync(OWNER_FILE, String(process.pid));
}

/**
 * Makes the switch namespace with its bridge and one namespace per host name, host i at
 * 198.18.0.<i+1>/24 (the first host gets .1). Removes leftovers of an earlier crashed run first.
 */
export async function createNetwork(names: readonly string[]): Promise<Network> {
  await claimPrefix();
  removeNetwork(false);
  const rootAddresses = ip('-4', '-o', 'addr', 'show').split('\n');
  if (rootAddresses.some((line) => /inet 198\.1[89]\./.test(line)))
    throw new Error(`root namespace already holds an address in ${TEST_RANGE}: ${rootAddresses.join(' ')}`);
  const addedBlackhole = !blackholePresent();
  if (addedBlackhole) ip('route', 'add', 'blackhole', TEST_RANGE);
  let removed = false;
  const remove = (): void => {
    if (removed) return;
    removed = true;
    removeNetwork(addedBlackhole);
    if (ownerPid() === process.pid) rmSync(OWNER_FILE, { force: true });
    process.off('exit', remove);
  };
  process.on('exit', remove);
  try {
    ip('netns', 'add', SWITCH);
    ip('-n', SWITCH, 'link', 'add', BRIDGE, 'type', 'bridge');
    ip('-n', SWITCH, 'link', 'set', BRIDGE, 'up');
    const hosts: Record<string, Host> = {};
    names.forEach((name, i) => {
      const ns = `${NETNS_PREFIX}-${name}`;
      const inHost = `${NETNS_PREFIX}${i}h`;
      const atSwitch = `${NETNS_PREFIX}${i}s`;
      const address = `198.18.0.${i + 1}`;
      ip('netns', 'add', ns);
      ip('link', 'add', inHost, 'type', 'veth', 'peer', 'name', atSwitch);
      ip('link', 'set', inHost, 'netns', ns);
      ip('link', 'set', atSwitch, 'netns', SWITCH);
      ip('-n', SWITCH, 'link', 'set', atSwitch, 'master', BRIDGE);
      ip('-n', SWITCH, 'link', 'set', atSwitch, 'up');
      ip('-n', ns, 'link', 'set', 'lo', 'up');
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inHost);
      ip('-n', ns, 'link', 'set', inHost, 'up');
      hosts[name] = { name, ns, address, switchPort: atSwitch };
    });
    return {
      hosts,
      setLink: (host, up) => ip('-n', SWITCH, 'link', 'set', host.switchPort, up ? 'up' : 'down'),
      remove,
    };
  } catch (err) {
    remove();
    throw err;
  }
}

/** Routes of a namespace (`ip route show` there), to check that none is a default route. */
export function routesOf(ns: string): string[] {
  return ip('-n', ns, 'route', 'show').split('\n').filter(Boolean);
}

export interface HostProcess {
  readonly label: string;
  readonly child: ChildProcess;
  /** stdout and stderr so far, interleaved as they came. */
  output(): string;
  /** Resolves with the first match of `pattern` in the output; rejects if the process ends first. */
  waitFor(pattern: RegExp): Promise<RegExpExecArray>;
  /** Resolves with the exit code (or the signal's name) once the process has ended. */
  readonly exited: Promise<number | string>;
}

/** Runs `command args` inside the host's namespace (`ip netns exec`) with exactly `env`. */
export function runIn(
  host: Host,
  label: string,
  command: string,
  args: readonly string[],
  env: NodeJS.ProcessEnv,
  cwd: string,
): HostProcess {
  const child = spawn('ip', ['netns', 'exec', host.ns, command, ...args], {
    cwd,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let text = '';
  const listeners = new Set<() => void>();
  const take = (chunk: string): void => {
    text += chunk;
    for (const listener of listeners) listener();
  };
  child.stdout.setEncoding('utf8').on('data', take);
  child.stderr.setEncoding('utf8').on('data', take);
  const exited = new Promise<number | string>((resolve) =>
    child.once('close', (code, signal) => {
      resolve(code ?? signal ?? 'unknown');
      for (const listener of listeners) listener();
    }),
  );
  let ended = false;
  void exited.then(() => (ended = true));
  return {
    label,
    child,
    output: () => text,
    exited,
    waitFor: (pattern) =>
      new Promise((resolve, reject) => {
        const check = (): void => {
          const found = pattern.exec(text);
          if (found) {
            listeners.delete(check);
            resolve(found);
          } else if (ended || child.exitCode !== null || child.signalCode !== null) {
            listeners.delete(check);
            reject(
              new Error(
                `${label} on ${host.name} ended before ${pattern}; its output:\n${text.slice(-4000)}`,
              ),
            );
          }
        };
        listeners.add(check);
        check();
      }),
  };
}
