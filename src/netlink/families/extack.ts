/**
 * The extended-ack TLVs that follow an NLMSG_ERROR or NLMSG_DONE payload (enum nlmsgerr_attrs
 * in include/uapi/linux/netlink.h), described like a family so the same walker decodes them.
 */
import { attr, defineFamily } from '../spec';

export const extackSpec = defineFamily({
  name: 'nlmsgerr',
  version: 0,
  enums: {},
  attrSets: {
    extack: [
      attr(1, 'msg', 'string'),
      attr(2, 'offs', 'u32', { doc: 'byte offset of the offending attribute in the request' }),
      attr(3, 'cookie', 'binary'),
      attr(4, 'policy', 'binary', { doc: 'nested policy of the offending attribute' }),
      attr(5, 'miss-type', 'u32'),
      attr(6, 'miss-nest', 'u32'),
    ],
  },
  ops: [],
  mcastGroups: [],
});
