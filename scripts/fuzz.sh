#!/usr/bin/env bash
# Coverage-guided fuzzing (Jazzer.js = libFuzzer for Node) of every parser that sees untrusted
# bytes. Targets live in test/fuzz/targets, seed corpora in fixtures/fuzz/<target>/.
#
#   npm run fuzz                      every target, FUZZ_SECONDS (default 60) each
#   npm run fuzz -- x509 netlink      only these targets
#   FUZZ_SECONDS=600 npm run fuzz -- tls-client-flight
#   npm run fuzz -- --list            target names
#   npm run fuzz -- --seed            regenerate the seed corpora (test/fuzz/tools/seed-corpora.ts)
#
# New interesting inputs go to .cache/fuzz/<target>/ (not the committed seeds); crashes, hangs
# and OOMs go to .cache/fuzz/findings/<target>/ and make the script exit 1. A finding becomes a
# regression test by copying it into fixtures/fuzz/<target>/ (test/fuzz/replay.test.ts replays
# every file there) and fixing the parser. To merge new coverage into the seeds:
#   FUZZ_MERGE=1 npm run fuzz -- <target>
set -euo pipefail
cd "$(dirname "$0")/.."

BUILD=.cache/fuzz-build
ADDON=node_modules/@jazzer.js/fuzzer/prebuilds/fuzzer-linux-x64.node
SECS="${FUZZ_SECONDS:-60}"

npx tsc -p test/fuzz/tsconfig.json
# Test helpers find fixtures/ relative to their own file; give the build the same view.
ln -sfn ../../fixtures "$BUILD/fixtures"
if [ "${1:-}" = "--seed" ]; then node "$BUILD/test/fuzz/tools/seed-corpora.js"; exit 0; fi

mapfile -t ALL < <(node -e 'for (const t of require("./'"$BUILD"'/test/fuzz/targets").TARGETS) console.log(t.name)')
if [ "${1:-}" = "--list" ]; then printf '%s\n' "${ALL[@]}"; exit 0; fi
TARGETS=("$@")
[ "${#TARGETS[@]}" -gt 0 ] || TARGETS=("${ALL[@]}")

# Jazzer.js 4's prebuilt addon wants glibc 2.38; on older systems rewrite its version needs
# (see test/fuzz/tools/jazzer-glibc-compat.ts for exactly what changes and why it is safe).
if ! node -e "require('./$ADDON')" 2>/dev/null; then
  node "$BUILD/test/fuzz/tools/jazzer-glibc-compat.js" "$ADDON"
  node -e "require('./$ADDON')"
fi

status=0
for t in "${TARGETS[@]}"; do
  seeds="fixtures/fuzz/$t"
  work=".cache/fuzz/$t"
  findings=".cache/fuzz/findings/$t"
  [ -d "$seeds" ] || { echo "fuzz: no seed corpus $seeds (targets: ${ALL[*]})" >&2; exit 2; }
  mkdir -p "$work" "$findings"
  echo "== fuzz $t for ${SECS}s (seeds $seeds, new inputs $work)"
  libfuzzer=(-max_total_time="$SECS" -timeout=10 -rss_limit_mb=2048 -max_len=20000
    -artifact_prefix="$findings/" -print_final_stats=1)
  if [ -n "${FUZZ_MERGE:-}" ]; then libfuzzer=(-merge=1 -artifact_prefix="$findings/"); fi
  # Instrument only our code: the compiled src/ and the targets, never node_modules.
  if ! FUZZ_TARGET="$t" npx jazzer "$BUILD/test/fuzz/jazzer-entry" "$work" "$seeds" \
      --sync -i "$BUILD/src/" -i "$BUILD/test/" -- "${libfuzzer[@]}"; then
    echo "fuzz: $t has findings in $findings" >&2
    status=1
  fi
done
exit $status
