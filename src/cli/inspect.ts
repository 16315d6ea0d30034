import type { CommandModule } from 'yargs';

// Filled in by its own issue; registered now so the CLI's shape is fixed.
export const inspectCommand: CommandModule = {
  command: 'inspect',
  describe: 'inspect (not yet implemented)',
  handler: () => {
    process.stderr.write('handshaked inspect: not implemented yet\n');
    process.exitCode = 1;
  },
};
