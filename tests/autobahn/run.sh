#!/usr/bin/env bash
# Autobahn|Testsuite fuzzingclient against Talon's test echo WebSocket (/ws/echo).
#
#   bash tests/autobahn/run.sh            # install tools if needed, build, run, compare
#   AUTOBAHN_UPDATE=1 bash tests/autobahn/run.sh   # rewrite expected-results.json instead of
#                                                  # comparing (only if every case passes)
#   AUTOBAHN_PROFILE=debug bash tests/autobahn/run.sh  # test the debug binary (default: release)
#
# Installs Python 2.7 + autobahntestsuite into <repo>/.tools (gitignored) the first time
# (1-4 min; needs pyenv's 2.7.18, see docs in tests/autobahn/README.md). Builds talon
# (release), starts it on a free loopback port with a temporary config, runs wstest with
# tests/autobahn/fuzzingclient.json (port rewritten), stops the server, then:
#   1. compares index.json with tests/autobahn/expected-results.json, ignoring
#      `duration` and `reportfile`;
#   2. checks every case: behavior OK / NON-STRICT / INFORMATIONAL and
#      behaviorClose OK / INFORMATIONAL.
# Exits non-zero on any difference or failing case. Reports go to target/autobahn/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
HERE="$ROOT/tests/autobahn"
TOOLS="$ROOT/.tools"
OUT="$ROOT/target/autobahn"
AGENT=talon

# --- tooling (idempotent) -------------------------------------------------------------
if ! "$TOOLS/ab/bin/wstest" --help >/dev/null 2>&1; then
  echo "autobahn: installing autobahntestsuite (Python 2.7) into $TOOLS (first time only, 1-4 min)" >&2
  py2=""
  if command -v pyenv >/dev/null 2>&1; then
    py2="$(pyenv root)/versions/2.7.18/bin/python"
  fi
  if [[ ! -x $py2 ]]; then
    echo "autobahn: need CPython 2.7.18 under pyenv (pyenv install 2.7.18)" >&2
    exit 2
  fi
  rm -rf "$TOOLS/venv3" "$TOOLS/ab"
  mkdir -p "$TOOLS"
  python3 -m venv "$TOOLS/venv3"
  "$TOOLS/venv3/bin/pip" install -q 'virtualenv<20.22'
  "$TOOLS/venv3/bin/virtualenv" -q -p "$py2" "$TOOLS/ab"
  "$TOOLS/ab/bin/pip" install -q --disable-pip-version-check autobahntestsuite
  "$TOOLS/ab/bin/wstest" --help >/dev/null
fi

# --- build ----------------------------------------------------------------------------
cd "$ROOT"
# AUTOBAHN_PROFILE=debug reuses the debug binary `cargo test` already built (no release build).
PROFILE=${AUTOBAHN_PROFILE:-release}
if [[ $PROFILE == release ]]; then
  cargo build --release --quiet --bin talon
else
  cargo build --quiet --bin talon
fi
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/talon"

