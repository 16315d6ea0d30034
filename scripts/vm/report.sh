#!/usr/bin/env bash
# Turn the HSVM-RESULT lines of a run's console logs into KTAP, then a side-by-side table
# of the two agents. usage: report.sh RUN_DIR "PASSES" "pass:scenario scenario...\n..."
# Exit status 0 if every expected scenario reported ok or skip.
set -uo pipefail
run=$1 passes=$2 plan=$3

# pass scenario status secs handshakes note...
results=$(cat "$run"/*.console.log 2>/dev/null | sed -n 's/^\[[ 0-9.]*\] //; s/\r$//; /^HSVM-RESULT /p')

awk -v plan="$plan" -v passes="$passes" -v run="$run" '
  BEGIN {
    n = 0; np = split(plan, lines, "\n")
    for (i = 1; i <= np; i++) {
      split(lines[i], ps, ":"); pass = ps[1]; k = split(ps[2], sc, " ")
      for (j = 1; j <= k; j++) { n++; order[n] = pass "." sc[j]; P[n] = pass; SC[n] = sc[j] }
    }
  }
  $1 == "HSVM-RESULT" {
    key = $2 "." $3; st[key] = $4; secs[key] = $5; hs[key] = $6
    note = ""; for (i = 7; i <= NF; i++) note = note (i > 7 ? " " : "") $i
    nt[key] = note
  }
  END {
    print "KTAP version 1"
    print "1.." n
    bad = 0
    for (i = 1; i <= n; i++) {
      key = order[i]
      if (!(key in st)) {
        printf "# %s: no result (the VM pass ended before this scenario reported; see %s.console.log)\n", key, P[i]
        printf "not ok %d %s\n", i, key; bad++; continue
      }
      printf "# %s: %ss, %d kTLS installs: %s\n", key, secs[key], hs[key], nt[key]
      # The companion prints its own KTAP: nest it as the subtest of this line.
      if (SC[i] == "companion-kernel-test") {
        f = run "/results/" P[i] "/companion-kernel-test.ktap"
        while ((getline l < f) > 0) print "    " l
        close(f)
      }
      if (st[key] == "ok") printf "ok %d %s\n", i, key
      else if (st[key] == "skip") printf "ok %d %s # SKIP %s\n", i, key, nt[key]
      else { printf "not ok %d %s\n", i, key; bad++ }
    }
    # Side by side: every scenario both agents ran.
    hdr = 0
    for (i = 1; i <= n; i++) {
      if (P[i] != "tlshd") continue
      t = "tlshd." SC[i]; h = "handshaked." SC[i]
      if (!(t in st) || !(h in st)) continue
      if (!hdr) {
        print "# side by side: handshaked vs tlshd (ratio = handshaked / tlshd; kTLS installs = handshakes completed, both ends)"
        printf "# %-26s %7s %6s %4s | %7s %6s %4s | %10s %9s\n", "scenario", "tlshd", "s", "hs", "hshaked", "s", "hs", "time ratio", "hs ratio"
        hdr = 1
      }
      tr = (secs[t] > 0) ? sprintf("%.2f", secs[h] / secs[t]) : "n/a"
      hr = (hs[t] > 0) ? sprintf("%.2f", hs[h] / hs[t]) : "n/a"
      printf "# %-26s %7s %6s %4d | %7s %6s %4d | %10s %9s\n", SC[i], st[t], secs[t], hs[t], st[h], secs[h], hs[h], tr, hr
    }
    printf "# totals: %d scenarios, %d not ok\n", n, bad
    exit bad > 0 ? 1 : 0
  }' <<< "$results"
