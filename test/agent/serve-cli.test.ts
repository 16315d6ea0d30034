import { buildCli } from '../../src/cli/main';

async function run(args: string[]): Promise<{ out: string; err: string; code: number | undefined }> {
  let out = '';
  let err = '';
  const w = jest.spyOn(process.stderr, 'write').mockImplementation((s: string | Uint8Array) => {
    err += String(s);
    return true;
  });
  const prev = process.exitCode;
  process.exitCode = undefined;
  try {
    await new Promise<void>((resolve) => {
      void buildCli(args)
        .exitProcess(false)
        .parseAsync(args, {}, (_e: Error | undefined, _argv: unknown, output: string) => {
          out += output;
        })
        .then(
          () => resolve(),
          () => resolve(),
        );
    });
    return { out, err, code: process.exitCode as number | undefined };
  } finally {
    process.exitCode = prev;
    w.mockRestore();
  }
}

describe('handshaked serve command line', () => {
  it('--help reads like a man page: every option, the configuration file, signals, exit status', async () => {
    const { out } = await run(['serve', '--help']);
    for (const opt of ['--config', '--transport', '--unix-socket', '--ktls', '--keylog', '--log-format', '--log-level', '--metrics']) {
      expect(out).toContain(opt);
    }
    for (const section of ['CONFIGURATION FILE', 'SIGNALS', 'SIGHUP', 'SIGTERM', 'EXIT STATUS', '/etc/tlshd/config', '/etc/tlshd.conf', 'SSLKEYLOGFILE']) {
      expect(out).toContain(section);
    }
  });

  it('a configuration error ends start-up with one line and exit status 1', async () => {
    const { err, code } = await run(['serve', '-c', '/nonexistent/handshaked.conf']);
    expect(err).toBe('handshaked serve: /nonexistent/handshaked.conf: cannot read the configuration file: ENOENT\n');
    expect(code).toBe(1);
  });

  it('refuses a malformed --metrics address before starting', async () => {
    const { err, out } = await run(['serve', '--metrics', 'nohost']);
    expect(out + err).toMatch(/metrics address "nohost" is not HOST:PORT/);
  });
});
