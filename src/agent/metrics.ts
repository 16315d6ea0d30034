/**
 * Prometheus metrics (`--metrics HOST:PORT`): handshake counts by role/auth/result, a duration
 * histogram and the number in flight. tlshd has none; these are what an operator graphs to see
 * that NFS/NVMe sessions are being set up and how long it takes.
 *
 * Uses its own prom-client Registry (not the global one) so several agents can live in one test
 * process, and a bare node:http server: the endpoint is meant for loopback scraping only.
 *
 * Series carry the label of the network namespace they came from, and namespaces come and go
 * (containers). This class is the one owner of which label sets each namespace has: the
 * namespace transport calls forgetNetns() when a namespace goes away and again once it has sent
 * its last reply, and every series of that namespace is dropped. At most MAX_NETNS_LABELS namespaces
 * besides the agent's own have series of their own at once; beyond that a namespace's series
 * are counted under OVERFLOW_NETNS (docs/serve.md "Metrics").
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type LabelValues } from 'prom-client';
import type { HostPort } from './config';
import { LogLimiter, suppressedMeta } from './log-limit';
import { statusName, type Logger } from './logging';
import { SELF_NETNS } from './netns';
import type { AuthMode, Role } from './request';

/**
 * Namespaces other than the agent's own that may have series of their own at once. Each costs a
 * few series (a histogram's are 17 lines per role and auth mode), so this bounds the registry, the
 * /metrics page and the memory behind them whatever a host does with namespaces, far above the
 * number of namespaces a host serves at once in practice.
 */
export const MAX_NETNS_LABELS = 4096;
/**
 * The `netns` label of the series of namespaces beyond MAX_NETNS_LABELS: something no namespace
 * can be labelled (isNetnsLabel), so a /run/netns name `other` keeps series of its own.
 */
export const OVERFLOW_NETNS = '(other)';

type NetnsMetric = Counter<string> | Histogram<string>;

/** The label sets one namespace has used, by metric and then by their values: what forgetNetns removes. */
type NetnsSeries = Map<NetnsMetric, Map<string, LabelValues<string>>>;

export interface AgentMetricsOptions {
  /** Node's process metrics (CPU, memory, fds, event loop) as well. */
  processMetrics?: boolean;
  /** Where the overflow of namespace labels is said; default nowhere. */
  logger?: Logger;
  /** Instead of MAX_NETNS_LABELS (tests). */
  maxNetnsLabels?: number;
}

/**
 * `labels` as recorded for one namespace: the first set with the same values besides netns is
 * kept for forgetNetns and reused afterwards. Nothing is tracked (and no key built) for `self`
 * and OVERFLOW_NETNS, whose `sets` are undefined: that is every request of a host that serves
 * only its own namespace.
 */
