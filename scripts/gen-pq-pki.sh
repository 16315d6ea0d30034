#!/usr/bin/env bash
# Regenerates fixtures/pki-pq/: ML-DSA certificates and keys made by OpenSSL 3.5 (the host's
# OpenSSL 3.0 cannot), run from the Debian 13 root of scripts/trixie-root.sh. Needs root.
#
#   mldsa-root-ca     ML-DSA-65 self-signed CA (the trust anchor: ca-bundle.pem)
#   server-mldsa{44,65,87}   serverAuth leaves, SAN localhost/127.0.0.1/::1/server.test
#   client-mldsa65    clientAuth leaf, SAN client.test
#   server-p256       an ECDSA P-256 serverAuth leaf from the same CA (a classic key under a PQ CA)
# Keys are PKCS#8 as OpenSSL 3.5 writes them (ML-DSA: seed and expanded key, "both").
set -euo pipefail
repo=$(cd "$(dirname "$0")/.." && pwd)
root=$(bash "$repo/scripts/trixie-root.sh")
out=$repo/fixtures/pki-pq
work=$(mktemp -d "$root/tmp/pqpki.XXXXXX")
trap 'rm -rf "$work"' EXIT
w=/tmp/$(basename "$work")
ossl() { chroot "$root" openssl "$@"; }

cat >"$work/ext.cnf" <<'EOF'
[ca]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test
[client]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:client.test
EOF

ossl genpkey -algorithm ML-DSA-65 -out "$w/mldsa-root-ca.key.pem"
ossl req -x509 -new -key "$w/mldsa-root-ca.key.pem" -subj "/O=handshaked fixtures/CN=ML-DSA-65 Root CA" \
  -days 7300 -config "$w/ext.cnf" -extensions ca -out "$w/mldsa-root-ca.crt.pem"

leaf() {  # name algorithm section CN
  local name=$1 alg=$2 section=$3 cn=$4
  if [ "$alg" = P-256 ]; then
    ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$w/$name.key.pem"
  else
    ossl genpkey -algorithm "$alg" -out "$w/$name.key.pem"
  fi
  ossl req -new -key "$w/$name.key.pem" -subj "/O=handshaked fixtures/CN=$cn" -out "$w/$name.csr"
  ossl x509 -req -in "$w/$name.csr" -CA "$w/mldsa-root-ca.crt.pem" -CAkey "$w/mldsa-root-ca.key.pem" \
    -set_serial "0x$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')" -days 7300 \
    -extfile "$w/ext.cnf" -extensions "$section" -out "$w/$name.crt.pem"
  cp "$work/$name.crt.pem" "$work/$name.chain.pem"
}
leaf server-mldsa44 ML-DSA-44 server "server ML-DSA-44"
leaf server-mldsa65 ML-DSA-65 server "server ML-DSA-65"
leaf server-mldsa87 ML-DSA-87 server "server ML-DSA-87"
leaf client-mldsa65 ML-DSA-65 client "client ML-DSA-65"
leaf server-p256 P-256 server "server P-256 under ML-DSA"

mkdir -p "$out"
cp "$work"/*.pem "$out/"
cp "$out/mldsa-root-ca.crt.pem" "$out/ca-bundle.pem"
chmod 600 "$out"/*.key.pem
chroot "$root" openssl version >"$out/OPENSSL_VERSION"
echo "fixtures/pki-pq regenerated with $(cat "$out/OPENSSL_VERSION")"
