#!/usr/bin/env python3
"""Write the provider stream test vectors (idempotent): sse_frames.json and streams.json.

sse_frames.json: event-stream bytes -> the events a bounded decoder dispatches
  (src/protocol/sse_decode.rs), with optional small limits and the expected error.
streams.json: upstream bodies (OpenAI chat.completion.chunk streams, Anthropic Messages
  event streams, and non-streaming bodies of both) -> the provider events
  (src/agent/providers/{openai_stream,anthropic_stream}.rs), or the expected error code.
The unit tests read both files and feed every stream whole, split at every byte and one byte
at a time; the fuzz target's seeds are built from streams.json (fuzz/seeds.py).
"""

import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent


def ev(data, event="", id=""):
    return {"event": event, "data": data, "id": id}


SSE = [
    {"name": "lf_single", "input": "data: hello\n\n", "events": [ev("hello")]},
    {"name": "crlf", "input": "data: a\r\n\r\ndata: b\r\n\r\n", "events": [ev("a"), ev("b")]},
    {"name": "cr_only", "input": "data: a\r\rdata: b\r\r", "events": [ev("a"), ev("b")]},
    {"name": "mixed_breaks", "input": "data: a\r\n\ndata: b\n\r\n", "events": [ev("a"), ev("b")]},
    {"name": "multi_line_data", "input": "data: one\ndata: two\ndata:\n\n", "events": [ev("one\ntwo\n")]},
    {"name": "no_space_after_colon", "input": "data:x\n\n", "events": [ev("x")]},
    {"name": "two_spaces_keep_one", "input": "data:  x\n\n", "events": [ev(" x")]},
    {"name": "field_without_colon", "input": "data\n\n", "events": [ev("")]},
    {"name": "comments_ignored", "input": ": ping\n:\ndata: a\n: mid\n\n", "events": [ev("a")]},
    {"name": "comment_only_block", "input": ": keep-alive\n\n", "events": []},
    {"name": "event_without_data", "input": "event: x\n\ndata: y\n\n", "events": [ev("y")]},
    {"name": "named_event", "input": "event: message_start\ndata: {}\n\n", "events": [ev("{}", "message_start")]},
    {"name": "sticky_id", "input": "id: 7\ndata: a\n\ndata: b\n\nid\ndata: c\n\n",
     "events": [ev("a", id="7"), ev("b", id="7"), ev("c")]},
    {"name": "id_with_nul_ignored", "input": "id: 1\x00\ndata: a\n\n", "events": [ev("a")]},
    {"name": "retry_and_unknown_ignored", "input": "retry: 10\nfoo: bar\ndata: a\n\n", "events": [ev("a")]},
    {"name": "bom_skipped", "input": "\ufeffdata: a\n\n", "events": [ev("a")]},
    {"name": "done_sentinel", "input": "data: {\"a\":1}\n\ndata: [DONE]\n\n", "events": [ev("{\"a\":1}"), ev("[DONE]")]},
    {"name": "unterminated_event_pending", "input": "data: a\n\ndata: b", "events": [ev("a")], "pending": True},
    {"name": "unterminated_line_pending", "input": "data: a\n", "events": [], "pending": True},
    {"name": "line_at_limit", "limits": {"max_line_bytes": 8, "max_event_bytes": 64},
     "input": "data: 12\n\n", "events": [ev("12")]},
    {"name": "line_over_limit", "limits": {"max_line_bytes": 8, "max_event_bytes": 64},
     "input": "data: ok\n\ndata: 123\n\n", "events": [ev("ok")], "error": "line_too_long"},
    {"name": "partial_line_over_limit", "limits": {"max_line_bytes": 8, "max_event_bytes": 64},
     "input": "data: 123456789", "events": [], "error": "line_too_long"},
    {"name": "comment_over_limit", "limits": {"max_line_bytes": 8, "max_event_bytes": 64},
     "input": ": 1234567\n\n", "events": [], "error": "line_too_long"},
    {"name": "event_over_limit", "limits": {"max_line_bytes": 64, "max_event_bytes": 5},
     "input": "data: ab\ndata: cd\n\ndata: ab\ndata: cde\n\n", "events": [ev("ab\ncd")], "error": "event_too_large"},
]


def text(t):
    return {"text": t}


