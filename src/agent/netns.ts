/**
 * The network namespaces the agent serves (`[handshaked] namespaces`): what the setting says,
 * how a namespace is named in logs and metrics, finding them, following them as they come and
 * go, and entering one for the moment a socket is created there.
 *
 * A namespace is identified by (st_dev, st_ino) of its nsfs file, so one reached by two paths
 * (a /run/netns name and a /proc/PID/ns/net link) is one. Its label, used in every log line and
 * metric, is `self` for the agent's own, its /run/netns name when it has one, else `ino:<n>`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { CLONE_NEWNET, setns, SysError } from '../sys/libc';
import { Errno } from '../sys/errno';

/** The label of the agent's own network namespace (also of every unix-transport request). */
export const SELF_NETNS = 'self';

/** `[handshaked] namespaces`: the agent's own only (default), every one it can see, or a list. */
export type NamespacesSetting =
  | { readonly mode: 'self' }
  | { readonly mode: 'all' }
  | { readonly mode: 'list'; readonly entries: readonly string[] };

/** A /run/netns name: what `ip netns add` accepts, minus what could walk out of the directory. */
const NAME_RE = /^[A-Za-z0-9_][A-Za-z0-9_.-]{0,254}$/;

/** Whether `s` can be a namespace's label (what `[namespace.NAME]` names): `self`, a /run/netns name or `ino:<n>`. */
export function isNetnsLabel(s: string): boolean {
  return s === SELF_NETNS || NAME_RE.test(s) || /^ino:\d{1,20}$/.test(s);
}

/**
 * `all`, or a `;`-separated list whose entries are `self`, /run/netns names or absolute paths of
 * namespace files (/proc/PID/ns/net, a bind mount elsewhere). Throws Error naming the bad entry.
 */
export function parseNamespacesSetting(items: readonly string[]): NamespacesSetting {
  if (items.length === 0) throw new Error('namespaces is empty; remove the line to serve only the agent\'s own namespace');
  if (items.length === 1 && items[0] === 'all') return { mode: 'all' };
  if (items.length === 1 && items[0] === SELF_NETNS) return { mode: 'self' };
  const seen = new Set<string>();
  for (const item of items) {
    if (item === 'all') throw new Error('namespaces: "all" cannot be combined with other entries');
    if (item !== SELF_NETNS && !item.startsWith('/') && !NAME_RE.test(item)) {
      throw new Error(`namespaces: ${JSON.stringify(item)} is neither "self", a /run/netns name ([A-Za-z0-9_.-], not starting with "." or "-") nor an absolute path`);
    }
    if (item.startsWith('/') && (item.includes('\0') || path.normalize(item) !== item)) {
      throw new Error(`namespaces: ${JSON.stringify(item)} is not a normalised absolute path`);
    }
    if (seen.has(item)) throw new Error(`namespaces: ${item} is listed twice`);
    seen.add(item);
  }
  return { mode: 'list', entries: [...items] };
}

/** One namespace found: its identity, the label logs use, and a path that opens it. */
export interface NetnsPlace {
  /** `dev:ino` of the nsfs file. */
  readonly key: string;
  readonly label: string;
  readonly path: string;
}

/** Where namespaces are looked for; tests point these at a directory of their own. */
export interface NetnsRoots {
  /** Named namespaces (`ip netns add`). */
  readonly runNetns: string;
  /** The proc file system, scanned for /proc/PID/ns/net with `namespaces = all`. */
  readonly proc: string;
  /** The agent's own namespace. */
  readonly self: string;
  /** Only count nsfs files (false in tests, whose "namespaces" are plain files). Default true. */
  readonly requireNsfs?: boolean;
}

export const SYSTEM_NETNS_ROOTS: NetnsRoots = { runNetns: '/run/netns', proc: '/proc', self: '/proc/thread-self/ns/net' };

/** statfs f_type of nsfs: a /run/netns file before `ip netns add` has bind-mounted it is not one. */
const NSFS_MAGIC = 0x6e736673;

