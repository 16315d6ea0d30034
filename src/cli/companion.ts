/**
 * `handshaked companion`: the kernel-selftest companion.
 *   agent-test          play the kernel against an agent on the unix transport (KTAP out)
 *   kernel-test         play a fault-injecting agent against a real kernel's handshake family
 *   print-agent-config  the agent configuration matching the companion's PKI
 * Exit status: 0 when every case passed, 1 when any failed, 2 on a usage or set-up error.
 */
import fs from 'node:fs';
import type { ArgumentsCamelCase, Argv, CommandModule } from 'yargs';
import { runAgentTest } from '../companion/agent-test';
import { runKernelTest } from '../companion/kernel-test';
import { KernelNetlinkTransport } from '../netlink/kernel-link';
import { errnoNumber } from '../netlink/errors';
import { DEFAULT_PKI_DIR, Pki, agentConfigText } from '../companion/pki';
import { SUITES } from '../companion/scenarios';
import { DEFAULT_AGENT_SOCKET } from '../client';

interface AgentTestArgs {
  'agent-socket': string;
  suite?: string;
  'agent-keylog'?: string;
  pki: string;
  filter?: string;
}

interface KernelTestArgs {
  wait: number;
  status: string;
  'delay-done': number;
  'late-done': number;
  consumer: boolean;
}

