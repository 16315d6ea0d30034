/**
 * `npm run bench:crypto`: the measurements behind two choices, in one run on this machine.
 *
 * 1. Which crypto API the engine uses: X25519 agreement and ECDSA P-256 signing through
 *    node:crypto (synchronous), Node's built-in WebCrypto, and @peculiar/webcrypto (when it can
 *    be loaded: it is not a dependency; `npm i --no-save @peculiar/webcrypto` to include it).
 * 2. Whether the smallest primitives are cheaper from the system libcrypto through koffi than
 *    through node:crypto: one-shot HMAC-SHA256 over a 64-byte label (one HKDF-Expand-Label) and
 *    SHA-256 over 64 bytes, both ways.
 *
 * Each figure is the median of several timed batches, in µs per operation, interleaved so that
 * the machine's drift hits every variant alike.
 */
import { createHmac, createHash, createPrivateKey, createPublicKey, diffieHellman, generateKeyPairSync, sign, webcrypto, type KeyObject } from 'node:crypto';
import koffi from 'koffi';
import { median } from './stats';

type Op = () => unknown;

function timeBatch(op: Op, n: number): number {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) op();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}

async function timeBatchAsync(op: () => Promise<unknown>, n: number): Promise<number> {
  const t0 = process.hrtime.bigint();
  for (let i = 0; i < n; i++) await op();
  return Number(process.hrtime.bigint() - t0) / 1e3 / n;
}


interface Variant {
  name: string;
  run: (n: number) => Promise<number>;
}

async function measure(variants: Variant[], batches: number, n: number): Promise<Map<string, number>> {
  const samples = new Map<string, number[]>(variants.map((v) => [v.name, []]));
  for (const v of variants) await v.run(Math.max(1, n >> 2)); // warm-up
  for (let b = 0; b < batches; b++) for (const v of variants) samples.get(v.name)!.push(await v.run(n));
  return new Map([...samples].map(([k, xs]) => [k, median(xs)]));
}

interface WebCryptoLike {
  subtle: webcrypto.SubtleCrypto;
}

function loadPeculiar(): WebCryptoLike | undefined {
  try {
    // Optional, measured only when present: a string the bundler and tsc leave alone.
    const name = '@peculiar/webcrypto';
    // eslint-disable-next-line @typescript-eslint/no-require-imports
    const mod = require(name) as { Crypto: new () => WebCryptoLike };
    return new mod.Crypto();
  } catch {
    return undefined;
  }
}

async function webVariants(label: string, c: WebCryptoLike): Promise<Variant[]> {
  const s = c.subtle;
  const a = (await s.generateKey({ name: 'X25519' } as unknown as webcrypto.EcKeyGenParams, false, ['deriveBits'])) as webcrypto.CryptoKeyPair;
  const b = (await s.generateKey({ name: 'X25519' } as unknown as webcrypto.EcKeyGenParams, false, ['deriveBits'])) as webcrypto.CryptoKeyPair;
  const ec = (await s.generateKey({ name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign'])) as webcrypto.CryptoKeyPair;
  const data = new Uint8Array(130);
  return [
    { name: `X25519 derive, ${label}`, run: (n) => timeBatchAsync(() => s.deriveBits({ name: 'X25519', public: b.publicKey } as unknown as webcrypto.EcdhKeyDeriveParams, a.privateKey, 256), n) },
    { name: `ECDSA P-256 sign, ${label}`, run: (n) => timeBatchAsync(() => s.sign({ name: 'ECDSA', hash: 'SHA-256' }, ec.privateKey, data), n) },
  ];
}

function nodeVariants(): Variant[] {
  const a = generateKeyPairSync('x25519');
  const b = generateKeyPairSync('x25519');
  const peer: KeyObject = createPublicKey({ key: b.publicKey.export({ format: 'der', type: 'spki' }), format: 'der', type: 'spki' });
  const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'prime256v1' });
  const ecKey = createPrivateKey({ key: privateKey.export({ format: 'der', type: 'pkcs8' }), format: 'der', type: 'pkcs8' });
  const data = Buffer.alloc(130);
  return [
    { name: 'X25519 derive, node:crypto', run: async (n) => timeBatch(() => diffieHellman({ privateKey: a.privateKey, publicKey: peer }), n) },
    { name: 'ECDSA P-256 sign, node:crypto', run: async (n) => timeBatch(() => sign('sha256', data, { key: ecKey, dsaEncoding: 'der' }), n) },
  ];
}

function primitiveVariants(): Variant[] {
  const key = Buffer.alloc(32, 1);
  const info = Buffer.alloc(64, 2);
  const out = Buffer.alloc(64);
  const outLen = new Uint32Array(1);
  const variants: Variant[] = [
    { name: 'HMAC-SHA256 64 B, node:crypto', run: async (n) => timeBatch(() => createHmac('sha256', key).update(info).digest(), n) },
    { name: 'SHA-256 64 B, node:crypto', run: async (n) => timeBatch(() => createHash('sha256').update(info).digest(), n) },
  ];
  try {
    const lib = koffi.load('libcrypto.so.3');
    const evpSha256 = lib.func('const void *EVP_sha256(void)');
    const hmac = lib.func('void *HMAC(const void *md, const void *key, int keyLen, const void *d, size_t n, _Out_ uint8_t *out, _Out_ uint32_t *outLen)');
    const sha256 = lib.func('void *SHA256(const void *d, size_t n, _Out_ uint8_t *out)');
    const md = evpSha256() as unknown;
    variants.push(
      { name: 'HMAC-SHA256 64 B, libcrypto via koffi', run: async (n) => timeBatch(() => Buffer.from(out.subarray(0, (hmac(md, key, key.length, info, info.length, out, outLen), outLen[0]))), n) },
      { name: 'SHA-256 64 B, libcrypto via koffi', run: async (n) => timeBatch(() => (sha256(info, info.length, out), Buffer.from(out.subarray(0, 32))), n) },
    );
    // Both ways must agree, or the comparison means nothing.
    hmac(md, key, key.length, info, info.length, out, outLen);
    if (!out.subarray(0, 32).equals(createHmac('sha256', key).update(info).digest())) throw new Error('libcrypto HMAC differs from node:crypto');
  } catch (e) {
    process.stderr.write(`bench:crypto: libcrypto through koffi not measured: ${(e as Error).message}\n`);
  }
  return variants;
}

async function main(): Promise<void> {
  const batches = Number(process.env.BENCH_BATCHES ?? 9);
  const apis: Variant[] = [...nodeVariants(), ...(await webVariants("Node's WebCrypto", webcrypto as unknown as WebCryptoLike))];
  const peculiar = loadPeculiar();
  if (peculiar) apis.push(...(await webVariants('@peculiar/webcrypto', peculiar)));
  const a = await measure(apis, batches, 200);
  const p = await measure(primitiveVariants(), batches, 20000);
  const lines = [`crypto choices, µs per operation (median of ${batches} interleaved batches), node ${process.version}, OpenSSL ${process.versions.openssl}`, ''];
  for (const [k, v] of [...a, ...p]) lines.push(`${k.padEnd(44)} ${v.toFixed(2).padStart(9)}`);
  if (!peculiar) lines.push('', '@peculiar/webcrypto: not installed (npm i --no-save @peculiar/webcrypto to measure it)');
  lines.push('', 'WebCrypto (either) offers no ChaCha20-Poly1305.');
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e: Error) => {
  process.stderr.write(`bench:crypto: ${e.stack ?? e.message}\n`);
  process.exitCode = 2;
});
