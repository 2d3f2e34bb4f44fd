#!/usr/bin/env bash
# Streaming chat overhead (issue 5): what Talon adds per streamed token over a direct
# connection to the upstream, at $CONNS concurrent streams, plus the memory of active turns
# and of stored sessions, and the idle RSS.
#
#   benches/chat_stream.sh                      # REPS=3 DURATION=10 CONNS=64 PLAN="16000 0"
#   REPS=5 PLAN="16000" benches/chat_stream.sh
#
# Method:
# - The upstream is `loadgen fake-upstream`: OpenAI's streaming chunk sequence, $TOKENS
#   content chunks per answer, paced $INTERVAL_US apart (16000 µs is SmolLM2-135M's measured
#   ~60 tok/s on this box; 0 = as fast as it can write, a CPU-bound worst case).
# - The client is `loadgen chat-stream`: $CONNS threads, one keep-alive connection each,
#   streaming requests back to back. "direct" points it at the upstream; "talon" at
#   Talon's POST /v1/chat/completions with the upstream as its only provider
#   (agent.max_concurrent_turns = $CONNS). Per rep the two run alternately, same build.
# - Talon is pinned to core $SERVER_CPU (io_threads 1, worker_threads 1); the upstream and the
#   client share core $CLIENT_CPU in both runs.
# - Figures: time per token = a stream's wall time (request sent → zero chunk) / its tokens,
#   mean over streams; overhead = talon / direct − 1 on the medians. Talon's CPU per token
#   from /proc over the measured window. RSS in the middle of the window minus idle RSS,
#   divided by $CONNS = memory per active streamed turn.
# - Stored sessions: $SESSIONS sessions with one builtin/echo turn each over POST /api/chat,
#   RSS before and after.
# Results: $OUT_DIR/results.jsonl and report.md (default target/chat-stream/<timestamp>/).
set -euo pipefail

REPS=${REPS:-3}
DURATION=${DURATION:-10}
WARMUP=${WARMUP:-2}
CONNS=${CONNS:-64}
TOKENS=${TOKENS:-64}
PLAN=${PLAN:-"16000 0"}
SESSIONS=${SESSIONS:-1000}
SERVER_CPU=${SERVER_CPU:-0}
CLIENT_CPU=${CLIENT_CPU:-1}
NOISY_LOAD=${NOISY_LOAD:-0.5}
SETTLE_MAX=${SETTLE_MAX:-30}

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGET=${CARGO_TARGET_DIR:-$ROOT/target}
OUT_DIR=${OUT_DIR:-$ROOT/target/chat-stream/$(date -u +%Y%m%dT%H%M%SZ)}
RESULTS="$OUT_DIR/results.jsonl"
WORK=$(mktemp -d /tmp/talon-chat-stream.XXXXXX)
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

need_install=()
command -v taskset >/dev/null || need_install+=(util-linux)
command -v python3 >/dev/null || need_install+=(python3)
command -v curl >/dev/null || need_install+=(curl)
ensure_packages "${need_install[@]}"
ulimit -n "$(ulimit -Hn)"