/** `dev:ino` of a namespace file, or undefined when it is absent, unreadable or (in production) not nsfs. */
function netnsKey(file: string, requireNsfs = true): string | undefined {
  try {
    const st = fs.statSync(file, { bigint: true });
    if (requireNsfs && BigInt(fs.statfsSync(file, { bigint: true }).type) !== BigInt(NSFS_MAGIC)) return undefined;
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function inoLabel(key: string): string {
  return `ino:${key.slice(key.indexOf(':') + 1)}`;
}

export interface Discovery {
  /** By key; the agent's own first when it is served. */
  readonly found: Map<string, NetnsPlace>;
  /** List entries that name nothing (yet): a name not added, a process that exited. */
  readonly missing: readonly string[];
}

/** The names under /run/netns, sorted (so the label of a namespace with two names is stable). */
function namedNamespaces(roots: NetnsRoots): Array<{ name: string; key: string }> {
  let names: string[];
  try {
    names = fs.readdirSync(roots.runNetns).sort();
  } catch {
    return [];
  }
  const out: Array<{ name: string; key: string }> = [];
  for (const name of names) {
    if (!NAME_RE.test(name)) continue;
    const key = netnsKey(path.join(roots.runNetns, name), roots.requireNsfs ?? true);
    if (key) out.push({ name, key });
  }
  return out;
}

/** Every namespace the setting covers that exists now. Cheap: a readdir and a stat per name (and per process with `all`). */
export function discoverNamespaces(setting: NamespacesSetting, roots: NetnsRoots): Discovery {
  const nsfs = roots.requireNsfs ?? true;
  const found = new Map<string, NetnsPlace>();
  const selfKey = netnsKey(roots.self, nsfs);
  // /run/netns is read only when a namespace other than our own needs its name (never with `self`).
  let namedCache: Array<{ name: string; key: string }> | undefined;
  const named = () => (namedCache ??= namedNamespaces(roots));
  const labelOf = (key: string): string => (key === selfKey ? SELF_NETNS : (named().find((n) => n.key === key)?.name ?? inoLabel(key)));
  const add = (key: string, file: string) => {
    if (!found.has(key)) found.set(key, { key, label: labelOf(key), path: key === selfKey ? roots.self : file });
  };
  if (setting.mode !== 'list' && selfKey) add(selfKey, roots.self);
  if (setting.mode === 'self') return { found, missing: [] };
  const missing: string[] = [];
  if (setting.mode === 'list') {
    for (const entry of setting.entries) {
      const file = entry === SELF_NETNS ? roots.self : entry.startsWith('/') ? entry : path.join(roots.runNetns, entry);
      const key = netnsKey(file, nsfs);
      if (key) add(key, file);
      else missing.push(entry);
    }
    return { found, missing };
  }
  for (const n of named()) add(n.key, path.join(roots.runNetns, n.name));
  let pids: string[];
  try {
    pids = fs.readdirSync(roots.proc).filter((d) => /^\d+$/.test(d));
  } catch {
    pids = [];
  }
  for (const pid of pids) {
    const file = path.join(roots.proc, pid, 'ns', 'net');
    const key = netnsKey(file, nsfs);
    if (key) add(key, file);
  }
  return { found, missing };
}

export interface NetnsChange {
  added: NetnsPlace[];
  removed: NetnsPlace[];
}

export interface NetnsWatcherOptions {
  setting: NamespacesSetting;
  roots: NetnsRoots;
  /** Rescan period in ms (0: only on /run/netns events). */
  rescanMs: number;
  onChange: (change: NetnsChange) => void;
}

/**
 * Follows the namespaces the setting covers. /run/netns is watched (fs.watch) and rescanned a
 * moment after each event, since `ip netns add` creates the file before it bind-mounts the
 * namespace on it. Everything is also rescanned every `rescanMs`: unnamed namespaces (`all`)
 * and /proc/PID/ns/net entries give no event when they appear or go, and /run/netns may not
 * exist until the first namespace is named.
 */
export class NetnsWatcher {
  private known = new Map<string, NetnsPlace>();
  private watcher?: fs.FSWatcher;
  private timer?: NodeJS.Timeout;
  private debounce?: NodeJS.Timeout;
  private stopped = false;
  private reportedMissing = new Set<string>();

  constructor(private readonly opts: NetnsWatcherOptions) {}

  /** The first scan (synchronous), then watching. Returns what was found and the list entries not found. */
  start(): Discovery {
    const d = discoverNamespaces(this.opts.setting, this.opts.roots);
    this.known = new Map(d.found);
    this.reportedMissing = new Set(d.missing);
    if (this.opts.setting.mode === 'self') return d;
    this.watchDir();
    if (this.opts.rescanMs > 0) {
      this.timer = setInterval(() => this.rescan(), this.opts.rescanMs);
      this.timer.unref();
    }
    return d;
  }

  /** Compare with the last scan and report the difference; also what a /run/netns event triggers. */
  rescan(): NetnsChange {
    if (this.stopped) return { added: [], removed: [] };
    if (!this.watcher) this.watchDir();
    const { found } = discoverNamespaces(this.opts.setting, this.opts.roots);
    const added = [...found.values()].filter((p) => !this.known.has(p.key));
    const removed = [...this.known.values()].filter((p) => !found.has(p.key));
    this.known = found;
    const change = { added, removed };
    if (added.length || removed.length) this.opts.onChange(change);
    return change;
  }

  stop(): void {
    this.stopped = true;
    this.watcher?.close();
    this.watcher = undefined;
    if (this.timer) clearInterval(this.timer);
    if (this.debounce) clearTimeout(this.debounce);
  }

  private watchDir(): void {
    try {
      this.watcher = fs.watch(this.opts.roots.runNetns, { persistent: false }, () => this.soon());
      this.watcher.on('error', () => {
        // The directory went away (tmpfs cleaned): the periodic rescan sets the watch up again.
        this.watcher?.close();
        this.watcher = undefined;
      });
    } catch {
      this.watcher = undefined;
    }
  }

  private soon(): void {
    if (this.debounce || this.stopped) return;
    this.debounce = setTimeout(() => {
      this.debounce = undefined;
      this.rescan();
    }, 50);
    this.debounce.unref();
  }
}

/** Raised when the main thread could not return to the agent's own namespace: nothing safe is left to do. */
export class NetnsReturnError extends Error {
  constructor(cause: Error) {
    super(`could not return to the agent's own network namespace after creating a socket elsewhere: ${cause.message}`);
    this.name = 'NetnsReturnError';
  }
}

let homeFd: number | undefined;

/** An fd of the namespace the main thread started in, opened once and kept for the process's life. */
function home(): number {
  homeFd ??= fs.openSync(SYSTEM_NETNS_ROOTS.self, 'r');
  return homeFd;
}

/**
 * Runs `create` (synchronous: nothing else runs meanwhile) with the calling thread in the
 * namespace at `file`, then moves it back. Sockets made by `create` stay in that namespace.
 * A failure to enter (EPERM, EACCES, ENOENT, EINVAL) throws SysError and leaves the thread
 * where it was; a failure to return throws NetnsReturnError.
 */
export function inNetns<T>(file: string, create: () => T): T {
  const back = home();
  // libuv opens every file O_CLOEXEC: the fd is not inherited by anything the agent runs.
  const target = fs.openSync(file, 'r');
  try {
    setns(target, CLONE_NEWNET, file);
    try {
      return create();
    } finally {
      try {
        setns(back, CLONE_NEWNET, 'the agent\'s own namespace');
      } catch (e) {
        // eslint-disable-next-line no-unsafe-finally
        throw new NetnsReturnError(e as Error);
      }
    }
  } finally {
    fs.closeSync(target);
  }
}

/**
 * Runs `create` in `place`: where the agent is for its own namespace (no setns, no privilege
 * needed), inside any other for the moment by inNetns. How a socket is made in a served
 * namespace, by the agent's transports and by `inspect monitor --namespaces` alike.
 */
export function inPlace<T>(place: Pick<NetnsPlace, 'label' | 'path'>, create: () => T): T {
  return place.label === SELF_NETNS ? create() : inNetns(place.path, create);
}

/** Whether an error from entering a namespace means "not allowed" (said once, then carried on). */
export function isPrivilegeError(e: unknown): boolean {
  const errno = e instanceof SysError ? e.errno : undefined;
  const code = (e as NodeJS.ErrnoException | undefined)?.code;
  return errno === Errno.EPERM || errno === Errno.EACCES || code === 'EPERM' || code === 'EACCES';
}
