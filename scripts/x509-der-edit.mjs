#!/usr/bin/env node
// Rewrites one primitive value inside a certificate's tbsCertificate and signs the result again,
// for the few cases `openssl ca` cannot write (a GeneralizedTime with fractional seconds).
// Lengths of every enclosing SEQUENCE are recomputed.
//
// Usage: node scripts/x509-der-edit.mjs IN.pem ISSUER-KEY.pem OLD-ASCII NEW-ASCII > OUT.pem
// The value whose content is exactly OLD-ASCII is replaced by NEW-ASCII (first match only).
import { createPrivateKey, sign } from 'node:crypto';
import { Buffer } from 'node:buffer';
import { readFileSync } from 'node:fs';
import process from 'node:process';

const [inFile, keyFile, oldText, newText] = process.argv.slice(2);
if (!newText) {
  process.stderr.write('usage: x509-der-edit.mjs IN.pem ISSUER-KEY.pem OLD NEW\n');
  process.exit(2);
}

function decode(buf, at = 0, end = buf.length) {
  const out = [];
  while (at < end) {
    const tag = buf[at];
    let len = buf[at + 1];
    let hdr = 2;
    if (len & 0x80) {
      const n = len & 0x7f;
      len = 0;
      for (let i = 0; i < n; i++) len = len * 256 + buf[at + 2 + i];
      hdr = 2 + n;
    }
    const value = buf.subarray(at + hdr, at + hdr + len);
    const constructed = (tag & 0x20) !== 0;
    out.push({ tag, value, kids: constructed ? decode(buf, at + hdr, at + hdr + len) : undefined });
    at += hdr + len;
  }
  return out;
}

function encodeLength(n) {
  if (n < 0x80) return Buffer.from([n]);
  const bytes = [];
  for (let v = n; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Buffer.from([0x80 | bytes.length, ...bytes]);
}

function encode(node) {
  const body = node.kids ? Buffer.concat(node.kids.map(encode)) : node.value;
  return Buffer.concat([Buffer.from([node.tag]), encodeLength(body.length), body]);
}

let replaced = false;
function replace(nodes) {
  for (const n of nodes) {
    if (replaced) return;
    if (n.kids) replace(n.kids);
    else if (n.value.toString('latin1') === oldText) {
      n.value = Buffer.from(newText, 'latin1');
      replaced = true;
    }
  }
}

const pem = readFileSync(inFile, 'utf8');
const der = Buffer.from(pem.replace(/-----[^-]+-----/g, '').replace(/\s+/g, ''), 'base64');
const [cert] = decode(der);
const [tbs, alg] = cert.kids;
replace([tbs]);
if (!replaced) {
  process.stderr.write(`x509-der-edit: no value "${oldText}" in ${inFile}\n`);
  process.exit(1);
}
const tbsDer = encode(tbs);
const key = createPrivateKey(readFileSync(keyFile));
const hash = key.asymmetricKeyType === 'ed25519' ? null : 'sha256';
const signature = sign(hash, tbsDer, key);
const out = encode({ tag: 0x30, kids: [tbs, alg, { tag: 0x03, value: Buffer.concat([Buffer.from([0]), signature]) }] });
const b64 = out.toString('base64').replace(/.{64}/g, '$&\n').replace(/\n$/, '');
process.stdout.write(`-----BEGIN CERTIFICATE-----\n${b64}\n-----END CERTIFICATE-----\n`);
