/**
 * The kernel transport in every network namespace `[handshaked] namespaces` covers: one
 * `handshake` socket per namespace, each joined to `tlshd` there and driven by its own
 * KernelTransport, so a request is ACCEPTed and answered (DONE) on the socket of the namespace
 * it came from. With the default setting this is exactly one KernelTransport on the agent's own
 * namespace, as before.
 *
 * Namespaces are followed as they come and go (NetnsWatcher). One that goes away has its
 * handshakes in flight ended (ETIMEDOUT, "network namespace X went away" in the log line),
 * their DONEs sent on its socket (the socket itself keeps the namespace alive until then), and
 * the socket closed. One the agent may not enter (EPERM/EACCES) or whose socket fails is
 * reported once and skipped; the agent's own namespace failing stops start-up as before.
 *
 * A namespace that went away has its metrics series dropped (AgentMetrics.forgetNetns) when it is
 * withdrawn, so one appearing under the same label starts from zero, and again once its socket is
 * closed, which drops what its last handshakes recorded (unless a namespace with that label is
 * served by then: the series are its own).
 */
import type { AgentTransport, TransportContext } from './transport';
import { KernelTransport, type KernelTransportOptions } from './kernel-transport';
import type { HandshakeFamilyLink } from '../netlink/link';
import {
  isPrivilegeError,
  NetnsReturnError,
  NetnsWatcher,
  SELF_NETNS,
  SYSTEM_NETNS_ROOTS,
  type NamespacesSetting,
  type NetnsChange,
  type NetnsPlace,
  type NetnsRoots,
} from './netns';

/** How often everything is rescanned (docs/serve.md "Network namespaces" says why it is needed and what it costs). */
const NETNS_RESCAN_MS = 5000;

export interface NamespacesTransportOptions {
  /** A handshake link whose socket is created in `place` (for `self`: where the agent is). May throw (setns EPERM). */
  linkFor: (place: NetnsPlace) => HandshakeFamilyLink;
  /** Instead of the configuration's [handshaked] namespaces (tests). */
  setting?: NamespacesSetting;
  roots?: NetnsRoots;
  rescanMs?: number;
  kernel?: KernelTransportOptions;
}

interface Served {
  place: NetnsPlace;
  transport: KernelTransport;
}

export class NamespacesTransport implements AgentTransport {
  readonly name = 'kernel';
  private readonly served = new Map<string, Served>();
  /** Namespaces already reported as not served (by key), so each is said once. */
  private readonly refused = new Set<string>();
  private readonly closing = new Set<Promise<void>>();
  private watcher?: NetnsWatcher;
  private accepting = false;
  /** Changes are applied one after another, in the order they were seen. */
  private changes: Promise<void> = Promise.resolve();

  constructor(
    private readonly ctx: TransportContext,
    private readonly opts: NamespacesTransportOptions,
  ) {}

  /** Labels of the namespaces served now (tests, diagnostics). */
  get namespaces(): string[] {
    return [...this.served.values()].map((s) => s.place.label).sort();
  }

  async start(): Promise<void> {
    const setting = this.opts.setting ?? this.ctx.config().namespaces;
    this.watcher = new NetnsWatcher({
      setting,
      roots: this.opts.roots ?? SYSTEM_NETNS_ROOTS,
      rescanMs: this.opts.rescanMs ?? NETNS_RESCAN_MS,
      onChange: (c) => this.enqueue(c),
    });
    const first = this.watcher.start();
    this.accepting = true;
    for (const entry of first.missing) this.ctx.logger.warn('network namespace not found; it is served once it appears', { netns: entry });
    try {
      // The agent's own first: its failure stops start-up with the reason, as it always has.
      const places = [...first.found.values()].sort((a, b) => Number(b.label === SELF_NETNS) - Number(a.label === SELF_NETNS));
      for (const place of places) await this.open(place, place.label === SELF_NETNS);
    } catch (e) {
      this.stopAccepting();
      await this.close();
      throw e;
    }
    if (setting.mode !== 'self') this.ctx.logger.info('serving network namespaces', { namespaces: this.namespaces });
    if (this.served.size === 0) this.ctx.logger.warn('no network namespace is served yet; waiting for one to appear');
  }

  stopAccepting(): void {
    this.accepting = false;
    this.watcher?.stop();
    for (const s of this.served.values()) s.transport.stopAccepting();
  }

