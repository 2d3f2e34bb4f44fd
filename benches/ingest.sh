#!/usr/bin/env bash
# Scenarios S2a and S2b of shared/reference/performance.md: signed webhook ingestion.
#
#   benches/ingest.sh                                  # REPS=3 DURATION=10 CONNS="64 256", S2a + S2b
#   REPS=1 DURATION=5 CONNS=64 benches/ingest.sh       # a quick look
#   SCENARIOS=s2a benches/ingest.sh                    # durable only (s2b: buffered only)
#   PIN=0 benches/ingest.sh                            # unpinned: Talon's threads may use both cores
#
# What runs (all in one script run, alternated, medians of $REPS):
# - S2a: `POST /webhook` with a 1 KiB JSON body ($BODY_BYTES) and `X-Signature` (hex HMAC-SHA256
#   of the body), Talon with `ingest.ack: durable`: the 200 is written after the SQLite commit
#   holding the record is synced (group commit).
# - S2b: the same requests, `ingest.ack: buffered`: the 200 follows the commit, the log is synced
#   every `ingest.buffered_sync_interval_ms` (default 5 ms; the loss window on power failure).
# - Peer (i): nginx `location /webhook { return 204; }` (nginx reads and discards the body),
#   same requests, same connections: the protocol ceiling.
# - Peer (ii): an fsync probe on the filesystem of Talon's data dir: a loop of
#   append (connections x 1 KiB) + fdatasync for $PROBE_SECONDS s. Durability efficiency =
#   Talon durable req/s / (connections x probe syncs/s).
# - Each rep, per connection count: talon durable, nginx, probe, talon buffered.
#
# Requests: wrk cannot compute an HMAC and Talon deduplicates /webhook by the SHA-256 of the body,
# so the script pre-generates $POOL distinct signed requests (about 1.3 KB each, ~1.5 GB for the
# default 1.2 M) into a file that a wrk Lua script reads in order. Every Talon run starts a fresh
# server on an empty data dir, warms up on the last $WARM_POOL requests and measures on the first
# POOL - WARM_POOL: no request in a measured run is a duplicate unless the run outgrows its share
# (then it starts its share again and the report counts the duplicates).
#
# Method (performance.md §1(f), §4) as benches/load.sh: servers pinned to core $SERVER_CPU (Talon
# with io_threads 1 and worker_threads 1, so all its threads, store writer included, share that
# core; nginx worker_processes 1), `wrk -t1` on core $CLIENT_CPU; $WARMUP s warm-up before every
# run; the NOISY rule of load.sh. Server CPU from /proc/<pid>/stat. Store counters (records,
# syncs, batches) from Talon's /metrics before and after each measured run.
# Results: $OUT_DIR/results.jsonl and report.md (default target/ingest/<timestamp>/).
# Only 127.0.0.1 is contacted; every loop is bounded; every process started is stopped on exit.
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-"64 256"}
SCENARIOS=${SCENARIOS:-"s2a s2b"}
BODY_BYTES=${BODY_BYTES:-1024}
POOL=${POOL:-1200000}
WARM_POOL=${WARM_POOL:-200000}
PROBE_SECONDS=${PROBE_SECONDS:-5}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NOISY_LOAD=${NOISY_LOAD:-0.5}
SETTLE_MAX=${SETTLE_MAX:-30}
PIN=${PIN:-1} # 0: nothing pinned (the "2-core" scenario of performance.md §4; wrk competes for the cores)

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
HELPER="$ROOT/benches/load_helper.py"
IHELPER="$ROOT/benches/ingest_helper.py"
OUT_DIR=${OUT_DIR:-$ROOT/target/ingest/$(date -u +%Y%m%dT%H%M%SZ)}
RESULTS="$OUT_DIR/results.jsonl"
# Scratch (request pool, data dirs) on $DATA_ROOT's filesystem: the one the probe measures.
DATA_ROOT=${DATA_ROOT:-/tmp}
WORK=$(mktemp -d "$DATA_ROOT/talon-ingest.XXXXXX")
mkdir -p "$OUT_DIR"
: >"$RESULTS"

# shellcheck source=benches/bench_lib.sh
source "$ROOT/benches/bench_lib.sh"

