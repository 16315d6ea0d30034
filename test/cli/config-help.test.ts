/**
 * The configuration keys are written down in three places: the table the parser reads by
 * (configKeys() in src/agent/config.ts), `serve --help` and docs/serve.md's example file. These
 * tests fail when a key is added to, renamed in or removed from the table without the other two.
 * The sections named by a pattern (patternSectionKeys(): [authenticate.ROLE.certificate.NAME],
 * [namespace.NAME]) are described in docs/serve.md's prose about each, and the help names what
 * it lists of them; a key added to one of them without those fails here too.
 */
import fs from 'node:fs';
import path from 'node:path';
import { ConfigError, configKeys, parseConfigText, patternSectionKeys } from '../../src/agent/config';
import { helpText } from '../../src/cli/man';

jest.setTimeout(60000);

/** A text's configuration keys by section: `[section]` starts one, and it runs to the next. */
function keysBySection(lines: readonly string[], keyOf: (line: string) => string[]): Map<string, string[]> {
  const out = new Map<string, string[]>();
  let current: string[] | undefined;
  for (const line of lines) {
    const header = /^\s*\[([a-z][a-z0-9_.-]*)\]/.exec(line);
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

const serveMd = () => fs.readFileSync(path.join(__dirname, '../../docs/serve.md'), 'utf8');

/** The `[section]` headers and `key=value` lines of docs/serve.md's example configuration. */
function docsExample(): string[] {
  const md = serveMd();
  const m = /## Configuration\n[\s\S]*?```ini\n([\s\S]*?)```/.exec(md);
  if (!m) throw new Error('docs/serve.md: no ```ini example under "## Configuration"');
  return m[1].split('\n');
}

/** The `key=value` key of an ini line. */
const iniKey = (line: string): string[] => {
  const m = /^([a-z][a-z0-9_.]*)\s*=/.exec(line);
  return m ? [m[1]] : [];
};

/** serve --help's CONFIGURATION FILE section. */
async function helpConfiguration(): Promise<string> {
  const help = await helpText(['serve'], 100);
  const start = help.indexOf('CONFIGURATION FILE\n');
  const end = help.indexOf('\nSIGNALS\n');
  expect(start).toBeGreaterThanOrEqual(0);
  expect(end).toBeGreaterThan(start);
  return help.slice(start, end);
}

/** `authenticate.client.certificate.NAME` matches the section name `authenticate.client.certificate.partner`. */
const patternOf = (section: string): RegExp => new RegExp(`^${section.replace(/\./g, '\\.').replace('NAME', '[^\\]]+')}$`);

/**
 * What docs/serve.md says about a pattern section: from the line that introduces it ("A
 * `[SECTION]` section") to the next heading or bold-led paragraph.
 */
function docsAbout(md: string, section: string): string {
  const lines = md.split('\n');
  const first = lines.findIndex((l) => l.includes(`A \`[${section}]\` section`));
  if (first < 0) throw new Error(`docs/serve.md: no "A \`[${section}]\` section" introduces it`);
  const rest = lines.slice(first + 1).findIndex((l) => /^(#|\*\*)/.test(l));
  return lines.slice(first, rest < 0 ? undefined : first + 1 + rest).join('\n');
}

/**
 * Whether a text names a key: in backticks or as an ini `key=` line, whole, or as a named prefix
 * (`client.`) and a named rest (`x509.crl`), the way the docs describe `client.x509.crl`.
 */
function namesKey(text: string, key: string): boolean {
  const named = new Set([...text.matchAll(/`([a-z][a-z0-9_.]*)`/g)].map((m) => m[1]));
  for (const line of text.split('\n')) iniKey(line).forEach((k) => named.add(k));
  if (named.has(key)) return true;
  return [...named].some((p) => p.endsWith('.') && key.startsWith(p) && named.has(key.slice(p.length)));
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
          // The refusal is of this key's value (line 2), and names it: a section refused for
          // something else could hide a key the parser does not know.
          expect((e as Error).message).toMatch(/^f:2: /);
          expect((e as Error).message).toContain(key);
        }
      }
    }
    expect(parseConfigText('[handshaked]\nno_such_key=1\n', 'f').warnings[0].message).toBe('unknown key "no_such_key" in [handshaked] ignored');
    expect(table.handshaked).toContain('psk_modes');
  });

  it('serve --help names every key of the table under its section', async () => {
    const described = keysBySection((await helpConfiguration()).split('\n'), helpWords);
    expect([...described.keys()].sort()).toEqual(Object.keys(table).sort());
    for (const [section, keys] of Object.entries(table)) {
      const missing = keys.filter((k) => !described.get(section)?.includes(k));
      expect({ section, missing }).toEqual({ section, missing: [] });
    }
  });

  it('docs/serve.md sets exactly the keys of the table, each in its section', () => {
    const documented = keysBySection(docsExample(), iniKey);
    const asLists = Object.fromEntries([...documented].map(([s, keys]) => [s, [...keys].sort()]));
    const expected = Object.fromEntries(Object.entries(table).map(([s, keys]) => [s, [...keys].sort()]));
    expect(asLists).toEqual(expected);
  });
});

