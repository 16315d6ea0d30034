/**
 * The crypto floor: the CPU one side of a TLS 1.3 handshake cannot avoid, measured by running
 * just its primitives with node:crypto, synchronously, in a loop: ephemeral X25519 key, key
 * agreement, CertificateVerify signature and the peer's signatures (CertificateVerify and the
 * two chain links, leaf←intermediate and intermediate←root), the HKDF key schedule through the
 * kTLS traffic keys, the transcript hash, and AEAD over the handshake flights (one record per
 * flight, the fewest possible). Constants (the PSK-less early secret) are not recomputed;
 * certificates are not parsed. Anything the agent spends above this is overhead.
 */
import crypto, { type KeyObject } from 'node:crypto';
import { pemToDer } from '../../tls/x509';
import { CLIENT_CERT, SERVER_CERT, STORM_PKI, type AuthMode, type Role } from './shape';
import { cpuUsPerCall, median } from '../stats';

export type FloorCategory = 'keyExchange' | 'sign' | 'verify' | 'keySchedule' | 'aead';
export const FLOOR_CATEGORIES: readonly FloorCategory[] = ['keyExchange', 'sign', 'verify', 'keySchedule', 'aead'];

export interface FloorFigures {
  /** CPU µs per handshake, all primitives together (median of repeats). */
  cpuUs: number;
  /** CPU µs per handshake spent in each kind of primitive, measured alone. */
  breakdown: Record<FloorCategory, number>;
  /** How many of each operation one handshake of this side performs. */
  ops: { signatures: number; verifications: number; hmacs: number; aeadRecords: number };
}

interface Step {
  cat: FloorCategory;
  run: () => void;
}

export interface Material {
  serverKey: KeyObject;
  clientKey: KeyObject;
  serverChain: crypto.X509Certificate[];
  clientChain: crypto.X509Certificate[];
  root: crypto.X509Certificate;
  chainBytes: { server: number; client: number };
  peerShare: string;
  psk: Buffer;
}

function chain(name: string): crypto.X509Certificate[] {
  return pemToDer(STORM_PKI.text(`${name}.chain.pem`)).map((der) => new crypto.X509Certificate(der));
}

/** The fixture keys and chains the floor signs and verifies with, and a fresh peer key share. */
export function loadMaterial(): Material {
  const serverChain = chain(SERVER_CERT);
  const clientChain = chain(CLIENT_CERT);
  const peer = crypto.generateKeyPairSync('x25519').publicKey.export({ format: 'jwk' }) as { x: string };
  return {
    serverKey: crypto.createPrivateKey(STORM_PKI.read(`${SERVER_CERT}.key.pem`)),
    clientKey: crypto.createPrivateKey(STORM_PKI.read(`${CLIENT_CERT}.key.pem`)),
    serverChain,
    clientChain,
    root: new crypto.X509Certificate(STORM_PKI.read('root-ca.crt.pem')),
    chainBytes: { server: serverChain.reduce((a, c) => a + c.raw.length + 5, 8), client: clientChain.reduce((a, c) => a + c.raw.length + 5, 8) },
    peerShare: peer.x,
    psk: crypto.randomBytes(32),
  };
}

const hmac = (key: Buffer, data: Buffer): Buffer => crypto.createHmac('sha256', key).update(data).digest();
/** HKDF-Expand-Label for outputs ≤ 32 bytes: one HMAC. */
function expandLabel(secret: Buffer, label: string, context: Buffer, length: number): Buffer {
  const l = Buffer.from(`tls13 ${label}`, 'ascii');
  const info = Buffer.concat([Buffer.from([length >> 8, length & 255, l.length]), l, Buffer.from([context.length]), context, Buffer.from([1])]);
  return hmac(secret, info).subarray(0, length);
}

