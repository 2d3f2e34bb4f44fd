#!/usr/bin/env bash
# Scenarios S3, S4 and S6 of shared/reference/performance.md: WebSocket JSON-RPC round trips,
# SSE fan-out (Talon vs nginx + nchan) and memory per idle connection (Talon WebSocket vs nginx
# keep-alive), all in one script run, driven by the benches/loadgen example.
#
#   benches/realtime.sh                          # REPS=3 DURATION=10, scenarios s3 s4 s6
#   SCENARIOS="s4" S4_PLAN="100:1000 10000:20 10000:20:10" benches/realtime.sh   # N:events_per_s[:burst]
#   REPS=5 DURATION=10 benches/realtime.sh
#
# Method (performance.md §1(f), §4), the same as benches/load.sh (S1):
# - Servers pinned to core $SERVER_CPU (Talon with io_threads 1 and worker_threads 1, nginx with
#   worker_processes 1); wrk and loadgen pinned to core $CLIENT_CPU. `ulimit -n` is raised to the
#   hard limit for everything the script starts.
# - S3: per rep, in order: `wrk -t1 -c64 /health` (S1 on the same build), `loadgen ws-rpc
#   --conns 64 --depth 1`, `loadgen ws-rpc --conns 64 --depth 16`. Ratio = round trips/s over
#   /health req/s, medians of the same script run.
# - S4: per subscriber count N in $S4_PLAN ("N:events_per_s ..."), per rep: Talon then nchan,
#   same N, same rate, 256-byte events. Talon publishes with POST /debug/publish?count=K&bytes=256;
#   nchan with one POST per event to its publisher location.
# - S6: per rep, a fresh Talon and a fresh nginx (so the baseline is a just-started server):
#   10 000 idle WebSockets on Talon (hello read, one ping each, held $S6_HOLD s) and 10 000 idle
#   keep-alive connections on nginx (one GET /health each). loadgen reads VmRSS/Pss of the server
#   and the kernel Slab before connecting and once all are established.
# - Server CPU per operation: loadgen reads utime+stime of the server's processes from
#   /proc/<pid>/stat at the start and end of its measured window (after its warm-up);
#   for wrk, load_helper.py does the same around the run.
# - Before every run the script waits (at most $SETTLE_MAX s) for the 1-min loadavg to fall to
#   $NOISY_LOAD. A run is flagged NOISY when loadavg is still above it, the machine was > 0.3 core
#   busy in the second before the run, or other processes used > 10% of a core during it.
# - A Talon endpoint that is not there yet (404 or "no inline handler") is reported as
#   UNAVAILABLE and its runs are skipped; the peer runs still happen.
# Results: JSON lines in $OUT_DIR/results.jsonl (default target/realtime/<timestamp>/), a Markdown
# summary in $OUT_DIR/report.md. Only 127.0.0.x is contacted; every loop is bounded.
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
SCENARIOS=${SCENARIOS:-"s3 s4 s6"}
S3_CONNS=${S3_CONNS:-64}
S3_DEPTHS=${S3_DEPTHS:-"1 16"}
S4_PLAN=${S4_PLAN:-"100:1000 1000:200 10000:20 10000:20:10"}
S4_EVENT_BYTES=${S4_EVENT_BYTES:-256}
S6_CONNS=${S6_CONNS:-10000}
S6_HOLD=${S6_HOLD:-10}
SRC_ADDRS=${SRC_ADDRS:-8}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NOISY_LOAD=${NOISY_LOAD:-0.5}
SETTLE_MAX=${SETTLE_MAX:-30}
CONNECT_TIMEOUT=${CONNECT_TIMEOUT:-180}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
HELPER="$ROOT/benches/load_helper.py"
REPORT="$ROOT/benches/realtime_report.py"
OUT_DIR=${OUT_DIR:-$ROOT/target/realtime/$(date -u +%Y%m%dT%H%M%SZ)}
RESULTS="$OUT_DIR/results.jsonl"
WORK=$(mktemp -d /tmp/talon-realtime.XXXXXX)
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

# --- tools -----------------------------------------------------------------------------------------
need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
ls /usr/lib/nginx/modules/ngx_nchan_module.so >/dev/null 2>&1 || need_install+=(libnginx-mod-nchan)
command -v taskset >/dev/null || need_install+=(util-linux)
command -v python3 >/dev/null || need_install+=(python3)
ensure_packages "${need_install[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
NCHAN_SO=/usr/lib/nginx/modules/ngx_nchan_module.so

