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

# Copies the seed files into the target's corpus, each under its path
# (two suites may both hold an `office.rules`).
seed() {
  local target="$1" dir="fuzz/corpus/$1" pattern
  mkdir -p "$dir"
  case "$target" in
    rules | fmt) pattern='*.rules' ;;
    webhook) pattern='*.json' ;;
  esac
  find rules tests/data -name "$pattern" -type f | while read -r file; do
    cp "$file" "$dir/seed-${file//\//_}"
  done
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
