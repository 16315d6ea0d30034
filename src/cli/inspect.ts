/**
 * `handshaked inspect`: decode and monitor handshake-family netlink messages.
 *   decode [FILE|-]  hex, raw bytes or an nlmon pcap/pcapng → tree, --json or --annotate
 *   monitor          join group tlshd on this kernel and print notifications
 * Bad input exits 2 with one line naming the byte offset and the problem; never a stack trace.
 */
import fs from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { NetlinkError } from '../netlink/link';
import { NetlinkFormatError } from '../netlink/errors';
import { inspectDecode, type OutputFormat } from '../netlink/inspect/decode';
import { monitor, type MonitorNamespace } from '../netlink/inspect/monitor';
import { splitList } from '../agent/keyfile';
import { discoverNamespaces, inPlace, parseNamespacesSetting, SELF_NETNS, SYSTEM_NETNS_ROOTS } from '../agent/netns';
import { KernelNetlinkTransport } from '../netlink/kernel-link';

interface DecodeArgs {
  file: string;
  json: boolean;
  annotate: boolean;
  'family-id'?: number;
}

interface MonitorArgs {
  json: boolean;
  count: number;
  namespaces: string;
}

function fail(status: number, line: string): void {
  process.stderr.write(`handshaked inspect: ${line}\n`);
  process.exitCode = status;
}

function parseId(v: unknown): number {
  const s = String(v);
  const n = /^0x[0-9a-f]+$/i.test(s) ? parseInt(s, 16) : /^\d+$/.test(s) ? Number(s) : NaN;
  if (!Number.isInteger(n) || n < 16 || n > 0xffff) throw new Error(`--family-id ${s}: expected a family id from 16 to 65535 (decimal or 0x hex)`);
  return n;
}

const decodeCommand: CommandModule<object, DecodeArgs> = {
  command: 'decode [file]',
  describe: 'decode netlink messages from hex, raw bytes or an nlmon capture',
  builder: (y: Argv) =>
    y
      .positional('file', { type: 'string', default: '-', describe: 'input file; - or nothing reads stdin' })
      .option('json', { type: 'boolean', describe: 'one JSON object per message (attributes keyed like the YNL CLI)' })
      .option('annotate', { type: 'boolean', describe: 'hex dump with every field labelled' })
      .option('family-id', { type: 'string', describe: 'kernel family id of "handshake" in this input (else learned from a GETFAMILY reply in it)' })
      .example('$0 inspect decode fixtures/netlink/accept-reply-client-psk.hex --family-id 0x1d', 'print an ACCEPT reply as a tree')
      .example('echo "1c000000 1d000500 07000000 00000000 02010000 08000200 01000000" | $0 inspect decode --family-id 29 --json', 'decode hex from stdin as JSON')
      .example('$0 inspect decode capture.pcap --annotate', 'label every byte of an nlmon capture (tcpdump -i nlmon0 -w capture.pcap)')
      .epilog(
        'INPUT\n  Hex text (whitespace, 0x prefixes, "," ":" separators and # comments allowed; several messages in a row), ' +
          'raw netlink bytes, or a pcap/pcapng capture from an nlmon device (link type NETLINK, 253).\n' +
          '  Messages of nlmsg_type 0x0100 are unix-transport handshake messages; kernel handshake messages need ' +
          '--family-id or a GETFAMILY reply earlier in the same input. Other families are shown with raw attributes.\n\n' +
          'EXIT STATUS\n  0 decoded; 2 bad input (one line: byte offset, field, problem); 1 the file cannot be read.',
      ) as unknown as Argv<DecodeArgs>,
  handler: (argv: ArgumentsCamelCase<DecodeArgs>) => {
    if (argv.json && argv.annotate) return fail(2, 'choose one of --json and --annotate');
    let data: Buffer;
    try {
      data = argv.file === '-' ? fs.readFileSync(0) : fs.readFileSync(argv.file);
    } catch (e) {
      return fail(1, `cannot read ${argv.file === '-' ? 'stdin' : argv.file}: ${(e as Error).message}`);
    }
    let familyId: number | undefined;
    try {
      familyId = argv['family-id'] === undefined ? undefined : parseId(argv['family-id']);
    } catch (e) {
      return fail(2, (e as Error).message);
    }
    const format: OutputFormat = argv.json ? 'json' : argv.annotate ? 'annotate' : 'tree';
    let out: string[];
    try {
      out = inspectDecode(data, { format, familyId });
    } catch (e) {
      if (e instanceof NetlinkFormatError) return fail(2, `${argv.file === '-' ? 'stdin' : argv.file}: byte ${e.offset}: ${e.field}: ${e.problem}`);
      throw e;
    }
    process.stdout.write(out.join(format === 'json' ? '\n' : '\n\n') + (out.length ? '\n' : ''));
  },
};