describe('sections named by a pattern: the parser, docs/serve.md and --help agree', () => {
  const table = patternSectionKeys();
  const sections = Object.keys(table);

  it('the table is what the parser reads: every key of it is known in its section', () => {
    expect([...sections].sort()).toEqual(['authenticate.client.certificate.NAME', 'authenticate.server.certificate.NAME', 'namespace.NAME']);
    for (const [pattern, keys] of Object.entries(table)) {
      const section = `[${pattern.replace('NAME', 'tenant1')}]`;
      for (const key of keys) {
        const text = `${section}\n${key}=?\n`;
        // An unknown key warns; a known one is read (a value it refuses, or the section incomplete, is a ConfigError).
        try {
          expect(parseConfigText(text, 'f').warnings).toEqual([]);
        } catch (e) {
          expect(e).toBeInstanceOf(ConfigError);
        }
      }
      expect(parseConfigText(`${section}\nno_such_key=1\n${keys.join('=x\n')}=x\n`, 'f').warnings.map((w) => w.message)).toEqual([
        expect.stringMatching(/^unknown key "no_such_key" in \[(authenticate|namespace)\..*\] ignored/),
      ]);
    }
    expect(table['authenticate.client.certificate.NAME']).toEqual([...table['authenticate.server.certificate.NAME'], 'peers']);
    expect(table['namespace.NAME']).toEqual(expect.arrayContaining(['keyrings', 'client.x509.truststore', 'server.x509.pq.private_key']));
  });

  it.each(Object.entries(patternSectionKeys()))('docs/serve.md names every key of [%s] where it introduces the section', (section, keys) => {
    const about = docsAbout(serveMd(), section);
    expect({ section, undocumented: keys.filter((k) => !namesKey(about, k)) }).toEqual({ section, undocumented: [] });
  });

  it("docs/serve.md's examples of these sections set only their keys", () => {
    const blocks = [...serveMd().matchAll(/```ini\n([\s\S]*?)```/g)].map((m) => m[1].split('\n'));
    const seen = new Set<string>();
    for (const block of blocks) {
      for (const [name, keys] of keysBySection(block, iniKey)) {
        const section = sections.find((s) => patternOf(s).test(name));
        if (!section) continue;
        seen.add(section);
        expect({ name, unknown: keys.filter((k) => !table[section].includes(k)) }).toEqual({ name, unknown: [] });
      }
    }
    expect([...seen].sort()).toEqual([...sections].sort());
  });

  it('serve --help names them, every [namespace.NAME] key (by its x509.* pattern) and what a client section adds', async () => {
    const help = await helpConfiguration();
    for (const section of sections) expect(help).toContain(`[${section}]`);
    // [namespace.NAME]'s entry runs to the next line that is not its continuation.
    const lines = help.split('\n');
    const at = lines.findIndex((l) => l.includes('[namespace.NAME]'));
    const entry = [lines[at], ...lines.slice(at + 1).filter((_, i, rest) => rest.slice(0, i + 1).every((l) => /^ {20,}\S/.test(l)))].join(' ');
    const words = entry.match(/(?<![\w.])[a-z][a-z0-9_]*(?:\.(?:[a-z0-9_]+|\*))*/g) ?? [];
    const covered = (key: string) => words.some((w) => w === key || (w.endsWith('.*') && key.startsWith(w.slice(0, -1))));
    expect(table['namespace.NAME'].filter((k) => !covered(k))).toEqual([]);
    const extra = table['authenticate.client.certificate.NAME'].filter((k) => !table['authenticate.server.certificate.NAME'].includes(k));
    const clientMention = help.slice(help.indexOf('[authenticate.client.certificate.NAME]')).split('\n').slice(0, 2).join(' ');
    expect(extra.filter((k) => !helpWords(clientMention).includes(k))).toEqual([]);
  });
});
