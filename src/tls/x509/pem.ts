/** PEM armour (RFC 7468): finding the blocks in a text and turning them into DER. */
import { X509Error } from './errors';

export interface PemBlock {
  label: string;
  der: Buffer;
  /** 1-based line of the BEGIN line, for error messages. */
  line: number;
}

const BEGIN = /^-----BEGIN ([A-Z0-9 ]+)-----\s*$/;
const BASE64 = /^[A-Za-z0-9+/]*={0,2}$/;

/**
 * Every PEM block in `text`, in order. Text outside blocks is ignored (bundles often carry
 * comments); a block that is not terminated or whose body is not base64 is an error. RFC 1421
 * headers ("Proc-Type: ...") are skipped so that callers can recognise encrypted keys.
 */
export function pemBlocks(text: string, source = 'PEM input'): PemBlock[] {
  const lines = text.split(/\r?\n/);
  const out: PemBlock[] = [];
  for (let i = 0; i < lines.length; i++) {
    const m = BEGIN.exec(lines[i].trim());
    if (!m) continue;
    const label = m[1];
    const start = i + 1;
    const end = `-----END ${label}-----`;
    const body: string[] = [];
    i++;
    while (i < lines.length && lines[i].trim() !== end) {
      const l = lines[i].trim();
      if (l.startsWith('-----')) break;
      if (!l.includes(':')) body.push(l);
      i++;
    }
    if (i >= lines.length || lines[i].trim() !== end) {
      throw new X509Error('X509_PEM', `${source}: line ${start}: "BEGIN ${label}" has no matching "${end}"`);
    }
    const b64 = body.join('');
    if (b64.length % 4 !== 0 || !BASE64.test(b64)) {
      throw new X509Error('X509_PEM', `${source}: line ${start}: the ${label} block is not valid base64`);
    }
    const der = Buffer.from(b64, 'base64');
    if (der.length === 0) throw new X509Error('X509_PEM', `${source}: line ${start}: the ${label} block is empty`);
    out.push({ label, der, line: start });
  }
  return out;
}

/** The DER of every block labelled `label` (default CERTIFICATE). */
export function pemToDer(text: string, label = 'CERTIFICATE', source?: string): Buffer[] {
  return pemBlocks(text, source).filter((b) => b.label === label).map((b) => b.der);
}

/** DER → PEM with 64-column lines. */
export function derToPem(der: Buffer, label = 'CERTIFICATE'): string {
  const b64 = der.toString('base64').replace(/(.{64})/g, '$1\n').replace(/\n$/, '');
  return `-----BEGIN ${label}-----\n${b64}\n-----END ${label}-----\n`;
}

/** True when the bytes look like PEM text rather than DER. */
export function looksLikePem(data: Buffer): boolean {
  return data.includes('-----BEGIN ');
}
