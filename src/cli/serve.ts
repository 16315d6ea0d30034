import type { CommandModule } from 'yargs';

// Filled in by its own issue; registered now so the CLI's shape is fixed.
export const serveCommand: CommandModule = {
  command: 'serve',
  describe: 'serve (not yet implemented)',
  handler: () => {
    process.stderr.write('handshaked serve: not implemented yet\n');
    process.exitCode = 1;
  },
};