log "building talon and the loadgen example (release)"
(cd "$ROOT" && cargo build --release --quiet --bin talon && cargo build --release --quiet --example loadgen)
TALON="$TARGET/release/talon"
LOADGEN="$TARGET/release/examples/loadgen"
{
  machine_lines
  talon_rev_line
  echo "params: REPS=$REPS DURATION=${DURATION}s WARMUP=${WARMUP}s CONNS=$CONNS TOKENS=$TOKENS PLAN='$PLAN' SESSIONS=$SESSIONS server cpu $SERVER_CPU, client cpu $CLIENT_CPU"
  echo "loadavg at start: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$OUT_DIR/machine.txt" >&2

rss_kb() { awk '/^VmRSS/ {print $2}' "/proc/$1/status"; }

start_upstream() { # $1 = interval µs; sets UP_PID, UP_PORT
  UP_PORT=$(free_port)
  taskset -c "$CLIENT_CPU" "$LOADGEN" fake-upstream --port "$UP_PORT" --model bench --tokens "$TOKENS" \
    --interval-us "$1" 2>"$WORK/upstream.log" &
  UP_PID=$!
  PIDS+=("$UP_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$UP_PORT/v1/models" >/dev/null 2>&1 && return 0; sleep 0.05; done
  log "fake upstream did not start"; cat "$WORK/upstream.log" >&2; exit 1
}

start_talon() { # $1 = dir; sets TALON_PID, TALON_PORT
  TALON_PORT=$(free_port)
  mkdir -p "$1"
  cat >"$1/config.json" <<JSON
{"gateway":{"port":$TALON_PORT,"io_threads":1,"worker_threads":1,
  "rate_limit":{"max_requests":100000000,"window_ms":1000}},
 "providers":{"bench":{"kind":"openai-compatible","base_url":"http://127.0.0.1:$UP_PORT/v1","models":["bench"]}},
 "agent":{"default_model":"bench/bench","max_concurrent_turns":$CONNS,"max_queued_turns":$((CONNS * 4))},
 "logging":{"level":"warn"}}
JSON
  taskset -c "$SERVER_CPU" "$TALON" gateway --config "$1/config.json" --data-dir "$1" >"$1/stdout.log" 2>&1 &
  TALON_PID=$!
  PIDS+=("$TALON_PID")
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$TALON_PORT/health" >/dev/null 2>&1 && return 0; sleep 0.05; done
  log "talon did not start"; cat "$1/stdout.log" >&2; exit 1
}

run_client() { # $1 = label, $2 = port, $3 = model, $4.. = server pids
  local label=$1 port=$2 model=$3
  shift 3
  local pid_args=()
  for p in "$@"; do pid_args+=(--server-pid "$p"); done
  settle
  taskset -c "$CLIENT_CPU" "$LOADGEN" chat-stream --addr "127.0.0.1:$port" --path /v1/chat/completions \
    --model "$model" --conns "$CONNS" --seconds "$DURATION" --warmup "$WARMUP" "${pid_args[@]}" \
    --label "$label" 2>>"$WORK/loadgen.log"
}

for interval in $PLAN; do
  start_upstream "$interval"
  for rep in $(seq "$REPS"); do
    log "interval ${interval}us rep $rep: direct"
    run_client "direct" "$UP_PORT" bench "$UP_PID" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(interval_us=$interval, rep=$rep); print(json.dumps(d))" >>"$RESULTS"
    start_talon "$WORK/talon-$interval-$rep"
    sleep 1
    idle=$(rss_kb "$TALON_PID")
    log "interval ${interval}us rep $rep: talon (idle RSS ${idle} KiB)"
    run_client "talon" "$TALON_PORT" bench/bench "$TALON_PID" | python3 -c "import json,sys; d=json.loads(sys.stdin.read()); d.update(interval_us=$interval, rep=$rep, idle_rss_kb=$idle); print(json.dumps(d))" >>"$RESULTS"
    stop_pids "$TALON_PID"
  done
  stop_pids "$UP_PID"
done

# Stored sessions: RSS of a fresh gateway before and after $SESSIONS one-turn sessions.
start_upstream 0
start_talon "$WORK/talon-sessions"
sleep 1
before=$(rss_kb "$TALON_PID")
python3 - "$TALON_PORT" "$SESSIONS" <<'PY'
import http.client, json, sys
port, n = int(sys.argv[1]), int(sys.argv[2])
c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
for i in range(n):
    c.request("POST", "/api/chat", json.dumps({"message": f"hello number {i}", "sessionKey": f"bench-{i}", "model": "builtin/echo"}))
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
sleep 1
after=$(rss_kb "$TALON_PID")
echo "{\"mode\":\"sessions\",\"sessions\":$SESSIONS,\"rss_kb_before\":$before,\"rss_kb_after\":$after,\"bytes_per_session\":$(( (after - before) * 1024 / SESSIONS ))}" >>"$RESULTS"
stop_pids "$TALON_PID" "$UP_PID"

python3 - "$RESULTS" "$OUT_DIR/report.md" <<'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
out = ["| interval | run | streams | tokens/s | time/token median (µs) | token gap p99 (µs) | server µs/token | RSS mid (KiB) | errors |", "|---|---|---|---|---|---|---|---|---|"]
summary = []
for interval in sorted({r["interval_us"] for r in rows if r.get("mode") == "chat-stream"}, reverse=True):
    med = {}
    for label in ("direct", "talon"):
        rs = [r for r in rows if r.get("interval_us") == interval and r.get("label") == label]
        if not rs:
            continue
        m = lambda f: statistics.median(f(r) for r in rs)
        med[label] = m(lambda r: r["stream_time_per_token"]["mean_us"])
        out.append(f"| {interval} | {label} | {m(lambda r: r['streams']):.0f} | {m(lambda r: r['tokens_per_s']):.0f} | {med[label]:.1f} | {m(lambda r: r['token_gap']['p99_us']):.0f} | {m(lambda r: r['server_us_per_token']):.1f} | {m(lambda r: r['server_rss_kb_mid']):.0f} | {sum(r['errors'] for r in rs)} |")
        if label == "talon":
            idle = m(lambda r: r["idle_rss_kb"])
            per = (m(lambda r: r["server_rss_kb_mid"]) - idle) * 1024 / rs[0]["conns"]
            summary.append(f"- interval {interval} µs: idle RSS {idle:.0f} KiB; memory per active streamed turn {per / 1024:.1f} KiB")
    if "direct" in med and "talon" in med:
        summary.append(f"- interval {interval} µs: overhead per token {100 * (med['talon'] / med['direct'] - 1):+.2f}% (median time per token {med['talon']:.1f} vs {med['direct']:.1f} µs direct)")
for r in rows:
    if r.get("mode") == "sessions":
        summary.append(f"- {r['sessions']} stored one-turn sessions: RSS {r['rss_kb_before']} → {r['rss_kb_after']} KiB, {r['bytes_per_session']} B per session")
open(sys.argv[2], "w").write("\n".join(out + [""] + summary) + "\n")
print("\n".join(out + [""] + summary))
PY
