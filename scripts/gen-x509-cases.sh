#!/usr/bin/env bash
# Generates the path-validation cases in fixtures/x509-cases/ with the openssl CLI: one
# directory per case holding
#   anchors.pem  the trust anchors
#   chain.pem    what the peer sends: leaf first, then intermediates (and any extras)
#   leaf.pem     the first certificate of chain.pem alone (for `openssl verify`)
#   crl.pem      CRLs to check against (only where the case is about revocation)
# test/x509/openssl-agreement.test.ts runs verifyChain, `openssl verify -x509_strict` and GnuTLS
# `certtool --verify` over every case; docs/security.md explains each expected verdict.
#
# Dates and serial numbers are fixed; keys and signatures change on every run (openssl has no
# seeded key generation). Certificates are valid 2025-01-01 .. 2045-01-01, CAs to 2049-12-31.
# One case (fractional seconds in notAfter) is rewritten and signed again by scripts/x509-der-edit.mjs.
#
# Usage: scripts/gen-x509-cases.sh [output-dir]   (default: fixtures/x509-cases)
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/../fixtures/x509-cases}"
mkdir -p "$out"
out="$(cd "$out" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
# shellcheck source=lib/openssl-ca.sh
source "$here/lib/openssl-ca.sh"

START=20250101000000Z
END=20450101000000Z
CA_END=20491231235959Z
ORG="/O=handshaked x509 cases"

# Extension sections. "good" sections give a chain that passes the strict profile too.
ca_config sha256 optional
cat >>"$work/ca.cnf" <<'EOF'
# The same CA without a CRL number file: `openssl ca -gencrl` then writes no cRLNumber.
[ca_nonumber]
dir = $ENV::CADIR
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = sha256
policy = policy_any
default_crl_days = 7300
crl_extensions = crl_good

[crl_critical]
authorityKeyIdentifier = keyid:always
1.3.6.1.4.1.55555.2 = critical,ASN1:NULL

[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[root_no_bc]
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = none

[root_bc_noncritical]
basicConstraints = CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = none

[root_aki_issuer]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always

[ica]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

# OpenSSL 3 adds SKI and AKI unless told "none".
[ica_no_ski]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = none
authorityKeyIdentifier = keyid:always

[ica_no_crlsign]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[ica_nc_wildcard_excluded]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,excluded;DNS:x.bad.test

[ica_nc_ip_excluded]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,excluded;IP:10.0.0.0/255.0.0.0

[ica_nc_example]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:example.test

[ica_nc_leading_period]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:.example.test

[ica_nc_invalid_dns]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:example..test

[ica_nc_wildcard_constraint]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;DNS:*.example.test

# NameConstraints ::= SEQUENCE { permittedSubtrees [0] (empty) }
[ica_nc_empty_permitted]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,DER:30:02:A0:00

[ica_nc_ip_mask]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,permitted;IP:10.0.0.0/255.0.255.0

[ica_nc_hostile]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
nameConstraints = critical,@nc_hostile

[ica_require_policy_noncritical]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
policyConstraints = requireExplicitPolicy:0

[ica_require_policy]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = 1.3.6.1.4.1.55555.100
policyConstraints = critical,requireExplicitPolicy:0

[ica_require_policy_inhibit_mapping]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = 1.3.6.1.4.1.55555.100
policyConstraints = critical,requireExplicitPolicy:0,inhibitPolicyMapping:0

[ica_policy_mapping]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
certificatePolicies = 1.3.6.1.4.1.55555.100
policyMappings = critical,1.3.6.1.4.1.55555.100:1.3.6.1.4.1.55555.101

[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_policy]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1
certificatePolicies = 1.3.6.1.4.1.55555.100

[leaf_policy_mapped]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1
certificatePolicies = 1.3.6.1.4.1.55555.101

[leaf_no_san]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf_wildcard_bad]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:*.bad.test

[leaf_ip_10]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = IP:10.1.2.3

