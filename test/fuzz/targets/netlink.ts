/**
 * Netlink fuzz target: everything the daemon, the unix transport and the inspector decode from
 * bytes they did not write: generic-netlink messages of the handshake family and nlctrl (with
 * family learning), NLMSG_ERROR with extack, unix-transport packets (strict mode), the typed
 * ACCEPT/READY/DONE views, and the inspector's pcap/pcapng/hex input. Only NetlinkFormatError
 * (and its InputError subclass) may escape.
 */
import {
  decodeMessages,
  decodeUnixPacket,
  fromDoneAttrs,
  handshakeFamily,
  NetlinkFormatError,
  toAcceptParams,
  toAcceptReply,
  type DecodedMessage,
  type FamilySpec,
} from '../../../src/netlink';
import { parseInput } from '../../../src/netlink/inspect/input';
import { expectOnly, type FuzzTarget } from './common';

const FAMILY_ID = 0x1d; // as in fixtures/netlink

function typedViews(msgs: DecodedMessage[]): void {
  for (const m of msgs) {
    if (m.kind !== 'genl' || m.family?.name !== 'handshake') continue;
    if (m.cmdName === 'ready') toAcceptParams(m.attrs, m.offset);
    if (m.cmdName === 'accept' && m.attrs.sockfd !== undefined) toAcceptReply(m.attrs, m.offset);
    if (m.cmdName === 'done') fromDoneAttrs(m.attrs);
  }
}

export const netlink: FuzzTarget = {
  name: 'netlink',
  about: 'netlink messages from the kernel, a unix-transport consumer, or a capture given to inspect',
  fuzz(data) {
    const name = this.name;
    const families = (): Map<number, FamilySpec> => new Map([[FAMILY_ID, handshakeFamily]]);
    expectOnly(name, [NetlinkFormatError], () =>
      typedViews(decodeMessages(data, { families: families(), learnFamilies: true, unknownCommands: 'keep' })));
    expectOnly(name, [NetlinkFormatError], () =>
      decodeMessages(data, { families: families(), unknown: 'reject', annotate: () => undefined }));
    expectOnly(name, [NetlinkFormatError], () => typedViews([decodeUnixPacket(data)]));
    expectOnly(name, [NetlinkFormatError], () => {
      for (const chunk of parseInput(data).chunks) decodeMessages(chunk.bytes, { families: families(), base: chunk.base });
    });
  },
};
