#!/bin/bash
# Several network namespaces, one NFS server (knfsd in the root namespace), NFS over mutual TLS.
# Client namespaces t1 and t2 each have their own veth pair and their own PKI (a client
# certificate from the tenant's own CA; the server trusts only the tenants' CAs, so a mount
# that presented the host's client certificate would be refused). t3 is created and mounts
# after the agents started.
#   handshaked pass: ONE handshaked in the root namespace, [handshaked] namespaces=all and a
#     [namespace.tN] section per tenant. Then a handshake in flight in t4 (its link delayed by
#     netem) when t4 is deleted: the agent must end it, close t4's socket and keep serving.
#   tlshd pass: one tlshd per namespace (the server's in the root namespace, one per tenant with
#     the tenant's configuration), side by side. The deletion step is not possible there: the
#     tenant's tlshd is itself a process in the namespace and keeps it until it is stopped.
source /opt/hsvm/guest/lib.sh
D=/etc/tlshd/netns
cleanup() {
  stop_all_agents
  mountpoint -q /mnt && umount -f -l /mnt
  for n in t1 t2 t3 t4; do ip netns del "$n" 2>/dev/null; ip link del "vh-$n" 2>/dev/null; done
  true
}
trap cleanup EXIT
mkdir -p "$D"
agent=${HSVM_AGENT:-handshaked}

mk_ns() {  # $1 = name, $2 = N: veth 10.98.N.1 (root) <-> 10.98.N.2 (namespace)
  ip netns add "$1" || return 1
  ip link add "vh-$1" type veth peer name "vc-$1"
  ip link set "vc-$1" netns "$1"
  ip addr add "10.98.$2.1/24" dev "vh-$1"; ip link set "vh-$1" up
  ip -n "$1" addr add "10.98.$2.2/24" dev "vc-$1"; ip -n "$1" link set "vc-$1" up; ip -n "$1" link set lo up
}
tenant_pki() {  # $1 = name, $2 = N: the tenant's CA and a client certificate it signed
  local k=(-algorithm EC -pkeyopt ec_paramgen_curve:P-256)
  openssl genpkey "${k[@]}" -out "$D/$1-ca.key" 2>/dev/null
  openssl req -x509 -new -key "$D/$1-ca.key" -subj "/O=hsvm tenant $1/CN=$1 CA" -days 2 -sha256 \
    -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign -out "$D/$1-ca.pem" 2>/dev/null
  openssl genpkey "${k[@]}" -out "$D/$1-client.key" 2>/dev/null; chmod 600 "$D/$1-client.key"
  printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\nsubjectAltName=DNS:%s-client,IP:10.98.%s.2\n' "$1" "$2" > "$D/$1.ext"
  openssl req -new -key "$D/$1-client.key" -subj "/O=hsvm tenant $1/CN=$1-client" 2>/dev/null |
    openssl x509 -req -CA "$D/$1-ca.pem" -CAkey "$D/$1-ca.key" -CAcreateserial -days 2 -sha256 -extfile "$D/$1.ext" -out "$D/$1-client.pem" 2>/dev/null
  # The tenant verifies the server with its own copy of the server's CA.
  cp /etc/tlshd/ca.pem "$D/$1-trust.pem"
  [ -s "$D/$1-client.pem" ]
}
base_config() {  # the server side: trusts only the tenants' CAs
  cat <<CONF
[debug]
loglevel=2
[authenticate.client]
x509.truststore=/etc/tlshd/ca.pem
x509.certificate=/etc/tlshd/client.pem
x509.private_key=/etc/tlshd/client.key
[authenticate.server]
x509.truststore=$D/tenants-ca.pem
x509.certificate=/etc/tlshd/server.pem
x509.private_key=/etc/tlshd/server.key
CONF
}
tenant_section() {  # $1 = name: handshaked's [namespace.NAME]
  printf '[namespace.%s]\nclient.x509.truststore=%s/%s-trust.pem\nclient.x509.certificate=%s/%s-client.pem\nclient.x509.private_key=%s/%s-client.key\n' \
    "$1" "$D" "$1" "$D" "$1" "$D" "$1"
}
tenant_tlshd_config() {  # $1 = name: what that tenant's own tlshd reads
  printf '[debug]\nloglevel=2\n[authenticate.client]\nx509.truststore=%s/%s-trust.pem\nx509.certificate=%s/%s-client.pem\nx509.private_key=%s/%s-client.key\n' \
    "$D" "$1" "$D" "$1" "$D" "$1" > "$D/$1.conf"
}

for t in 1 2 3; do tenant_pki "t$t" "$t" || fail "could not make tenant t$t's PKI"; done
cat "$D"/t1-ca.pem "$D"/t2-ca.pem "$D"/t3-ca.pem > "$D/tenants-ca.pem"
mk_ns t1 1 && mk_ns t2 2 || fail "could not create namespaces t1, t2"
set_exports mtls 10.98.1.2 10.98.2.2 10.98.3.2 10.98.4.2

if [ "$agent" = handshaked ]; then
  { base_config; printf '[handshaked]\nnamespaces=all\n'; tenant_section t1; tenant_section t2; tenant_section t3; } > "$D/agent.conf"
  AGENT_CONFIG=$D/agent.conf start_agent all handshaked || fail "$AGENT_ERROR"
