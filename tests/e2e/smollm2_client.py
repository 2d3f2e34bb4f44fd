"""Chat with SmolLM2 through Talon on /ws, /api/chat/stream and /v1/chat/completions.

Run by tests/e2e/smollm2.sh with the gateway's port and the model server's port. Every check
raises (non-zero exit) on failure; each prints one line with what it saw.
"""
import json
import sys
import time

import httpx
import openai
from websockets.sync.client import connect

PORT, LLM_PORT = sys.argv[1], sys.argv[2]
BASE = f"http://127.0.0.1:{PORT}"
QUESTION = "What is the capital of France? Answer in one sentence."


def check_ws():
    """chat.send in the req/res frames dialect; the chat deltas add up to the final message."""
    with connect(f"ws://127.0.0.1:{PORT}/ws", open_timeout=10) as ws:
        ws.send(json.dumps({"type": "req", "id": "1", "method": "chat.send",
                            "params": {"sessionKey": "e2e-ws", "message": QUESTION}}))
        run_id, deltas, final = None, [], None
        deadline = time.monotonic() + 120
        while final is None:
            if time.monotonic() > deadline:
                raise SystemExit("/ws: no final chat event in 120 s")
            frame = json.loads(ws.recv(timeout=120))
            if frame.get("type") == "res":
                if not frame.get("ok"):
                    raise SystemExit(f"/ws: chat.send refused: {frame}")
                run_id = frame["payload"]["runId"]
            elif frame.get("type") == "event" and frame.get("event") == "chat":
                p = frame["payload"]
                if p.get("runId") != run_id or p.get("state") == "chunk":
                    continue
                if p["state"] == "delta":
                    deltas.append(p["deltaText"])
                elif p["state"] == "final":
                    final = p
                else:
                    raise SystemExit(f"/ws: turn ended {p['state']}: {p}")
    text = final["message"]["content"][0]["text"]
    assert text.strip(), "/ws: empty reply"
    assert "".join(deltas) == text, ("/ws: deltas differ from the final message", deltas, text)
    # llama-cpp-python ignores stream_options.include_usage, so a streamed turn has no token
    # counts to report (ecosystem.md §1.3): the usage is printed, not required.
    print(f"/ws ok: {len(deltas)} deltas, usage {final['usage']}: {text[:80]!r}")


def check_sse():
    """GET /api/chat/stream: token events, then done with the whole response."""
    tokens, done = [], None
    with httpx.stream("GET", f"{BASE}/api/chat/stream", params={"message": QUESTION, "sessionKey": "e2e-sse"},
                      timeout=120) as r:
        assert r.status_code == 200, (r.status_code, r.read())
        event = None
        for line in r.iter_lines():
            if line.startswith("event:"):
                event = line[6:].strip()
            elif line.startswith("data:") and event:
                data = json.loads(line[5:])
                if event == "token":
                    tokens.append(data)
                elif event == "done":
                    done = data
                elif event == "error":
                    raise SystemExit(f"/api/chat/stream: error event {data}")
    assert done is not None, "/api/chat/stream: no done event"
    assert done["response"].strip(), "/api/chat/stream: empty response"
    assert "".join(t["delta"] for t in tokens) == done["response"], (tokens, done)
    assert tokens and tokens[-1]["accumulated"] == done["response"]
    print(f"/api/chat/stream ok: {len(tokens)} tokens: {done['response'][:80]!r}")


def check_openai():
    """The official SDK, non-streaming then streaming, temperature 0, against the direct answer."""
    direct = openai.OpenAI(base_url=f"http://127.0.0.1:{LLM_PORT}/v1", api_key="x", max_retries=0)
    talon = openai.OpenAI(base_url=f"{BASE}/v1", api_key="x", max_retries=0, timeout=120)
    messages = [{"role": "user", "content": QUESTION}]
    want = direct.chat.completions.create(model="smollm2", messages=messages, temperature=0, max_tokens=64)
    got = talon.chat.completions.create(model="local/smollm2", messages=messages, temperature=0, max_tokens=64)
    text = got.choices[0].message.content
    assert text.strip(), "/v1/chat/completions: empty reply"
    assert got.usage is not None, got
    # Temperature 0 is greedy decoding: through the gateway the model must say what it says directly.
    assert text == want.choices[0].message.content, (text, want.choices[0].message.content)
    assert "paris" in text.lower(), text
    print(f"/v1/chat/completions ok: usage {got.usage}: {text[:80]!r}")

    chunks = list(talon.chat.completions.create(model="local/smollm2", messages=messages, temperature=0,
                                                max_tokens=64, stream=True,
                                                stream_options={"include_usage": True}))
    streamed = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert streamed == text, (streamed, text)
    assert chunks[-1].usage is not None and chunks[-1].choices == [], chunks[-1]
    print(f"/v1/chat/completions stream ok: {len(chunks)} chunks, same text")


for check in (check_ws, check_sse, check_openai):
    check()
print("smollm2 e2e: all surfaces ok")
