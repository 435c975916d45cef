#!/usr/bin/env bash
# Decision-log load figures (issue 4 §4): serve in live mode against the fake
# Aircall of examples/load.rs, SQLite state store, rules/main.rules, logs at
# the default level (every decision logged once) to a file:
#   1. no-match webhooks/s at full speed (target >= 20,000/s)
#   2. p99 acknowledgement at 2,000/s, no-match and transfer (target < 5 ms)
# Each run also prints the server's CPU time per request.
# Build first: cargo build --release --bin switchboard --example load
# EXTRA="store:\n  commit_wait: 1ms" adds config lines; DURATION=secs.
set -euo pipefail
cd "$(dirname "$0")/.."
WORK=$(mktemp -d); PIDS=()
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT
# Cargo puts the binaries under CARGO_TARGET_DIR when it is set.
TARGET=${CARGO_TARGET_DIR:-target}
DURATION=${DURATION:-10}
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
log_format: json
$(printf '%b' "${EXTRA:-}")
Y
"$TARGET/release/examples/load" fake-aircall --listen 127.0.0.1:18590 2>"$WORK/fake.log" & PIDS+=($!)
sleep 0.5
"$TARGET/release/switchboard" serve --config "$WORK/sb.yaml" 2>"$WORK/serve.log" &
SERVE_PID=$!; PIDS+=($SERVE_PID)
for _ in $(seq 50); do curl -s -o /dev/null http://127.0.0.1:18580/healthz && break; sleep 0.1; done
HZ=$(getconf CLK_TCK)
ticks() { awk '{print $14 + $15}' "/proc/$SERVE_PID/stat"; }
bench() {
    local before after output requests
    before=$(ticks)
    output=$("$TARGET/release/examples/load" bench --url http://127.0.0.1:18580/aircall/calls \
        --token tok --duration "$DURATION" "$@")
    after=$(ticks)
    echo "$output"
    requests=$(echo "$output" | sed -n 's/^requests=\([0-9]*\).*/\1/p')
    # The generator's 1 s warm-up is not in `requests`: count it in time.
    awk -v t=$((after - before)) -v hz="$HZ" -v n="$requests" -v d="$DURATION" \
        'BEGIN { if (n > 0) printf "server CPU: %.1f µs per request (%.2f cores busy)\n", t / hz * 1e6 / (n * (d + 1) / d), t / hz / (d + 1) }'
}
echo "== no-match, max rate"
bench --scenario no-match --connections 64 --first-id 1000000000
echo "== no-match at 2000/s"
bench --scenario no-match --connections 32 --rate 2000 --first-id 3000000000
echo "== transfer at 2000/s"
bench --scenario transfer --connections 32 --rate 2000 --first-id 4000000000
curl -s http://127.0.0.1:18580/status | head -c 600; echo
grep -E 'VmHWM|VmRSS' "/proc/$SERVE_PID/status"
echo "log lines written: $(wc -l <"$WORK/serve.log")"
sqlite3 "$WORK/state.db" "select count(*) from webhooks" 2>/dev/null || true
