/** NVMe/TCP PSK identities: grammar, errors that say what is wrong, the digest, and the hash rule. */
import { execFileSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  MAX_NQN_BYTES,
  NvmeIdentityError,
  formatNvmeIdentity,
  looksLikeNvmeIdentity,
  nvmePskDigest,
  parseNvmeIdentity,
  pskHashFor,
} from '../../src/agent/nvme-identity';

const HOST = 'nqn.2014-08.org.nvmexpress:uuid:7e1b4d0c-3a5f-4c2e-9d61-0b8f2a7c9e11';
const SUB = 'nqn.2024-01.io.handshaked:storage-1';
const D256 = Buffer.alloc(32, 7).toString('base64'); // 44 characters
const D384 = Buffer.alloc(48, 9).toString('base64'); // 64 characters

const err = (identity: string): string => {
  try {
    parseNvmeIdentity(identity);
  } catch (e) {
    expect(e).toBeInstanceOf(NvmeIdentityError);
    expect((e as NvmeIdentityError).code).toBe('EBADNVMEIDENTITY');
    return (e as Error).message;
  }
  throw new Error(`parsed without error: ${identity}`);
};

describe('parseNvmeIdentity', () => {
  it('version 0, retained, SHA-256 (what the kernel looks up by default)', () => {
    expect(parseNvmeIdentity(`NVMe0R01 ${HOST} ${SUB}`)).toEqual({ version: 0, type: 'retained', hash: 'sha256', hostnqn: HOST, subnqn: SUB });
  });

  it('version 0, generated, SHA-384', () => {
    expect(parseNvmeIdentity(`NVMe0G02 ${HOST} ${SUB}`)).toMatchObject({ version: 0, type: 'generated', hash: 'sha384' });
  });

  it('version 1 carries the Base64 PSK digest after the NQNs', () => {
    expect(parseNvmeIdentity(`NVMe1R01 ${HOST} ${SUB} ${D256}`)).toEqual({
      version: 1,
      type: 'retained',
      hash: 'sha256',
      hostnqn: HOST,
      subnqn: SUB,
      digest: D256,
    });
    expect(parseNvmeIdentity(`NVMe1R02 ${HOST} ${SUB} ${D384}`)).toMatchObject({ version: 1, hash: 'sha384', digest: D384 });
  });

  it('format is the inverse of parse', () => {
    for (const s of [`NVMe0R01 ${HOST} ${SUB}`, `NVMe0G02 ${HOST} ${SUB}`, `NVMe1R01 ${HOST} ${SUB} ${D256}`, `NVMe1G02 ${HOST} ${SUB} ${D384}`]) {
      expect(formatNvmeIdentity(parseNvmeIdentity(s))).toBe(s);
    }
    expect(() => formatNvmeIdentity({ version: 1, type: 'retained', hash: 'sha256', hostnqn: HOST, subnqn: SUB })).toThrow(/needs a PSK digest/);
  });

  it.each([
    ['nvme0R01 a b', /does not start with "NVMe"/],
    [`NVMe2R01 ${HOST} ${SUB}`, /version "2" is not 0 or 1/],
    [`NVMe0X01 ${HOST} ${SUB}`, /PSK type "X" is not R \(retained\) or G \(generated\)/],
    [`NVMe0R03 ${HOST} ${SUB}`, /hash "03" is not 01 \(SHA-256\) or 02 \(SHA-384\)/],
    [`NVMe0R00 ${HOST} ${SUB}`, /hash "00"/],
    [`NVMe0R01${HOST} ${SUB}`, /one space after the 8-character prefix/],
    [`NVMe0R01 ${HOST}  ${SUB}`, /exactly one space/],
    [`NVMe0R01 ${HOST} ${SUB} `, /exactly one space/],
    [`NVMe0R01 ${HOST}`, /version 0 has exactly two fields.*found 1/],
    [`NVMe0R01 ${HOST} ${SUB} ${D256}`, /version 0 has exactly two fields.*found 3/],
    [`NVMe1R01 ${HOST} ${SUB}`, /version 1 has exactly three fields.*found 2/],
    [`NVMe0R01 host.example ${SUB}`, /host NQN "host.example" does not start with "nqn."/],
    [`NVMe0R01 ${HOST} storage`, /subsystem NQN "storage" does not start with "nqn."/],
    [`NVMe0R01 nqn.a\tb ${SUB}`, /host NQN .* contains whitespace or control characters/],
    [`NVMe0R01 nqn.${'x'.repeat(MAX_NQN_BYTES)} ${SUB}`, /host NQN is 227 bytes; an NQN is at most 223/],
    [`NVMe1R01 ${HOST} ${SUB} ${D384}`, /PSK digest is 64 characters; a SHA-256 digest is 44/],
    [`NVMe1R02 ${HOST} ${SUB} ${D256}`, /PSK digest is 44 characters; a SHA-384 digest is 64/],
    [`NVMe1R01 ${HOST} ${SUB} ${'*'.repeat(44)}`, /not Base64/],
    [`NVMe1R01 ${HOST} ${SUB} ${'A'.repeat(43)}B`, /not Base64|does not decode/],
  ])('%s → %s', (identity, why) => {
    expect(err(identity)).toMatch(why);
  });

  it('an NQN of exactly 223 bytes is accepted', () => {
    const nqn = `nqn.${'y'.repeat(MAX_NQN_BYTES - 4)}`;
    expect(parseNvmeIdentity(`NVMe0R01 ${nqn} ${SUB}`).hostnqn).toBe(nqn);
  });

  it('error messages quote a long identity shortened, never the key', () => {
    const m = err(`NVMe0R01 nqn.${'z'.repeat(300)} ${SUB}`);
    expect(m.length).toBeLessThan(250);
  });

  it('looksLikeNvmeIdentity: "NVMe" and a digit; ordinary identities are left alone', () => {
    expect(looksLikeNvmeIdentity(`NVMe0R01 ${HOST} ${SUB}`)).toBe(true);
    expect(looksLikeNvmeIdentity('NVMe9 whatever')).toBe(true);
    expect(looksLikeNvmeIdentity('nvme-host-1')).toBe(false);
    expect(looksLikeNvmeIdentity('NVMeTLSkey-1:01:abc')).toBe(false);
  });
});

