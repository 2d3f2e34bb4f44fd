#!/usr/bin/env bash
# Scenario S1 of shared/reference/performance.md: keep-alive `GET /health`, Talon vs nginx, same run.
#
#   benches/load.sh                         # REPS=3 DURATION=10 CONNS=64
#   REPS=5 DURATION=10 benches/load.sh
#   STRACE=1 benches/load.sh                # also count syscalls per request (separate 3 s runs)
#   TALON_LOG_LEVEL=info benches/load.sh    # Talon with its per-request access log on
#
# Method (performance.md §1(f), §4): each server on core $SERVER_CPU (`taskset`), Talon with
# io_threads 1 and worker_threads 1, nginx with worker_processes 1; `wrk -t1` on core $CLIENT_CPU.
# Runs alternate talon, nginx, talon, nginx ... ($REPS each, $WARMUP s warm-up before every run).
# Server CPU = utime+stime of the server's processes from /proc/<pid>/stat, before/after each run.
# Before every run the script waits (at most $SETTLE_MAX s) for the 1-min loadavg to fall to
# $NOISY_LOAD: the previous run's own wrk + server push it to ~0.8, so without the wait every run
# after the first would look loaded. A run is flagged NOISY when the loadavg before it is still
# > $NOISY_LOAD, the machine was > 0.3 core busy in the 1 s before it, or other processes used
# > 10% of a core during it. Also: idle RSS 1 s after start, exec -> first 200 (median of
# $STARTUP_RUNS, unpinned unless STARTUP_PIN=1, $STARTUP_PAUSE s idle between runs), stripped
# binary size. Only 127.0.0.1 is contacted; every loop is bounded.
# Results: printed, and kept in $OUT_DIR (default target/load/<timestamp>/).
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
STARTUP_RUNS=${STARTUP_RUNS:-20}
STARTUP_PAUSE=${STARTUP_PAUSE:-0.05} # idle seconds between startup runs (0 = back to back, CPU stays hot)
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NOISY_LOAD=${NOISY_LOAD:-0.5}
SETTLE_MAX=${SETTLE_MAX:-60}
STRACE=${STRACE:-0}
LOG_LEVEL=${TALON_LOG_LEVEL:-warn}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER="$ROOT/benches/load_helper.py"
OUT_DIR=${OUT_DIR:-$ROOT/target/load/$(date -u +%Y%m%dT%H%M%SZ)}
RESULTS="$OUT_DIR/results.jsonl"
WORK=$(mktemp -d /tmp/talon-load.XXXXXX)
mkdir -p "$OUT_DIR"

# shellcheck source=benches/bench_lib.sh
source "$ROOT/benches/bench_lib.sh"

