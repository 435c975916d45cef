#!/usr/bin/env bash
# Runs each cargo-fuzz target for SECONDS (default 60) from seed corpora
# made of the repository's own rules files and webhook payloads.
#
#   scripts/fuzz.sh            # every target, 60 s each
#   scripts/fuzz.sh 3600 rules # one target for an hour
#
# Needs the nightly toolchain and cargo-fuzz (`cargo install cargo-fuzz`).
# A crash leaves its input in fuzz/artifacts/TARGET/ and fails the script;
# reproduce it with `cargo +nightly fuzz run TARGET fuzz/artifacts/TARGET/FILE`.
set -euo pipefail
cd "$(dirname "$0")/.."

seconds="${1:-60}"
shift || true
targets=("$@")
if [ "${#targets[@]}" -eq 0 ]; then
  targets=(rules fmt webhook)
fi

seed() {
  local target="$1" dir="fuzz/corpus/$1"
  mkdir -p "$dir"
  case "$target" in
    rules | fmt)
      find rules tests/data -name '*.rules' -exec cp -t "$dir" {} + ;;
    webhook)
      find tests/data/events rules/events -name '*.json' -exec cp -t "$dir" {} + 2>/dev/null || true ;;
  esac
}

for target in "${targets[@]}"; do
  seed "$target"
  echo "fuzz: $target for ${seconds}s"
  # -s none: no sanitizer. Switchboard forbids unsafe code, so what the fuzzer
  # hunts is panics, aborts (stack overflow) and hangs; the address
  # sanitizer would only slow it down.
  cargo +nightly fuzz run -s none "$target" "fuzz/corpus/$target" -- \
    -max_total_time="$seconds" -max_len=65536 -timeout=10 -rss_limit_mb=2048
done
