#!/bin/bash
# The client library on a kernel with kTLS (handshaked pass only; tlshd has no unix transport, so
# its pass reports SKIP "not applicable"), through an agent started with the documented command
# (`handshaked serve --transport unix --unix-socket /run/handshaked/upcall.sock`, default config:
# the harness PKI in /etc/tlshd).
#  1. The example of docs/client.md, taken from the document and changed only in port and host
#     name, against a default `openssl s_server -www` and a Node https server (both send
#     NewSessionTickets): the HTTP request and the page must cross the kTLS socket, and the
#     example must exit 0 without an error.
#  2. ktls-stream-check.mjs: the stream against openssl s_server (tickets), gnutls-serv, a Node
#     tls server (tickets), a server closing with close_notify, a fatal alert mid-stream from a
#     kTLS server, a KeyUpdate from s_server, 64 MiB each way with sha256 checks, and kTlsStream
#     over a bare fd. Its TAP lines are in results/<pass>/unix-ktls-stream.stream.tap.
source /opt/hsvm/guest/lib.sh
source /opt/hsvm/guest/unix-agent.sh
[ "$HSVM_AGENT" = handshaked ] || skip "not applicable: $HSVM_AGENT has no unix transport (handshaked only)"
cleanup() {
  [ -n "${spid:-}" ] && kill "$spid" 2>/dev/null
  stop_all_agents
}
trap cleanup EXIT
[ -f "$HANDSHAKED_MAIN" ] || fail "handshaked is not in the payload ($HANDSHAKED_MAIN missing)"
W=/tmp/unix-ktls-stream; rm -rf "$W"; mkdir -p "$W"

# --- 1. the client-library example of docs/client.md ------------------------------------
doc=$H/guest/client.md
[ -f "$doc" ] || fail "docs/client.md is not in the payload"
awk '/^## Example: a TCP client/ {sec=1} sec && /^Then, in a program/ {want=1} want && /^```ts$/ {code=1; next} code && /^```$/ {exit} code {print}' "$doc" > "$W/example.orig.mjs"
grep -q "requestHandshake" "$W/example.orig.mjs" || fail "no client example found in docs/client.md"
mkdir -p "$W/example/node_modules"
ln -s /opt/handshaked "$W/example/node_modules/handshaked"
# The agent as the document starts it (default config: /etc/tlshd/config, the harness PKI).
start_unix_agent doc --transport unix --unix-socket /run/handshaked/upcall.sock || fail "$AGENT_ERROR"

# run_example LABEL PORT: the example as documented, with the server's port and name substituted;
# sets $ex to a summary and returns 1 (with $exfail) unless the reply came through and rc was 0.
run_example() {
  local label=$1 port=$2 hs0 hs1 erc
  sed -e "s/net\.connect(443, 'example\.org')/net.connect($port, 'localhost')/" -e "s/peername: 'example\.org'/peername: 'localhost'/" \
    -e "s/Host: example\.org/Host: localhost/" "$W/example.orig.mjs" > "$W/example/example-$label.mjs"
  echo "--- the example for $label (diff from docs/client.md):"; diff "$W/example.orig.mjs" "$W/example/example-$label.mjs"
  hs0=$(handshakes_total)
  (cd "$W/example" && timeout -k 5 120 node "example-$label.mjs") > "$W/example-$label.out" 2> "$W/example-$label.err"
  erc=$?
  hs1=$(handshakes_total)
  echo "--- example ($label) rc=$erc stdout (head):"; head -c 600 "$W/example-$label.out"; echo; echo "--- stderr:"; cat "$W/example-$label.err"
  ex="example vs $label: rc=$erc, kTLS installs +$((hs1 - hs0))"
  [ "$((hs1 - hs0))" -ge 1 ] || { exfail="$ex: the example's socket got no kTLS"; return 1; }
  [ "$erc" = 0 ] || { exfail="$ex: exited $erc ($(grep -m1 -E 'Error|EIO|ended' "$W/example-$label.err" | cut -c1-200))"; return 1; }
  [ -s "$W/example-$label.err" ] && { exfail="$ex: the example reported an error: $(head -c 200 "$W/example-$label.err" | tr '\n' ' ')"; return 1; }
  return 0
}

