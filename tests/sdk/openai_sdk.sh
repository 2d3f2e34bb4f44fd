#!/usr/bin/env bash
# The official `openai` Python SDK against a real Talon: models.list, models.retrieve,
# chat.completions.create (without and with streaming, with include_usage), responses.create
# (without and with streaming) against the offline builtin/echo model, and embeddings.create
# against builtin/embed with the default arguments (the SDK asks for base64) and with
# encoding_format="float". Installs the SDK itself into .tools/venv-openai (PyPI) on first use.
#
#   bash tests/sdk/openai_sdk.sh            # debug build; TALON_PROFILE=release for release
#
# Exit status 0 only if every call succeeded with the expected answer.
# Only 127.0.0.1 is contacted besides PyPI; the gateway started here is stopped on exit.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
PROFILE=${TALON_PROFILE:-debug}
VENV="$ROOT/.tools/venv-openai"
OPENAI_VERSION=${OPENAI_VERSION:-3.54.0}

if [[ ! -x $VENV/bin/python ]] || ! "$VENV/bin/python" -c "import openai" 2>/dev/null; then
  echo "openai_sdk: installing openai==$OPENAI_VERSION into $VENV" >&2
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet "openai==$OPENAI_VERSION"
fi

if [[ $PROFILE == release ]]; then
  (cd "$ROOT" && cargo build --release --quiet --bin talon)
else
  (cd "$ROOT" && cargo build --quiet --bin talon)
fi
TALON="${CARGO_TARGET_DIR:-$ROOT/target}/$PROFILE/talon"

WORK=$(mktemp -d)
PID=""
cleanup() {
  [[ -n $PID ]] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
  rm -rf "$WORK"
}
trap cleanup EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$TALON" gateway --data-dir "$WORK/data" --port "$PORT" >"$WORK/talon.log" 2>&1 &
PID=$!
for _ in $(seq 100); do
  curl -fs "http://127.0.0.1:$PORT/health" >/dev/null 2>&1 && break
  sleep 0.05
done

"$VENV/bin/python" - "$PORT" <<'PY'
import sys
import openai

port = sys.argv[1]
# A loopback gateway without a token needs no key; the SDK insists on one, so any string.
client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused-on-loopback", max_retries=0)

models = client.models.list()
ids = [m.id for m in models.data]
assert "builtin/echo" in ids, ids
echo = client.models.retrieve("builtin/echo")
assert echo.id == "builtin/echo" and echo.owned_by == "talon-builtin", echo
try:
    client.models.retrieve("gpt-nowhere")
    raise SystemExit("an unknown model was found")
except openai.NotFoundError as e:
    assert e.status_code == 404, e

done = client.chat.completions.create(
    model="builtin/echo",
    messages=[{"role": "system", "content": "be brief"}, {"role": "user", "content": "hello from the sdk"}],
)
assert done.choices[0].message.content == "hello from the sdk", done
assert done.choices[0].finish_reason == "stop", done
assert done.usage.total_tokens == done.usage.prompt_tokens + done.usage.completion_tokens, done.usage
try:
    client.chat.completions.create(model="builtin/echo", messages=[])
    raise SystemExit("empty messages were accepted")
except openai.BadRequestError as e:
    assert "must not be empty" in str(e), e
print(f"openai_sdk: openai {openai.__version__}: models.list ({len(ids)}), models.retrieve, "
      f"chat.completions.create ({done.usage.total_tokens} tokens) and the SDK's typed errors: OK")
PY

# --- Streaming chat completions, the Responses API and embeddings (issue 5, surfaces) ---
"$VENV/bin/python" - "$PORT" <<'PY'
import struct
import sys
import openai

port = sys.argv[1]
client = openai.OpenAI(base_url=f"http://127.0.0.1:{port}/v1", api_key="unused-on-loopback", max_retries=0)
MESSAGES = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "stream this reply please"}]


