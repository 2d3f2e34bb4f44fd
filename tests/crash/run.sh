#!/usr/bin/env bash
# kill -9 loop against webhook ingestion (testing.md §6 harness 1); see crash_test.py.
#
#   bash tests/crash/run.sh                 # short form (CI): 2000 updates, 8 connections, 4 kills + 1
#   CRASH_LONG=1 bash tests/crash/run.sh    # long form: 50 000 updates, 32 connections, 20 kills + 1
#   CRASH_PROFILE=release bash tests/crash/run.sh   # test the release binary (default: debug)
#   CRASH_SEED=1234 bash tests/crash/run.sh # repeat a kill schedule
#   CRASH_N=... CRASH_K=... CRASH_KILLS=... CRASH_DURATION=... (see crash_test.py)
#
# Builds talon if the binary is missing or older than the sources (honours CARGO_TARGET_DIR).
# Exits 0 on pass, 1 when a check fails (report printed; server logs kept under CRASH_OUT,
# default target/crash/), 2 when the harness cannot run.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
cd "$ROOT"
PROFILE=${CRASH_PROFILE:-debug}
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet --bin talon
else
  cargo build --quiet --bin talon
fi
export TALON_BIN=${TALON_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/talon}
command -v python3 >/dev/null || { echo "crash: python3 is required" >&2; exit 2; }

if [[ ${CRASH_LONG:-0} == 1 ]]; then
  export CRASH_N=${CRASH_N:-50000} CRASH_K=${CRASH_K:-32} CRASH_KILLS=${CRASH_KILLS:-20}
  export CRASH_DURATION=${CRASH_DURATION:-300}
fi
export CRASH_OUT=${CRASH_OUT:-$ROOT/target/crash}
# The whole run is bounded by the script's own watchdog; `timeout` is a second bound.
dur=${CRASH_DURATION:-45}
exec timeout -k 5 "$((${dur%.*} + 240))" python3 "$ROOT/tests/crash/crash_test.py"
