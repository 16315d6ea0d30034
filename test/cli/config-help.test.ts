/**
 * The configuration keys are written down in three places: the table the parser reads by
 * (configKeys() in src/agent/config.ts), `serve --help` and docs/serve.md's example file. These
 * tests fail when a key is added to, renamed in or removed from the table without the other two.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, configKeys, parseConfigText } from '../../src/agent/config';
import { helpText } from '../../src/cli/man';

jest.setTimeout(60000);

/** A text's configuration keys by section: `[section]` starts one, and it runs to the next. */
function keysBySection(lines: readonly string[], keyOf: (line: string) => string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    const header = /^\s*\[([a-z.]+)\]/.exec(line);
    if (header) {
      current = [];
      out.set(header[1], current);
    }
    if (current) current.push(...keyOf(header ? line.slice(header.index + header[0].length) : line));
  }
  return out;
}

/** The words of a help line that could be key names: `x509.pq.certificate`, `max_inflight`, `nl`. */
function helpWords(line: string): string[] {
  return line.match(/(?<![\w.])[a-z][a-z0-9_]*(?:\.[a-z0-9_]+)*/g) ?? [];
}

/** The `[section]` headers and `key=value` lines of docs/serve.md's example configuration. */
function docsExample(): string[] {
  const md = fs.readFileSync(path.join(__dirname, '../../docs/serve.md'), 'utf8');
  const m = /## Configuration\n[\s\S]*?```ini\n([\s\S]*?)```/.exec(md);
  if (!m) throw new Error('docs/serve.md: no ```ini example under "## Configuration"');
  return m[1].split('\n');
}

describe('configuration keys: table, --help and docs/serve.md agree', () => {
  const table = configKeys();

  it('the table is what the parser reads: no key of it is unknown to the parser', () => {
    for (const [section, keys] of Object.entries(table)) {
      expect(keys.length).toBeGreaterThan(0);
      for (const key of keys) {
        // A value the key refuses is a ConfigError naming the key; an unknown key only warns.
        try {
          expect(parseConfigText(`[${section}]\n${key}=?\n`, 'f').warnings).toEqual([]);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
          expect((e as Error).message).toMatch(/^f:2: /);
        }
      }
    }
    expect(parseConfigText('[handshaked]\nno_such_key=1\n', 'f').warnings[0].message).toBe('unknown key "no_such_key" in [handshaked] ignored');
    expect(table.handshaked).toContain('psk_modes');
  });

  it('serve --help names every key of the table under its section', async () => {
    const help = await helpText(['serve'], 100);
    const start = help.indexOf('CONFIGURATION FILE\n');
    const end = help.indexOf('\nSIGNALS\n');
    expect(start).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(start);
    const described = keysBySection(help.slice(start, end).split('\n'), helpWords);
    expect([...described.keys()].sort()).toEqual(Object.keys(table).sort());
    for (const [section, keys] of Object.entries(table)) {
      const missing = keys.filter((k) => !described.get(section)?.includes(k));
      expect({ section, missing }).toEqual({ section, missing: [] });
    }
  });

  it('docs/serve.md sets exactly the keys of the table, each in its section', () => {
    const documented = keysBySection(docsExample(), (line) => {
      const m = /^([a-z][a-z0-9_.]*)\s*=/.exec(line);
      return m ? [m[1]] : [];
    });
    const asLists = Object.fromEntries([...documented].map(([s, keys]) => [s, [...keys].sort()]));
    const expected = Object.fromEntries(Object.entries(table).map(([s, keys]) => [s, [...keys].sort()]));
    expect(asLists).toEqual(expected);
  });
});
