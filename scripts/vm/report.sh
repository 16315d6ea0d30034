#!/usr/bin/env bash
# Turn the HSVM-RESULT lines of a run's console logs into KTAP, then a side-by-side table
# of the two agents. usage: report.sh RUN_DIR "PASSES" "pass:scenario scenario...\n..."
# Exit status 0 if every expected scenario reported ok or skip.
set -uo pipefail
run=$1 passes=$2 plan=$3

# pass scenario status secs handshakes agent-start-secs note...
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
    key = $2 "." $3; st[key] = $4; secs[key] = $5; hs[key] = $6; su[key] = $7
    note = ""; for (i = 8; i <= NF; i++) note = note (i > 8 ? " " : "") $i
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
      printf "# %s: %ss (agent start-up %ss), %d kTLS installs: %s\n", key, secs[key], su[key], hs[key], nt[key]
      # Scenarios that run the companion keep its KTAP in <scenario>.ktap: nest it as the
      # subtest of this line.
      f = run "/results/" P[i] "/" SC[i] ".ktap"
      while ((getline l < f) > 0) print "    " l
      close(f)
      if (st[key] == "ok") printf "ok %d %s\n", i, key
      else if (st[key] == "skip") printf "ok %d %s # SKIP %s\n", i, key, nt[key]
      else { printf "not ok %d %s\n", i, key; bad++ }
    }
    # Side by side: every scenario both agents ran (neither skipped); the systemd passes pair
    # up the same way (their sd-boot-mounts figure is boot to mounted, not wall time).
    hdr = 0
    for (i = 1; i <= n; i++) {
      if (P[i] != "tlshd" && P[i] != "systemd-tlshd") continue
      hp = (P[i] == "tlshd") ? "handshaked" : "systemd-handshaked"
      t = P[i] "." SC[i]; h = hp "." SC[i]
      if (!(t in st) || !(h in st)) continue
      # a scenario one agent skips (unix-ktls: tlshd has no unix transport) has nothing to compare
      if (st[t] == "skip" || st[h] == "skip") continue
      if (!hdr) {
        print "# side by side, handshaked vs tlshd. s = scenario wall time, start = agent start-up within it,"
        print "# hs = handshakes completed (kTLS contexts installed, both ends). Ratios are handshaked / tlshd;"
        print "# \"excl. start\" compares the wall times minus agent start-up."
        printf "# %-24s %5s %6s %5s %3s | %5s %6s %5s %3s | %6s %11s %5s\n", "scenario", "tlshd", "s", "start", "hs", "hsd", "s", "start", "hs", "time", "excl. start", "hs"
        hdr = 1
      }
      tr = (secs[t] > 0) ? sprintf("%.2f", secs[h] / secs[t]) : "n/a"
      xt = secs[t] - su[t]; xh = secs[h] - su[h]
      xr = (xt > 0) ? sprintf("%.2f", xh / xt) : "n/a"
      hr = (hs[t] > 0) ? sprintf("%.2f", hs[h] / hs[t]) : "n/a"
      printf "# %-24s %5s %6s %5s %3d | %5s %6s %5s %3d | %6s %11s %5s\n", SC[i], st[t], secs[t], su[t], hs[t], st[h], secs[h], su[h], hs[h], tr, xr, hr
      n_both++; sum_t += secs[t]; sum_h += secs[h]; sum_xt += xt; sum_xh += xh; sum_ht += hs[t]; sum_hh += hs[h]
    }
    if (n_both) printf "# %-24s %5s %6.1f %5s %3d | %5s %6.1f %5s %3d | %6.2f %11.2f %5s\n", "all", "", sum_t, "", sum_ht, "", sum_h, "", sum_hh, sum_h / sum_t, (sum_xt > 0 ? sum_xh / sum_xt : 0), (sum_ht > 0 ? sprintf("%.2f", sum_hh / sum_ht) : "n/a")
    printf "# totals: %d scenarios, %d not ok\n", n, bad
    exit bad > 0 ? 1 : 0
  }' <<< "$results"