else
  base_config > "$D/server.conf"
  AGENT_CONFIG=$D/server.conf start_agent server tlshd || fail "$AGENT_ERROR"
  for t in t1 t2; do
    tenant_tlshd_config "$t"
    AGENT_CONFIG=$D/$t.conf start_agent "$t" tlshd "$t" || fail "$AGENT_ERROR"
  done
fi

notes=()
# The first mount meets a cold agent: under TCG its first handshakes can outlast the kernel's
# patience (the NFS client resets, the mount is refused). Up to three attempts, counted in the note.
for try in 1 2 3; do
  nfs_roundtrip 10.98.1.1 mtls t1 4 && break
  [ "$try" = 3 ] && fail "t1 (3 attempts): $RT_ERROR"
  log "t1 attempt $try failed ($RT_ERROR); again"; sleep 5
done
notes+=("t1 ok (attempt $try)")
nfs_roundtrip 10.98.2.1 mtls t2 4 || fail "t2: $RT_ERROR"
notes+=("t2 ok")

# A namespace created after the agents started.
mk_ns t3 3 || fail "could not create namespace t3"
if [ "$agent" = handshaked ]; then
  for i in $(seq 1 50); do grep -q 'serving network namespace netns=t3' "$(cat "$AGENT_DIR/all.log")" && break; sleep 0.2; done
  grep -q 'serving network namespace netns=t3' "$(cat "$AGENT_DIR/all.log")" || fail "handshaked did not pick up namespace t3 within 10 s"
else
  tenant_tlshd_config t3
  AGENT_CONFIG=$D/t3.conf start_agent t3 tlshd t3 || fail "$AGENT_ERROR"
fi
nfs_roundtrip 10.98.3.1 mtls t3 4 || fail "t3 (created after start-up): $RT_ERROR"
notes+=("t3 (late) ok")

if [ "$agent" = handshaked ]; then
  logf=$(cat "$AGENT_DIR/all.log")
  for t in t1 t2 t3; do
    grep 'handshake succeeded' "$logf" | grep -q "netns=$t role=client" || fail "no client handshake logged with netns=$t"
  done
  grep 'handshake succeeded' "$logf" | grep -q 'netns=self role=server' || fail "no server handshake logged with netns=self"

  # Deleting a namespace while a handshake in it is in flight: t4's link delays every packet
  # by 1 s each way (netem), so the handshake waits seconds for the server's reply; as soon as
  # the agent has accepted it, the mount is killed and t4 deleted.
  mk_ns t4 4 || fail "could not create namespace t4"
  # Neighbours resolved first: ARP behind a long delay gives up ("No route to host").
  ip netns exec t4 /bin/busybox ping -c1 -W5 10.98.4.1 >/dev/null || fail "t4's veth does not pass traffic"
  tc -n t4 qdisc add dev vc-t4 root netem delay 1000ms && tc qdisc add dev vh-t4 root netem delay 1000ms || fail "tc netem is not available"
  for i in $(seq 1 50); do grep -q 'serving network namespace netns=t4' "$logf" && break; sleep 0.2; done
  grep -q 'serving network namespace netns=t4' "$logf" || fail "handshaked did not start serving namespace t4 within 10 s"
  in_ns t4 timeout -k 5 120 mount -t nfs -o vers=4.2,proto=tcp,retry=0,xprtsec=mtls 10.98.4.1:/export /mnt &
  mpid=$!
  for i in $(seq 1 200); do grep -q 'accepted a handshake request.*netns=t4' "$logf" && break; sleep 0.2; done
  grep -q 'accepted a handshake request.*netns=t4' "$logf" || fail "no handshake from t4 reached the agent"
  pkill -KILL -f '10.98.4.1:/export' 2>/dev/null; kill -KILL "$mpid" 2>/dev/null; wait "$mpid" 2>/dev/null
  ip netns del t4; ip link del vh-t4 2>/dev/null
  for i in $(seq 1 60); do grep -q 'network namespace went away.*netns=t4' "$logf" && break; sleep 0.25; done
  grep -q 'network namespace went away.*netns=t4' "$logf" || fail "handshaked did not let go of namespace t4 after it was deleted"
  grep 'handshake failed' "$logf" | grep 'netns=t4' | grep 'status=ETIMEDOUT' | grep -q 'network namespace t4 went away' || fail "the handshake in flight in t4 did not end with ETIMEDOUT because t4 went away"
  agent_alive all || fail "handshaked exited after namespace t4 was deleted"
  # The server side of t4's connection (root namespace) ends by its own deadline; then no TCP
  # socket may be left.
  for i in $(seq 1 120); do [ -z "$(agent_tcp_fds all)" ] && break; sleep 0.25; done
  [ -z "$(agent_tcp_fds all)" ] || fail "handshaked still holds a TCP socket 30 s after t4 went away: $(agent_tcp_fds all)"
  notes+=("t4 deleted in flight: ETIMEDOUT, socket closed")
else
  notes+=("deleting a namespace in flight: not possible to compare (each tlshd keeps its namespace)")
fi
agent_alive "$([ "$agent" = handshaked ] && echo all || echo server)" || fail "an agent exited during the scenario"
note "$agent: ${notes[*]}"
