/**
 * The manual pages cannot drift from --help: every line of every command's help (and of its
 * subcommands') is in the page, in order, and every option the user-facing --help names is there.
 */
import { buildCli } from '../../src/cli/cli';
import { MAN_WIDTH, helpText, listedCommands, manPages, roffEscape, type ManPage } from '../../src/cli/man';

jest.setTimeout(60000);

/** The text lines a roff page shows inside its .nf blocks, unescaped. */
function shownLines(page: string): string[] {
  return page
    .split('\n')
    .filter((l) => !/^\.[A-Za-z\\]/.test(l))
    .map((l) => l.replace(/^\\&/, '').replace(/\\-/g, '-').replace(/\\e/g, '\\'));
}

/** Help lines that are not section headings (those become .SH/.SS). */
function bodyLines(help: string): string[] {
  return help
    .split('\n')
    .slice(1)
    .filter((l) => l.trim() !== '' && !/^([A-Z][a-z]+):$/.test(l) && !/^[A-Z][A-Z0-9 ,/-]+$/.test(l));
}

function expectInOrder(haystack: string[], needles: string[], what: string): void {
  let at = 0;
  for (const n of needles) {
    const i = haystack.indexOf(n, at);
    if (i < 0) throw new Error(`${what}: line missing from the man page (or out of order): ${JSON.stringify(n)}`);
    at = i + 1;
  }
}

/** The user-facing help at the CLI's own width (what `handshaked ... --help` prints in a terminal). */
async function terminalHelp(args: string[]): Promise<string> {
  let out = '';
  await buildCli([...args, '--help'])
    .exitProcess(false)
    .parseAsync([...args, '--help'], {}, (_e: Error | undefined, _a: unknown, o: string) => {
      out += o;
    })
    .catch(() => undefined);
  return out;
}

describe('man pages from --help', () => {
  let pages: ManPage[];
  beforeAll(async () => {
    pages = await manPages({ version: '9.9.9', date: '2026-01-02' });
  });

  it('handshaked(8) and one page per command, each a well-formed section 8 page', () => {
    expect(pages.map((p) => p.file).sort()).toEqual(['handshaked-companion.8', 'handshaked-inspect.8', 'handshaked-serve.8', 'handshaked.8']);
    for (const p of pages) {
      const name = p.file.replace(/\.8$/, '');
      expect(p.text).toContain(`.TH ${name.toUpperCase()} 8 "2026-01-02" "handshaked 9.9.9"`);
      expect(p.text).toMatch(/\n\.SH NAME\n\S+ \\- \S/);
      expect(p.text).toContain('\n.SH SYNOPSIS\n');
      // nothing of the help text can be mistaken for a roff request
      for (const l of p.text.split('\n')) if (/^[.']/.test(l)) expect(l).toMatch(/^\.(\\"|TH|SH|SS|nf|fi|nh|ad|BR) ?/);
    }
  });

  it('every line of every --help (commands and their subcommands) is in the page, in order', async () => {
    const top = await helpText([]);
    expectInOrder(shownLines(pages.find((p) => p.file === 'handshaked.8')!.text), bodyLines(top), 'handshaked --help');
    const commands = listedCommands(await helpText([], 1000), []);
    expect(commands).toEqual([['serve'], ['inspect'], ['companion']]);
    for (const cmd of commands) {
      const page = shownLines(pages.find((p) => p.file === `handshaked-${cmd[0]}.8`)!.text);
      const help = await helpText(cmd);
      expectInOrder(page, bodyLines(help), `handshaked ${cmd.join(' ')} --help`);
      const subs = listedCommands(await helpText(cmd, 1000), cmd);
      expect(subs.length).toBe({ serve: 0, inspect: 2, companion: 3 }[cmd[0]]);
      for (const sub of subs) {
        expectInOrder(page, bodyLines(await helpText(sub)), `handshaked ${sub.join(' ')} --help`);
      }
    }
  });

  it('names every option the terminal --help names, for every command and subcommand', async () => {
    const all = pages.map((p) => shownLines(p.text).join('\n')).join('\n');
    const subs = [['serve'], ['inspect', 'decode'], ['inspect', 'monitor'], ['companion', 'agent-test'], ['companion', 'kernel-test'], ['companion', 'print-agent-config']];
    for (const args of subs) {
      const options = (await terminalHelp(args)).match(/--[a-z][a-z-]+/g) ?? [];
      expect(options.length).toBeGreaterThan(2);
      for (const o of options) expect(all).toContain(o);
    }
  });

  it('lays out at a width man shows on an 80-column terminal and escapes roff', async () => {
    for (const l of (await helpText(['serve'])).split('\n')) expect(l.length).toBeLessThanOrEqual(MAN_WIDTH);
    expect(roffEscape('.x a-b \\n')).toBe('\\&.x a\\-b \\en');
    expect(roffEscape("'quoted")).toBe("\\&'quoted");
  });
});
