#!/usr/bin/env node
/**
 * handshaked: one executable, three programs (serve, inspect, companion).
 * Each subcommand lives in its own module and registers itself as a yargs CommandModule.
 */
import yargs from 'yargs';
import { hideBin } from 'yargs/helpers';
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

if (require.main === module) {
  void buildCli(hideBin(process.argv)).parseAsync();
}
