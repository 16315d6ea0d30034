import fc from 'fast-check';
import yargs from 'yargs';
import { buildCli } from '../../src/cli/cli';
import { quickServeArgs, serveCommand } from '../../src/cli/serve';

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

describe('serve arguments parsed without yargs (the start-up path)', () => {
  const KEYS = ['config', 'transport', 'unix-socket', 'ktls', 'keylog', 'log-format', 'log-level', 'metrics', 'stderr'] as const;

  /** What the yargs serve command makes of argv, or undefined when it refuses it. */
  async function viaYargs(argv: string[]): Promise<Record<string, unknown> | undefined> {
    let got: Record<string, unknown> | undefined;
    let failed = false;
    await yargs(argv)
      .command({ ...serveCommand, handler: (a: Record<string, unknown>) => void (got = a) })
      .strict()
      .exitProcess(false)
      .fail(() => void (failed = true))
      .parseAsync();
    if (failed || !got) return undefined;
    return Object.fromEntries(KEYS.filter((k) => got![k] !== undefined).map((k) => [k, got![k]]));
  }

  const token = fc.oneof(
    fc.constantFrom('--config', '-c', '--transport', '--unix-socket', '--ktls', '--keylog', '--log-format', '--log-level', '--metrics', '--stderr', '-s'),
    fc.constantFrom('--transport=unix', '--ktls=off', '--log-level=debug', '--metrics=127.0.0.1:9', '--config=/x', '--no-stderr', '--unixSocket', '--bogus', '--', '-cs'),
    fc.constantFrom('kernel', 'unix', 'both', 'on', 'off', 'text', 'json', 'error', 'debug', 'verbose', '127.0.0.1:9100', 'nohost', '@sock', '/etc/tlshd/config', '', '-x'),
  );

  it('accepts only what yargs accepts, and parses it the same way', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(token, { maxLength: 6 }), async (rest) => {
        const argv = ['serve', ...rest];
        const quick = quickServeArgs(argv);
        if (quick === undefined) return;
        expect(quick).toEqual(await viaYargs(argv));
      }),
      { numRuns: 400 },
    );
  });

  it('takes the usual unit and test command lines without yargs', () => {
    expect(quickServeArgs(['serve'])).toEqual({ transport: 'kernel', ktls: 'on' });
    expect(quickServeArgs(['serve', '--transport', 'unix', '--ktls', 'off', '--unix-socket', '@bench', '-c', '/etc/tlshd/config', '--log-level=debug'])).toEqual({
      transport: 'unix',
      ktls: 'off',
      'unix-socket': '@bench',
      config: '/etc/tlshd/config',
      'log-level': 'debug',
    });
    for (const odd of [['serve', '--help'], ['serve', '--transport', 'udp'], ['serve', '-c'], ['serve', '-c', '/a', '-c', '/b'], ['inspect'], ['serve', '--metrics', 'nohost']]) {
      expect(quickServeArgs(odd)).toBeUndefined();
    }
  });
});
