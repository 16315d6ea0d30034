#!/usr/bin/env bash
# Generate the guest's PEM PKI into $1: a CA, a server certificate for every name the guest
# mounts by (localhost, 127.0.0.1, ::1, 10.99.0.1 across the mixed pass's veth pair and 10.98.N.1
# across netns-nfs's), a
# client certificate, and an unrelated CA for the untrusted-server scenario.
# ECDSA P-256 (HSVM_PKI_ALG=rsa for RSA-2048): quick to make, and both agents must handle it.
set -euo pipefail
out=$1
mkdir -p "$out"; cd "$out"
case ${HSVM_PKI_ALG:-ec} in
  rsa) keyopts=(-algorithm RSA -pkeyopt rsa_keygen_bits:2048); usage=digitalSignature,keyEncipherment ;;
  *) keyopts=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256); usage=digitalSignature ;;
esac
newkey() { openssl genpkey "${keyopts[@]}" -out "$1" 2>/dev/null; chmod 600 "$1"; }
ca() {  # $1 = file stem, $2 = CN
  newkey "$1.key"
  openssl req -x509 -new -key "$1.key" -subj "/O=handshaked VM harness/CN=$2" -days 30 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    -out "$1.pem" 2>/dev/null
}
leaf() {  # $1 = file stem, $2 = CN, $3 = extendedKeyUsage, $4 = subjectAltName
  newkey "$1.key"
  openssl req -new -key "$1.key" -subj "/O=handshaked VM harness/CN=$2" -out "$1.csr" 2>/dev/null
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,%s\nextendedKeyUsage=%s\nsubjectAltName=%s\nauthorityKeyIdentifier=keyid\nsubjectKeyIdentifier=hash\n' "$usage" "$3" "$4" > "$1.ext"
  openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -days 30 -sha256 \
    -extfile "$1.ext" -out "$1.pem" 2>/dev/null
  rm -f "$1.csr" "$1.ext"
}
ca ca "hsvm test CA"
ca other-ca "hsvm unrelated CA"
leaf server localhost serverAuth "DNS:localhost,DNS:hsvm-server,IP:127.0.0.1,IP:::1,IP:10.99.0.1,IP:10.98.1.1,IP:10.98.2.1,IP:10.98.3.1,IP:10.98.4.1"
leaf client hsvm-client clientAuth "DNS:hsvm-client,DNS:localhost,IP:127.0.0.1,IP:10.99.0.2"
rm -f ca.srl other-ca.key
openssl verify -CAfile ca.pem server.pem client.pem >/dev/null