def call(id, name, arguments):
    return {"tool_call": {"id": id, "name": name, "arguments": arguments}}


def usage(i, o):
    return {"usage": {"input_tokens": i, "output_tokens": o}}


def finish(r):
    return {"finish": r}


def sse(*datas):
    return "".join(f"data: {d if isinstance(d, str) else json.dumps(d)}\n\n" for d in datas)


def chunk(delta=None, finish_reason=None, usage=None, choices=True):
    c = {"id": "chatcmpl-1", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o-mini"}
    c["choices"] = [{"index": 0, "delta": delta or {}, "finish_reason": finish_reason}] if choices else []
    if usage is not None:
        c["usage"] = usage
    return c


def tc(index, id=None, name=None, args=None):
    d = {"index": index}
    if id is not None:
        d["id"] = id
        d["type"] = "function"
    f = {}
    if name is not None:
        f["name"] = name
    if args is not None:
        f["arguments"] = args
    d["function"] = f
    return d


U = {"prompt_tokens": 12, "completion_tokens": 3, "total_tokens": 15}

OPENAI = [
    {"name": "openai_text_with_usage", "format": "openai", "stream": sse(
        chunk({"role": "assistant", "content": ""}),
        chunk({"content": "Hel"}), chunk({"content": "lo"}), chunk({"content": "!"}),
        chunk({}, "stop"), chunk(choices=False, usage=U), "[DONE]"),
     "events": [text("Hel"), text("lo"), text("!"), usage(12, 3), finish("stop")]},
    {"name": "openai_no_usage", "format": "openai", "stream": sse(chunk({"content": "a"}), chunk({}, "length"), "[DONE]"),
     "events": [text("a"), finish("length")]},
    {"name": "openai_tool_call_fragments", "format": "openai", "stream": sse(
        chunk({"role": "assistant", "content": None, "tool_calls": [tc(0, "call_a", "get_weather", "")]}),
        chunk({"tool_calls": [tc(0, args="{\"ci")]}),
        chunk({"tool_calls": [tc(0, args="ty\": \"Pa")]}),
        chunk({"tool_calls": [tc(0, args="ris\"}")]}),
        chunk({"tool_calls": [tc(1, "call_b", "get_time", "{}")]}),
        chunk({}, "tool_calls"), chunk(choices=False, usage=U), "[DONE]"),
     "events": [call("call_a", "get_weather", "{\"city\": \"Paris\"}"), call("call_b", "get_time", "{}"),
                usage(12, 3), finish("tool_calls")]},
    {"name": "openai_tool_calls_interleaved", "format": "openai", "stream": sse(
        chunk({"tool_calls": [tc(1, "call_b", "b", "{\"y\":"), tc(0, "call_a", "a", "{\"x\":")]}),
        chunk({"tool_calls": [tc(0, args="1}"), tc(1, args="2}")]}),
        chunk({}, "tool_calls"), "[DONE]"),
     "events": [call("call_a", "a", "{\"x\":1}"), call("call_b", "b", "{\"y\":2}"), finish("tool_calls")]},
    {"name": "openai_tool_call_without_index", "format": "openai", "stream": sse(
        chunk({"tool_calls": [{"id": "c1", "type": "function", "function": {"name": "f", "arguments": "{\"a\""}}]}),
        chunk({"tool_calls": [{"function": {"arguments": ":1}"}}]}),
        chunk({"tool_calls": [{"id": "c2", "type": "function", "function": {"name": "g", "arguments": ""}}]}),
        chunk({}, "tool_calls"), "[DONE]"),
     "events": [call("c1", "f", "{\"a\":1}"), call("c2", "g", "{}"), finish("tool_calls")]},
    {"name": "openai_usage_in_finish_chunk", "format": "openai", "stream": sse(
        chunk({"content": "x"}), chunk({}, "stop", usage=U), "[DONE]"),
     "events": [text("x"), usage(12, 3), finish("stop")]},
    {"name": "openai_no_done_after_finish", "format": "openai", "stream": sse(chunk({"content": "x"}), chunk({}, "stop")),
     "events": [text("x"), finish("stop")]},
    {"name": "openai_done_without_finish", "format": "openai", "stream": sse(chunk({"content": "x"}), "[DONE]"),
     "events": [text("x"), finish("stop")]},
    {"name": "openai_truncated", "format": "openai", "stream": sse(chunk({"content": "x"})),
     "events": [text("x")], "error": "truncated"},
    {"name": "openai_truncated_mid_event", "format": "openai", "stream": sse(chunk({"content": "x"})) + "data: {\"choi",
     "events": [text("x")], "error": "truncated"},
    {"name": "openai_malformed_chunk", "format": "openai", "stream": sse(chunk({"content": "x"})) + "data: {not json}\n\n",
     "events": [text("x")], "error": "malformed_chunk"},
    {"name": "openai_wrong_type_chunk", "format": "openai", "stream": sse({"choices": "nope"}),
     "events": [], "error": "malformed_chunk"},
    {"name": "openai_error_chunk", "format": "openai", "stream": sse(chunk({"content": "x"}),
        {"error": {"message": "The server had an error", "type": "server_error"}}),
     "events": [text("x")], "error": "upstream"},
    {"name": "openai_other_choices_ignored", "format": "openai", "stream": sse(
        {"choices": [{"index": 1, "delta": {"content": "no"}}, {"index": 0, "delta": {"content": "yes"}}]},
        chunk({}, "stop"), "[DONE]"),
     "events": [text("yes"), finish("stop")]},
    {"name": "openai_comments_and_crlf", "format": "openai",
     "stream": ": OPENROUTER PROCESSING\r\n\r\n" + sse(chunk({"content": "é✓"}), chunk({}, "content_filter"), "[DONE]").replace("\n", "\r\n"),
     "events": [text("é✓"), finish("content_filter")]},
    {"name": "openai_after_done_ignored", "format": "openai", "stream": sse(chunk({}, "stop"), "[DONE]", "{broken"),
     "events": [finish("stop")]},
    {"name": "openai_unknown_finish_reason", "format": "openai", "stream": sse(chunk({}, "eos_token"), "[DONE]"),
     "events": [finish("eos_token")]},
    {"name": "openai_completion_text", "format": "openai", "body": {
        "id": "chatcmpl-1", "object": "chat.completion", "choices": [
            {"index": 0, "message": {"role": "assistant", "content": "Hi there"}, "finish_reason": "stop"}],
        "usage": U},
     "events": [text("Hi there"), usage(12, 3), finish("stop")]},
    {"name": "openai_completion_tool_calls", "format": "openai", "body": {
        "choices": [{"index": 0, "message": {"role": "assistant", "content": None, "tool_calls": [
            {"id": "call_1", "type": "function", "function": {"name": "f", "arguments": "{\"a\":1}"}}]},
            "finish_reason": "tool_calls"}]},
     "events": [call("call_1", "f", "{\"a\":1}"), finish("tool_calls")]},
    {"name": "openai_completion_no_choices", "format": "openai", "body": {"choices": []},
     "events": [], "error": "malformed_chunk"},
]


def a(kind, **fields):
    return {"type": kind, **fields}


def asse(*events):
    return "".join(f"event: {e['type']}\ndata: {json.dumps(e)}\n\n" for e in events)


START = a("message_start", message={"id": "msg_1", "type": "message", "role": "assistant", "content": [],
                                   "model": "claude-x", "stop_reason": None,
                                   "usage": {"input_tokens": 25, "output_tokens": 1}})

ANTHROPIC = [
    {"name": "anthropic_text", "format": "anthropic", "stream": asse(
        START, a("content_block_start", index=0, content_block={"type": "text", "text": ""}), a("ping"),
        a("content_block_delta", index=0, delta={"type": "text_delta", "text": "Hello"}),
        a("content_block_delta", index=0, delta={"type": "text_delta", "text": " world"}),
        a("content_block_stop", index=0),
        a("message_delta", delta={"stop_reason": "end_turn", "stop_sequence": None}, usage={"output_tokens": 15}),
        a("message_stop")),
     "events": [text("Hello"), text(" world"), usage(25, 15), finish("stop")]},
    {"name": "anthropic_tool_use", "format": "anthropic", "stream": asse(
        START, a("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        a("content_block_delta", index=0, delta={"type": "text_delta", "text": "Checking."}),
        a("content_block_stop", index=0),
        a("content_block_start", index=1, content_block={"type": "tool_use", "id": "toolu_1", "name": "get_weather", "input": {}}),
        a("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": ""}),
        a("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": "{\"location\": \"San"}),
        a("content_block_delta", index=1, delta={"type": "input_json_delta", "partial_json": " Francisco\"}"}),
        a("content_block_stop", index=1),
        a("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 89}),
        a("message_stop")),
     "events": [text("Checking."), call("toolu_1", "get_weather", "{\"location\": \"San Francisco\"}"),
                usage(25, 89), finish("tool_calls")]},
    {"name": "anthropic_tool_use_no_deltas", "format": "anthropic", "stream": asse(
        START, a("content_block_start", index=0, content_block={"type": "tool_use", "id": "toolu_2", "name": "now", "input": {}}),
        a("content_block_stop", index=0), a("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 5}),
        a("message_stop")),
     "events": [call("toolu_2", "now", "{}"), usage(25, 5), finish("tool_calls")]},
    {"name": "anthropic_thinking_ignored", "format": "anthropic", "stream": asse(
        START, a("content_block_start", index=0, content_block={"type": "thinking", "thinking": ""}),
        a("content_block_delta", index=0, delta={"type": "thinking_delta", "thinking": "hmm"}),
        a("content_block_delta", index=0, delta={"type": "signature_delta", "signature": "abc"}),
        a("content_block_stop", index=0),
        a("content_block_start", index=1, content_block={"type": "text", "text": ""}),
        a("content_block_delta", index=1, delta={"type": "text_delta", "text": "ok"}),
        a("content_block_stop", index=1), a("brand_new_event", x=1),
        a("message_delta", delta={"stop_reason": "max_tokens"}, usage={"output_tokens": 2}), a("message_stop")),
     "events": [text("ok"), usage(25, 2), finish("length")]},
    {"name": "anthropic_cache_usage", "format": "anthropic", "stream": asse(
        a("message_start", message={"usage": {"input_tokens": 3, "cache_creation_input_tokens": 10,
                                               "cache_read_input_tokens": 100, "output_tokens": 1}}),
        a("message_delta", delta={"stop_reason": "end_turn"}, usage={"output_tokens": 4}), a("message_stop")),
     "events": [usage(113, 4), finish("stop")]},
    {"name": "anthropic_error_event", "format": "anthropic", "stream": asse(
        START, a("error", error={"type": "overloaded_error", "message": "Overloaded"})),
     "events": [], "error": "upstream"},
    {"name": "anthropic_truncated", "format": "anthropic", "stream": asse(
        START, a("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        a("content_block_delta", index=0, delta={"type": "text_delta", "text": "part"})),
     "events": [text("part")], "error": "truncated"},
    {"name": "anthropic_malformed", "format": "anthropic", "stream": "event: message_start\ndata: {\"type\":\"message_start\"\n\n",
     "events": [], "error": "malformed_chunk"},
    {"name": "anthropic_data_only", "format": "anthropic",
     "stream": sse(a("content_block_delta", index=0, delta={"type": "text_delta", "text": "x"}), a("message_stop")),
     "events": [text("x"), finish("stop")]},
    {"name": "anthropic_message_body", "format": "anthropic", "body": {
        "id": "msg_1", "type": "message", "role": "assistant", "model": "claude-x",
        "content": [{"type": "text", "text": "Let me check."},
                    {"type": "tool_use", "id": "toolu_9", "name": "lookup", "input": {"q": "x"}}],
        "stop_reason": "tool_use", "usage": {"input_tokens": 10, "output_tokens": 20}},
     "events": [text("Let me check."), call("toolu_9", "lookup", "{\"q\":\"x\"}"), usage(10, 20), finish("tool_calls")]},
]


def write(name, doc):
    (HERE / name).write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")


write("sse_frames.json", {"$comment": "Generated by gen_vectors.py. Event-stream bytes -> dispatched events (src/protocol/sse_decode.rs). Default limits unless `limits`; `error` is the SseError (snake_case) after the listed events; `pending` is has_pending() at the end.", "cases": SSE})
write("streams.json", {"$comment": "Generated by gen_vectors.py. Upstream stream (`stream`, SSE text) or non-streaming body (`body`) -> provider events in order; `error` is StreamError::code() after the listed events (streams are finished with on_eof).", "cases": OPENAI + ANTHROPIC})
print(len(SSE), len(OPENAI) + len(ANTHROPIC))
