/**
 * The test PKI this package ships (fixtures/pki, made by scripts/gen-pki.sh; or --pki DIR): the
 * one place that says where it is and reads it, for the companion, the benchmarks and the tests.
 * Also the agent configuration that matches it: the agent trusts the PKI's root CA in both roles
 * and presents its server-p256 / client-p256 leaves.
 */
import fs from 'node:fs';
import path from 'node:path';

/** fixtures/pki of this package: two levels up from src/companion or dist/companion. */
export const DEFAULT_PKI_DIR = path.resolve(__dirname, '..', '..', 'fixtures', 'pki');
/** fixtures/pki-pq: the ML-DSA certificates (scripts/gen-pq-pki.sh), beside fixtures/pki. */
export const PQ_PKI_DIR = path.join(path.dirname(DEFAULT_PKI_DIR), 'pki-pq');

export class Pki {
  constructor(
    readonly dir: string,
    /** What a failed read tells the user to do. */
    private readonly hint = "pass --pki DIR pointing at handshaked's fixtures/pki",
  ) {}

  file(name: string): string {
    return path.join(this.dir, name);
  }

  read(name: string): Buffer {
    try {
      return fs.readFileSync(this.file(name));
    } catch (e) {
      throw new Error(`PKI file ${this.file(name)} cannot be read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message}); ${this.hint}`);
    }
  }

  text(name: string): string {
    return this.read(name).toString('utf8');
  }

  /** key + chain of a leaf, for a Node TLS peer. */
  leaf(name: string): { key: Buffer; cert: Buffer } {
    return { key: this.read(`${name}.key.pem`), cert: this.read(`${name}.chain.pem`) };
  }

  get ca(): Buffer {
    return this.read('ca-bundle.pem');
  }

  /** Fail early, naming the missing file, rather than in the middle of the run. */
  check(): void {
    for (const f of ['ca-bundle.pem', 'server-p256.chain.pem', 'server-p256.key.pem', 'client-p256.chain.pem', 'client-p256.key.pem', 'expired.chain.pem', 'wrong-name.chain.pem', 'unknown-ca.chain.pem']) {
      this.read(f);
    }
  }
}

/** The tlshd-format configuration the agent under test must run with. */
export function agentConfigText(pki: Pki, unixSocket?: string): string {
  const abs = (f: string) => path.resolve(pki.file(f));
  return [
    '# handshaked companion agent-test: the agent configuration matching the companion PKI',
    `# (${path.resolve(pki.dir)}). Start the agent with it, e.g.`,
    '#   handshaked serve -c THIS_FILE --transport unix --ktls off --keylog /tmp/agent.keylog',
    '',
    '[authenticate.client]',
    `x509.truststore=${abs('ca-bundle.pem')}`,
    `x509.certificate=${abs('client-p256.chain.pem')}`,
    `x509.private_key=${abs('client-p256.key.pem')}`,
    '',
    '[authenticate.server]',
    `x509.truststore=${abs('ca-bundle.pem')}`,
    `x509.certificate=${abs('server-p256.chain.pem')}`,
    `x509.private_key=${abs('server-p256.key.pem')}`,
    '',
    '[handshaked]',
    ...(unixSocket ? [`unix_socket=${unixSocket}`] : []),
    // several scenarios run at once; the default of 64 is plenty, stated for clarity
    'max_inflight=64',
    '',
  ].join('\n');
}