/** The steps one side of one handshake performs, in order. */
function steps(role: Role, auth: AuthMode, m: Material, counts: FloorFigures['ops']): Step[] {
  const out: Step[] = [];
  const s: Record<"shared" | "early" | "hs" | "master" | "th", Buffer> = { shared: crypto.randomBytes(32), early: Buffer.alloc(32), hs: Buffer.alloc(32), master: Buffer.alloc(32), th: Buffer.alloc(32) };
  const zeros = Buffer.alloc(32);
  const emptyHash = crypto.createHash('sha256').digest();
  const derived0 = expandLabel(hmac(zeros, zeros), 'derived', emptyHash, 32); // constant without a PSK
  const hsKey = crypto.randomBytes(16);
  const iv = crypto.randomBytes(12);
  const mtls = auth === 'mtls';
  const psk = auth === 'psk';
  const hello = crypto.randomBytes(psk ? 300 : 250);
  const server = crypto.randomBytes(90);
  let transcript = crypto.createHash('sha256');
  const hm = (key: Buffer, data: Buffer) => {
    counts.hmacs++;
    return hmac(key, data);
  };
  const xl = (secret: Buffer, label: string, ctx: Buffer, len: number) => {
    counts.hmacs++;
    return expandLabel(secret, label, ctx, len);
  };

  // The flights each side seals/opens: server EE..Finished; client (Certificate, CertificateVerify,) Finished.
  const serverFlight = Buffer.alloc(6 + (psk ? 0 : 8 + m.chainBytes.server + 79) + 36);
  const clientFlight = Buffer.alloc((mtls ? m.chainBytes.client + 79 + 4 : 0) + 36);
  const sealed = (pt: Buffer) => {
    const c = crypto.createCipheriv('aes-128-gcm', hsKey, iv);
    c.setAAD(Buffer.from([23, 3, 3, (pt.length + 17) >> 8, (pt.length + 17) & 255]));
    return { body: Buffer.concat([c.update(pt), c.final()]), tag: c.getAuthTag(), len: pt.length };
  };
  const seal = (pt: Buffer) => () => void sealed(Buffer.concat([pt, Buffer.from([22])]));
  const open = (rec: ReturnType<typeof sealed>) => () => {
    const d = crypto.createDecipheriv('aes-128-gcm', hsKey, iv);
    d.setAuthTag(rec.tag);
    d.setAAD(Buffer.from([23, 3, 3, (rec.len + 17) >> 8, (rec.len + 17) & 255]));
    d.update(rec.body);
    d.final();
  };
  const cvContent = (label: string) => Buffer.concat([Buffer.alloc(64, 0x20), Buffer.from(label, 'ascii'), Buffer.from([0]), s.th]);
  const signWith = (key: KeyObject, label: string): Step => {
    counts.signatures++;
    return { cat: 'sign', run: () => void crypto.sign('sha256', cvContent(label), { key, dsaEncoding: 'der' }) };
  };
  const verifyPeer = (chainCerts: crypto.X509Certificate[], label: string, signer: KeyObject): Step[] => {
    const sig = crypto.sign('sha256', cvContent(label), { key: signer, dsaEncoding: 'der' });
    const leafKey = chainCerts[0].publicKey;
    const links: Array<[crypto.X509Certificate, KeyObject]> = [];
    for (let i = 0; i < chainCerts.length; i++) links.push([chainCerts[i], (chainCerts[i + 1] ?? m.root).publicKey]);
    counts.verifications += 1 + links.length;
    return [
      ...links.map(([c, k]): Step => ({ cat: 'verify', run: () => void c.verify(k) })),
      { cat: 'verify', run: () => void crypto.verify('sha256', cvContent(label), { key: leafKey, dsaEncoding: 'der' }, sig) },
    ];
  };

  out.push({
    cat: 'keySchedule',
    run: () => {
      transcript = crypto.createHash('sha256');
      transcript.update(hello);
    },
  });
  if (psk) {
    // Binder: early secret, binder key, finished key, HMAC over the truncated ClientHello.
    out.push({
      cat: 'keySchedule',
      run: () => {
        s.early = hm(zeros, m.psk);
        const binderKey = xl(s.early, 'ext binder', emptyHash, 32);
        const fk = xl(binderKey, 'finished', Buffer.alloc(0), 32);
        hm(fk, transcript.copy().digest());
      },
    });
  }
  out.push({
    cat: 'keyExchange',
    run: () => {
      const gen = crypto.generateKeyPairSync as unknown as (t: 'x25519', o: { publicKeyEncoding: { format: 'jwk' } }) => { privateKey: KeyObject };
      const mine = gen('x25519', { publicKeyEncoding: { format: 'jwk' } });
      const pub = crypto.createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: m.peerShare }, format: 'jwk' });
      s.shared = crypto.diffieHellman({ privateKey: mine.privateKey, publicKey: pub });
    },
  });
  out.push({
    cat: 'keySchedule',
    run: () => {
      transcript.update(server);
      s.th = transcript.copy().digest();
      const d = psk ? xl(s.early, 'derived', emptyHash, 32) : derived0;
      s.hs = hm(d, s.shared);
      const chs = xl(s.hs, 'c hs traffic', s.th, 32);
      const shs = xl(s.hs, 's hs traffic', s.th, 32);
      for (const sec of [chs, shs]) {
        xl(sec, 'key', Buffer.alloc(0), 16);
        xl(sec, 'iv', Buffer.alloc(0), 12);
        xl(sec, 'finished', Buffer.alloc(0), 32);
      }
    },
  });
  // Server flight: EncryptedExtensions, (CertificateRequest,) Certificate, CertificateVerify, Finished.
  const serverRecord = sealed(Buffer.concat([serverFlight, Buffer.from([22])]));
  if (role === 'server') {
    if (!psk) out.push(signWith(m.serverKey, 'TLS 1.3, server CertificateVerify'));
    out.push({ cat: 'aead', run: seal(serverFlight) });
  } else {
    out.push({ cat: 'aead', run: open(serverRecord) });
    if (!psk) out.push(...verifyPeer(m.serverChain, 'TLS 1.3, server CertificateVerify', m.serverKey));
  }
  counts.aeadRecords += 2;
  out.push({
    cat: 'keySchedule',
    run: () => {
      transcript.update(serverFlight);
      s.th = transcript.copy().digest();
      hm(Buffer.alloc(32, 1), s.th); // server Finished: computed by the server, checked by the client
      const d = xl(s.hs, 'derived', emptyHash, 32);
      s.master = hm(d, zeros);
      for (const label of ['c ap traffic', 's ap traffic']) {
        const sec = xl(s.master, label, s.th, 32);
        xl(sec, 'key', Buffer.alloc(0), 16); // the kTLS keys
        xl(sec, 'iv', Buffer.alloc(0), 12);
      }
    },
  });
  const clientRecord = sealed(Buffer.concat([clientFlight, Buffer.from([22])]));
  if (role === 'client') {
    if (mtls) out.push(signWith(m.clientKey, 'TLS 1.3, client CertificateVerify'));
    out.push({ cat: 'aead', run: seal(clientFlight) });
  } else {
    out.push({ cat: 'aead', run: open(clientRecord) });
    if (mtls) out.push(...verifyPeer(m.clientChain, 'TLS 1.3, client CertificateVerify', m.clientKey));
  }
  out.push({
    cat: 'keySchedule',
    run: () => {
      if (mtls) {
        transcript.update(clientFlight.subarray(0, clientFlight.length - 36));
        transcript.copy().digest();
      }
      hm(Buffer.alloc(32, 2), transcript.copy().digest()); // client Finished
    },
  });
  return out;
}