PIDS=()
cleanup() {
  ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- tools -------------------------------------------------------------------------------------
need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
command -v taskset >/dev/null || need_install+=(util-linux)
command -v python3 >/dev/null || need_install+=(python3)
if [[ $STRACE == 1 ]] && ! command -v strace >/dev/null; then need_install+=(strace); fi
ensure_packages "${need_install[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- build ----------------------------------------------------------------------------------------
log "building talon (release)"
(cd "$ROOT" && cargo build --release --quiet --bin talon)
TALON="${CARGO_TARGET_DIR:-$ROOT/target}/release/talon"
cp "$TALON" "$WORK/talon.stripped" && strip "$WORK/talon.stripped" 2>/dev/null || true
BIN_SIZE=$(stat -c %s "$TALON")
BIN_STRIPPED=$(stat -c %s "$WORK/talon.stripped")

# --- machine ------------------------------------------------------------------------------------
{
  machine_lines
  echo "talon: $("$TALON" --version 2>&1 | head -1) git $(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo ?)$(cd "$ROOT" && git diff --quiet HEAD -- src 2>/dev/null || echo '+dirty')"
  echo "talon binary: $BIN_SIZE bytes as built, $BIN_STRIPPED bytes after strip"
  echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'), binary $(stat -c %s "$(readlink -f "$NGINX")") bytes"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "params: REPS=$REPS DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS server cpu $SERVER_CPU, wrk cpu $CLIENT_CPU, TALON_LOG_LEVEL=$LOG_LEVEL, NOISY_LOAD=$NOISY_LOAD SETTLE_MAX=${SETTLE_MAX}s STARTUP_PAUSE=${STARTUP_PAUSE}s"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT_DIR/machine.txt" >&2

# --- talon ----------------------------------------------------------------------------------------
TALON_PORT=$(free_port)
mkdir -p "$WORK/talon"
echo '{"gateway":{"io_threads":1,"worker_threads":1}}' >"$WORK/talon/config.json"
TALON_LOG_LEVEL=$LOG_LEVEL taskset -c "$SERVER_CPU" "$TALON" gateway --port "$TALON_PORT" --data-dir "$WORK/talon" \
  >"$WORK/talon/stdout.log" 2>&1 &
TALON_PID=$!
PIDS+=("$TALON_PID")

# --- nginx ------------------------------------------------------------------------------------------
write_nginx_conf() { # $1 = port (or @PORT@), $2 = prefix dir
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root root;"
  mkdir -p "$2/tmp"
  cat <<EOF
$user_line
worker_processes 1;
pid $2/nginx.pid;
error_log $2/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $2/tmp/body;
    proxy_temp_path $2/tmp/proxy;
    fastcgi_temp_path $2/tmp/fastcgi;
    uwsgi_temp_path $2/tmp/uwsgi;
    scgi_temp_path $2/tmp/scgi;
    server {
        listen 127.0.0.1:$1;
        default_type application/json;
        location /health { return 200 '{"status":"ok","timestamp":"2026-01-01T00:00:00.000Z"}'; }
    }
}
EOF
}
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx"
write_nginx_conf "$NGINX_PORT" "$WORK/nginx" >"$WORK/nginx/nginx.conf"
taskset -c "$SERVER_CPU" "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
  -g 'daemon off;' >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")

wait_200() { # $1 = port, $2 = name: bounded poll (10 s)
  for _ in $(seq 200); do
    if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
EOF
    sleep 0.05
  done
  log "$2 on port $1 never answered 200"; cat "$WORK"/*/stdout.log "$WORK"/nginx/error.log >&2 || true; exit 1
}
wait_200 "$TALON_PORT" talon
wait_200 "$NGINX_PORT" nginx
log "talon pid $TALON_PID port $TALON_PORT; nginx master pid $NGINX_PID port $NGINX_PORT"
for port in "$TALON_PORT" "$NGINX_PORT"; do
  printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n' |
    python3 -c "import socket,sys; s=socket.create_connection(('127.0.0.1',$port)); s.sendall(sys.stdin.buffer.read()); d=s.recv(4096); print(f'response on :$port is {len(d)} bytes:'); print(d.decode(errors='replace'))" \
    >>"$OUT_DIR/responses.txt"
done

# Idle RSS, 1 s after start (the two started together; both have been answering for < 1 s).
sleep 1
python3 "$HELPER" rss --label talon --when idle_1s --pids "$TALON_PID" | tee -a "$RESULTS" >/dev/null
python3 "$HELPER" rss --label nginx --when idle_1s --pids "$NGINX_PID" | tee -a "$RESULTS" >/dev/null

# --- A B A B ---------------------------------------------------------------------------------------
wrk_cmd() { echo taskset -c "$CLIENT_CPU" wrk -t1 -c"$CONNS" -d"$1"s --latency "http://127.0.0.1:$2/health"; }
for rep in $(seq "$REPS"); do
  for server in talon nginx; do
    if [[ $server == talon ]]; then port=$TALON_PORT pid=$TALON_PID; else port=$NGINX_PORT pid=$NGINX_PID; fi
    settle
    # shellcheck disable=SC2046
    $(wrk_cmd "$WARMUP" "$port") >/dev/null 2>&1
    # shellcheck disable=SC2046
    python3 "$HELPER" run --label "$server" --rep "$rep" --pids "$pid" --noisy-load "$NOISY_LOAD" \
      --timeout $((DURATION + 60)) --raw -- $(wrk_cmd "$DURATION" "$port") >>"$RESULTS"
    tail -1 "$RESULTS" | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); print(f\"rep {r['rep']} {r['label']:6} {r['rps']:9.0f} req/s  p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs  server {r['server_us_per_req']:.2f} µs/req  load1 {r['loadavg1']:.2f}  others {r['other_cpu_s']:.2f} CPU-s{'  NOISY' if r['noisy'] else ''}\")" >&2
  done
done
python3 "$HELPER" rss --label talon --when after_load --pids "$TALON_PID" >>"$RESULTS"
python3 "$HELPER" rss --label nginx --when after_load --pids "$NGINX_PID" >>"$RESULTS"

# --- syscalls per request (optional; strace slows the server, so a separate short run) --------------
if [[ $STRACE == 1 ]]; then
  for server in talon nginx; do
    if [[ $server == talon ]]; then port=$TALON_PORT pid=$TALON_PID; else port=$NGINX_PORT pid=$NGINX_PID; fi
    targs=()
    # -f attaches every thread of each process given; name each process once.
    for p in $pid $(cat /proc/"$pid"/task/*/children 2>/dev/null); do targs+=(-p "$p"); done
    timeout 30 strace -q -c -f "${targs[@]}" -o "$OUT_DIR/strace-$server.txt" &
    spid=$!
    sleep 1
    # shellcheck disable=SC2046
    $(wrk_cmd 3 "$port") >"$OUT_DIR/strace-wrk-$server.txt" 2>&1
    kill -INT "$spid" 2>/dev/null || true
    wait "$spid" 2>/dev/null || true
    reqs=$(grep -oE '^ *[0-9]+ requests' "$OUT_DIR/strace-wrk-$server.txt" | grep -oE '[0-9]+' || echo 0)
    calls=$(awk '$NF == "total" {print $4}' "$OUT_DIR/strace-$server.txt")
    echo "{\"label\":\"$server\",\"strace_requests\":$reqs,\"strace_syscalls\":${calls:-0},\"syscalls_per_request\":$(python3 -c "print(round(${calls:-0}/max(1,$reqs),3))")}" >>"$RESULTS"
    log "strace $server: ${calls:-?} syscalls for $reqs requests; table in $OUT_DIR/strace-$server.txt"
  done
fi

# --- stop the benchmark servers, then startup timing ---------------------------------------------------
kill -TERM "$TALON_PID" "$NGINX_PID" 2>/dev/null || true
wait "$TALON_PID" "$NGINX_PID" 2>/dev/null || true
PIDS=()

mkdir -p "$WORK/startup-talon" "$WORK/startup-nginx"
echo '{"gateway":{"io_threads":1,"worker_threads":1}}' >"$WORK/startup-talon/config.json"
write_nginx_conf @PORT@ "$WORK/startup-nginx" >"$WORK/startup-nginx/nginx.conf"
# Unpinned by default: on this VM a pinned server (taskset -c 0) with the poller on the other core
# starts ~5 ms later (an idle vCPU has to be woken), which measures the VM, not the server.
# STARTUP_PIN=1 pins the server to $SERVER_CPU anyway.
pin=()
[[ ${STARTUP_PIN:-0} == 1 ]] && pin=(taskset -c "$SERVER_CPU")
log "startup: $STARTUP_RUNS runs each (server pinned: ${STARTUP_PIN:-0})"
TALON_LOG_LEVEL=$LOG_LEVEL python3 "$HELPER" startup --label talon --runs "$STARTUP_RUNS" --pause "$STARTUP_PAUSE" -- \
  "${pin[@]}" "$TALON" gateway --port @PORT@ --data-dir "$WORK/startup-talon" >>"$RESULTS"
python3 "$HELPER" startup --label nginx --runs "$STARTUP_RUNS" --pause "$STARTUP_PAUSE" --template "$WORK/startup-nginx/nginx.conf" -- \
  "${pin[@]}" "$NGINX" -p "$WORK/startup-nginx" -e "$WORK/startup-nginx/error.log" \
  -c "$WORK/startup-nginx/nginx.conf.run" -g 'daemon off;' >>"$RESULTS"

# --- report ------------------------------------------------------------------------------------------------
{
  cat "$OUT_DIR/machine.txt"
  echo "command: REPS=$REPS DURATION=$DURATION CONNS=$CONNS benches/load.sh"
  echo "wrk: $(wrk_cmd "$DURATION" PORT)"
  echo
  python3 "$HELPER" report "$RESULTS"
  echo
  echo "Responses compared (bytes on the wire per /health response):"
  grep -E '^response on' "$OUT_DIR/responses.txt" | sed "s/:$TALON_PORT/ talon/; s/:$NGINX_PORT/ nginx/"
} | tee "$OUT_DIR/report.txt"
log "results: $OUT_DIR"
