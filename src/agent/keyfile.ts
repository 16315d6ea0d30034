/**
 * A reader for GLib "key files" (the INI dialect tlshd's configuration is written in), keeping the
 * line of every key so a bad value can be reported as `file:line`.
 *
 * Follows GLib's rules where tlshd users could notice a difference: `#` starts a comment line,
 * whitespace around `=` is dropped, a key repeated in a group keeps its last value, a group named
 * twice is merged, escapes \s \n \t \r \\ in values, `;`-separated lists with an optional trailing
 * `;` (and `\;` for a literal semicolon). Localised keys (`key[fr]`) are kept under their full name.
 */

export interface KeyFileEntry {
  readonly value: string;
  readonly line: number;
}

export interface KeyFileGroup {
  readonly name: string;
  readonly line: number;
  readonly entries: ReadonlyMap<string, KeyFileEntry>;
}

export interface KeyFile {
  readonly file: string;
  readonly groups: ReadonlyMap<string, KeyFileGroup>;
}

export class KeyFileSyntaxError extends Error {
  readonly code = 'ECONFIG';
  constructor(
    readonly file: string,
    readonly line: number,
    reason: string,
  ) {
    super(`${file}:${line}: ${reason}`);
    this.name = 'KeyFileSyntaxError';
  }
}

export function parseKeyFile(text: string, file: string): KeyFile {
  const groups = new Map<string, { name: string; line: number; entries: Map<string, KeyFileEntry> }>();
  let current: { name: string; line: number; entries: Map<string, KeyFileEntry> } | undefined;
  const lines = text.split(/\r?\n/);
  for (let i = 0; i < lines.length; i++) {
    const lineNo = i + 1;
    const raw = lines[i];
    const line = raw.replace(/^[ \t]+/, '');
    if (line === '' || line.startsWith('#')) continue;
    if (line.startsWith('[')) {
      const end = line.indexOf(']');
      if (end < 0 || line.slice(end + 1).trim() !== '') {
        throw new KeyFileSyntaxError(file, lineNo, `malformed group header ${JSON.stringify(raw.trim())}: expected "[name]"`);
      }
      const name = line.slice(1, end);
      if (name === '' || /[[\]]/.test(name) || [...name].some((ch) => ch.charCodeAt(0) < 0x20)) {
        throw new KeyFileSyntaxError(file, lineNo, `invalid group name ${JSON.stringify(name)}`);
      }
      current = groups.get(name);
      if (!current) {
        current = { name, line: lineNo, entries: new Map() };
        groups.set(name, current);
      }
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) {
      throw new KeyFileSyntaxError(file, lineNo, `${JSON.stringify(raw.trim())} is neither a "[group]", a "key = value" nor a "#" comment`);
    }
    const key = line.slice(0, eq).trim();
    if (key === '') throw new KeyFileSyntaxError(file, lineNo, 'a value without a key name');
    if (!current) {
      throw new KeyFileSyntaxError(file, lineNo, `key "${key}" comes before any "[group]" header`);
    }
    const value = unescapeValue(line.slice(eq + 1).replace(/^[ \t]+/, '').replace(/[ \t]+$/, ''), file, lineNo);
    current.entries.set(key, { value, line: lineNo });
  }
  return { file, groups };
}

function unescapeValue(s: string, file: string, line: number): string {
  if (!s.includes('\\')) return s;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const c = s[i];
    if (c !== '\\') {
      out += c;
      continue;
    }
    const n = s[++i];
    switch (n) {
      case 's': out += ' '; break;
      case 'n': out += '\n'; break;
      case 't': out += '\t'; break;
      case 'r': out += '\r'; break;
      case '\\': out += '\\'; break;
      // Kept escaped so splitList can tell a literal ';' from a separator.
      case ';': out += '\\;'; break;
      case ',': out += ','; break;
      case undefined: throw new KeyFileSyntaxError(file, line, 'value ends with a lone backslash');
      default: throw new KeyFileSyntaxError(file, line, `unknown escape "\\${n}" in value`);
    }
  }
  return out;
}

/** A single string value: the `\\;` kept for lists becomes a plain ';'. */
export function stringValue(value: string): string {
  return value.replace(/\\;/g, ';');
}

/** A GLib string list: `a;b;c;` → ['a','b','c']; `\;` is a literal semicolon; empty items dropped. */
export function splitList(value: string): string[] {
  const items: string[] = [];
  let cur = '';
  for (let i = 0; i < value.length; i++) {
    if (value[i] === '\\' && value[i + 1] === ';') {
      cur += ';';
      i++;
    } else if (value[i] === ';') {
      items.push(cur);
      cur = '';
    } else {
      cur += value[i];
    }
  }
  items.push(cur);
  return items.map((s) => s.trim()).filter((s) => s !== '');
}
