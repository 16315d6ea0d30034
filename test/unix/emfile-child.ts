/**
 * Child process for hostile-consumers' EMFILE test (run with a lowered RLIMIT_NOFILE): a unix
 * transport on HSD_SOCKET whose handshakes succeed at once. On "fill" from stdin it opens
 * /dev/null until open() fails, so the next fd a consumer passes cannot be installed, and
 * answers "full". Warnings go to stderr, so the test can count them.
 */
import fs from 'node:fs';
import { defaultConfig, type AgentConfig } from '../../src/agent/config';
import { Dispatcher } from '../../src/agent/dispatcher';
import { createLogger } from '../../src/agent/logging';
import { UnixTransport } from '../../src/agent/unix-transport';

async function main(): Promise<void> {
  const config: AgentConfig = { ...defaultConfig(), unixSocket: process.env.HSD_SOCKET };
  const dispatcher = new Dispatcher({ run: async () => ({ status: 0, remoteAuth: [] }), limits: () => ({ maxInflight: 4, defaultTimeoutMs: 5000 }) });
  const transport = new UnixTransport({ dispatcher, logger: createLogger({ format: 'text', level: 'warn' }), config: () => config, ktls: 'off' });
  await transport.start();
  const held: number[] = [];
  process.stdin.on('data', (d: Buffer) => {
    if (!d.toString().includes('fill')) return;
    for (;;) {
      try {
        held.push(fs.openSync('/dev/null', 'r'));
      } catch {
        break;
      }
    }
    process.stdout.write(`full ${held.length}\n`);
  });
  process.stdout.write('listening\n');
}

void main();