describe('nvmePskDigest', () => {
  it.each(['sha256', 'sha384'] as const)('%s: HMAC(PSK, "hostnqn subnqn NVMe-over-Fabrics") in Base64, as openssl computes it', (hash) => {
    const psk = randomBytes(hash === 'sha256' ? 32 : 48);
    const ours = nvmePskDigest(hash, psk, HOST, SUB);
    const theirs = execFileSync('openssl', ['dgst', `-${hash}`, '-mac', 'HMAC', '-macopt', `hexkey:${psk.toString('hex')}`, '-binary'], {
      input: `${HOST} ${SUB} NVMe-over-Fabrics`,
    }).toString('base64');
    expect(ours).toBe(theirs);
    expect(ours).toHaveLength(hash === 'sha256' ? 44 : 64);
    // A version 1 identity made with it parses.
    const code = hash === 'sha256' ? '01' : '02';
    expect(parseNvmeIdentity(`NVMe1R${code} ${HOST} ${SUB} ${ours}`).digest).toBe(ours);
  });
});

describe('pskHashFor', () => {
  it('the hash an NVMe identity names wins over the key length rule', () => {
    expect(pskHashFor(`NVMe0R02 ${HOST} ${SUB}`, randomBytes(48))).toBe('sha384');
    expect(pskHashFor(`NVMe1R01 ${HOST} ${SUB} ${D256}`, randomBytes(32))).toBe('sha256');
  });

  it('a key whose length does not fit the named hash is refused, saying both', () => {
    expect(() => pskHashFor(`NVMe0R01 ${HOST} ${SUB}`, randomBytes(48))).toThrow(
      /names SHA-256 \(hash 01\), which needs a 32-byte key, but the key is 48 bytes/,
    );
    expect(() => pskHashFor(`NVMe0R02 ${HOST} ${SUB}`, randomBytes(32))).toThrow(/names SHA-384 \(hash 02\), which needs a 48-byte key, but the key is 32 bytes/);
  });

  it('a malformed NVMe identity is refused, not guessed', () => {
    expect(() => pskHashFor(`NVMe0R05 ${HOST} ${SUB}`, randomBytes(32))).toThrow(NvmeIdentityError);
  });

  it('other identities: 48-byte keys are SHA-384, everything else SHA-256 (tlshd)', () => {
    expect(pskHashFor('nvme-host-1', randomBytes(48))).toBe('sha384');
    expect(pskHashFor('nvme-host-1', randomBytes(32))).toBe('sha256');
    expect(pskHashFor('nvme-host-1', randomBytes(16))).toBe('sha256');
  });
});
