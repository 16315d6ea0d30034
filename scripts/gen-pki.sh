#!/usr/bin/env bash
# Regenerates the test PKI in fixtures/pki/ with the openssl CLI.
#
# File names are fixed (tests refer to them); key material, serials and signatures change on
# every run. Dates are fixed so that verdicts do not drift: good certificates are valid
# 2025-01-01 .. 2045-01-01 (CAs to 2049-12-31). fixtures/pki/README.md lists every file.
#
# `openssl ca` (not `openssl x509 -req`) signs everything because OpenSSL 3.0's x509 command
# cannot set an arbitrary notBefore, which the expired / not-yet-valid cases need.
#
# Usage: scripts/gen-pki.sh [output-dir]   (default: fixtures/pki next to this script)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../fixtures/pki}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=lib/openssl-ca.sh
source "$here/lib/openssl-ca.sh"

GOOD_START=20250101000000Z
GOOD_END=20450101000000Z
CA_END=20491231235959Z
ORG="/O=handshaked test PKI"

# Digest "default": the key's own default (SHA-256 for EC/RSA, none for Ed25519).
ca_config default supplied
cat >>"$work/ca.cnf" <<'EOF'
[root_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[sub_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[pathlen0_ca]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[no_keycertsign_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nc_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:test,permitted;IP:127.0.0.0/255.0.0.0,excluded;DNS:excluded.test

[server_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[server_leaf_rsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[client_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:client.test

[client_leaf_rsa]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:client.test

[wrong_name_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:wrong.test

[no_serverauth_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = clientAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[no_digitalsignature_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,keyAgreement
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[no_eku_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[any_eku_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = anyExtendedKeyUsage
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[unknown_critical_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test
1.3.6.1.4.1.55555.1 = critical,ASN1:NULL

[self_signed_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
subjectAltName = DNS:localhost,IP:127.0.0.1,IP:::1,DNS:server.test

[names_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:*.wild.test,DNS:f*.partial.test,DNS:Mixed.Case.Test,DNS:*.*.double.test,DNS:exact.test,IP:192.0.2.7,IP:2001:db8::1,IP:::ffff:198.51.100.1,email:admin@names.test,URI:https://uri.test/

[nc_inside_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:inside.test,IP:127.0.0.1

[nc_outside_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:outside.example

[nc_excluded_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:host.excluded.test

[nc_outside_ip_leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = DNS:ip.test,IP:10.0.0.1
EOF

keygen() { ca_keygen "$out/$1.key.pem" "$2"; } # name algorithm -> $out/name.key.pem (PKCS#8)

# sign <issuer|-self> <name> <cn> <ext-section> [start] [end] [extra openssl-ca args...]
sign() {
  local issuer=$1 name=$2 cn=$3 ext=$4 start=${5:-$GOOD_START} end=${6:-$GOOD_END}
  shift 6 2>/dev/null || shift $#
  local signer=(-cert "$out/$issuer.crt.pem" -keyfile "$out/$issuer.key.pem")
  if [ "$issuer" = "-self" ]; then
    issuer=$name
    ca_state "$work/ca-$name"
    signer=(-selfsign -keyfile "$out/$name.key.pem")
  fi
  ca_sign "$work/ca-$issuer" "$out/$name.key.pem" "$ORG/CN=$cn" "$out/$name.crt.pem" "$ext" "$start" "$end" "${signer[@]}" "$@"
  openssl x509 -in "$out/$name.crt.pem" -outform DER -out "$out/$name.crt.der"
}

subca() { # issuer name cn ext [keyalg]
  keygen "$2" "${5:-p256}"
  sign "$1" "$2" "$3" "$4" "$GOOD_START" "$CA_END"
  ca_state "$work/ca-$2"
}

# chain <name> <cert names...>: name.chain.pem (PEM, in order) and name.chain.der (DER certs concatenated)
chain() {
  local name=$1; shift
  : >"$out/$name.chain.pem"; : >"$out/$name.chain.der"
  for c in "$@"; do
    cat "$out/$c.crt.pem" >>"$out/$name.chain.pem"
    cat "$out/$c.crt.der" >>"$out/$name.chain.der"
  done
}

leaf() { # issuer name cn ext keyalg [start end [extra openssl-ca args...]]
  local issuer=$1 name=$2 cn=$3 ext=$4 alg=$5 start=${6:-$GOOD_START} end=${7:-$GOOD_END}
  shift 7 2>/dev/null || shift $#
  keygen "$name" "$alg"
  sign "$issuer" "$name" "$cn" "$ext" "$start" "$end" "$@"
}

rm -f "$out"/*.pem "$out"/*.der

# --- the main hierarchy: root (in ca-bundle.pem) -> intermediate -> leaves
keygen root-ca p256
sign -self root-ca "handshaked test root CA" root_ca "$GOOD_START" "$CA_END"
subca root-ca intermediate-ca "handshaked test intermediate CA" sub_ca
cp "$out/root-ca.crt.pem" "$out/ca-bundle.pem"

for spec in server-p256:p256:server_leaf server-p384:p384:server_leaf server-rsa2048:rsa2048:server_leaf_rsa \
            server-rsapss2048:rsapss2048:server_leaf server-ed25519:ed25519:server_leaf \
            client-p256:p256:client_leaf client-rsa2048:rsa2048:client_leaf_rsa; do
  IFS=: read -r name alg ext <<<"$spec"
  cn=localhost; case $name in client-*) cn=$name ;; esac
  leaf intermediate-ca "$name" "$cn" "$ext" "$alg"
  chain "$name" "$name" intermediate-ca
done

# Other key encodings of the same keys, for loadPrivateKey.
openssl ec -in "$out/server-p256.key.pem" -out "$out/server-p256.sec1.key.pem" 2>/dev/null
openssl rsa -in "$out/server-rsa2048.key.pem" -traditional -out "$out/server-rsa2048.pkcs1.key.pem" 2>/dev/null
openssl pkcs8 -topk8 -in "$out/server-p256.key.pem" -v2 aes-256-cbc -passout pass:handshaked \
  -out "$out/server-p256.encrypted.key.pem"

# --- negative and edge cases under the main hierarchy
leaf intermediate-ca expired localhost server_leaf p256 20200101000000Z 20210101000000Z
chain expired expired intermediate-ca
leaf intermediate-ca not-yet-valid localhost server_leaf p256 20450601000000Z 20490601000000Z
chain not-yet-valid not-yet-valid intermediate-ca
leaf intermediate-ca wrong-name wrong.test wrong_name_leaf p256
chain wrong-name wrong-name intermediate-ca
leaf intermediate-ca no-serverauth localhost no_serverauth_leaf p256
chain no-serverauth no-serverauth intermediate-ca
leaf intermediate-ca no-digitalsignature localhost no_digitalsignature_leaf p256
chain no-digitalsignature no-digitalsignature intermediate-ca
leaf intermediate-ca no-eku localhost no_eku_leaf p256
chain no-eku no-eku intermediate-ca
leaf intermediate-ca any-eku localhost any_eku_leaf p256
chain any-eku any-eku intermediate-ca
leaf intermediate-ca unknown-critical localhost unknown_critical_leaf p256
chain unknown-critical unknown-critical intermediate-ca
leaf intermediate-ca names names.test names_leaf p256
chain names names intermediate-ca
leaf intermediate-ca revoked localhost server_leaf p256
chain revoked revoked intermediate-ca

# pathlen:0 CA (under root) that issued a sub-CA that issued a leaf.
subca root-ca pathlen0-ca "pathlen0 CA" pathlen0_ca
subca pathlen0-ca pathlen0-sub-ca "sub-CA under pathlen0" sub_ca
leaf pathlen0-sub-ca pathlen-violation localhost server_leaf p256
chain pathlen-violation pathlen-violation pathlen0-sub-ca pathlen0-ca

# A CA:FALSE certificate (under the intermediate) used as an issuer.
subca intermediate-ca not-ca "not a CA" not_ca
leaf not-ca not-ca-leaf localhost server_leaf p256
chain not-ca-leaf not-ca-leaf not-ca intermediate-ca

# A CA:TRUE certificate whose keyUsage lacks keyCertSign, used as an issuer.
subca intermediate-ca no-keycertsign-ca "CA without keyCertSign" no_keycertsign_ca
leaf no-keycertsign-ca no-keycertsign-leaf localhost server_leaf p256
chain no-keycertsign-leaf no-keycertsign-leaf no-keycertsign-ca intermediate-ca

# Name-constrained CA (under root): permitted DNS test (and below) and IP 127/8, excluded DNS excluded.test.
subca root-ca nc-ca "name-constrained CA" nc_ca
leaf nc-ca nc-inside inside.test nc_inside_leaf p256
chain nc-inside nc-inside nc-ca
leaf nc-ca nc-outside outside.example nc_outside_leaf p256
chain nc-outside nc-outside nc-ca
leaf nc-ca nc-excluded host.excluded.test nc_excluded_leaf p256
chain nc-excluded nc-excluded nc-ca
leaf nc-ca nc-outside-ip ip.test nc_outside_ip_leaf p256
chain nc-outside-ip nc-outside-ip nc-ca

# Unknown CA: a separate root that is in no bundle.
keygen unknown-root-ca p256
sign -self unknown-root-ca "unknown root CA" root_ca "$GOOD_START" "$CA_END"
leaf unknown-root-ca unknown-ca localhost server_leaf p256
chain unknown-ca unknown-ca unknown-root-ca

# Self-signed leaf (trusted only when it is itself in the trust store).
keygen self-signed p256
sign -self self-signed localhost self_signed_leaf

# Signature algorithms in chains: roots of other key types (not in ca-bundle.pem).
keygen rsa-root-ca rsa2048
sign -self rsa-root-ca "RSA root CA" root_ca "$GOOD_START" "$CA_END"
leaf rsa-root-ca rsa-pkcs1-signed localhost server_leaf p256
chain rsa-pkcs1-signed rsa-pkcs1-signed
leaf rsa-root-ca rsa-pss-signed localhost server_leaf p256 "$GOOD_START" "$GOOD_END" \
  -sigopt rsa_padding_mode:pss -sigopt rsa_pss_saltlen:digest
chain rsa-pss-signed rsa-pss-signed
keygen ed25519-root-ca ed25519
sign -self ed25519-root-ca "Ed25519 root CA" root_ca "$GOOD_START" "$CA_END"
leaf ed25519-root-ca ed25519-signed localhost server_leaf p256
chain ed25519-signed ed25519-signed
keygen p384-root-ca p384
sign -self p384-root-ca "P-384 root CA" root_ca "$GOOD_START" "$CA_END"
leaf p384-root-ca p384-signed localhost server_leaf p256 "$GOOD_START" "$GOOD_END" -md sha384
chain p384-signed p384-signed

# CRLs: the intermediate revokes "revoked"; the root revokes nothing.
ca_quiet env CADIR="$work/ca-intermediate-ca" openssl ca -batch -config "$work/ca.cnf" \
  -cert "$out/intermediate-ca.crt.pem" -keyfile "$out/intermediate-ca.key.pem" \
  -revoke "$out/revoked.crt.pem" -crl_reason keyCompromise
ca_crl "$work/ca-intermediate-ca" "$out/intermediate-ca.crt.pem" "$out/intermediate-ca.key.pem" "$out/intermediate-ca.crl.pem"
openssl crl -in "$out/intermediate-ca.crl.pem" -outform DER -out "$out/intermediate-ca.crl.der"
ca_crl "$work/ca-root-ca" "$out/root-ca.crt.pem" "$out/root-ca.key.pem" "$out/root-ca.crl.pem"
cat "$out/intermediate-ca.crl.pem" "$out/root-ca.crl.pem" >"$out/crls.pem"

chmod 0644 "$out"/*
echo "generated $(ls "$out" | wc -l) files in $out"
