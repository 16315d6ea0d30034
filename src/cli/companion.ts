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

interface PrintConfigArgs {
  pki: string;
  'unix-socket'?: string;
  output?: string;
}

const out = (line: string): void => {
  process.stdout.write(`${line}\n`);
};

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
          'Output is KTAP; the exit status is 0 only if every case passed.',
      ) as unknown as Argv<AgentTestArgs>,
  handler: async (argv: ArgumentsCamelCase<AgentTestArgs>) => {
    try {
      const failures = await runAgentTest({
        agentSocket: argv['agent-socket'],
        pkiDir: argv.pki,
        suite: argv.suite,
        agentKeylog: argv['agent-keylog'],
        filter: argv.filter,
        write: out,
      });
      process.exitCode = failures === 0 ? 0 : 1;
    } catch (e) {
      process.stderr.write(`handshaked companion agent-test: ${(e as Error).message}\n`);
      process.exitCode = 2;
    }
  },
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
  builder: (y: Argv) => y.command(agentTest).command(printConfig).demandCommand(1, 'Name a companion command: agent-test, kernel-test or print-agent-config.'),
  handler: () => undefined,
};
