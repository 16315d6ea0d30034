/**
 * The VM harness's report step (scripts/vm/report.sh): the guest's HSVM-RESULT console lines
 * become KTAP and a side-by-side table, and the exit status is what `npm run test:kernel`
 * returns. The VM itself runs only under `npm run test:kernel`; this checks the part that
 * decides pass or fail, on console logs shaped like the real ones.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

const script = path.join(__dirname, '..', '..', 'scripts', 'vm', 'report.sh');

interface Report {
  status: number | null;
  out: string;
}

function report(consoles: Record<string, string[]>, plan: Record<string, string[]>, files: Record<string, string> = {}): Report {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'hsvm-report-'));
  try {
    for (const [pass, lines] of Object.entries(consoles)) {
      // host-stamped, with the serial console's CR line ends, as console_tee writes them
      const text = lines.map((l, i) => `[${(i + 1).toFixed(1).padStart(7)}] ${l}\r`).join('\n');
      fs.writeFileSync(path.join(dir, `${pass}.console.log`), text + '\n');
    }
    for (const [rel, text] of Object.entries(files)) {
      fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
      fs.writeFileSync(path.join(dir, rel), text);
    }
    const passes = Object.keys(plan).join(' ');
    const planText = Object.entries(plan)
      .map(([p, s]) => `${p}:${s.join(' ')}`)
      .join('\n');
    const r = spawnSync('bash', [script, dir, passes, planText], { encoding: 'utf8' });
    return { status: r.status, out: r.stdout };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

describe('scripts/vm/report.sh', () => {
  it('prints KTAP with one line per planned scenario and exits 0 when all pass or skip', () => {
    const r = report(
      {
        tlshd: ['noise', 'HSVM-RESULT tlshd nfs-tls ok 36.4 2 0.2 64 MiB checksum ok'],
        mixed: ['HSVM-RESULT mixed companion-kernel-test skip 3.4 0 0 handshaked companion kernel-test does not exist yet'],
      },
      { tlshd: ['nfs-tls'], mixed: ['companion-kernel-test'] },
    );
    expect(r.status).toBe(0);
    const lines = r.out.split('\n');
    expect(lines[0]).toBe('KTAP version 1');
    expect(lines[1]).toBe('1..2');
    expect(lines).toContain('ok 1 tlshd.nfs-tls');
    expect(lines).toContain('ok 2 mixed.companion-kernel-test # SKIP handshaked companion kernel-test does not exist yet');
  });

  it('fails the run for a failed scenario and for a scenario that never reported', () => {
    const r = report(
      { handshaked: ['HSVM-RESULT handshaked nfs-tls fail 26.5 0 6.1 mount -o xprtsec=tls localhost:/export failed (rc=32 after 0.9s)'] },
      { handshaked: ['nfs-tls', 'nvme-tls-psk'] },
    );
    expect(r.status).toBe(1);
    expect(r.out).toContain('not ok 1 handshaked.nfs-tls');
    expect(r.out).toContain('# handshaked.nfs-tls: 26.5s (agent start-up 6.1s), 0 kTLS installs: mount -o xprtsec=tls');
    expect(r.out).toContain('not ok 2 handshaked.nvme-tls-psk');
    expect(r.out).toMatch(/handshaked\.nvme-tls-psk: no result/);
  });

  it('puts both agents side by side with handshaked/tlshd ratios', () => {
    const r = report(
      {
        tlshd: ['HSVM-RESULT tlshd nvme-tls-psk ok 20.0 10 1.0 ok'],
        handshaked: ['HSVM-RESULT handshaked nvme-tls-psk ok 30.0 10 11.0 ok'],
      },
      { tlshd: ['nvme-tls-psk'], handshaked: ['nvme-tls-psk'] },
    );
    expect(r.status).toBe(0);
    const row = r.out.split('\n').find((l) => l.startsWith('# nvme-tls-psk'));
    expect(row).toBeDefined();
    // time 30/20 = 1.50; without start-up (30-11)/(20-1) = 1.00; handshakes 10/10
    expect(row!.trim().split(/\s+/).slice(-3)).toEqual(['1.50', '1.00', '1.00']);
  });

  it("nests the companion's own KTAP under its line", () => {
    const r = report(
      { mixed: ['HSVM-RESULT mixed companion-kernel-test ok 40.0 4 0 companion KTAP: 2 ok, 0 not ok'] },
      { mixed: ['companion-kernel-test'] },
      { 'results/mixed/companion-kernel-test.ktap': 'KTAP version 1\n1..1\nok 1 accept-then-close\n' },
    );
    expect(r.status).toBe(0);
    expect(r.out).toContain('    KTAP version 1\n    1..1\n    ok 1 accept-then-close\nok 1 mixed.companion-kernel-test');
  });
});
