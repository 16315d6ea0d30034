/**
 * The kernel transport stays tolerant of what a kernel sends (the kernel is trusted to speak its
 * own family), but what a strict policy reading would refuse is logged at debug level; the unix
 * transport's strict refusals are in test/unix/transport.test.ts.
 */
import { decodeMessages, encodeMessage } from '../../src/netlink/message';
import { handshakeFamily } from '../../src/netlink/families/handshake';
import type { NetlinkFormatError } from '../../src/netlink/errors';
import { Status } from '../../src/agent/request';
import { agentPerTest, closing, consumerListener, serveOne } from '../agent/harness';
import { appendAttrs, u32Attr } from '../helpers/nl-attr';

describe('strict policy reading as a report', () => {
  it('reports each violation and still decodes the message leniently (last value of a repeat kept)', () => {
    const msg = encodeMessage({ type: 0x1d, flags: 0, seq: 1, pid: 0, cmd: 'accept', attrs: { sockfd: 5, 'message-type': 'clienthello', 'auth-mode': 'x509' } }, handshakeFamily);
    const bytes = appendAttrs(msg, Buffer.concat([u32Attr(3, 2), u32Attr(4, 500, 0x8000)]));
    const seen: NetlinkFormatError[] = [];
    const [m] = decodeMessages(bytes, { families: new Map([[0x1d, handshakeFamily]]), strict: (v) => seen.push(v) });
    expect(seen.map((v) => `${v.field}: ${v.problem}`)).toEqual([
      'accept.message-type: given more than once; it is single-valued (only multi-attr attributes repeat)',
      'accept.timeout: NLA_F_NESTED is set on a u32 attribute; only nests carry it',
    ]);
    expect(m.kind === 'genl' && m.attrs['message-type']).toBe('serverhello');
    expect(m.kind === 'genl' && m.attrs.timeout).toBe(500);
  });

  it('strictFamilies limits the check to the named families', () => {
    const msg = encodeMessage({ type: 0x1d, flags: 0, seq: 1, pid: 0, cmd: 'accept', attrs: { sockfd: 5 } }, handshakeFamily);
    const bytes = appendAttrs(msg, u32Attr(1, 6));
    const seen: NetlinkFormatError[] = [];
    decodeMessages(bytes, { families: new Map([[0x1d, handshakeFamily]]), strict: (v) => seen.push(v), strictFamilies: ['nlctrl'] });
    expect(seen).toEqual([]);
  });
});

describe('kernel transport', () => {
  const start = agentPerTest();

  it('an ACCEPT reply a strict reading would refuse is served, and logged at debug level', async () => {
    // A timeout attribute carrying NLA_F_NESTED, appended to every ACCEPT reply.
    const agent = await start({ kernel: { acceptReplyExtra: u32Attr(4, 20_000, 0x8000) } });
    await closing(await consumerListener(), async (l) => {
      expect((await serveOne(agent, l)).result.status).toBe(Status.OK);
      const line = agent.lines.find((x) => x.includes('strict policy reading would refuse'));
      expect(line).toMatch(/debug.*kernel transport: accepted what a strict policy reading would refuse: .*accept\.timeout: NLA_F_NESTED is set on a u32 attribute/);
    });
  });
});
