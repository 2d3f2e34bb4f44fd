#!/usr/bin/env bash
# Fuzz Talon's parsers with cargo-fuzz (libFuzzer + AddressSanitizer) on the stable toolchain.
# Targets: `cargo fuzz list`, i.e. the [[bin]]s of fuzz/Cargo.toml (http1_head, http1_chunked,
# sse_encode, jsonrpc_decode, webhook_verify, webhook_body, provider_stream, outbound_response, embeddings).
#
#   fuzz/run.sh                 # every target for 30 s
#   fuzz/run.sh 300             # every target for 300 s
#   fuzz/run.sh 60 http1_head   # one target
#   fuzz/run.sh 60 provider_stream  # the upstream SSE + OpenAI/Anthropic chunk decoders
#   fuzz/run.sh --replay        # replay corpus + regressions once per target (-runs=0), no fuzzing
#
# Env: FUZZ_SECONDS (default 30), FUZZ_JOBS (libFuzzer -fork workers, default 1), FUZZ_SEED.
# Installs cargo-fuzz into <repo>/.tools (gitignored) the first time (~2 min). New inputs found
# while fuzzing go to fuzz/target/corpus-work/<target>, never into the committed seed corpus;
# crashes go to fuzz/artifacts/<target>/ and the script exits non-zero.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOLS="$ROOT/.tools"
export PATH="$TOOLS/bin:$PATH"
# cargo-fuzz passes -Zsanitizer=address and other -Z flags; this lets stable rustc/cargo accept them.
export RUSTC_BOOTSTRAP=1

replay=0
secs=${FUZZ_SECONDS:-30}
if [[ ${1:-} == --replay ]]; then
  replay=1
  shift
elif [[ ${1:-} =~ ^[0-9]+$ ]]; then
  secs=$1
  shift
fi

if ! cargo fuzz --version >/dev/null 2>&1; then
  echo "run.sh: installing cargo-fuzz into $TOOLS (first time only, ~2 min)" >&2
  cargo install cargo-fuzz --locked --root "$TOOLS"
fi

cd "$ROOT/fuzz"
if [[ $# -gt 0 ]]; then
  targets=("$@")
else
  mapfile -t targets < <(cargo fuzz list)
fi

status=0
for t in "${targets[@]}"; do
  mkdir -p "corpus/$t" "regressions/$t"
  if [[ $replay == 1 ]]; then
    echo "== replay $t: corpus/$t regressions/$t" >&2
    # -runs=0 executes each given input once and exits.
    cargo fuzz run "$t" "corpus/$t" "regressions/$t" -- -runs=0 || status=1
    continue
  fi
  work="target/corpus-work/$t"
  mkdir -p "$work"
  echo "== fuzz $t for ${secs}s (new inputs -> fuzz/$work, crashes -> fuzz/artifacts/$t)" >&2
  # First corpus dir is where libFuzzer writes; the committed seeds and regressions are read only.
  cargo fuzz run "$t" "$work" "corpus/$t" "regressions/$t" -- \
    -max_total_time="$secs" -max_len=8192 -timeout=10 -rss_limit_mb=2048 \
    -seed="${FUZZ_SEED:-0}" -print_final_stats=1 \
    ${FUZZ_JOBS:+-fork="$FUZZ_JOBS"} || status=1
done
exit $status
