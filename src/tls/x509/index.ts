/**
 * Certificates for handshaked: decoding, path validation, RFC 9525 name checks, CRLs, and
 * loading trust stores, chains and keys from files.
 */
export { X509Error } from './errors';
export type { X509ErrorCode } from './errors';
export { verifyChain } from './verify';
export { matchName, matchGeneralNames, dnsPatternMatches, referenceIdentity, parseIPv4, parseIPv6, formatIp } from './names';
export type { ReferenceIdentity } from './names';
export { parseCertificate } from './summary';
export type { CertificateSummary } from './summary';
export { decodeCertificate, decodeCertificateCached, publicKeyOf, KeyUsage } from './cert';
export type { Certificate, GeneralNames, NameConstraints, GeneralSubtree, Extension, AlgorithmIdentifier } from './cert';
export { decodeCrl } from './crl';
export { commonNames, normalizeDnValue } from './dn';
export { checkNameConstraints } from './constraints';
export type { Crl, RevokedEntry } from './crl';
export { pemBlocks, pemToDer, derToPem } from './pem';
export type { PemBlock } from './pem';
export { loadTrustStore, loadCrls, loadCertChain, loadPrivateKey, SYSTEM_TRUST_STORE, MAX_CHAIN_CERTIFICATES } from './load';
export type { LoadedTrustStore } from './load';
export { keyMatchesCertificate, privateKeyFromDer } from './privkey';
export { DerReader, parseDer } from './der';
export type { Der } from './der';
