/**
 * X.509 fuzz target: the DER reader, certificate and CRL decoding, the summary used in logs,
 * PEM armour, and path validation with the fuzzed certificate as the leaf and as the
 * intermediate of an otherwise good chain. Decoders may only throw X509Error; verifyChain may
 * not throw at all (it answers with an alert).
 */
import fs from 'node:fs';
import { decodeCertificate, decodeCrl, parseCertificate, pemBlocks, verifyChain, X509Error } from '../../../src/tls/x509';
import type { TrustConfig } from '../../../src/tls/api';
import { pkiPath, trust } from '../../helpers/pki';
import { expectOnly, FuzzFinding, type FuzzTarget } from './common';

const NOW = new Date('2030-06-15T12:00:00Z');
let fixed: { leaf: Buffer; intermediate: Buffer; trust: TrustConfig } | undefined;

function chainParts() {
  if (!fixed) {
    const chain = fs.readFileSync(pkiPath('server-p256.chain.der'));
    // The .chain.der file is the leaf's DER followed by the intermediate's.
    const leafLen = 4 + chain.readUInt16BE(2);
    fixed = { leaf: chain.subarray(0, leafLen), intermediate: chain.subarray(leafLen), trust: trust() };
  }
  return fixed;
}

export const x509: FuzzTarget = {
  name: 'x509',
  about: 'a certificate or CRL from a peer or a configuration file (DER, PEM), and path validation over it',
  fuzz(data) {
    const name = this.name;
    expectOnly(name, [X509Error], () => decodeCertificate(data));
    expectOnly(name, [X509Error], () => decodeCrl(data));
    expectOnly(name, [X509Error], () => parseCertificate(data));
    expectOnly(name, [X509Error], () => pemBlocks(data.toString('latin1'), 'fuzz input'));
    const f = chainParts();
    for (const chain of [[data], [data, f.intermediate], [f.leaf, data]]) {
      try {
        verifyChain({ chain, trust: f.trust, now: NOW, purpose: 'serverAuth', name: 'localhost', maxChainLength: 10 });
        verifyChain({ chain, trust: f.trust, now: NOW, purpose: 'clientAuth', maxChainLength: 10 });
      } catch (e) {
        throw new FuzzFinding(name, e);
      }
    }
  },
};