[leaf_example]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:a.example.test

[leaf_ip_10_example]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:a.example.test,IP:10.1.2.3

[leaf_hostile]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = @san_hostile

[leaf_nc]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1
nameConstraints = critical,permitted;DNS:server.test

[leaf_ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_keycertsign]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyCertSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

# A pathLenConstraint in a leaf means nothing; a large one must not make the certificate unreadable.
[leaf_pathlen]
basicConstraints = critical,CA:FALSE,pathlen:1000
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_no_aki]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = none
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

# For an issuer without SKI: the AKI names the issuer's issuer and serial instead.
[leaf_aki_issuer]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = issuer:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_aki_critical]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = critical,keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_no_eku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_any_eku]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth,anyExtendedKeyUsage
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:localhost,IP:127.0.0.1

[leaf_underscore]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:server.test,DNS:under_score.test

[leaf_empty_subject]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = critical,DNS:server.test,DNS:localhost,IP:127.0.0.1
EOF

# 1100 permitted DNS subtrees x 1000 DNS names: 1.1 million comparisons, past every bound.
{
  echo; echo '[nc_hostile]'
  for i in $(seq 1 1100); do echo "permitted;DNS.$i = n$i.test"; done
  echo; echo '[san_hostile]'
  for i in $(seq 1 1000); do echo "DNS.$i = h$i.n$i.test"; done
} >>"$work/ca.cnf"

# cert <name> <issuer|-self> <subject> <section> <keyalg> [serial-hex] [ca-section] [end]
# Writes $work/<name>.{key,crt}.pem; an issuer's CA state lives in $work/ca-<issuer>.
cert() {
  local name=$1 issuer=$2 subject=$3 ext=$4 alg=$5 serial=${6:-} cadef=${7:-ca_default} end=${8:-$END}
  ca_keygen "$work/$name.key.pem" "$alg"
  ca_state "$work/ca-$name"
  local d="$work/ca-$name" signer=(-selfsign -keyfile "$work/$name.key.pem")
  if [ "$issuer" != "-self" ]; then
    d="$work/ca-$issuer"
    signer=(-cert "$work/$issuer.crt.pem" -keyfile "$work/$issuer.key.pem")
  fi
  [ -n "$serial" ] && echo "$serial" >"$d/serial"
  ca_sign "$d" "$work/$name.key.pem" "$subject" "$work/$name.crt.pem" "$ext" "$START" "$end" -name "$cadef" "${signer[@]}"
}

ca() { cert "$1" "$2" "$ORG/CN=$3" "$4" "${5:-p256}" "" ca_default "$CA_END"; }

# emit <case> <anchor> <chain certs...>: the case directory
emit() {
  local name=$1 anchor=$2; shift 2
  mkdir -p "$out/$name"
  cp "$work/$anchor.crt.pem" "$out/$name/anchors.pem"
  : >"$out/$name/chain.pem"
  for c in "$@"; do cat "$work/$c.crt.pem" >>"$out/$name/chain.pem"; done
  cp "$work/$1.crt.pem" "$out/$name/leaf.pem"
}

# crl <case> <issuer> <config-name> <extensions-section>: the issuer's CRL into the case
crl() {
  ca_crl "$work/ca-$2" "$work/$2.crt.pem" "$work/$2.key.pem" "$out/$1/crl.pem" -name "$3" -crlexts "$4"
}

