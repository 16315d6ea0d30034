# Shared by scripts/gen-pki.sh and scripts/gen-x509-cases.sh (sourced, not run): private keys,
# CA state directories, and certificates and CRLs signed with `openssl ca`. The caller sets
# $work (a scratch directory), starts "$work/ca.cnf" with ca_config and appends its own
# extension sections.

# ca_config <default_md> <commonName policy>: what every CA here signs with, into "$work/ca.cnf":
# [ca_default] (state directory from $CADIR, no extensions copied from requests, CRLs valid 20
# years carrying [crl_good]: an AKI) and [policy_any] (O optional, CN as the argument says).
ca_config() {
  cat >"$work/ca.cnf" <<EOF
[ca]
default_ca = ca_default

[ca_default]
dir = \$ENV::CADIR
database = \$dir/index.txt
new_certs_dir = \$dir/newcerts
serial = \$dir/serial
crlnumber = \$dir/crlnumber
default_md = $1
policy = policy_any
unique_subject = no
email_in_dn = no
copy_extensions = none
crl_extensions = crl_good
default_crl_days = 7300

[policy_any]
organizationName = optional
commonName = $2

[crl_good]
authorityKeyIdentifier = keyid:always

EOF
}

# ca_keygen <file> <algorithm>: a new private key (PKCS#8 PEM). EC keys use named curves unless
# the algorithm is `explicit` (P-256 with explicit parameters, which verifiers must refuse).
ca_keygen() {
  local f=$1
  case $2 in
    p256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:named_curve -out "$f" ;;
    p384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -pkeyopt ec_param_enc:named_curve -out "$f" ;;
    p192) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-192 -pkeyopt ec_param_enc:named_curve -out "$f" ;;
    explicit) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -pkeyopt ec_param_enc:explicit -out "$f" ;;
    rsa1024 | rsa2048 | rsa2052) openssl genpkey -algorithm RSA -pkeyopt "rsa_keygen_bits:${2#rsa}" -out "$f" ;;
    rsapss2048) openssl genpkey -algorithm RSA-PSS -pkeyopt rsa_keygen_bits:2048 -out "$f" ;;
    ed25519) openssl genpkey -algorithm ED25519 -out "$f" ;;
    dsa)
      openssl genpkey -genparam -algorithm DSA -pkeyopt dsa_paramgen_bits:2048 -out "$work/dsa-params.pem"
      openssl genpkey -paramfile "$work/dsa-params.pem" -out "$f" ;;
    *) false ;;
  esac 2>/dev/null || { echo "cannot make a key of algorithm '$2' in $f" >&2; exit 1; }
}

# ca_state <dir>: a fresh `openssl ca` state directory (empty database, serial and CRL number 1000).
ca_state() {
  mkdir -p "$1/newcerts"
  : >"$1/index.txt"
  echo 1000 >"$1/serial"
  echo 1000 >"$1/crlnumber"
}

# ca_quiet <command...>: runs it with its stderr kept in $work/log and shown only if it fails.
ca_quiet() {
  "$@" 2>"$work/log" || { cat "$work/log" >&2; exit 1; }
}

# ca_sign <state-dir> <key> <subject> <cert-out> <ext-section> <start> <end> <signer and other `openssl ca` args...>
# A certificate for <key> and <subject> with the given validity and extension section. The
# signer args are `-selfsign -keyfile KEY` or `-cert CERT -keyfile KEY`; any other `openssl ca`
# options (-name, -md, -sigopt) may follow.
ca_sign() {
  local dir=$1 key=$2 subject=$3 crt=$4 ext=$5 start=$6 end=$7
  shift 7
  local csr
  csr="$work/$(basename "$crt").csr"
  openssl req -new -key "$key" -subj "$subject" -out "$csr" 2>/dev/null
  ca_quiet env CADIR="$dir" openssl ca -batch -notext -config "$work/ca.cnf" "$@" \
    -in "$csr" -out "$crt" -extensions "$ext" -startdate "$start" -enddate "$end"
}

# ca_crl <state-dir> <cert> <key> <crl-out> [other `openssl ca` args...]: the CA's current CRL.
ca_crl() {
  local dir=$1 crt=$2 key=$3 crl=$4
  shift 4
  ca_quiet env CADIR="$dir" openssl ca -batch -config "$work/ca.cnf" -gencrl -cert "$crt" -keyfile "$key" -out "$crl" "$@"
}