/** Measures the floor of one side of one handshake kind. */
export function measureFloor(role: Role, auth: AuthMode, iterations: number, repeats = 3): FloorFigures {
  const m = loadMaterial();
  const ops = { signatures: 0, verifications: 0, hmacs: 0, aeadRecords: 0 };
  const all = steps(role, auth, m, ops);
  // HMAC counts were taken while building; recount them by running the key schedule once.
  ops.hmacs = 0;
  for (const st of all) st.run();
  const counted = { ...ops, aeadRecords: all.filter((st) => st.cat === 'aead').length };
  const runAll = () => {
    for (const st of all) st.run();
  };
  cpuUsPerCall(Math.max(5, iterations >> 3), runAll); // warm-up: JIT and OpenSSL's lazy init
  const cpuUs = median(Array.from({ length: repeats }, () => cpuUsPerCall(iterations, runAll)));
  const breakdown = {} as Record<FloorCategory, number>;
  for (const cat of FLOOR_CATEGORIES) {
    const mine = all.filter((st) => st.cat === cat);
    breakdown[cat] = mine.length === 0 ? 0 : median(Array.from({ length: repeats }, () => cpuUsPerCall(iterations, () => mine.forEach((st) => st.run()))));
  }
  return { cpuUs, breakdown, ops: counted };
}
