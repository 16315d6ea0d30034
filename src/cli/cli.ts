/**
 * The full command line: three programs (serve, inspect, companion), each subcommand in its
 * own module registered as a yargs CommandModule. main.ts loads it for everything except a
 * plain `serve` invocation (help, errors, inspect, companion).
 */
import yargs from 'yargs';
import { serveCommand } from './serve';
import { inspectCommand } from './inspect';
import { companionCommand } from './companion';

export function buildCli(argv: string[]) {
  return yargs(argv)
    .scriptName('handshaked')
    .usage('$0 <command> [options]\n\nTLS 1.3 handshake agent for the Linux kernel handshake upcall.')
    .command(serveCommand)
    .command(inspectCommand)
    .command(companionCommand)
    .demandCommand(1, 'Name a command: serve, inspect or companion.')
    .strict()
    .help()
    .alias('h', 'help')
    .version()
    .wrap(Math.min(100, process.stdout.columns ?? 100));
}
