#!/bin/bash
# NFSv4.2 over mutual TLS, post-quantum: both sides hold an ML-DSA-65 identity in x509.pq.*
# (next to the classic P-256 one) and the agents' defaults lead with X25519MLKEM768, so the
# mount's two handshakes must use the hybrid key exchange and ML-DSA-65 CertificateVerify both
# ways; the per-handshake log lines must say so, and kTLS installs are counted as for nfs-mtls.
# tlshd in Debian 13 (ktls-utils 1.0.0 on GnuTLS 3.8.9, built without ML-KEM and ML-DSA)
# cannot take part.
source /opt/hsvm/guest/lib.sh
PQ=/opt/handshaked/fixtures/pki-pq
restore() {
  stop_all_agents
  cp /etc/tlshd/ca.pem /etc/tlshd/client-trust.pem
  cp /etc/tlshd/ca.pem /etc/tlshd/server-trust.pem
  sed -i '/^x509\.pq\./d' /etc/tlshd/config
}
trap restore EXIT
if [ "$HSVM_AGENT" != handshaked ]; then
  skip "tlshd $(dpkg-query -W -f '${Version}' ktls-utils 2>/dev/null) uses GnuTLS $(dpkg-query -W -f '${Version}' libgnutls30t64 2>/dev/null), built without ML-KEM and ML-DSA"
fi
[ -f "$PQ/server-mldsa65.crt.pem" ] || fail "fixtures/pki-pq is missing from the payload"
install -m 0644 "$PQ/server-mldsa65.crt.pem" /etc/tlshd/server-pq.pem
install -m 0644 "$PQ/client-mldsa65.crt.pem" /etc/tlshd/client-pq.pem
install -m 0600 "$PQ/server-mldsa65.key.pem" /etc/tlshd/server-pq.key
install -m 0600 "$PQ/client-mldsa65.key.pem" /etc/tlshd/client-pq.key
# Each side trusts both roots: the classic one stays, the ML-DSA-65 root is added.
cat /etc/tlshd/ca.pem "$PQ/ca-bundle.pem" > /etc/tlshd/client-trust.pem
cat /etc/tlshd/ca.pem "$PQ/ca-bundle.pem" > /etc/tlshd/server-trust.pem
sed -i -e '/^\[authenticate.client\]/a x509.pq.certificate=/etc/tlshd/client-pq.pem\nx509.pq.private_key=/etc/tlshd/client-pq.key' \
       -e '/^\[authenticate.server\]/a x509.pq.certificate=/etc/tlshd/server-pq.pem\nx509.pq.private_key=/etc/tlshd/server-pq.key' /etc/tlshd/config
grep -n 'pq' /etc/tlshd/config
start_agent main "$HSVM_AGENT" || fail "$AGENT_ERROR"
logf=$(cat "$AGENT_DIR/main.log")
set_exports mtls 127.0.0.1
nfs_roundtrip 127.0.0.1 mtls || fail "$RT_ERROR"
agent_alive main || fail "agent exited during the scenario"
grep 'handshake succeeded' "$logf" | tail -n 4
pq_line='group=X25519MLKEM768 signature_scheme=mldsa65 client_signature_scheme=mldsa65'
clients=$(grep 'handshake succeeded' "$logf" | grep 'role=client' | grep -c "$pq_line")
servers=$(grep 'handshake succeeded' "$logf" | grep 'role=server' | grep -c "$pq_line")
[ "$clients" -ge 1 ] && [ "$servers" -ge 1 ] \
  || fail "expected client and server handshakes with '$pq_line' in the agent log (client $clients, server $servers)"
note "$RT_NOTE; X25519MLKEM768 + ML-DSA-65 both ways (client lines $clients, server lines $servers)"
