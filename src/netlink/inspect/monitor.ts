/**
 * `handshaked inspect monitor`: join the handshake family's tlshd group on the running kernel
 * and print every notification, naming the network namespace it came from (the kernel sends
 * READY only to listeners in the consumer's namespace, so one socket per namespace is joined).
 */
import { HANDSHAKE_FAMILY_NAME, HANDSHAKE_MCGRP_TLSHD, handshakeFamily } from '../families/handshake';
import { GenlClient } from '../genl-client';
import { KernelNetlinkTransport } from '../kernel-link';
import { NetlinkError } from '../link';
import type { NetlinkTransport } from '../transport';
import { renderJson, renderTree } from './render';

/** One namespace to listen in: its label and how to make a netlink socket there. */
export interface MonitorNamespace {
  label: string;
  open: () => NetlinkTransport;
}

export interface MonitorOptions {
  json: boolean;
  /** Stop after this many notifications (0: never). */
  count: number;
  write: (line: string) => void;
  /** Resolves to stop monitoring. */
  until?: Promise<void>;
  /** Where to listen; default the monitor's own namespace, labelled `self`. */
  namespaces?: MonitorNamespace[];
}

const NO_FAMILY_MESSAGE = 'the kernel lacks the handshake netlink family (needs CONFIG_NET_HANDSHAKE, Linux 6.5 or later)';

/** Runs until `count` notifications were printed or `until` resolves. Throws NetlinkError (ENOENT: NO_FAMILY_MESSAGE). */
export async function monitor(opts: MonitorOptions): Promise<void> {
  const places = opts.namespaces ?? [{ label: 'self', open: () => new KernelNetlinkTransport(true) }];
  const clients: GenlClient[] = [];
  try {
    let seen = 0;
    let stop: () => void = () => undefined;
    const done = new Promise<void>((resolve) => (stop = resolve));
    for (const place of places) {
      const client = new GenlClient(place.open());
      clients.push(client);
      const fam = await client.resolveFamily(HANDSHAKE_FAMILY_NAME, handshakeFamily).catch((e: unknown) => {
        if (e instanceof NetlinkError && e.code === 'ENOENT') throw new NetlinkError(e.errno, e.code, NO_FAMILY_MESSAGE);
        throw e;
      });
      client.joinGroup(fam, HANDSHAKE_MCGRP_TLSHD);
      const ctx = { families: new Map([[fam.id, handshakeFamily]]), netns: place.label };
      client.onNotification((m) => {
        opts.write(opts.json ? renderJson(m, ctx) : renderTree(m, ctx));
        if (opts.count && ++seen >= opts.count) stop();
      });
      client.onError((e) => opts.write(`# netns=${place.label} ${e.message}`));
    }
    void opts.until?.then(stop);
    await done;
  } finally {
    for (const c of clients) c.close();
  }
}
