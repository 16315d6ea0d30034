/**
 * The Debian 13 root with OpenSSL 3.5 and GnuTLS 3.8 (scripts/trixie-root.sh): built on first use
 * when we may (root; minutes), reused from its cache otherwise. Tests that need it skip, with the
 * reason in their title, only when not run as root (no debootstrap or chroot then). As root (CI,
 * `npm test` after its tool check) a root that fails to build is an error, never a skip: the
 * post-quantum interop must not pass by not running.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';

const SCRIPT = path.resolve(__dirname, '..', '..', 'scripts', 'trixie-root.sh');

export type TrixieRoot = { root: string; openssl: string; gnutls: string } | { root: undefined; reason: string };

let cached: TrixieRoot | undefined;

export function trixieRoot(): TrixieRoot {
  if (cached) return cached;
  if (process.getuid?.() !== 0) return (cached = { root: undefined, reason: 'not root: the Debian 13 root needs debootstrap and chroot' });
  try {
    const root = execFileSync('bash', [SCRIPT], { encoding: 'utf8', timeout: 1_500_000, stdio: ['ignore', 'pipe', 'pipe'] }).trim();
    const versions = fs.readFileSync(path.join(root, '.complete'), 'utf8');
    const version = (pkg: string) => new RegExp(`^${pkg} (\\S+)`, 'm').exec(versions)?.[1] ?? '?';
    cached = { root, openssl: version('openssl'), gnutls: version('gnutls-bin') };
  } catch (e) {
    const err = e as { stderr?: string; message: string };
    throw new Error(`scripts/trixie-root.sh failed: ${(err.stderr || err.message).trim().split('\n').pop()}`);
  }
  return cached;
}
