import http from 'node:http';
import { captureTransport, createLogger } from '../../src/agent/logging';
import { AgentMetrics, MAX_NETNS_LABELS, OVERFLOW_NETNS } from '../../src/agent/metrics';
import { Status } from '../../src/agent/request';
import { isNetnsLabel } from '../../src/agent/netns';

function get(port: number, path: string): Promise<{ status: number; body: string; type?: string }> {
  return new Promise((resolve, reject) => {
    http
      .get({ host: '127.0.0.1', port, path }, (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body, type: res.headers['content-type'] }));
      })
      .on('error', reject);
  });
}

describe('metrics endpoint', () => {
  let m: AgentMetrics;
  afterEach(() => m.close());

  it('serves counts, the in-flight gauge and durations in Prometheus text format', async () => {
    m = new AgentMetrics();
    const addr = await m.listen({ host: '127.0.0.1', port: 0 });
    m.started();
    m.started();
    m.finished('client', 'x509', Status.OK, 0.02, { group: 'X25519MLKEM768', signatureScheme: 'mldsa65' });
    m.started();
    m.finished('server', 'psk', Status.EKEYREJECTED, 0.5, { group: 'x25519', netns: 'tenant1' });
    m.netlinkError('accept', 'EPERM');
    m.netlinkError('done', 'EBUSY', 'ino:4026532000');
    const r = await get(addr.port, '/metrics');
    expect(r.status).toBe(200);
    expect(r.type).toMatch(/^text\/plain/);
    expect(r.body).toContain('handshaked_handshakes_total{role="client",auth="x509",result="OK",netns="self"} 1');
    expect(r.body).toContain('handshaked_handshakes_total{role="server",auth="psk",result="EKEYREJECTED",netns="tenant1"} 1');
    expect(r.body).toContain('handshaked_handshakes_in_flight 1');
    expect(r.body).toContain('handshaked_handshake_duration_seconds_bucket{le="0.025",role="client",auth="x509",netns="self"} 1');
    expect(r.body).toContain('handshaked_handshake_duration_seconds_count{role="server",auth="psk",netns="tenant1"} 1');
    expect(r.body).toContain('handshaked_netlink_errors_total{op="accept",code="EPERM",netns="self"} 1');
    expect(r.body).toContain('handshaked_netlink_errors_total{op="done",code="EBUSY",netns="ino:4026532000"} 1');
    // The negotiated group and scheme of successful handshakes only: a mount is visibly post-quantum.
    expect(r.body).toContain('handshaked_negotiated_total{role="client",group="X25519MLKEM768",signature_scheme="mldsa65",netns="self"} 1');
    expect(r.body).not.toMatch(/handshaked_negotiated_total\{role="server"/);
  });

  it('answers other paths with 404', async () => {
    m = new AgentMetrics();
    const addr = await m.listen({ host: '127.0.0.1', port: 0 });
    expect((await get(addr.port, '/')).status).toBe(404);
  });

  it('reports a port that is taken', async () => {
    m = new AgentMetrics();
    const addr = await m.listen({ host: '127.0.0.1', port: 0 });
    const other = new AgentMetrics();
    await expect(other.listen({ host: '127.0.0.1', port: addr.port })).rejects.toThrow(/EADDRINUSE/);
    await other.close();
  });
});

describe('metrics of network namespaces that come and go', () => {
  /** One namespace's worth of series: an OK handshake, a failed one, a netlink error. */
  const record = (m: AgentMetrics, netns: string) => {
    m.started();
    m.finished('server', 'x509', Status.OK, 0.01, { group: 'x25519', signatureScheme: 'ecdsa_secp256r1_sha256', netns });
    m.started();
    m.finished('client', 'psk', Status.EKEYREJECTED, 0.2, { netns });
    m.netlinkError('done', 'EBUSY', netns);
  };
  /** The series lines (not HELP/TYPE) whose netns label is `netns`. */
  const linesOf = (text: string, netns: string) => text.split('\n').filter((l) => l.includes(`netns="${netns}"`));

  it('forgetNetns drops every series of that namespace, from every metric, and keeps the others', async () => {
    const m = new AgentMetrics();
    record(m, 'A');
    record(m, 'B');
    const before = await m.registry.metrics();
    // All four metrics with the label, histogram buckets included.
    for (const name of ['handshakes_total', 'handshake_duration_seconds_bucket', 'handshake_duration_seconds_sum', 'negotiated_total', 'netlink_errors_total']) {
      expect(linesOf(before, 'A').some((l) => l.startsWith(`handshaked_${name}{`))).toBe(true);
    }
    const bLines = linesOf(before, 'B');
    expect(bLines.length).toBeGreaterThan(30);
    m.forgetNetns('A');
    const after = await m.registry.metrics();
    expect(linesOf(after, 'A')).toEqual([]);
    expect(linesOf(after, 'B')).toEqual(bLines);
    expect(m.netnsLabels).toBe(1);
    // A namespace appearing again under the label starts from zero.
    m.started();
    m.finished('server', 'x509', Status.OK, 0.01, { netns: 'A' });
    const again = await m.registry.metrics();
    expect(again).toContain('handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="A"} 1');
    expect(linesOf(again, 'A').filter((l) => l.startsWith('handshaked_handshakes_total{'))).toHaveLength(1);
    // Forgetting what has no series is nothing; self is never forgotten (the unix transport's too).
    record(m, 'self');
    // The agent's own namespace has no tracked label sets (A and B have): it counts for none of the bound.
    expect(m.netnsLabels).toBe(2);
    m.forgetNetns('never-seen');
    m.forgetNetns('self');
    expect(await m.registry.metrics()).toContain('handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="self"} 1');
  });

  it(`folds namespaces beyond the bound into netns="${OVERFLOW_NETNS}", says so once, and gives freed room to new ones`, async () => {
    const cap = captureTransport();
    const logger = createLogger({ format: 'text', level: 'info', transports: [cap.transport], journalPriority: false });
    const m = new AgentMetrics({ logger, maxNetnsLabels: 2 });
    record(m, 'self'); // the agent's own does not count
    record(m, 'n1');
    record(m, 'n2');
    record(m, 'n3');
    record(m, 'n4');
    const text = await m.registry.metrics();
    expect(linesOf(text, 'n3')).toEqual([]);
    expect(linesOf(text, 'n4')).toEqual([]);
    expect(text).toContain(`handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="${OVERFLOW_NETNS}"} 2`);
    expect(text).toContain(`handshaked_netlink_errors_total{op="done",code="EBUSY",netns="${OVERFLOW_NETNS}"} 2`);
    expect(text).toContain('handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="n2"} 1');
    expect(m.netnsLabels).toBe(2);
    // One line for the whole burst (six folded records), naming the first namespace folded.
    const warned = cap.lines.filter((l) => l.includes('network namespaces already have series of their own'));
    expect(warned).toHaveLength(1);
    expect(warned[0]).toBe(`warn metrics: 2 network namespaces already have series of their own; this one's are counted under netns="${OVERFLOW_NETNS}" until some go away netns=n3`);
    // The overflow label is never forgotten; a freed place goes to the next namespace.
    m.forgetNetns(OVERFLOW_NETNS);
    m.forgetNetns('n1');
    record(m, 'n5');
    const later = await m.registry.metrics();
    expect(linesOf(later, 'n1')).toEqual([]);
    expect(later).toContain('handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="n5"} 1');
    expect(later).toContain(`handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="${OVERFLOW_NETNS}"} 2`);
  });

  it('the overflow label is no namespace label: a namespace named "other" has series of its own, forgotten when it goes', async () => {
    expect(isNetnsLabel(OVERFLOW_NETNS)).toBe(false);
    expect(isNetnsLabel('other')).toBe(true);
    const m = new AgentMetrics({ maxNetnsLabels: 1 });
    record(m, 'other');
    record(m, 'folded'); // beyond the bound of 1
    expect(m.netnsLabels).toBe(1);
    const text = await m.registry.metrics();
    expect(text).toContain('handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="other"} 1');
    expect(text).toContain(`handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="${OVERFLOW_NETNS}"} 1`);
    m.forgetNetns('other');
    const after = await m.registry.metrics();
    expect(linesOf(after, 'other')).toEqual([]);
    expect(after).toContain(`handshaked_handshakes_total{role="server",auth="x509",result="OK",netns="${OVERFLOW_NETNS}"} 1`);
  });

  it(`holds at most ${MAX_NETNS_LABELS} namespaces' series, and nothing of those forgotten`, async () => {
    const m = new AgentMetrics();
    const labels = Array.from({ length: MAX_NETNS_LABELS + 100 }, (_, i) => `ino:${4026532000 + i}`);
    for (const l of labels) m.netlinkError('accept', 'ENOBUFS', l);
    expect(m.netnsLabels).toBe(MAX_NETNS_LABELS);
    const text = await m.registry.metrics();
    expect(text.split('\n').filter((l) => l.startsWith('handshaked_netlink_errors_total{'))).toHaveLength(MAX_NETNS_LABELS + 1);
    expect(text).toContain(`handshaked_netlink_errors_total{op="accept",code="ENOBUFS",netns="${OVERFLOW_NETNS}"} 100`);
    for (const l of labels) m.forgetNetns(l);
    expect(m.netnsLabels).toBe(0);
    expect(await m.registry.metrics()).not.toMatch(/netns="ino:/);
  });
});