const monitorCommand: CommandModule<object, MonitorArgs> = {
  command: 'monitor',
  describe: 'print handshake-family notifications (READY) from this kernel as they arrive',
  builder: (y: Argv) =>
    y
      .option('json', { type: 'boolean', default: false, describe: 'one JSON object per notification' })
      .option('count', { type: 'number', default: 0, describe: 'exit after this many notifications (0: run until interrupted)' })
      .option('namespaces', {
        type: 'string',
        default: SELF_NETNS,
        describe: 'network namespaces to listen in, as [handshaked] namespaces: self, all, or NAME;NAME;/proc/PID/ns/net (found once, at start)',
      })
      .example('$0 inspect monitor', 'watch READY notifications (joins multicast group tlshd)')
      .example('$0 inspect monitor --json --count 1', 'wait for one notification, print it as JSON, exit')
      .example('$0 inspect monitor --namespaces all', 'listen in every network namespace (root); each line says which')
      .epilog(
        'Joining the group is unprivileged. While monitor runs, the kernel counts it as a listener: submissions no longer fail with ' +
          'ESRCH even if no agent runs, so use it next to an agent, not instead of one.\n\n' +
          'EXIT STATUS\n  0 done; 1 the kernel lacks the handshake family (CONFIG_NET_HANDSHAKE, Linux 6.5 or later) or netlink failed.',
      ) as unknown as Argv<MonitorArgs>,
  handler: async (argv: ArgumentsCamelCase<MonitorArgs>) => {
    const stop = new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    let namespaces: MonitorNamespace[];
    try {
      namespaces = monitorNamespaces(argv.namespaces);
    } catch (e) {
      return fail(2, (e as Error).message);
    }
    try {
      await monitor({ json: argv.json, count: argv.count, write: (l) => process.stdout.write(l + '\n'), until: stop, namespaces });
    } catch (e) {
      if (e instanceof NetlinkError) return fail(1, e.message);
      if (e instanceof Error && 'syscall' in e) return fail(1, e.message);
      throw e;
    }
  },
};

/** The namespaces `--namespaces` names, each with a socket made there (setns for all but the own). */
function monitorNamespaces(value: string): MonitorNamespace[] {
  const setting = parseNamespacesSetting(splitList(value));
  const { found, missing } = discoverNamespaces(setting, SYSTEM_NETNS_ROOTS);
  if (missing.length) throw new Error(`--namespaces: not found: ${missing.join(', ')}`);
  return [...found.values()].map((p) => ({
    label: p.label,
    open: () => inPlace(p, () => new KernelNetlinkTransport(true)),
  }));
}

export const inspectCommand: CommandModule = {
  command: 'inspect <command>',
  describe: 'decode and monitor handshake-family netlink messages',
  builder: (y: Argv) =>
    y
      .command(decodeCommand as unknown as CommandModule)
      .command(monitorCommand as unknown as CommandModule)
      .demandCommand(1, 'Name a subcommand: decode or monitor.')
      .example('$0 inspect decode fixtures/netlink/ready.hex --family-id 0x1d', 'decode a READY notification')
      .example('$0 inspect monitor', 'print READY notifications as they arrive'),
  handler: () => undefined,
};