def streaming_chat_equals_the_plain_answer():
    plain = client.chat.completions.create(model="builtin/echo", messages=MESSAGES).choices[0].message.content
    chunks = list(client.chat.completions.create(model="builtin/echo", messages=MESSAGES, stream=True))
    assert chunks[0].choices[0].delta.role == "assistant", chunks[0]
    assert len({c.id for c in chunks}) == 1 and len({c.created for c in chunks}) == 1, chunks
    joined = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert joined == plain, (joined, plain)
    assert chunks[-1].choices[0].finish_reason == "stop", chunks[-1]
    assert all(c.usage is None for c in chunks), chunks
    return len(chunks)


def streaming_chat_with_usage():
    chunks = list(client.chat.completions.create(
        model="builtin/echo", messages=MESSAGES, stream=True, stream_options={"include_usage": True}))
    last = chunks[-1]
    assert last.choices == [] and last.usage is not None, last
    assert last.usage.completion_tokens == 4, last.usage
    assert last.usage.total_tokens == last.usage.prompt_tokens + last.usage.completion_tokens, last.usage
    return last.usage.total_tokens


def responses_plain_and_streamed():
    done = client.responses.create(model="builtin/echo", instructions="be brief", input="answer in a response")
    assert done.output_text == "answer in a response", done
    assert done.status == "completed" and done.usage.total_tokens > 0, done
    events = list(client.responses.create(model="builtin/echo", input="stream a response", stream=True))
    kinds = [e.type for e in events]
    assert kinds[0] == "response.created" and kinds[-1] == "response.completed", kinds
    deltas = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert deltas == "stream a response", deltas
    assert events[-1].response.output_text == deltas, events[-1]
    assert [e.sequence_number for e in events] == list(range(len(events))), events
    return len(events)


n_chunks = streaming_chat_equals_the_plain_answer()
usage_total = streaming_chat_with_usage()
n_events = responses_plain_and_streamed()
print(f"openai_sdk: chat.completions.create(stream=True) ({n_chunks} chunks), include_usage "
      f"({usage_total} tokens), responses.create plain and streamed ({n_events} events): OK")


texts = ["hello from the sdk", "a second, different input"]

raw = client.embeddings.with_raw_response.create(model="builtin/embed", input=texts)
wire = raw.http_response.json()
assert isinstance(wire["data"][0]["embedding"], str), "the SDK's default call did not get base64"
default = raw.parse()
floats = client.embeddings.create(model="builtin/embed", input=texts, encoding_format="float")
assert isinstance(floats.data[0].embedding, list), floats.data[0]


def f32(values):
    return struct.unpack(f"<{len(values)}f", struct.pack(f"<{len(values)}f", *values))


assert default.model == floats.model == "builtin/embed", (default.model, floats.model)
assert [d.index for d in default.data] == [0, 1] == [d.index for d in floats.data]
for a, b in zip(default.data, floats.data):
    assert len(a.embedding) == len(b.embedding) == 256, (len(a.embedding), len(b.embedding))
    assert f32(a.embedding) == f32(b.embedding), "base64 and float answers differ"
    norm = sum(x * x for x in a.embedding) ** 0.5
    assert abs(norm - 1.0) < 1e-4, norm
assert default.data[0].embedding != default.data[1].embedding
assert default.usage.prompt_tokens == floats.usage.prompt_tokens > 0, default.usage
one = client.embeddings.create(model="builtin/embed", input="hello from the sdk", dimensions=32)
assert len(one.data) == 1 and len(one.data[0].embedding) == 32, one
try:
    client.embeddings.create(model="text-embedding-nowhere", input="x")
    raise SystemExit("an unknown embeddings model was accepted")
except openai.NotFoundError as e:
    assert e.status_code == 404 and e.code == "model_not_found", (e, e.code)
try:
    client.embeddings.create(model="builtin/embed", input="")
    raise SystemExit("an empty input was accepted")
except openai.BadRequestError as e:
    assert "empty string" in str(e), e
print(f"openai_sdk: embeddings.create with the default (base64) and float encodings: "
      f"{len(default.data)} equal vectors of {len(default.data[0].embedding)}; dimensions, 404 and 400: OK")
PY
