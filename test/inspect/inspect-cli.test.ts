import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { CAPTURE_SEQUENCE, FIXTURE_FAMILY_ID, buildFixtures, hexFile } from '../../src/netlink/fixtures';
import { jsonValue } from '../../src/netlink/inspect/render';
import { decodeMessages, handshakeFamily } from '../../src/netlink';

const root = path.join(__dirname, '..', '..');
const bin = path.join(root, 'dist', 'cli', 'main.js');
const fixtureDir = path.join(root, 'fixtures', 'netlink');
const fixtures = buildFixtures();

function run(args: string[], input?: string | Buffer) {
  const r = spawnSync(process.execPath, [bin, 'inspect', ...args], { input, encoding: 'utf8', timeout: 60000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const fid = ['--family-id', `0x${FIXTURE_FAMILY_ID.toString(16)}`];

describe('fixtures', () => {
  it('the committed files are what the generator makes (run scripts/gen-netlink-fixtures.sh after changing the table)', () => {
    for (const f of fixtures) expect(fs.readFileSync(path.join(fixtureDir, `${f.name}.hex`), 'utf8')).toBe(hexFile(f));
  });
  it('cover every command and every attribute of the handshake family', () => {
    const seen = new Set<string>();
    const walk = (prefix: string, o: Record<string, unknown>) => {
      for (const [k, v] of Object.entries(o)) {
        seen.add(`${prefix}.${k}`);
        const items = Array.isArray(v) ? v : [v];
        for (const it of items) if (it && typeof it === 'object' && !Buffer.isBuffer(it)) walk(`${prefix}.${k}`, it as Record<string, unknown>);
      }
    };
    for (const f of fixtures) if (f.expect?.family === 'handshake') {
      seen.add(`cmd.${f.expect.cmd}`);
      walk(f.expect.cmd === 'done' ? 'done' : 'accept', f.expect.attrs);
    }
    for (const want of ['cmd.ready', 'cmd.accept', 'cmd.done', 'accept.sockfd', 'accept.handler-class', 'accept.message-type', 'accept.timeout', 'accept.auth-mode', 'accept.peer-identity', 'accept.certificate', 'accept.certificate.cert', 'accept.certificate.privkey', 'accept.peername', 'accept.keyring', 'done.status', 'done.sockfd', 'done.remote-auth']) {
      expect(seen).toContain(want);
    }
  });
});

describe('inspect decode prints every fixture in all three formats', () => {
  // One CLI run per format over all fixture files in a row (spawning ~80 processes is slow on a
  // busy 2-core machine); each fixture's messages are then found by position.
  const text = fixtures.map((f) => fs.readFileSync(path.join(fixtureDir, `${f.name}.hex`), 'utf8')).join('\n');
  const counts = fixtures.map((f) => decodeMessages(f.bytes, { families: new Map([[FIXTURE_FAMILY_ID, handshakeFamily], [0x100, handshakeFamily]]) }).length);
  const split = <T>(items: T[]): T[][] => {
    let i = 0;
    return counts.map((n) => items.slice(i, (i += n)));
  };
  let tree: string[][];
  let json: Array<Array<Record<string, unknown>>>;
  let ann: string[][];
  beforeAll(() => {
    const t = run(['decode', '-', ...fid], text);
    const j = run(['decode', '-', ...fid, '--json'], text);
    const a = run(['decode', '-', ...fid, '--annotate'], text);
    for (const r of [t, j, a]) {
      expect(r.stderr).toBe('');
      expect(r.status).toBe(0);
    }
    tree = split(t.stdout.trimEnd().split('\n\n'));
    json = split(j.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>));
    ann = split(a.stdout.trimEnd().split('\n\n'));
  });

  it.each(fixtures.map((f, i) => [f.name, f, i] as const))('%s', (_name, f, i) => {
    expect(tree[i]).toHaveLength(counts[i]);
    expect(json[i]).toHaveLength(counts[i]);
    expect(ann[i]).toHaveLength(counts[i]);
    for (const a of ann[i]) expect(a).toMatch(/nlmsghdr\.nlmsg_len = \d+/);
    if (f.expect) {
      expect(json[i][0]).toMatchObject({ family: f.expect.family, cmd: f.expect.cmd, attrs: jsonValue(f.expect.attrs) });
      expect(tree[i][0].split('\n')[0]).toContain(`${f.expect.family} ${f.expect.cmd}`);
      for (const key of Object.keys(f.expect.attrs)) {
        expect(tree[i][0]).toContain(key);
        if (!key.startsWith('unknown-')) expect(ann[i][0]).toContain(`.${key} nla_type`);
      }
    } else {
      // Errors, ACKs and multipart replies: each message is either genl with a command or a netlink control message.
      for (const o of json[i]) expect(o.cmd ?? o.message).toBeTruthy();
    }
  });

  it('reads a single fixture file by name', () => {
    const r = run(['decode', path.join(fixtureDir, 'accept-reply-client-psk.hex'), ...fid]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('peer-identity[2]: ');
  });

  it('shows enums by name and value and nests indented', () => {
    const r = run(['decode', path.join(fixtureDir, 'accept-reply-client-x509.hex'), ...fid]);
    expect(r.stdout).toContain('message-type: clienthello (1)');
    expect(r.stdout).toContain('auth-mode: x509 (3)');
    expect(r.stdout).toMatch(/certificate\[0\]:\n {4}cert: \d+\n {4}privkey: \d+/);
  });

  it('shows the extended ack of an error', () => {
    const r = run(['decode', path.join(fixtureDir, 'error-extack.hex')]);
    expect(r.stdout).toContain('error -22 EINVAL');
    expect(r.stdout).toContain('extack msg: "Unknown attribute type"');
    expect(r.stdout).toContain('extack offset: 36');
    const j = JSON.parse(run(['decode', path.join(fixtureDir, 'error-extack.hex'), '--json']).stdout);
    expect(j).toMatchObject({ message: 'error', code: 'EINVAL', extack: { msg: 'Unknown attribute type', offset: 36 } });
  });

  it('without --family-id, kernel handshake messages show at the generic level with their family id', () => {
    const r = run(['decode', path.join(fixtureDir, 'ready.hex'), '--json']);
    expect(JSON.parse(r.stdout)).toMatchObject({ family: null, type: FIXTURE_FAMILY_ID, cmd: 1, rawAttrs: [{ type: 2, data: '01000000' }] });
  });

  it('decodes several messages in one hex input (stdin)', () => {
    const text = ['ready', 'accept-request', 'error-eagain'].map((n) => fs.readFileSync(path.join(fixtureDir, `${n}.hex`), 'utf8')).join('\n');
    const r = run(['decode', '-', ...fid, '--json'], text);
    expect(r.stdout.trim().split('\n').map((l) => JSON.parse(l).cmd ?? JSON.parse(l).message)).toEqual(['ready', 'accept', 'error']);
  });

  it('decodes raw binary input', () => {
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inspect-'));
    try {
      const f = fixtures.find((x) => x.name === 'done-ok-remote-auth-multi')!;
      fs.writeFileSync(path.join(tmp, 'm.bin'), f.bytes);
      const r = run(['decode', path.join(tmp, 'm.bin'), ...fid, '--json']);
      expect(JSON.parse(r.stdout).attrs['remote-auth']).toHaveLength(3);
    } finally {
      fs.rmSync(tmp, { recursive: true });
    }
  });

  it('decodes the nlmon capture, learning the family id from its GETFAMILY reply', () => {
    const file = path.join(fixtureDir, 'upcall.pcap');
    const r = run(['decode', file, '--json']);
    expect(r.status).toBe(0);
    const objs = r.stdout.trim().split('\n').map((l) => JSON.parse(l) as { packet: number; family?: string; cmd?: string; message?: string });
    expect(objs.map((o) => o.packet)).toEqual(CAPTURE_SEQUENCE.map((_, i) => i + 1));
    expect(objs.map((o) => o.cmd ?? o.message)).toEqual(['getfamily', 'newfamily', 'ready', 'accept', 'accept', 'done', 'ack', 'accept', 'error']);
    expect(objs[2].family).toBe('handshake');
    for (const args of [[], ['--annotate']]) {
      const t = run(['decode', file, ...args]);
      expect(t.status).toBe(0);
      expect(t.stdout).toContain('handshake ready  (packet 3');
    }
  });
});

describe('bad input: exit 2 and one line naming the offset', () => {
  const cases: Array<[string, string, RegExp]> = [
    ['odd number of hex digits', '1c0', /odd number of hex digits/],
    ['truncated message', '1c000000 1d000500 07000000 00000000 02010000', /byte 0: nlmsghdr\.nlmsg_len: .*truncated/],
    ['attribute overrunning its parent', '1c000000 1d000500 07000000 00000000 02010000 0c000200 01000000', /byte 20: .*handler-class nla_len: .*overruns its parent/],
    ['unknown command', '1c000000 1d000500 07000000 00000000 09010000 08000200 01000000', /byte 16: genlmsghdr\.cmd: unknown command 9/],
    ['not hex', 'hello', /not a hex digit/],
  ];
  it.each(cases)('%s', (_n, input, re) => {
    const r = run(['decode', '-', ...fid], input);
    expect(r.status).toBe(2);
    expect(r.stdout).toBe('');
    const lines = r.stderr.trim().split('\n');
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(re);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a truncated capture', () => {
    const pcap = fs.readFileSync(path.join(fixtureDir, 'upcall.pcap'));
    const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'inspect-'));
    try {
      fs.writeFileSync(path.join(tmp, 'cut.pcap'), pcap.subarray(0, pcap.length - 5));
      const r = run(['decode', path.join(tmp, 'cut.pcap')]);
      expect(r.status).toBe(2);
      expect(r.stderr.trim().split('\n')).toHaveLength(1);
      expect(r.stderr).toMatch(/truncated capture/);
    } finally {
      fs.rmSync(tmp, { recursive: true });
    }
  });
});

describe('inspect monitor', () => {
  it('exits 1 with one line when the kernel lacks the handshake family', () => {
    const r = run(['monitor']);
    expect(r.status).toBe(1);
    expect(r.stderr.trim().split('\n')).toEqual(['handshaked inspect: the kernel lacks the handshake netlink family (needs CONFIG_NET_HANDSHAKE, Linux 6.5 or later)']);
  });

  it('--namespaces: a bad list or a namespace that is not there is exit 2 with the reason', () => {
    const bad = run(['monitor', '--namespaces', 'all;x']);
    expect(bad.status).toBe(2);
    expect(bad.stderr.trim()).toBe('handshaked inspect: namespaces: "all" cannot be combined with other entries');
    const absent = run(['monitor', '--namespaces', 'self;hsd-no-such-namespace']);
    expect(absent.status).toBe(2);
    expect(absent.stderr.trim()).toBe('handshaked inspect: --namespaces: not found: hsd-no-such-namespace');
  });
});

describe('--help', () => {
  it.each([[[]], [['decode']], [['monitor']]])('inspect %j --help shows examples', (sub) => {
    const r = run([...sub, '--help']);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('Examples:');
  });
});
