#!/usr/bin/env bash
# Decision-log load figures (issue 4 §4): serve in live mode against the fake
# Aircall of examples/load.rs, SQLite state store, rules/main.rules:
#   1. no-match webhooks/s at full speed (target >= 20,000/s)
#   2. p99 acknowledgement at 2,000/s, no-match and transfer (target < 5 ms)
# Build first: cargo build --release --bin switchboard --example load
# EXTRA="store:\n  commit_wait: 1ms" adds config lines; DURATION=secs.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
mkdir "$WORK/rules"; cp rules/main.rules "$WORK/rules/"
cat >"$WORK/sb.yaml" <<Y
listen: 127.0.0.1:18580
rules: rules/main.rules
state: state.db
aircall:
  api_id: x
  api_token: y
  base_url: http://127.0.0.1:18590
  rate_limit_per_minute: 100000000
webhook_tokens: [tok]
queue_capacity: 1000000
watch: off
${EXTRA:-}
Y
target/release/examples/load fake-aircall --listen 127.0.0.1:18590 2>"$WORK/fake.log" & PIDS+=($!)
sleep 0.5
RUST_LOG=warn target/release/switchboard serve --config "$WORK/sb.yaml" 2>"$WORK/serve.log" & PIDS+=($!)
for i in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18580/healthz && break; sleep 0.1; done
echo "== no-match, max rate"
target/release/examples/load bench --url http://127.0.0.1:18580/aircall/calls --token tok --duration ${DURATION:-10} --scenario no-match --connections 64 --first-id 1000000000
echo "== no-match at 2000/s"
target/release/examples/load bench --url http://127.0.0.1:18580/aircall/calls --token tok --duration ${DURATION:-10} --scenario no-match --connections 32 --rate 2000 --first-id 3000000000
echo "== transfer at 2000/s"
target/release/examples/load bench --url http://127.0.0.1:18580/aircall/calls --token tok --duration ${DURATION:-10} --scenario transfer --connections 32 --rate 2000 --first-id 4000000000
curl -s http://127.0.0.1:18580/status | head -c 600; echo
sqlite3 "$WORK/state.db" "select count(*) from webhooks" 2>/dev/null || true
