/**
 * The kernel's `handshake` generic-netlink family (Documentation/netlink/specs/handshake.yaml,
 * mainline as of v6.17+; docs/kernel-interface.md). Adding an attribute is one `attr(...)` line.
 */
import { attr, defineFamily } from '../spec';

export const handshakeFamily = defineFamily({
  name: 'handshake',
  version: 1,
  enums: {
    'handler-class': { entries: ['none', 'tlshd', 'max'] },
    'msg-type': { entries: ['unspec', 'clienthello', 'serverhello'] },
    auth: { entries: ['unspec', 'unauth', 'psk', 'x509'] },
  },
  attrSets: {
    x509: [
      attr(1, 'cert', 's32', { doc: 'key serial of the certificate' }),
      attr(2, 'privkey', 's32', { doc: 'key serial of the private key' }),
    ],
    accept: [
      attr(1, 'sockfd', 's32', { doc: 'fd installed in the caller (reply)' }),
      attr(2, 'handler-class', 'u32', { enum: 'handler-class' }),
      attr(3, 'message-type', 'u32', { enum: 'msg-type' }),
      attr(4, 'timeout', 'u32', { doc: 'milliseconds' }),
      attr(5, 'auth-mode', 'u32', { enum: 'auth' }),
      attr(6, 'peer-identity', 'u32', { multi: true, doc: 'PSK key serial' }),
      attr(7, 'certificate', 'nest', { nested: 'x509', multi: true }),
      attr(8, 'peername', 'string'),
      attr(9, 'keyring', 'u32', { doc: 'keyring serial (v6.17+)' }),
    ],
    done: [
      attr(1, 'status', 'u32', { doc: '0 or a positive errno' }),
      attr(2, 'sockfd', 's32'),
      attr(3, 'remote-auth', 'u32', { multi: true }),
    ],
  },
  ops: [
    { name: 'ready', value: 1, attrSet: 'accept', kind: 'notify', doc: 'a request is pending for this handler class' },
    { name: 'accept', value: 2, attrSet: 'accept', kind: 'do', doc: 'take the next pending request' },
    { name: 'done', value: 3, attrSet: 'done', kind: 'do', doc: 'report the handshake result' },
  ],
  mcastGroups: ['none', 'tlshd'],
});

export const HANDSHAKE_FAMILY_NAME = 'handshake';
export const HANDSHAKE_MCGRP_TLSHD = 'tlshd';
