/**
 * Prometheus metrics (`--metrics HOST:PORT`): handshake counts by role/auth/result, a duration
 * histogram and the number in flight. tlshd has none; these are what an operator graphs to see
 * that NFS/NVMe sessions are being set up and how long it takes.
 *
 * Uses its own prom-client Registry (not the global one) so several agents can live in one test
 * process, and a bare node:http server: the endpoint is meant for loopback scraping only.
 */
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { HostPort } from './config';
import { statusName } from './logging';
import { SELF_NETNS } from './netns';
import type { AuthMode, Role } from './request';

export class AgentMetrics {
  readonly registry = new Registry();
  private readonly total: Counter<'role' | 'auth' | 'result' | 'netns'>;
  private readonly duration: Histogram<'role' | 'auth' | 'netns'>;
  private readonly negotiated: Counter<'role' | 'group' | 'signature_scheme' | 'netns'>;
  private readonly inflight: Gauge;
  private readonly kernelErrors: Counter<'op' | 'code' | 'netns'>;
  private server?: http.Server;

  constructor(opts: { processMetrics?: boolean } = {}) {
    const registers = [this.registry];
    this.total = new Counter({
      name: 'handshaked_handshakes_total',
      help: 'Handshakes finished, by role, authentication mode, result (OK or the errno name sent to the consumer) and network namespace (self, a /run/netns name, ino:N).',
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
    const netns = negotiated.netns ?? SELF_NETNS;
    this.inflight.dec();
    this.total.inc({ role, auth, result: statusName(status), netns });
    this.duration.observe({ role, auth, netns }, seconds);
    if (status === 0) {
      this.negotiated.inc({ role, group: negotiated.group ?? 'none', signature_scheme: negotiated.signatureScheme ?? 'none', netns });
    }
  }

  netlinkError(op: string, code: string, netns: string = SELF_NETNS): void {
    this.kernelErrors.inc({ op, code, netns });
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
