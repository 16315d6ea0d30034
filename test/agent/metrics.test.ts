import http from 'node:http';
import { AgentMetrics } from '../../src/agent/metrics';
import { Status } from '../../src/agent/request';

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