# --- start the server -----------------------------------------------------------------
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
WORK=$(mktemp -d)
SERVER_PID=""
cleanup() {
  if [[ -n $SERVER_PID ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
    kill "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  rm -rf "$WORK"
}
trap cleanup EXIT

# 9.* sends messages of up to 16 MiB, and 9.* and 2.* send bursts of thousands of messages.
cat >"$WORK/config.json" <<JSON
{
  "gateway": {
    "port": $PORT,
    "ws": {
      "test_echo": true,
      "max_message_bytes": 20971520,
      "max_outbound_bytes": 41943040,
      "message_rate_limit": {"max_messages": 100000000, "window_ms": 1000}
    }
  },
  "logging": {"level": "warn", "file": "-"}
}
JSON
mkdir -p "$WORK/data"
"$BIN" gateway --config "$WORK/config.json" --data-dir "$WORK/data" >"$WORK/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 100); do
  if python3 -c "import socket,sys; socket.create_connection(('127.0.0.1', $PORT), 0.2)" 2>/dev/null; then
    break
  fi
  if ! kill -0 "$SERVER_PID" 2>/dev/null; then
    echo "autobahn: talon exited during startup:" >&2
    cat "$WORK/server.log" >&2
    exit 1
  fi
  sleep 0.1
done

# --- run the fuzzing client -------------------------------------------------------------
rm -rf "$OUT/server"
mkdir -p "$OUT"
python3 - "$HERE/fuzzingclient.json" "$OUT/fuzzingclient.json" "$PORT" "$OUT/server" "$AGENT" <<'PY'
import json, sys
src, dst, port, outdir, agent = sys.argv[1:]
spec = json.load(open(src))
spec["outdir"] = outdir
for s in spec["servers"]:
    s["agent"] = agent
    s["url"] = s["url"].replace(":9002/", ":%s/" % port)
json.dump(spec, open(dst, "w"), indent=2)
PY
start=$(date +%s)
(cd "$OUT" && "$TOOLS/ab/bin/wstest" -m fuzzingclient -s "$OUT/fuzzingclient.json") >"$OUT/wstest.log" 2>&1 || {
  echo "autobahn: wstest failed; see $OUT/wstest.log" >&2
  tail -20 "$OUT/wstest.log" >&2
  exit 1
}
echo "autobahn: wstest finished in $(($(date +%s) - start)) s" >&2

if ! kill -0 "$SERVER_PID" 2>/dev/null; then
  echo "autobahn: talon died during the run:" >&2
  cat "$WORK/server.log" >&2
  exit 1
fi
kill "$SERVER_PID"
wait "$SERVER_PID" 2>/dev/null || true
SERVER_PID=""
cp "$WORK/server.log" "$OUT/server.log"

# --- compare --------------------------------------------------------------------------
python3 - "$OUT/server/index.json" "$HERE/expected-results.json" "$AGENT" "${AUTOBAHN_UPDATE:-0}" <<'PY'
import collections, json, os, sys

index_path, expected_path, agent, update = sys.argv[1:]
DROP = ("duration", "reportfile")

def strip(doc):
    return {a: {c: {k: v for k, v in r.items() if k not in DROP} for c, r in cases.items()}
            for a, cases in doc.items()}

def case_key(c):
    return [int(p) if p.isdigit() else p for p in c.split(".")]

got = strip(json.load(open(index_path)))
cases = got.get(agent, {})
ok = True

counts = collections.Counter()
by_cat = collections.defaultdict(collections.Counter)
bad = []
for c in sorted(cases, key=case_key):
    r = cases[c]
    counts[r["behavior"]] += 1
    by_cat[c.split(".")[0]][r["behavior"]] += 1
    if r["behavior"] not in ("OK", "NON-STRICT", "INFORMATIONAL") or \
       r["behaviorClose"] not in ("OK", "INFORMATIONAL"):
        bad.append((c, r))
print("autobahn: %d cases: %s" % (len(cases), ", ".join("%s %d" % kv for kv in sorted(counts.items()))))
for cat in sorted(by_cat, key=int):
    print("  %-3s %s" % (cat, ", ".join("%s %d" % kv for kv in sorted(by_cat[cat].items()))))
if not cases:
    print("autobahn: no results for agent %r" % agent)
    ok = False
if bad:
    ok = False
    print("autobahn: %d case(s) fail the acceptance rule:" % len(bad))
    for c, r in bad:
        print("  %-8s behavior=%-13s behaviorClose=%-13s remoteCloseCode=%s"
              % (c, r["behavior"], r["behaviorClose"], r.get("remoteCloseCode")))

if update == "1":
    if not ok:
        print("autobahn: not updating %s while cases fail" % expected_path)
        sys.exit(1)
    with open(expected_path, "w") as f:
        json.dump(got, f, indent=2, sort_keys=True)
        f.write("\n")
    print("autobahn: wrote %s" % expected_path)
    sys.exit(0)

if not os.path.exists(expected_path):
    print("autobahn: %s is missing (run with AUTOBAHN_UPDATE=1 once every case passes)" % expected_path)
    sys.exit(1)
want = strip(json.load(open(expected_path)))
wcases = want.get(agent, {})
diffs = []
for c in sorted(set(wcases) | set(cases), key=case_key):
    if wcases.get(c) != cases.get(c):
        diffs.append((c, wcases.get(c), cases.get(c)))
if set(want) != set(got):
    diffs.append(("<agents>", sorted(want), sorted(got)))
if diffs:
    ok = False
    print("autobahn: %d case(s) differ from expected-results.json "
          "(a regression, or update it with AUTOBAHN_UPDATE=1):" % len(diffs))
    for c, w, g in diffs:
        print("  %s\n    expected %s\n    got      %s" % (c, json.dumps(w, sort_keys=True), json.dumps(g, sort_keys=True)))
sys.exit(0 if ok else 1)
PY
