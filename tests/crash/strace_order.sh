#!/usr/bin/env bash
# Sync-before-ack order check under strace (testing.md §6, harness 3); see strace_order.py.
#
#   bash tests/crash/strace_order.sh                    # 200 sequential webhooks, ingest.ack durable
#   STRACE_M=1000 bash tests/crash/strace_order.sh
#   STRACE_PROFILE=release bash tests/crash/strace_order.sh   # default: debug
#   STRACE_NEGATIVE=1 bash tests/crash/strace_order.sh  # also the negative control: with
#       ingest.ack buffered the check must find acks before syncs (proves it can see one)
#
# Starts talon under `strace -f -tt -yy` on a fresh data dir, sends STRACE_M Telegram updates one
# after another on one keep-alive connection, stops the server (SIGTERM to its pid), then checks
# in the trace that every 2xx on that connection was written after the request was read, the
# record was written to a store file and that file was fsync'd/fdatasync'd. Installs strace with
# apt-get if it is missing. Exit 0 pass, 1 an ack preceded its sync, 2 the harness could not run.
# The trace and logs are kept in target/strace-order/ (CARGO_TARGET_DIR's parent is not used).
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/crash"
cd "$ROOT"
M=${STRACE_M:-200}
PROFILE=${STRACE_PROFILE:-debug}
OUT=${STRACE_OUT:-$ROOT/target/strace-order}
SECRET=strace-order-secret

if ! command -v strace >/dev/null; then
  echo "strace_order: installing strace" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get install -y strace >/dev/null 2>&1 || { apt-get update >/dev/null 2>&1 && apt-get install -y strace >/dev/null; }
fi
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet --bin talon
else
  cargo build --quiet --bin talon
fi
BIN=${TALON_BIN:-${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/talon}

STRACE_PID=""
TALON_PID=""
cleanup() {
  if [[ -n $TALON_PID ]]; then kill -KILL "$TALON_PID" 2>/dev/null || true; fi
  if [[ -n $STRACE_PID ]]; then
    kill -KILL "$STRACE_PID" 2>/dev/null || true
    wait "$STRACE_PID" 2>/dev/null || true
  fi
}
trap cleanup EXIT

run_one() { # $1 = ack mode, $2 = dir; leaves $2/trace.txt and $2/answers.json
  local ack=$1 dir=$2 port
  rm -rf "$dir"
  mkdir -p "$dir/data"
  dir=$(cd "$dir" && pwd -P)
  port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  cat >"$dir/config.json" <<EOF
{"gateway":{"port":$port,"rate_limit":{"max_requests":100000000,"window_ms":1000}},
 "channels":{"telegram":{"enabled":true,"secret_token":"$SECRET"}},
 "ingest":{"ack":"$ack"},
 "logging":{"level":"warn","file":"-"}}
EOF
  strace -f -tt -yy -s 4096 -o "$dir/trace.txt" \
    -e trace=fdatasync,fsync,write,writev,sendto,sendmsg,read,recvfrom,pwrite64 \
    "$BIN" gateway --config "$dir/config.json" --data-dir "$dir/data" >"$dir/server.log" 2>&1 &
  STRACE_PID=$!
  local up=0
  for _ in $(seq 150); do # bounded: 15 s
    if python3 -c "
import socket,sys
s=socket.create_connection(('127.0.0.1',$port),timeout=1)
s.sendall(b'GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n')
sys.exit(0 if s.recv(64).startswith(b'HTTP/1.1 200') else 1)" 2>/dev/null; then
      up=1
      break
    fi
    kill -0 "$STRACE_PID" 2>/dev/null || break
    sleep 0.1
  done
  if ((!up)); then
    echo "strace_order: talon did not come up under strace" >&2
    tail -20 "$dir/server.log" >&2
    exit 2
  fi
  TALON_PID=$(pgrep -P "$STRACE_PID" | head -1)
  timeout 120 python3 "$HERE/strace_order.py" send "$port" "$M" "$SECRET" "$dir/answers.json" ||
    { echo "strace_order: the client failed" >&2; tail -20 "$dir/server.log" >&2; exit 2; }
  # Stop our server by its pid; strace exits when its tracee does (bounded: 10 s, then KILL).
  kill -TERM "$TALON_PID" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$STRACE_PID" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$TALON_PID" 2>/dev/null || true
  wait "$STRACE_PID" 2>/dev/null || true
  STRACE_PID="" TALON_PID=""
  DIR=$dir
}

start=$(date +%s)
run_one durable "$OUT/durable"
rc=0
python3 "$HERE/strace_order.py" check "$DIR/trace.txt" "$DIR/answers.json" "$DIR/data" || rc=$?
if [[ ${STRACE_NEGATIVE:-0} == 1 ]]; then
  run_one buffered "$OUT/buffered"
  echo "negative control (ingest.ack buffered):"
  python3 "$HERE/strace_order.py" check "$DIR/trace.txt" "$DIR/answers.json" "$DIR/data" --expect-violations || rc=1
fi
echo "strace_order: $(($(date +%s) - start)) s; trace in $OUT" >&2
exit "$rc"
