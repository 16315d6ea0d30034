# Sourced by the unix-transport scenarios (unix-ktls, unix-ktls-stream) after lib.sh.

# start_unix_agent LABEL ARGS...: `handshaked serve ARGS` in its own session, ready once it logs
# "handshaked ready" (a unix-transport agent holds no handshake-family socket to look for).
start_unix_agent() {
  local label=$1 logf t0 pid; shift
  logf="$HSVM_RESULTS/$HSVM_SCENARIO.$label.handshaked.log"
  echo "=== $(date -u +%FT%TZ) uptime $(up)s: node $HANDSHAKED_MAIN serve $*" >> "$logf"
  setsid node "$HANDSHAKED_MAIN" serve "$@" >> "$logf" 2>&1 < /dev/null &
  pid=$!
  echo "$pid" > "$AGENT_DIR/$label.pid"; echo handshaked > "$AGENT_DIR/$label.agent"; echo "$logf" > "$AGENT_DIR/$label.log"
  log "agent $label: pid $pid log $logf"
  t0=$(up)
  while ! grep -q 'handshaked ready' "$logf"; do
    kill -0 "$pid" 2>/dev/null || { tail -n 20 "$logf"; AGENT_ERROR="agent $label exited before it was ready: $(tail -n 3 "$logf" | tr '\n' ' ' | cut -c1-300)"; return 1; }
    awk -v a="$t0" -v b="$(up)" 'BEGIN{exit !(b-a > 240)}' && { AGENT_ERROR="agent $label not ready after 240 s"; return 1; }
    sleep 0.3
  done
  log "agent $label ready after $(elapsed "$t0")s"
  elapsed "$t0" >> "$HSVM_STATE/startup.$HSVM_SCENARIO"
}
