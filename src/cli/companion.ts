import type { CommandModule } from 'yargs';

// Filled in by its own issue; registered now so the CLI's shape is fixed.
export const companionCommand: CommandModule = {
  command: 'companion',
  describe: 'companion (not yet implemented)',
  handler: () => {
    process.stderr.write('handshaked companion: not implemented yet\n');
    process.exitCode = 1;
  },
};
