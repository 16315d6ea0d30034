/**
 * Application data after the hand-off, protected by the test's own record layer with the keys the
 * engine exported: exactly what kTLS would do with them in the kernel.
 */
import type { ExtractedSecrets } from '../../src/tls/api';
import type { ProcessPeer } from './process-peer';
import type { RecordIO } from './record-io';
import { CONTENT_ALERT, CONTENT_APPLICATION_DATA, CONTENT_HANDSHAKE, RecordProtector } from './record-layer';

export class PeerAlertError extends Error {
  constructor(
    readonly level: number,
    readonly description: number,
  ) {
    super(`peer sent alert level ${level} description ${description} after the handshake`);
    this.name = 'PeerAlertError';
  }
}

export class AppDataChannel {
  readonly tx: RecordProtector;
  readonly rx: RecordProtector;
  /** Post-handshake handshake messages seen (NewSessionTicket from OpenSSL/GnuTLS servers). */
  postHandshakeRecords = 0;

  constructor(
    private readonly io: RecordIO,
    secrets: ExtractedSecrets,
  ) {
    this.tx = new RecordProtector(secrets.suite, secrets.tx);
    this.rx = new RecordProtector(secrets.suite, secrets.rx);
  }

  async send(text: string): Promise<void> {
    await this.io.write(this.tx.seal(CONTENT_APPLICATION_DATA, Buffer.from(text, 'latin1')));
  }

  /**
   * Reads and decrypts records until the application data received so far satisfies `until`.
   * Handshake records (session tickets) are counted and skipped; an alert is an error.
   */
  async receive(until: (text: string) => boolean, timeoutMs = 15000): Promise<string> {
    const deadline = Date.now() + timeoutMs;
    let text = '';
    while (!until(text)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`expected application data not received within ${timeoutMs} ms; got ${JSON.stringify(text)}`);
      const rec = this.rx.open(await this.io.readRecord(left));
      if (rec.type === CONTENT_APPLICATION_DATA) text += rec.data.toString('latin1');
      else if (rec.type === CONTENT_HANDSHAKE) this.postHandshakeRecords++;
      else if (rec.type === CONTENT_ALERT) throw new PeerAlertError(rec.data[0], rec.data[1]);
      else throw new Error(`unexpected inner content type ${rec.type} after the handshake`);
    }
    return text;
  }
}

/** A short line unlikely to collide with anything a peer prints, and free of s_server command letters. */
export function uniqueLine(tag: string): string {
  return `hs-${tag}-${Math.random().toString(36).slice(2, 10)}`;
}

/** How the peer answers the key proof: given the line we sent, the line it sends back. */
export type ProofAnswer = (sent: string) => Promise<string>;

/** An echo peer (Node's echo server, gnutls-serv --echo) sends our own line back. */
export const echoAnswer: ProofAnswer = async (sent) => sent;

/** A command-line peer prints our line on stdout; a fresh line typed into its stdin is its answer. */
export const typedAnswer =
  (proc: ProcessPeer, tag: string): ProofAnswer =>
  async (sent) => {
    await proc.waitFor(sent, 15000, 'stdout');
    const line = uniqueLine(tag);
    proc.writeLine(line);
    return line;
  };

export interface KeyProof {
  /** Went out under our tx keys and was read by the peer. */
  sent: string;
  /** What the peer sent back. */
  expected: string;
  /** What our rx keys decrypted, up to `expected`. */
  received: string;
  postHandshakeRecords: number;
}

/**
 * The key proof after a handshake: one application-data record each way under the exported keys.
 * `tag` names the direction of our line (`to-server`, `to-client`).
 */
export async function keyProof(ch: AppDataChannel, tag: string, answer: ProofAnswer): Promise<KeyProof> {
  const sent = uniqueLine(tag);
  await ch.send(`${sent}\n`);
  const expected = await answer(sent);
  const received = await ch.receive((t) => t.includes(expected));
  return { sent, expected, received, postHandshakeRecords: ch.postHandshakeRecords };
}