# a. A default s_server -www: TLS 1.3 with its two NewSessionTickets.
openssl s_server -accept 127.0.0.1:0 -naccept 1 -tls1_3 -cert /etc/tlshd/server.pem -key /etc/tlshd/server.key -www \
  > "$W/s_server.log" 2>&1 < /dev/null &
spid=$!
port=
for _ in $(seq 1 100); do
  port=$(sed -n 's/^ACCEPT 127\.0\.0\.1:\([0-9]*\).*/\1/p' "$W/s_server.log" | head -1)
  [ -n "$port" ] && break; sleep 0.2
done
[ -n "$port" ] || fail "openssl s_server did not start: $(head -c 300 "$W/s_server.log")"
run_example s_server "$port"; ok=$?
echo "--- s_server:"; head -c 600 "$W/s_server.log"; echo
wait "$spid" 2>/dev/null; spid=
[ "$ok" = 0 ] || fail "$exfail"
grep -q '^HTTP/1.0 200 ok' "$W/example-s_server.out" || fail "$ex: no HTTP reply from s_server in the example's output"
# s_server answers only a decrypted "GET /" line; its page describes the session.
grep -q 'Cipher is TLS_' "$W/example-s_server.out" || fail "$ex: s_server's page lacks its session description"
ex1=$ex

# b. A Node https server (tickets on, as Node's default).
cp /opt/hsvm/guest/ktls-stream-check.mjs "$W/example/"
(cd "$W/example" && exec node ktls-stream-check.mjs https-server) > "$W/https.log" 2>&1 &
spid=$!
port=
for _ in $(seq 1 150); do
  port=$(sed -n 's/^LISTEN \([0-9]*\)$/\1/p' "$W/https.log" | head -1)
  [ -n "$port" ] && break; sleep 0.2
done
[ -n "$port" ] || fail "$ex1 | the Node https server did not start: $(head -c 300 "$W/https.log")"
run_example node-https "$port"; ok=$?
kill "$spid" 2>/dev/null; wait "$spid" 2>/dev/null; spid=
[ "$ok" = 0 ] || fail "$ex1 | $exfail"
grep -q 'node https says hello to GET /' "$W/example-node-https.out" || fail "$ex1 | $ex: no page from the Node server in the example's output"
ex2=$ex

# --- 2. the stream against real peers: tickets, close_notify, alerts, KeyUpdate, 64 MiB ----
t0=$(up)
(cd "$W/example" && timeout -k 10 300 node ktls-stream-check.mjs /run/handshaked/upcall.sock) > "$W/stream.tap" 2> "$W/stream.err"
src=$?
echo "--- stream checks rc=$src ($(elapsed "$t0")s):"; cat "$W/stream.tap"; echo "--- stderr:"; head -c 2000 "$W/stream.err"
cp "$W/stream.tap" "$HSVM_RESULTS/$HSVM_SCENARIO.stream.tap"
sok=$(grep -c '^ok ' "$W/stream.tap"); snot=$(grep -c '^not ok' "$W/stream.tap")
streams="stream checks: $sok ok, $snot not ok in $(elapsed "$t0")s"
[ "$src" = 0 ] && [ "$snot" = 0 ] || fail "$ex1 | $ex2 | $streams: $(grep -m2 '^not ok' "$W/stream.tap" | tr '\n' ' ' | cut -c1-400)"
[ "$sok" -ge 8 ] || fail "$ex1 | $ex2 | $streams: expected 8"
note "$ex1 | $ex2, HTTP request and page through kTLS | $streams"