# One limit for everything started from here: the hard limit (20000 on the dev VM).
ulimit -n "$(ulimit -Hn)"
NOFILE=$(ulimit -n)

# --- build -------------------------------------------------------------------------------------------
log "building talon and the loadgen example (release)"
(cd "$ROOT" && cargo build --release --quiet --bin talon && cargo build --release --quiet --example loadgen)
TALON="$TARGET/release/talon"
LOADGEN="$TARGET/release/examples/loadgen"

{
  machine_lines
  talon_rev_line
  echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //'); nchan $(dpkg-query -W -f='${Version}' libnginx-mod-nchan 2>/dev/null || echo ?)"
  echo "params: REPS=$REPS DURATION=${DURATION}s WARMUP=${WARMUP}s SCENARIOS='$SCENARIOS' S3_CONNS=$S3_CONNS S3_DEPTHS='$S3_DEPTHS' S4_PLAN='$S4_PLAN' S6_CONNS=$S6_CONNS S6_HOLD=${S6_HOLD}s SRC_ADDRS=$SRC_ADDRS server cpu $SERVER_CPU, client cpu $CLIENT_CPU, ulimit -n $NOFILE, NOISY_LOAD=$NOISY_LOAD SETTLE_MAX=${SETTLE_MAX}s"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT_DIR/machine.txt" >&2

TOKEN=$(python3 -c 'import secrets,string; print("".join(secrets.choice(string.ascii_letters+string.digits) for _ in range(40)))')

# --- servers -----------------------------------------------------------------------------------------
start_talon() { # $1 = dir; sets TALON_PID, TALON_PORT
  TALON_PORT=$(free_port)
  mkdir -p "$1"
  cat >"$1/config.json" <<EOF
{"gateway":{"port":$TALON_PORT,"io_threads":1,"worker_threads":1,"auth_token":"$TOKEN","debug_routes":true,
 "max_connections":20000,"max_connections_per_ip":20000,
 "ws":{"max_connections":20000,"message_rate_limit":{"max_messages":100000000,"window_ms":1000}},
 "rate_limit":{"max_requests":100000000,"window_ms":1000}},
 "logging":{"level":"warn"}}
EOF
  taskset -c "$SERVER_CPU" "$TALON" gateway --config "$1/config.json" --data-dir "$1" >"$1/stdout.log" 2>&1 &
  TALON_PID=$!
  PIDS+=("$TALON_PID")
  wait_200 "$TALON_PORT" talon "$1/stdout.log"
}

start_nginx() { # $1 = dir; sets NGINX_PID, NGINX_PORT
  NGINX_PORT=$(free_port)
  mkdir -p "$1/tmp"
  local user_line=""
  [[ $(id -u) == 0 ]] && user_line="user root root;"
  cat >"$1/nginx.conf" <<EOF
load_module $NCHAN_SO;
$user_line
worker_processes 1;
worker_rlimit_nofile $NOFILE;
pid $1/nginx.pid;
error_log $1/error.log warn;
events { worker_connections $((NOFILE - 100)); }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_body_temp_path $1/tmp/body;
    proxy_temp_path $1/tmp/proxy;
    fastcgi_temp_path $1/tmp/fastcgi;
    uwsgi_temp_path $1/tmp/uwsgi;
    scgi_temp_path $1/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        default_type application/json;
        location /health { return 200 '{"status":"ok","timestamp":"2026-01-01T00:00:00.000Z"}'; }
        location = /sub { nchan_subscriber eventsource; nchan_channel_id bench; }
        location = /pub { nchan_publisher; nchan_channel_id bench; }
    }
}
EOF
  taskset -c "$SERVER_CPU" "$NGINX" -p "$1" -e "$1/error.log" -c "$1/nginx.conf" -g 'daemon off;' \
    >"$1/stdout.log" 2>&1 &
  NGINX_PID=$!
  PIDS+=("$NGINX_PID")
  wait_200 "$NGINX_PORT" nginx "$1/error.log"
}