  async close(): Promise<void> {
    this.stopAccepting();
    await this.changes;
    const all = [...this.served.values()];
    this.served.clear();
    await Promise.all(all.map((s) => this.closeOne(s)));
    while (this.closing.size > 0) await Promise.all([...this.closing]);
  }

  /** Rescan now (tests; the watcher does it on its own). */
  rescan(): Promise<void> {
    this.watcher?.rescan();
    return this.changes;
  }

  private enqueue(change: NetnsChange): void {
    this.serially(() => this.apply(change));
  }

  /** Runs `task` after the changes before it have been applied, and reports its failure. */
  private serially(task: () => void | Promise<void>): void {
    this.changes = this.changes
      .then(task)
      .catch((e: unknown) => {
        if (e instanceof NetnsReturnError) {
          // The main thread is in a namespace not its own: every later socket would be made there.
          this.ctx.logger.error(e.message);
          setImmediate(() => {
            throw e;
          });
          return;
        }
        this.ctx.logger.error('could not follow a network namespace change', { error: e instanceof Error ? e.message : String(e) });
      });
  }

  private async apply(change: NetnsChange): Promise<void> {
    for (const place of change.removed) this.remove(place);
    if (!this.accepting) return;
    for (const place of change.added) await this.open(place, false);
  }

  /** Open the namespace's socket and start taking its requests. `fatal`: rethrow instead of reporting. */
  private async open(place: NetnsPlace, fatal: boolean): Promise<void> {
    const logger = this.ctx.logger.child({ netns: place.label });
    let link: HandshakeFamilyLink;
    try {
      link = this.opts.linkFor(place);
    } catch (e) {
      if (fatal || e instanceof NetnsReturnError) throw e;
      this.refuse(place, e);
      return;
    }
    const t = new KernelTransport(link, { ...this.ctx, logger }, { ...this.opts.kernel, netns: place.label });
    try {
      await t.start();
    } catch (e) {
      link.close();
      if (fatal || e instanceof NetnsReturnError) throw e;
      this.refuse(place, e);
      return;
    }
    if (!this.accepting) {
      await t.close();
      return;
    }
    this.served.set(place.key, { place, transport: t });
    if (place.label !== SELF_NETNS || this.served.size > 1) logger.info('serving network namespace', { path: place.path });
  }

  /** Said once per namespace; the others go on being served. */
  private refuse(place: NetnsPlace, e: unknown): void {
    if (this.refused.has(place.key)) return;
    this.refused.add(place.key);
    const error = e instanceof Error ? e.message : String(e);
    if (isPrivilegeError(e)) {
      this.ctx.logger.warn('not serving a network namespace: no privilege to enter it (setns needs CAP_SYS_ADMIN over it; see docs/serve.md "Network namespaces")', {
        netns: place.label,
        path: place.path,
        error,
      });
    } else {
      this.ctx.logger.warn('not serving a network namespace: its handshake socket could not be opened', { netns: place.label, path: place.path, error });
    }
  }

  private remove(place: NetnsPlace): void {
    this.refused.delete(place.key);
    const s = this.served.get(place.key);
    this.served.delete(place.key);
    // Also for one never served: the failed start of a refused namespace may have counted an error.
    this.forgetMetrics(place.label);
    if (!s) return;
    s.transport.withdraw(`(network namespace ${place.label} went away)`);
    const p: Promise<void> = this.closeOne(s)
      .finally(() => this.closing.delete(p))
      // In turn with the changes, so that it never runs while a namespace is being opened.
      .then(() => this.serially(() => this.forgetMetrics(place.label)));
    this.closing.add(p);
  }

  /** Drop the series of `label`, unless a namespace served now carries that label too. */
  private forgetMetrics(label: string): void {
    if (!this.ctx.metrics) return;
    for (const s of this.served.values()) if (s.place.label === label) return;
    this.ctx.metrics.forgetNetns(label);
  }

  private async closeOne(s: Served): Promise<void> {
    try {
      await s.transport.close();
      if (!this.accepting) return;
      this.ctx.logger.info('network namespace went away; its handshakes ended and its socket closed', { netns: s.place.label });
    } catch (e) {
      this.ctx.logger.error('a network namespace link did not close cleanly', { netns: s.place.label, error: e instanceof Error ? e.message : String(e) });
    }
  }
}

/** A transport factory for the daemon. */
export function namespacesTransport(opts: NamespacesTransportOptions) {
  return (ctx: TransportContext): AgentTransport => new NamespacesTransport(ctx, opts);
}

