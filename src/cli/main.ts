#!/usr/bin/env node
/**
 * handshaked: one executable, three programs (serve, inspect, companion).
 *
 * Start-up is on the boot path (an NFS mount at boot waits for the agent), so a plain
 * `handshaked serve [options]` starts the agent without loading yargs or the other programs:
 * its options are parsed by node:util (quickServeArgs) and the agent modules are the only ones
 * loaded before it is ready. Anything else (help, version, a malformed or unusual option,
 * inspect, companion) goes through the full yargs command line, which gives every message.
 */
import { quickServeArgs, serve } from './serve';

async function main(argv: string[]): Promise<void> {
  const quick = quickServeArgs(argv);
  if (quick) {
    process.exitCode = await serve(quick);
    return;
  }
  const { buildCli } = await import('./cli');
  await buildCli(argv).parseAsync();
}

if (require.main === module) {
  void main(process.argv.slice(2));
}