PIDS=()
cleanup() {
  ((${#PIDS[@]})) && stop_pids "${PIDS[@]}"
  rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# taskset prefixes (empty with PIN=0).
SRV_PIN=(taskset -c "$SERVER_CPU")
CLI_PIN=(taskset -c "$CLIENT_CPU")
if [[ $PIN == 0 ]]; then SRV_PIN=(); CLI_PIN=(); fi

# --- tools ---------------------------------------------------------------------------------------
need_install=()
command -v wrk >/dev/null || need_install+=(wrk)
command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || need_install+=(nginx-light)
command -v taskset >/dev/null || need_install+=(util-linux)
command -v python3 >/dev/null || need_install+=(python3)
ensure_packages "${need_install[@]}"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

# --- build ---------------------------------------------------------------------------------------
log "building talon (release)"
(cd "$ROOT" && cargo build --release --quiet --bin talon)
TALON="${CARGO_TARGET_DIR:-$ROOT/target}/release/talon"

# --- machine -------------------------------------------------------------------------------------
{
  machine_lines
  echo "data dir filesystem: $(findmnt -no SOURCE,FSTYPE,OPTIONS -T "$WORK" 2>/dev/null || df -T "$WORK" | tail -1)"
  dev=$(findmnt -no SOURCE -T "$WORK" 2>/dev/null | sed 's|^/dev/||; s|\[.*||' || true)
  if [[ -n $dev && -e /sys/class/block/$dev ]]; then
    base=$dev
    [[ -e /sys/class/block/$dev/partition ]] && base=$(basename "$(readlink -f "/sys/class/block/$dev/..")")
    echo "disk: /dev/$dev, rotational $(cat "/sys/block/$base/queue/rotational" 2>/dev/null || echo ?), scheduler $(cat "/sys/block/$base/queue/scheduler" 2>/dev/null || echo ?), write cache $(cat "/sys/block/$base/queue/write_cache" 2>/dev/null || echo ?)"
  fi
  talon_rev_line
  echo "nginx: $("$NGINX" -v 2>&1 | sed 's/^nginx version: //')"
  echo "wrk: $(wrk -v 2>&1 | head -1 | cut -d' ' -f1-2)"
  echo "params: REPS=$REPS DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS='$CONNS' SCENARIOS='$SCENARIOS' BODY_BYTES=$BODY_BYTES POOL=$POOL WARM_POOL=$WARM_POOL PROBE_SECONDS=${PROBE_SECONDS}s PIN=$PIN server cpu $SERVER_CPU, wrk cpu $CLIENT_CPU, NOISY_LOAD=$NOISY_LOAD SETTLE_MAX=${SETTLE_MAX}s"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT_DIR/machine.txt" >&2

# --- the request pool ----------------------------------------------------------------------------
SECRET=$(python3 -c 'import secrets; print(secrets.token_hex(24))')
log "generating $POOL signed requests of $BODY_BYTES-byte bodies"
python3 "$IHELPER" gen "$WORK/requests.bin" "$POOL" "$SECRET" "$BODY_BYTES" "$WORK/requests.lua" | tee -a "$RESULTS" >&2
MEASURE_HI=$((POOL - WARM_POOL))

# --- servers -------------------------------------------------------------------------------------
wait_200() { # $1 = port, $2 = name, $3 = log: bounded poll (10 s)
  for _ in $(seq 200); do
    if python3 - "$1" <<'EOF' 2>/dev/null; then return 0; fi
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1)
s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
sys.exit(0 if s.recv(64).startswith(b"HTTP/1.1 200") else 1)
EOF
    sleep 0.05
  done
  log "$2 on port $1 never answered 200"; tail -20 "$3" >&2 || true; exit 1
}

forget_pid() { # $1 = pid: stop it and drop it from the cleanup list
  stop_pids "$1"
  local p keep=()
  for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
  PIDS=("${keep[@]}")
}

start_talon() { # $1 = ack mode, $2 = dir; sets TALON_PID, TALON_PORT
  TALON_PORT=$(free_port)
  rm -rf "$2"
  mkdir -p "$2/data"
  cat >"$2/config.json" <<EOF
{"gateway":{"port":$TALON_PORT,"io_threads":1,"worker_threads":1,
 "max_connections_per_ip":20000,"rate_limit":{"max_requests":100000000,"window_ms":1000}},
 "ingest":{"ack":"$1","webhook_hmac_secret":"$SECRET"},
 "logging":{"level":"warn"}}
EOF
  "${SRV_PIN[@]}" "$TALON" gateway --config "$2/config.json" --data-dir "$2/data" >"$2/stdout.log" 2>&1 &
  TALON_PID=$!
  PIDS+=("$TALON_PID")
  wait_200 "$TALON_PORT" talon "$2/stdout.log"
}

NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/tmp"
user_line=""
[[ $(id -u) == 0 ]] && user_line="user root root;"
cat >"$WORK/nginx/nginx.conf" <<EOF
$user_line
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    server_tokens off;
    keepalive_requests 1000000;
    keepalive_timeout 75s;
    client_max_body_size 1m;
    client_body_buffer_size 16k;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        default_type application/json;
        location /health { return 200 '{"status":"ok"}'; }
        location /webhook { return 204; }
    }
}
EOF
"${SRV_PIN[@]}" "$NGINX" -p "$WORK/nginx" -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" \
  -g 'daemon off;' >"$WORK/nginx/stdout.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
wait_200 "$NGINX_PORT" nginx "$WORK/nginx/error.log"

# Pre-flight: one signed request to a fresh Talon must be acknowledged as stored.
preflight() { # $1 = ack mode: prints "status delivery-header"
  start_talon "$1" "$WORK/preflight"
  python3 - "$TALON_PORT" "$WORK/requests.bin" "$POOL" <<'EOF' || echo "000 -"
import os, socket, sys
port, path, n = int(sys.argv[1]), sys.argv[2], int(sys.argv[3])
reclen = os.path.getsize(path) // n
with open(path, "rb") as f:
    f.seek((n - 1) * reclen)  # the last record: used only by warm-ups
    req = f.read(reclen)
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(req)
head = s.recv(4096).split(b"\r\n\r\n")[0].decode(errors="replace").split("\r\n")
hdr = {k.lower(): v.strip() for k, _, v in (l.partition(":") for l in head[1:])}
print(head[0].split()[1], hdr.get("x-talon-delivery", "-"))
EOF
  forget_pid "$TALON_PID"
  rm -rf "$WORK/preflight"
}
declare -A AVAILABLE
for mode in durable buffered; do
  read -r st hd < <(preflight "$mode")
  log "pre-flight ($mode): POST /webhook answered $st, X-Talon-Delivery: $hd"
  echo "{\"preflight\":\"$mode\",\"status\":\"$st\",\"delivery\":\"$hd\"}" >>"$RESULTS"
  [[ $st == 200 && $hd == "$mode" ]] && AVAILABLE[$mode]=1 || AVAILABLE[$mode]=0
done

# --- runs ----------------------------------------------------------------------------------------
wrk_cmd() { # $1 = seconds, $2 = port, $3 = connections, $4 $5 = pool slice
  echo "${CLI_PIN[@]}" wrk -t1 -c"$3" -d"$1"s --timeout 10s --latency -s "$WORK/requests.lua" \
    "http://127.0.0.1:$2/webhook" -- "$4" "$5" 1
}

show_last() { # print the last result as one short line
  tail -1 "$RESULTS" | python3 -c "
import json, sys
r = json.loads(sys.stdin.read())
if r.get('probe'):
    print(f\"rep {r['rep']} {r['label']:22} {r['records_per_s']:9.0f} records/s  {r['syncs_per_s']:6.0f} syncs/s  fdatasync p50 {r['fdatasync_p50_us']:.0f} µs p99 {r['fdatasync_p99_us']:.0f} µs\")
else:
    rps = r.get('records_per_sync')
    print(f\"rep {r['rep']} {r['label']:22} {r['rps']:9.0f} req/s  p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs  server {r['server_us_per_req']:.2f} µs/req  \"
          f\"records/sync {rps if rps is None else round(rps, 1)}  non2xx {r.get('non2xx', 0)}  dup {r.get('duplicate_requests', 0)}  load1 {r['loadavg1']:.2f}{'  NOISY' if r['noisy'] else ''}\")
" >&2
}

run_talon() { # $1 = ack mode, $2 = connections, $3 = rep
  local label="talon-$1-c$2"
  if [[ ${AVAILABLE[$1]} != 1 ]]; then
    echo "{\"label\":\"$label\",\"rep\":$3,\"unavailable\":\"pre-flight POST /webhook was not acknowledged $1\"}" >>"$RESULTS"
    return
  fi
  start_talon "$1" "$WORK/talon"
  settle
  # shellcheck disable=SC2046
  $(wrk_cmd "$WARMUP" "$TALON_PORT" "$2" "$MEASURE_HI" "$POOL") >/dev/null 2>&1
  python3 "$IHELPER" metrics "$TALON_PORT" "$WORK/m0.json"
  # shellcheck disable=SC2046
  python3 "$HELPER" run --label "$label" --rep "$3" --pids "$TALON_PID" --noisy-load "$NOISY_LOAD" \
    --timeout $((DURATION + 60)) --raw -- $(wrk_cmd "$DURATION" "$TALON_PORT" "$2" 0 "$MEASURE_HI") >"$WORK/run.json"
  python3 "$IHELPER" metrics "$TALON_PORT" "$WORK/m1.json"
  python3 "$IHELPER" annotate "$WORK/run.json" "$WORK/m0.json" "$WORK/m1.json" >>"$RESULTS"
  show_last
  cp "$WORK/m1.json" "$OUT_DIR/metrics-$label-rep$3.json"
  du -sk "$WORK/talon/data" | awk -v l="$label" -v r="$3" '{print "{\"label\":\"" l "\",\"rep\":" r ",\"data_dir_kib\":" $1 "}"}' >>"$OUT_DIR/sizes.jsonl"
  forget_pid "$TALON_PID"
  rm -rf "$WORK/talon"
}

run_nginx() { # $1 = connections, $2 = rep
  settle
  # shellcheck disable=SC2046
  $(wrk_cmd "$WARMUP" "$NGINX_PORT" "$1" "$MEASURE_HI" "$POOL") >/dev/null 2>&1
  # shellcheck disable=SC2046
  python3 "$HELPER" run --label "nginx-c$1" --rep "$2" --pids "$NGINX_PID" --noisy-load "$NOISY_LOAD" \
    --timeout $((DURATION + 60)) --raw -- $(wrk_cmd "$DURATION" "$NGINX_PORT" "$1" 0 "$MEASURE_HI") >"$WORK/run.json"
  echo '{}' >"$WORK/m0.json"
  echo '{}' >"$WORK/m1.json"
  python3 "$IHELPER" annotate "$WORK/run.json" "$WORK/m0.json" "$WORK/m1.json" >>"$RESULTS"
  show_last
}

run_probe() { # $1 = connections (records per sync), $2 = rep
  settle
  mkdir -p "$WORK/probe"
  "${SRV_PIN[@]}" python3 "$IHELPER" probe --dir "$WORK/probe" --batch "$1" --seconds "$PROBE_SECONDS" \
    --label "probe-c$1" | python3 -c "import json,sys; r=json.loads(sys.stdin.read()); r['rep']=$2; print(json.dumps(r))" >>"$RESULTS"
  show_last
}

log "runs: $REPS reps x connections '$CONNS': talon durable, nginx, fsync probe, talon buffered"
for rep in $(seq "$REPS"); do
  for c in $CONNS; do
    if [[ " $SCENARIOS " == *" s2a "* ]]; then run_talon durable "$c" "$rep"; fi
    run_nginx "$c" "$rep"
    if [[ " $SCENARIOS " == *" s2a "* ]]; then run_probe "$c" "$rep"; fi
    if [[ " $SCENARIOS " == *" s2b "* ]]; then run_talon buffered "$c" "$rep"; fi
  done
done

# --- report --------------------------------------------------------------------------------------
{
  echo '```'
  cat "$OUT_DIR/machine.txt"
  echo "command: REPS=$REPS DURATION=$DURATION CONNS='$CONNS' SCENARIOS='$SCENARIOS' benches/ingest.sh"
  echo "wrk: $(wrk_cmd "$DURATION" PORT C 0 "$MEASURE_HI")"
  echo '```'
  echo
  python3 "$IHELPER" report "$RESULTS"
} | tee "$OUT_DIR/report.md"
log "results: $OUT_DIR"
