/**
 * `handshaked inspect monitor`: join the handshake family's tlshd group on the running kernel
 * and print every notification.
 */
import { HANDSHAKE_FAMILY_NAME, HANDSHAKE_MCGRP_TLSHD, handshakeFamily } from '../families/handshake';
import { GenlClient } from '../genl-client';
import { KernelNetlinkTransport } from '../kernel-link';
import { NetlinkError } from '../link';
import { renderJson, renderTree } from './render';

export interface MonitorOptions {
  json: boolean;
  /** Stop after this many notifications (0: never). */
  count: number;
  write: (line: string) => void;
  /** Resolves to stop monitoring. */
  until?: Promise<void>;
}

const NO_FAMILY_MESSAGE = 'the kernel lacks the handshake netlink family (needs CONFIG_NET_HANDSHAKE, Linux 6.5 or later)';

/** Runs until `count` notifications were printed or `until` resolves. Throws NetlinkError (ENOENT: NO_FAMILY_MESSAGE). */
export async function monitor(opts: MonitorOptions): Promise<void> {
  const client = new GenlClient(new KernelNetlinkTransport(true));
  try {
    const fam = await client.resolveFamily(HANDSHAKE_FAMILY_NAME, handshakeFamily).catch((e: unknown) => {
      if (e instanceof NetlinkError && e.code === 'ENOENT') throw new NetlinkError(e.errno, e.code, NO_FAMILY_MESSAGE);
      throw e;
    });
    client.joinGroup(fam, HANDSHAKE_MCGRP_TLSHD);
    const families = new Map([[fam.id, handshakeFamily]]);
    await new Promise<void>((resolve) => {
      let seen = 0;
      client.onNotification((m) => {
        opts.write(opts.json ? renderJson(m, { families }) : renderTree(m, { families }));
        if (opts.count && ++seen >= opts.count) resolve();
      });
      client.onError((e) => opts.write(`# ${e.message}`));
      void opts.until?.then(resolve);
    });
  } finally {
    client.close();
  }
}