rm -rf "${out:?}"/*/

# --- the shared hierarchy: root -> ica -> leaves
ca root -self "x509 cases root" root
ca ica root "x509 cases intermediate" ica
cert good ica "$ORG/CN=server.test" leaf p256
emit strict-baseline root good ica

# --- security: weak or unusable keys anywhere on the path
for k in rsa1024 rsa2052 p192 dsa explicit; do
  cert "key-$k" ica "$ORG/CN=server.test" leaf "$k"
  emit "key-$k" root "key-$k" ica
done
ca ica-rsa1024 root "x509 cases RSA-1024 intermediate" ica rsa1024
cert under-rsa1024 ica-rsa1024 "$ORG/CN=server.test" leaf p256
emit key-rsa1024-intermediate root under-rsa1024 ica-rsa1024

# --- security: name constraints
ca ica-nc-wild root "x509 cases NC excluded x.bad.test" ica_nc_wildcard_excluded
cert nc-wildcard-excluded ica-nc-wild "$ORG/CN=wildcard" leaf_wildcard_bad p256
emit nc-wildcard-excluded root nc-wildcard-excluded ica-nc-wild
ca ica-nc-ip root "x509 cases NC excluded 10.0.0.0-8" ica_nc_ip_excluded
cert nc-ip-excluded ica-nc-ip "$ORG/CN=ip" leaf_ip_10 p256
emit nc-ip-excluded root nc-ip-excluded ica-nc-ip
ca ica-nc-example root "x509 cases NC permitted example.test" ica_nc_example
cert nc-cn-no-san ica-nc-example "$ORG/CN=evil.example" leaf_no_san p256
emit nc-cn-no-san root nc-cn-no-san ica-nc-example
cert nc-inside ica-nc-example "$ORG/CN=a.example.test" leaf_example p256
emit nc-inside root nc-inside ica-nc-example
cert nc-in-leaf ica "$ORG/CN=server.test" leaf_nc p256
emit nc-in-leaf root nc-in-leaf ica
for v in leading_period invalid_dns wildcard_constraint empty_permitted ip_mask; do
  c="nc-${v//_/-}"
  ca "ica-$c" root "x509 cases NC $v" "ica_nc_$v"
  cert "$c" "ica-$c" "$ORG/CN=a.example.test" leaf_ip_10_example p256
  emit "$c" root "$c" "ica-$c"
done
ca ica-nc-hostile root "x509 cases NC hostile" ica_nc_hostile
cert nc-hostile ica-nc-hostile "$ORG/CN=hostile" leaf_hostile p256
emit nc-hostile root nc-hostile ica-nc-hostile

# --- security: basic constraints, key usage, policies
cert ee-ca-true ica "$ORG/CN=server.test" leaf_ca p256
emit ee-ca-true root ee-ca-true ica
cert ee-keycertsign ica "$ORG/CN=server.test" leaf_keycertsign p256
emit ee-keycertsign root ee-keycertsign ica
ca ica-req-nc root "x509 cases requireExplicitPolicy (non-critical)" ica_require_policy_noncritical
cert policy-required-missing ica-req-nc "$ORG/CN=server.test" leaf p256
emit policy-required-missing root policy-required-missing ica-req-nc
ca ica-req root "x509 cases requireExplicitPolicy" ica_require_policy
cert policy-required-present ica-req "$ORG/CN=server.test" leaf_policy p256
emit policy-required-present root policy-required-present ica-req
ca ica-map ica-req "x509 cases policy mapping" ica_policy_mapping
cert policy-mapped ica-map "$ORG/CN=server.test" leaf_policy_mapped p256
emit policy-mapped root policy-mapped ica-map ica-req
ca ica-req-inhibit root "x509 cases inhibitPolicyMapping" ica_require_policy_inhibit_mapping
ca ica-map-inhibited ica-req-inhibit "x509 cases policy mapping (inhibited)" ica_policy_mapping
cert policy-mapping-inhibited ica-map-inhibited "$ORG/CN=server.test" leaf_policy_mapped p256
emit policy-mapping-inhibited root policy-mapping-inhibited ica-map-inhibited ica-req-inhibit

# --- security: CRLs that cannot be relied on fail closed
ca ica-no-crlsign root "x509 cases CA without cRLSign" ica_no_crlsign
cert crl-issuer-no-crlsign ica-no-crlsign "$ORG/CN=server.test" leaf p256
emit crl-issuer-no-crlsign root crl-issuer-no-crlsign ica-no-crlsign
crl crl-issuer-no-crlsign ica-no-crlsign ca_default crl_good
emit crl-no-number root good ica
crl crl-no-number ica ca_nonumber crl_good
emit crl-critical-extension root good ica
crl crl-critical-extension ica ca_default crl_critical
emit crl-good root good ica
crl crl-good ica ca_default crl_good

# --- robustness: valid chains that must verify
emit pile-malformed root good ica
# An unrelated, malformed certificate between leaf and intermediate (a truncated copy of the root).
{ echo '-----BEGIN CERTIFICATE-----'
  openssl x509 -in "$work/root.crt.pem" -outform DER | head -c 200 | base64 -w 64
  echo '-----END CERTIFICATE-----'
} >"$work/malformed.pem"
{ cat "$work/good.crt.pem" "$work/malformed.pem" "$work/ica.crt.pem"; } >"$out/pile-malformed/chain.pem"
cert leaf-pathlen ica "$ORG/CN=server.test" leaf_pathlen p256
emit leaf-pathlen root leaf-pathlen ica
ca ica2 ica "x509 cases intermediate 2" ica
ca ica3 ica2 "x509 cases intermediate 3" ica
cert depth ica3 "$ORG/CN=server.test" leaf p256
emit depth root depth ica3 ica2 ica
# notAfter 2050-01-01 is a GeneralizedTime; give it a fraction of a second.
cert time-fractional ica "$ORG/CN=server.test" leaf p256 "" ca_default 20500101000000Z
node "$here/x509-der-edit.mjs" "$work/time-fractional.crt.pem" "$work/ica.key.pem" 20500101000000Z 20500101000000.5Z \
  >"$work/time-fractional.edited.pem"
mv "$work/time-fractional.edited.pem" "$work/time-fractional.crt.pem"
emit time-fractional root time-fractional ica

# --- profile: accepted by default, refused with x509.strict
cert strict-no-aki ica "$ORG/CN=server.test" leaf_no_aki p256
emit strict-no-aki root strict-no-aki ica
cert strict-aki-critical ica "$ORG/CN=server.test" leaf_aki_critical p256
emit strict-aki-critical root strict-aki-critical ica
ca ica-no-ski root "x509 cases intermediate without SKI" ica_no_ski
cert strict-ca-no-ski ica-no-ski "$ORG/CN=server.test" leaf_aki_issuer p256
emit strict-ca-no-ski root strict-ca-no-ski ica-no-ski
for v in no_bc bc_noncritical aki_issuer; do
  c="strict-root-${v//_/-}"
  ca "root-$c" -self "x509 cases root $v" "root_$v"
  ca "ica-$c" "root-$c" "x509 cases intermediate under $v" ica
  cert "$c" "ica-$c" "$ORG/CN=server.test" leaf p256
  emit "$c" "root-$c" "$c" "ica-$c"
done
cert strict-cn-not-in-san ica "$ORG/CN=other.test" leaf p256
emit strict-cn-not-in-san root strict-cn-not-in-san ica
cert strict-no-eku ica "$ORG/CN=server.test" leaf_no_eku p256
emit strict-no-eku root strict-no-eku ica
cert strict-any-eku ica "$ORG/CN=server.test" leaf_any_eku p256
emit strict-any-eku root strict-any-eku ica
cert strict-underscore ica "$ORG/CN=server.test" leaf_underscore p256
emit strict-underscore root strict-underscore ica
cert strict-serial-zero ica "$ORG/CN=server.test" leaf p256 00
emit strict-serial-zero root strict-serial-zero ica
cert strict-empty-subject ica "/" leaf_empty_subject p256
emit strict-empty-subject root strict-empty-subject ica

chmod -R a+rX "$out"
echo "generated $(find "$out" -mindepth 1 -maxdepth 1 -type d | wc -l) cases in $out"
