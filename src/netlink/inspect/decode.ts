/**
 * `handshaked inspect decode` without the CLI around it: input bytes in, printable text out.
 */
import type { Annotation } from '../attributes';
import { NETLINK_GENERIC, UNIX_TRANSPORT_FAMILY_ID, align4 } from '../constants';
import { handshakeFamily } from '../families/handshake';
import { decodeMessages } from '../message';
import type { FamilySpec } from '../spec';
import { parseInput } from './input';
import { renderAnnotated, renderJson, renderTree } from './render';

export type OutputFormat = 'tree' | 'json' | 'annotate';

export interface InspectOptions {
  format: OutputFormat;
  /** Kernel family id of `handshake` in this input (else learned from a GETFAMILY reply in it). */
  familyId?: number;
}

/**
 * Decode every message of `data` (hex, raw or nlmon capture) and render it. Returns one string
 * per message (tree, JSON line, or annotated dump). Throws NetlinkFormatError on bad input.
 */
export function inspectDecode(data: Buffer, opts: InspectOptions): string[] {
  const input = parseInput(data);
  const families = new Map<number, FamilySpec>([[UNIX_TRANSPORT_FAMILY_ID, handshakeFamily]]);
  if (opts.familyId !== undefined) families.set(opts.familyId, handshakeFamily);
  const out: string[] = [];
  for (const chunk of input.chunks) {
    const anns: Annotation[] = [];
    const msgs = decodeMessages(chunk.bytes, {
      families,
      learnFamilies: true,
      base: chunk.base,
      genericNetlink: chunk.protocol === undefined || chunk.protocol === NETLINK_GENERIC,
      annotate: opts.format === 'annotate' ? (a) => anns.push(a) : undefined,
    });
    const ctx = { packet: chunk.packet, families };
    for (const m of msgs) {
      if (opts.format === 'json') out.push(renderJson(m, ctx));
      else if (opts.format === 'tree') out.push(renderTree(m, ctx));
      else {
        const start = m.offset;
        const end = m.offset + Math.min(align4(m.header.len), chunk.base + chunk.bytes.length - m.offset);
        const mine = anns.filter((a) => a.offset >= start && a.offset < end);
        const bytes = chunk.bytes.subarray(start - chunk.base, end - chunk.base);
        out.push(`${renderTree(m, ctx).split('\n')[0]}\n${renderAnnotated(bytes, start, mine)}`);
      }
    }
  }
  return out;
}