forget_pid() { # $1 = pid: stop it and drop it from the cleanup list
  stop_pids "$1"
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

wait_200() { # $1 = port, $2 = name, $3 = log: bounded poll (10 s)
  for _ in $(seq 200); do
    [[ $(http_status "$1" GET /health) == 200 ]] && return 0
    sleep 0.05
  done
  log "$2 on port $1 never answered 200"; cat "$3" >&2 || true; exit 1
}

http_status() { # $1 = port, $2 = method, $3 = path: the status code (or 000), 2 s bound
  python3 - "$@" "$TOKEN" <<'EOF' 2>/dev/null || echo 000
import socket, sys
port, method, path, token = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
s = socket.create_connection(("127.0.0.1", port), timeout=2)
s.sendall(f"{method} {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
          f"Accept: text/event-stream\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
print(s.recv(64).split(b" ")[1].decode())
EOF
}

run_json() { # $1 = label, $2 = rep, $3 = server pids (comma), rest = command (loadgen, pinned)
  local label=$1 rep=$2 pids=$3
  shift 3
  settle
  python3 "$HELPER" run --json --label "$label" --rep "$rep" --pids "$pids" --noisy-load "$NOISY_LOAD" \
    --timeout $((DURATION + CONNECT_TIMEOUT + 120)) -- taskset -c "$CLIENT_CPU" "$@" >>"$RESULTS"
  tail -1 "$RESULTS" | python3 "$REPORT" --line >&2
}

# --- S3 + S4 share one Talon and one nginx ------------------------------------------------------------
if [[ " $SCENARIOS " == *" s3 "* || " $SCENARIOS " == *" s4 "* ]]; then
  start_talon "$WORK/talon"
  start_nginx "$WORK/nginx"
  log "talon pid $TALON_PID port $TALON_PORT; nginx+nchan master pid $NGINX_PID port $NGINX_PORT"
  WS_STATUS=$(python3 - "$TALON_PORT" "$TOKEN" <<'EOF' 2>/dev/null || echo 000
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=2)
s.sendall(("GET /ws?protocol=jsonrpc HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
           f"Authorization: Bearer {sys.argv[2]}\r\n\r\n").encode())
print(s.recv(64).split(b" ")[1].decode())
EOF
)
  SSE_STATUS=$(http_status "$TALON_PORT" GET /api/events)
  PUB_STATUS=$(http_status "$TALON_PORT" POST "/debug/publish?count=1&bytes=$S4_EVENT_BYTES")
  log "talon probes: /ws upgrade $WS_STATUS, GET /api/events $SSE_STATUS, POST /debug/publish $PUB_STATUS"
  echo "{\"probe\":\"talon\",\"ws\":\"$WS_STATUS\",\"sse\":\"$SSE_STATUS\",\"publish\":\"$PUB_STATUS\"}" >>"$RESULTS"
fi

if [[ " $SCENARIOS " == *" s3 "* ]]; then
  log "S3: /health (wrk) vs ws-rpc depth $S3_DEPTHS, $S3_CONNS connections, $REPS reps"
  for rep in $(seq "$REPS"); do
    settle
    # shellcheck disable=SC2046
    taskset -c "$CLIENT_CPU" wrk -t1 -c"$S3_CONNS" -d"$WARMUP"s "http://127.0.0.1:$TALON_PORT/health" >/dev/null 2>&1
    python3 "$HELPER" run --label talon-health --rep "$rep" --pids "$TALON_PID" --noisy-load "$NOISY_LOAD" \
      --timeout $((DURATION + 60)) -- taskset -c "$CLIENT_CPU" wrk -t1 -c"$S3_CONNS" -d"$DURATION"s --latency \
      "http://127.0.0.1:$TALON_PORT/health" >>"$RESULTS"
    tail -1 "$RESULTS" | python3 "$REPORT" --line >&2
    for depth in $S3_DEPTHS; do
      if [[ $WS_STATUS != 101 ]]; then
        echo "{\"label\":\"talon-ws-d$depth\",\"rep\":$rep,\"unavailable\":\"/ws upgrade answered $WS_STATUS\"}" >>"$RESULTS"
        continue
      fi
      run_json "talon-ws-d$depth" "$rep" "$TALON_PID" "$LOADGEN" ws-rpc --addr "127.0.0.1:$TALON_PORT" \
        --path '/ws?protocol=jsonrpc' --token "$TOKEN" --conns "$S3_CONNS" --depth "$depth" \
        --seconds "$DURATION" --warmup "$WARMUP" --server-pid "$TALON_PID"
    done
  done
fi

if [[ " $SCENARIOS " == *" s4 "* ]]; then
  for plan in $S4_PLAN; do
    IFS=: read -r n rate batch <<<"$plan"
    # An optional third field publishes that many events per publish call (a burst the server
    # may coalesce into one write per subscriber); without it loadgen chooses.
    batch_args=()
    tag=$n
    if [[ -n ${batch:-} ]]; then
      batch_args=(--batch "$batch")
      tag="$n-b$batch"
    fi
    log "S4: $n subscribers, $rate events/s of $S4_EVENT_BYTES B${batch:+ in bursts of $batch}, $REPS reps, talon then nchan"
    for rep in $(seq "$REPS"); do
      if [[ $SSE_STATUS == 200 && $PUB_STATUS == 200 ]]; then
        run_json "talon-sse-$tag" "$rep" "$TALON_PID" "$LOADGEN" sse --addr "127.0.0.1:$TALON_PORT" "${batch_args[@]}" \
          --path /api/events --token "$TOKEN" --subs "$n" --publish-rate "$rate" --event-bytes "$S4_EVENT_BYTES" \
          --seconds "$DURATION" --src-addrs "$SRC_ADDRS" --connect-timeout "$CONNECT_TIMEOUT" \
          --publish-url "http://127.0.0.1:$TALON_PORT/debug/publish" --server-pid "$TALON_PID"
      else
        echo "{\"label\":\"talon-sse-$tag\",\"rep\":$rep,\"unavailable\":\"GET /api/events $SSE_STATUS, POST /debug/publish $PUB_STATUS\"}" >>"$RESULTS"
      fi
      run_json "nchan-sse-$tag" "$rep" "$NGINX_PID" "$LOADGEN" sse --addr "127.0.0.1:$NGINX_PORT" "${batch_args[@]}" \
        --path /sub --subs "$n" --publish-rate "$rate" --event-bytes "$S4_EVENT_BYTES" \
        --seconds "$DURATION" --src-addrs "$SRC_ADDRS" --connect-timeout "$CONNECT_TIMEOUT" \
        --nchan-pub "http://127.0.0.1:$NGINX_PORT/pub" --server-pid "$NGINX_PID"
    done
  done
fi

if [[ " $SCENARIOS " == *" s3 "* || " $SCENARIOS " == *" s4 "* ]]; then
  forget_pid "$TALON_PID"
  forget_pid "$NGINX_PID"
fi

# --- S6: fresh servers each rep ----------------------------------------------------------------------------
if [[ " $SCENARIOS " == *" s6 "* ]]; then
  log "S6: $S6_CONNS idle connections, held ${S6_HOLD}s, $REPS reps, talon then nginx, fresh servers"
  for rep in $(seq "$REPS"); do
    start_talon "$WORK/s6-talon-$rep"
    sleep 1
    run_json "talon-ws-idle" "$rep" "$TALON_PID" "$LOADGEN" ws-idle --addr "127.0.0.1:$TALON_PORT" --path /ws \
      --token "$TOKEN" --conns "$S6_CONNS" --hold "$S6_HOLD" --src-addrs "$SRC_ADDRS" \
      --connect-timeout "$CONNECT_TIMEOUT" --server-pid "$TALON_PID"
    forget_pid "$TALON_PID"
    start_nginx "$WORK/s6-nginx-$rep"
    sleep 1
    run_json "nginx-http-idle" "$rep" "$NGINX_PID" "$LOADGEN" http-idle --addr "127.0.0.1:$NGINX_PORT" --path /health \
      --conns "$S6_CONNS" --hold "$S6_HOLD" --src-addrs "$SRC_ADDRS" --connect-timeout "$CONNECT_TIMEOUT" \
      --server-pid "$NGINX_PID"
    forget_pid "$NGINX_PID"
  done
fi

# --- report ----------------------------------------------------------------------------------------------------
{
  echo '```'
  cat "$OUT_DIR/machine.txt"
  echo "command: REPS=$REPS DURATION=$DURATION SCENARIOS='$SCENARIOS' S4_PLAN='$S4_PLAN' benches/realtime.sh"
  echo '```'
  echo
  python3 "$REPORT" "$RESULTS"
} | tee "$OUT_DIR/report.md"
log "results: $OUT_DIR"
