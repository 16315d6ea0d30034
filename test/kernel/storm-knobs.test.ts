/**
 * The nvme-storm benchmark's knobs on their way into the VM: the host's storm_args
 * (scripts/vm/lib.sh) writes HSVM_STORM_* as kernel command-line words, the guest's storm_knob
 * (scripts/vm/guest/lib.sh) exports them again, and the scenario takes the median of its warm
 * rounds with the guest's median. The VM itself runs only under `npm run test:kernel`.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseConfigText } from '../../src/agent/config';

const vm = path.join(__dirname, '..', '..', 'scripts', 'vm');

function bash(script: string, env: Record<string, string> = {}): { status: number | null; out: string; err: string } {
  const r = spawnSync('bash', ['-c', script], { encoding: 'utf8', env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env } });
  return { status: r.status, out: r.stdout, err: r.stderr };
}

const hostArgs = (env: Record<string, string>) => bash(`source '${vm}/lib.sh'; storm_args`, env);

describe('storm_args (host)', () => {
  it('writes only the knobs that are set, spaces as commas', () => {
    const r = hostArgs({ HSVM_STORM_WARM_ROUNDS: '5', HSVM_STORM_AGENTS: 'handshaked tlshd' });
    expect(r.status).toBe(0);
    expect(r.out).toBe(' hsvm.storm.warm_rounds=5 hsvm.storm.agents=handshaked,tlshd');
    expect(hostArgs({}).out).toBe('');
  });

  it('refuses a value the kernel command line cannot carry, naming the variable', () => {
    const r = hostArgs({ HSVM_STORM_CTRLS: '8;reboot' });
    expect(r.status).toBe(2);
    expect(r.out).toBe('');
    expect(r.err).toContain("HSVM_STORM_CTRLS may hold only letters, digits, spaces and = . : / _ -, got '8;reboot'");
  });
});

describe('storm_knob (guest)', () => {
  it('gives the scenario back what the host set', () => {
    const env = {
      HSVM_STORM_CTRLS: '12',
      HSVM_STORM_WARM_ROUNDS: '4',
      HSVM_STORM_CODE_CACHE: 'primed',
      HSVM_STORM_AGENTS: 'tlshd handshaked',
      HSVM_STORM_LOGLEVEL: '0',
      HSVM_STORM_GROUPS: 'x25519 secp256r1',
      HSVM_STORM_NODE_FLAGS: '--jitless --max-semi-space-size=2',
    };
    const words = hostArgs(env).out.trim().split(' ');
    expect(words).toHaveLength(7);
    const r = bash(
      `source '${vm}/guest/lib.sh'; for w in ${words.map((w) => `'${w}'`).join(' ')}; do storm_knob "$w" || exit 9; done; env | grep '^HSVM_STORM_' | sort`,
    );
    expect(r.status).toBe(0);
    expect(r.out.trim().split('\n')).toEqual(Object.entries(env).map(([k, v]) => `${k}=${v}`).sort());
  });

  it('exports nothing for a name it does not know', () => {
    const r = bash(`source '${vm}/guest/lib.sh'; storm_knob hsvm.storm.path=/tmp; echo "rc=$? $(env | grep -c '^HSVM_STORM_')"`);
    expect(r.out.trim()).toBe('rc=1 0');
  });
});

describe('median (guest)', () => {
  const median = (...v: string[]) => bash(`source '${vm}/guest/lib.sh'; median ${v.join(' ')}`).out;
  it('takes the middle of an odd count and the mean of the two middle ones of an even count', () => {
    expect(median('26.7', '18.2', '11.1')).toBe('18.20');
    expect(median('4.7', '10.0', '5.5', '9.1')).toBe('7.30');
    expect(median('3.0')).toBe('3.00');
    expect(median('9.5', '10.5', '100')).toBe('10.50');
  });
});

describe('set_handshaked_groups (guest)', () => {
  // The storm's handshaked config: tlshd's sections, and a [handshaked] section only when
  // HSVM_WORKERS made one (write_agent_config). Read back by the agent's own parser.
  const withGroups = (config: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'storm-groups-'));
    try {
      const file = path.join(dir, 'storm-handshaked.conf');
      fs.writeFileSync(file, config);
      const r = bash(`source '${vm}/guest/lib.sh'; set_handshaked_groups '${file}' 'x25519 secp256r1'`);
      expect(r.status).toBe(0);
      const text = fs.readFileSync(file, 'utf8');
      return { text, parsed: parseConfigText(text, file).config };
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
  const tlshdPart = '[debug]\nloglevel=2\n\n[authenticate]\nkeyrings=.nvme\n';

  it('adds the groups to the [handshaked] section HSVM_WORKERS wrote, keeping its workers', () => {
    const { text, parsed } = withGroups(`[debug]\nloglevel=2\n\n[handshaked]\nworkers=1\n\n[authenticate]\nkeyrings=.nvme\n`);
    expect(text.match(/^\[handshaked\]$/gm)).toHaveLength(1);
    expect(parsed.groups).toEqual(['x25519', 'secp256r1']);
    expect(parsed.workers).toBe(1);
  });

  it('makes a [handshaked] section when there is none', () => {
    const { parsed } = withGroups(tlshdPart);
    expect(parsed.groups).toEqual(['x25519', 'secp256r1']);
  });
});