interface PrintConfigArgs {
  pki: string;
  'unix-socket'?: string;
  output?: string;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

/** What a KTAP test command's exit status means, as ktapHandler sets it. */
const KTAP_EXIT_STATUS = 'Output is KTAP; exit status 0 when every case passed, 1 when any failed, 2 when the test could not run.';

/**
 * The handler of a KTAP test command: `run` returns the number of failed cases. Exit status 0
 * when none failed, 1 when any did, 2 (with the reason on stderr) when the test could not run.
 */
function ktapHandler<A>(command: string, run: (argv: A) => Promise<number>): (argv: A) => Promise<void> {
  return async (argv) => {
    try {
      process.exitCode = (await run(argv)) === 0 ? 0 : 1;
    } catch (e) {
      process.stderr.write(`handshaked companion ${command}: ${(e as Error).message}\n`);
      process.exitCode = 2;
    }
  };
}

const agentTest: CommandModule<object, AgentTestArgs> = {
  command: 'agent-test',
  describe: 'test an agent through the unix transport: real TLS peers, every role, auth mode and suite, failures, malformed upcalls',
  builder: (y: Argv) =>
    y
      .option('agent-socket', { type: 'string', default: DEFAULT_AGENT_SOCKET, describe: "the agent's unix transport socket (@name: abstract namespace)", requiresArg: true })
      .option('suite', { choices: [...SUITES], describe: 'run the handshake scenarios with this cipher suite only' })
      .option('agent-keylog', {
        type: 'string',
        describe: "the agent's key-log file (serve --keylog FILE): the session keys are checked against it when the socket has no kTLS",
        requiresArg: true,
      })
      .option('pki', { type: 'string', default: DEFAULT_PKI_DIR, describe: 'PKI directory (handshaked fixtures/pki layout)', requiresArg: true })
      .option('filter', { type: 'string', describe: 'run only the cases whose name contains this text', requiresArg: true })
      .epilog(
        'The agent must run with the configuration from `handshaked companion print-agent-config`, e.g.\n' +
          '  handshaked companion print-agent-config --unix-socket @hs-test -o /tmp/agent.conf\n' +
          '  handshaked serve -c /tmp/agent.conf --transport unix --ktls off --keylog /tmp/agent.keylog &\n' +
          '  handshaked companion agent-test --agent-socket @hs-test --agent-keylog /tmp/agent.keylog\n' +
          KTAP_EXIT_STATUS,
      ) as unknown as Argv<AgentTestArgs>,
  handler: ktapHandler('agent-test', (argv: ArgumentsCamelCase<AgentTestArgs>) =>
    runAgentTest({
      agentSocket: argv['agent-socket'],
      pkiDir: argv.pki,
      suite: argv.suite,
      agentKeylog: argv['agent-keylog'],
      filter: argv.filter,
      write: out,
    }),
  ),
};

function parseStatus(v: string): number {
  const n = /^\d+$/.test(v) ? Number(v) : errnoNumber(v.toUpperCase());
  if (n === undefined || !Number.isInteger(n) || n < 0 || n > 0xffffffff) throw new Error(`--status ${v}: expected 0, a positive errno number or a name such as EACCES`);
  return n;
}

const kernelTest: CommandModule<object, KernelTestArgs> = {
  command: 'kernel-test',
  describe: "play a fault-injecting agent on this kernel's handshake family (needs root and CONFIG_NET_HANDSHAKE; stop the real agent first)",
  builder: (y: Argv) =>
    y
      .option('wait', { type: 'number', default: 60000, describe: 'ms to wait for each handshake request from a consumer' })
      .option('status', { type: 'string', default: '0', describe: 'status of the DONE sent for a normal request (0, an errno number or name): drives the consumer\'s error paths' })
      .option('delay-done', { type: 'number', default: 0, describe: 'ms to wait before that DONE (exercise the consumer\'s timeout)' })
      .option('late-done', { type: 'number', default: 15000, describe: "ms to hold the last request before DONE: longer than the consumer's timeout" })
      .option('consumer', { type: 'boolean', default: true, describe: 'run the cases that need handshake requests from a consumer (--no-consumer: only the first four)' })
      .epilog(
        'Cases after the first four need handshake requests (three) from a kernel consumer, e.g. in a VM:\n' +
          '  mount -t nfs -o vers=4.2,xprtsec=tls server:/export /mnt   (retry while the test runs)\n' +
          'Answers that differ between kernel versions pass and are named in a diagnostic.\n' +
          KTAP_EXIT_STATUS,
      ) as unknown as Argv<KernelTestArgs>,
  handler: ktapHandler('kernel-test', (argv: ArgumentsCamelCase<KernelTestArgs>) =>
    runKernelTest({
      transport: () => new KernelNetlinkTransport(true),
      write: out,
      waitMs: argv.wait,
      status: parseStatus(argv.status),
      delayDoneMs: argv['delay-done'],
      lateDoneMs: argv['late-done'],
      noConsumer: !argv.consumer,
      onWaiting: (what) => out(`# waiting up to ${argv.wait} ms for a handshake request (${what}): start a consumer now`),
    }),
  ),
};

const printConfig: CommandModule<object, PrintConfigArgs> = {
  command: 'print-agent-config',
  describe: 'print the agent configuration (tlshd format) that matches the companion PKI',
  builder: (y: Argv) =>
    y
      .option('pki', { type: 'string', default: DEFAULT_PKI_DIR, describe: 'PKI directory', requiresArg: true })
      .option('unix-socket', { type: 'string', describe: 'also set [handshaked] unix_socket', requiresArg: true })
      .option('output', { alias: 'o', type: 'string', describe: 'write to FILE instead of stdout', requiresArg: true }) as unknown as Argv<PrintConfigArgs>,
  handler: (argv: ArgumentsCamelCase<PrintConfigArgs>) => {
    try {
      const pki = new Pki(argv.pki);
      pki.check();
      const text = agentConfigText(pki, argv['unix-socket']);
      if (argv.output) fs.writeFileSync(argv.output, text);
      else process.stdout.write(text);
    } catch (e) {
      process.stderr.write(`handshaked companion print-agent-config: ${(e as Error).message}\n`);
      process.exitCode = 2;
    }
  },
};

export const companionCommand: CommandModule = {
  command: 'companion <command>',
  describe: 'kernel-selftest companion: test an agent (agent-test) or a kernel (kernel-test); KTAP output',
  builder: (y: Argv) => y.command(agentTest).command(kernelTest).command(printConfig).demandCommand(1, 'Name a companion command: agent-test, kernel-test or print-agent-config.'),
  handler: () => undefined,
};
