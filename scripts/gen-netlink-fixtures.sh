#!/usr/bin/env bash
# Regenerate fixtures/netlink/ (hex files + an nlmon pcap) from the table in src/netlink/fixtures.ts.
# test/netlink/fixtures.test.ts fails when the committed files and the table differ.
set -euo pipefail
cd "$(dirname "$0")/.."
npm run build --silent
node dist/netlink/fixtures.js fixtures/netlink
