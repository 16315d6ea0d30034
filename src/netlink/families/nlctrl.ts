/**
 * The subset of nlctrl (Documentation/netlink/specs/nlctrl.yaml) handshaked needs: GETFAMILY
 * (family id, multicast groups) and GETPOLICY (which attributes an op accepts).
 */
import { GENL_ID_CTRL } from '../constants';
import { attr, defineFamily } from '../spec';

export const nlctrlFamily = defineFamily({
  name: 'nlctrl',
  version: 2,
  fixedId: GENL_ID_CTRL,
  enums: {
    'attr-type': {
      entries: [
        'invalid', 'flag', 'u8', 'u16', 'u32', 'u64', 's8', 's16', 's32', 's64', 'binary', 'string',
        'nul-string', 'nested', 'nested-array', 'bitfield32', 'sint', 'uint',
      ],
    },
  },
  attrSets: {
    'ctrl-attrs': [
      attr(1, 'family-id', 'u16'),
      attr(2, 'family-name', 'string'),
      attr(3, 'version', 'u32'),
      attr(4, 'hdrsize', 'u32'),
      attr(5, 'maxattr', 'u32'),
      attr(6, 'ops', 'indexed-array', { nested: 'op-attrs' }),
      attr(7, 'mcast-groups', 'indexed-array', { nested: 'mcast-group-attrs' }),
      attr(8, 'policy', 'nest-type-value', { nested: 'policy-attrs', typeValue: ['policy-id', 'attr-id'] }),
      attr(9, 'op-policy', 'nest-type-value', { nested: 'op-policy-attrs', typeValue: ['cmd'] }),
      attr(10, 'op', 'u32'),
    ],
    'mcast-group-attrs': [
      attr(1, 'name', 'string'),
      attr(2, 'id', 'u32'),
    ],
    'op-attrs': [
      attr(1, 'id', 'u32'),
      attr(2, 'flags', 'u32'),
    ],
    'policy-attrs': [
      attr(1, 'type', 'u32', { enum: 'attr-type' }),
      attr(2, 'min-value-s', 's64'),
      attr(3, 'max-value-s', 's64'),
      attr(4, 'min-value-u', 'u64'),
      attr(5, 'max-value-u', 'u64'),
      attr(6, 'min-length', 'u32'),
      attr(7, 'max-length', 'u32'),
      attr(8, 'policy-idx', 'u32'),
      attr(9, 'policy-maxtype', 'u32'),
      attr(10, 'bitfield32-mask', 'u32'),
      attr(11, 'mask', 'u64'),
      attr(12, 'pad', 'pad'),
    ],
    'op-policy-attrs': [
      attr(1, 'do', 'u32'),
      attr(2, 'dump', 'u32'),
    ],
  },
  ops: [
    { name: 'newfamily', value: 1, attrSet: 'ctrl-attrs', kind: 'event', doc: 'reply to getfamily' },
    { name: 'delfamily', value: 2, attrSet: 'ctrl-attrs', kind: 'event' },
    { name: 'getfamily', value: 3, attrSet: 'ctrl-attrs', kind: 'do' },
    { name: 'newmcast-grp', value: 7, attrSet: 'ctrl-attrs', kind: 'event' },
    { name: 'delmcast-grp', value: 8, attrSet: 'ctrl-attrs', kind: 'event' },
    { name: 'getpolicy', value: 10, attrSet: 'ctrl-attrs', kind: 'dump' },
  ],
  mcastGroups: ['notify'],
});

export const CTRL_CMD_NEWFAMILY = 1;
export const CTRL_CMD_GETFAMILY = 3;
export const CTRL_CMD_GETPOLICY = 10;