function remember(sets: NetnsSeries | undefined, metric: NetnsMetric, labels: LabelValues<string>): LabelValues<string> {
  if (!sets) return labels;
  let key = '';
  for (const name in labels) if (name !== 'netns') key += `${labels[name]}\0`;
  let byKey = sets.get(metric);
  if (!byKey) sets.set(metric, (byKey = new Map()));
  const known = byKey.get(key);
  if (known) return known;
  byKey.set(key, labels);
  return labels;
}

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly total: Counter<'role' | 'auth' | 'result' | 'netns'>;
  private readonly duration: Histogram<'role' | 'auth' | 'netns'>;
  private readonly negotiated: Counter<'role' | 'group' | 'signature_scheme' | 'netns'>;
  private readonly inflight: Gauge;
  private readonly kernelErrors: Counter<'op' | 'code' | 'netns'>;
  private server?: http.Server;
  /** By namespace label, except `self` and OVERFLOW_NETNS, which are never forgotten. */
  private readonly byNetns = new Map<string, NetnsSeries>();
  private readonly maxNetnsLabels: number;
  private readonly overflowLog = new LogLimiter();

  constructor(private readonly opts: AgentMetricsOptions = {}) {
    this.maxNetnsLabels = opts.maxNetnsLabels ?? MAX_NETNS_LABELS;
    const registers = [this.registry];
    this.total = new Counter({
      name: 'handshaked_handshakes_total',
      help: 'Handshakes finished, by role, authentication mode, result (OK or the errno name sent to the consumer) and network namespace (self, a /run/netns name, ino:N; (other): beyond the bound on namespaces with series of their own).',
      labelNames: ['role', 'auth', 'result', 'netns'],
      registers,
    });
    this.duration = new Histogram({
      name: 'handshaked_handshake_duration_seconds',
      help: 'Time from the request reaching the agent to the result, all outcomes.',
      labelNames: ['role', 'auth', 'netns'],
      buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
      registers,
    });
    this.negotiated = new Counter({
      name: 'handshaked_negotiated_total',
      help: 'Successful handshakes by key-exchange group ("none": psk_ke) and server signature scheme ("none": a PSK handshake); the hybrid groups (X25519MLKEM768, ...) and mldsa* schemes are the post-quantum ones.',
      labelNames: ['role', 'group', 'signature_scheme', 'netns'],
      registers,
    });
    this.inflight = new Gauge({
      name: 'handshaked_handshakes_in_flight',
      help: 'Handshakes accepted and not yet finished.',
      registers,
    });
    this.kernelErrors = new Counter({
      name: 'handshaked_netlink_errors_total',
      help: 'Errors from the kernel handshake family, by operation, errno name and network namespace.',
      labelNames: ['op', 'code', 'netns'],
      registers,
    });
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry, prefix: 'handshaked_' });
  }

  started(): void {
    this.inflight.inc();
  }

  finished(
    role: Role,
    auth: AuthMode,
    status: number,
    seconds: number,
    negotiated: { group?: string; signatureScheme?: string; netns?: string } = {},
  ): void {
    this.inflight.dec();
    const netns = negotiated.netns ?? SELF_NETNS;
    const sets = this.seriesOf(netns);
    const ns = this.labelOf(netns, sets);
    const result = statusName(status);
    this.total.inc(remember(sets, this.total, { role, auth, result, netns: ns }));
    this.duration.observe(remember(sets, this.duration, { role, auth, netns: ns }), seconds);
    if (status === 0) {
      const group = negotiated.group ?? 'none';
      const scheme = negotiated.signatureScheme ?? 'none';
      this.negotiated.inc(remember(sets, this.negotiated, { role, group, signature_scheme: scheme, netns: ns }));
    }
  }

  netlinkError(op: string, code: string, netns: string = SELF_NETNS): void {
    const sets = this.seriesOf(netns);
    this.kernelErrors.inc(remember(sets, this.kernelErrors, { op, code, netns: this.labelOf(netns, sets) }));
  }

  /**
   * The namespace labelled `netns` is gone and will record nothing more: drop every series with
   * that label. A namespace that appears later under the same label starts from zero. `self` and
   * OVERFLOW_NETNS are shared by many requests and kept.
   */
  forgetNetns(netns: string): void {
    const series = this.byNetns.get(netns);
    if (!series) return;
    this.byNetns.delete(netns);
    for (const [metric, sets] of series) for (const labels of sets.values()) metric.remove(labels);
  }

  /** Namespace labels with series of their own now, besides `self` and OVERFLOW_NETNS (tests, diagnostics). */
  get netnsLabels(): number {
    return this.byNetns.size;
  }

  /**
   * The label sets recorded for `netns`; undefined for `self` and OVERFLOW_NETNS (not tracked)
   * and for a namespace beyond the bound (its series go under OVERFLOW_NETNS).
   */
  private seriesOf(netns: string): NetnsSeries | undefined {
    if (netns === SELF_NETNS || netns === OVERFLOW_NETNS) return undefined;
    const known = this.byNetns.get(netns);
    if (known) return known;
    if (this.byNetns.size < this.maxNetnsLabels) {
      const fresh: NetnsSeries = new Map();
      this.byNetns.set(netns, fresh);
      return fresh;
    }
    this.overflowLog.log('netns-labels', (suppressed) =>
      this.opts.logger?.warn(`metrics: ${this.maxNetnsLabels} network namespaces already have series of their own; this one's are counted under netns="${OVERFLOW_NETNS}" until some go away`, {
        netns,
        ...suppressedMeta(suppressed),
      }),
    );
    return undefined;
  }

  /** The `netns` label value the series of `netns` are recorded under, given seriesOf's answer. */
  private labelOf(netns: string, sets: NetnsSeries | undefined): string {
    return sets || netns === SELF_NETNS ? netns : OVERFLOW_NETNS;
  }

  /** Serve GET /metrics (any other path: 404). Resolves with the bound address (port 0 → real port). */
  async listen(addr: HostPort): Promise<AddressInfo> {
    const server = http.createServer((req, res) => {
      if (req.method !== 'GET' || (req.url ?? '/').split('?')[0] !== '/metrics') {
        res.writeHead(404, { 'content-type': 'text/plain' }).end('not found; try /metrics\n');
        return;
      }
      this.registry.metrics().then(
        (body) => res.writeHead(200, { 'content-type': this.registry.contentType }).end(body),
        (err: Error) => res.writeHead(500, { 'content-type': 'text/plain' }).end(`${err.message}\n`),
      );
    });
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject);
      server.listen(addr.port, addr.host, () => {
        server.off('error', reject);
        resolve();
      });
    });
    this.server = server;
    return server.address() as AddressInfo;
  }

  async close(): Promise<void> {
    const s = this.server;
    this.server = undefined;
    if (!s) return;
    s.closeAllConnections();
    await new Promise<void>((resolve) => s.close(() => resolve()));
  }
}
