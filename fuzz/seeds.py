#!/usr/bin/env python3
"""Write the named seed corpora in fuzz/corpus/<target>/ (idempotent; run from anywhere).

jsonrpc_decode seeds are raw WebSocket text-frame payloads: every case of
proto/jsonrpc/exchanges.json under its case name (repeats capped so no seed is huge), plus a few
extra frames below.
webhook_verify seeds are [flags][sig len][sig][ts len][ts][id len][id][body] (see webhook() below),
built from proto/webhooks/vectors.json under the vector names plus a few edge cases.
webhook_body seeds are [content-type selector][body], from proto/webhooks/payloads.json plus edge cases.
http1_head seeds are raw request bytes. http1_chunked seeds are
[split selector byte][mode byte][body bytes] as fuzz/src/lib.rs `check_chunked` reads them:
mode even = chunked, odd = Content-Length; mode >> 1 picks the limits (0: small, 1: large).
"""

import hashlib
import hmac
import json
import os
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
FIXTURES = HERE.parent / "proto" / "http1" / "fixtures"
EXCHANGES = HERE.parent / "proto" / "jsonrpc" / "exchanges.json"


def req(*lines, body=b""):
    return ("\r\n".join(lines) + "\r\n\r\n").encode() + body


HEAD = {
    "get_simple": req("GET / HTTP/1.1", "Host: example.com"),
    "get_health_curl": (FIXTURES / "get_curl.http").read_bytes(),
    "get_browser": (FIXTURES / "get_browser.http").read_bytes(),
    "post_webhook_head": (FIXTURES / "post_webhook_head.http").read_bytes(),
    "post_cl": req("POST /webhooks/github HTTP/1.1", "Host: example.com", "Content-Type: application/json",
                   "Content-Length: 13", body=b'{"ping":true}'),
    "chunked_ext": req("POST /upload HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked",
                       body=b'5;name="v a l";x=y\r\nhello\r\n0\r\n\r\n'),
    "chunked_trailers": (FIXTURES / "post_chunked.http").read_bytes(),
    "cl_te_conflict": req("POST / HTTP/1.1", "Host: example.com", "Content-Length: 4", "Transfer-Encoding: chunked",
                          body=b"0\r\n\r\n"),
    "te_cl_conflict": req("POST / HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked", "Content-Length: 4",
                          body=b"0\r\n\r\n"),
    "bare_lf": b"GET / HTTP/1.1\nHost: example.com\n\n",
    "bare_lf_one_line": b"GET / HTTP/1.1\r\nHost: example.com\nX: y\r\n\r\n",
    "bare_cr": b"GET / HTTP/1.1\r\nHost: example.com\rX: y\r\n\r\n",
    "obs_fold": req("GET / HTTP/1.1", "Host: example.com", "X-Long: first", " second"),
    "space_before_colon": req("GET / HTTP/1.1", "Host : example.com"),
    "dup_cl": req("POST / HTTP/1.1", "Host: example.com", "Content-Length: 3", "Content-Length: 3", body=b"abc"),
    "cl_list": req("POST / HTTP/1.1", "Host: example.com", "Content-Length: 3, 3", body=b"abc"),
    "cl_plus": req("POST / HTTP/1.1", "Host: example.com", "Content-Length: +3", body=b"abc"),
    "cl_overflow": req("POST / HTTP/1.1", "Host: example.com", "Content-Length: 18446744073709551616"),
    "dup_host": req("GET / HTTP/1.1", "Host: a.example", "Host: b.example"),
    "missing_host": req("GET / HTTP/1.1", "Accept: */*"),
    "http10_no_host": req("GET / HTTP/1.0"),
    "http10_keepalive": req("GET / HTTP/1.0", "Connection: keep-alive"),
    "te_http10": req("POST / HTTP/1.0", "Transfer-Encoding: chunked", body=b"0\r\n\r\n"),
    "te_not_final": req("POST / HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked, gzip"),
    "te_twice": req("POST / HTTP/1.1", "Host: example.com", "Transfer-Encoding: chunked",
                    "Transfer-Encoding: chunked"),
    "te_empty": req("POST / HTTP/1.1", "Host: example.com", "Transfer-Encoding: "),
    "te_gzip_chunked": req("POST / HTTP/1.1", "Host: example.com", "Transfer-Encoding: gzip, chunked"),
    "connect": req("CONNECT example.com:443 HTTP/1.1", "Host: example.com:443"),
    "options_star": req("OPTIONS * HTTP/1.1", "Host: example.com"),
    "get_star": req("GET * HTTP/1.1", "Host: example.com"),
    "absolute_form": req("GET http://example.com/a/b?c=d HTTP/1.1", "Host: other.example"),
    "fragment": req("GET /a#frag HTTP/1.1", "Host: example.com"),
    "http09": b"GET /\r\n\r\n",
    "http2_preface": b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n",
    "http12": req("GET / HTTP/1.2", "Host: example.com"),
    "leading_crlf": b"\r\n\r\n" + req("GET / HTTP/1.1", "Host: example.com"),
    "expect_continue": req("POST /upload HTTP/1.1", "Host: example.com", "Content-Length: 5",
                           "Expect: 100-continue"),
    "expect_other": req("POST /upload HTTP/1.1", "Host: example.com", "Expect: 200-ok"),
    "upgrade_websocket": req("GET /ws HTTP/1.1", "Host: example.com", "Connection: keep-alive, Upgrade",
                             "Upgrade: websocket", "Sec-WebSocket-Version: 13",
                             "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ=="),
    "connection_close": req("GET / HTTP/1.1", "Host: example.com", "Connection: close"),
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: example.com\r\nX: a\x00b\r\n\r\n",
    "host_bad_char": req("GET / HTTP/1.1", "Host: exa mple.com"),
    "many_headers": req("GET / HTTP/1.1", "Host: example.com", *[f"X-H{i}: {i}" for i in range(120)]),
    "long_request_line": req("GET /" + "a" * 9000 + " HTTP/1.1", "Host: example.com"),
    "partial_head": b"GET /health HTTP/1.1\r\nHost: exam",
    "pipelined": req("GET /a HTTP/1.1", "Host: example.com") + req("GET /b HTTP/1.1", "Host: example.com"),
    "lowercase_method": req("get / HTTP/1.1", "Host: example.com"),
    "utf8_target": req("GET /caf\u00e9 HTTP/1.1", "Host: example.com"),
    "obs_text_value": b"GET / HTTP/1.1\r\nHost: example.com\r\nX: caf\xe9\r\n\r\n",
}


def chunked(split, body, mode=2):
    return bytes([split, mode]) + body


CHUNKED = {
    "simple": chunked(128, b"5\r\nhello\r\n0\r\n\r\n"),
    "chunked_ext": chunked(40, b'5;name="v \\"a\\" l";x=y ; z\r\nhello\r\n6\r\n world\r\n0\r\n\r\n'),
    "chunked_trailers": chunked(200, (FIXTURES / "chunked_body.bin").read_bytes()),
    "chunked_trailers_small_limit": chunked(100, (FIXTURES / "chunked_body.bin").read_bytes(), mode=0),
    "empty_chunk_size": chunked(10, b"\r\nhello\r\n0\r\n\r\n"),
    "huge_chunk": chunked(20, b"ffffffffffffffff\r\n" + b"x" * 64),
    "size_17_digits": chunked(20, b"10000000000000000\r\n"),
    "size_leading_zeros": chunked(90, b"0000000000000005\r\nhello\r\n0\r\n\r\n"),
    "size_0x": chunked(3, b"0x5\r\nhello\r\n0\r\n\r\n"),
    "size_negative": chunked(3, b"-5\r\nhello\r\n0\r\n\r\n"),
    "size_space_then_ext": chunked(50, b"5 \t;a=b\r\nhello\r\n0\r\n\r\n"),
    "ext_bare_lf": chunked(30, b"5;a=b\nhello\r\n0\r\n\r\n"),
    "ext_bare_cr": chunked(30, b"5;a\rb\r\nhello\r\n0\r\n\r\n"),
    "ext_quoted_lf": chunked(30, b'5;a="x\ny"\r\nhello\r\n0\r\n\r\n'),
    "ext_too_long": chunked(128, b"1;" + b"a" * 1100 + b"\r\nx\r\n0\r\n\r\n", mode=2),
    "lf_only_lines": chunked(60, b"5\nhello\n0\n\n"),
    "data_no_crlf": chunked(60, b"5\r\nhelloX0\r\n\r\n"),
    "data_longer_than_size": chunked(60, b"3\r\nhello\r\n0\r\n\r\n"),
    "last_chunk_no_final_crlf": chunked(200, b"5\r\nhello\r\n0\r\n"),
    "trailer_obs_fold": chunked(70, b"0\r\nX-A: 1\r\n continued\r\n\r\n"),
    "trailer_no_colon": chunked(70, b"0\r\nX-A 1\r\n\r\n"),
    "trailer_ctl": chunked(70, b"0\r\nX-A: a\x01b\r\n\r\n"),
    "trailer_too_large": chunked(70, b"0\r\nX-Long: " + b"v" * 64 + b"\r\n\r\n", mode=0),
    "body_too_large_small_limit": chunked(70, b"41\r\n" + b"y" * 65 + b"\r\n0\r\n\r\n", mode=0),
    "many_small_chunks": chunked(77, b"".join(b"1\r\n" + bytes([97 + i % 26]) + b"\r\n" for i in range(64))
                                 + b"0\r\n\r\n"),
    "next_request_after_body": chunked(255, b"3\r\nabc\r\n0\r\n\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n"),
    "content_length_exact": bytes([128, 3]) + b"0123456789" + b"\x0a",
    "content_length_short_input": bytes([64, 3]) + b"ab" + b"\x40",
    "content_length_over_limit": bytes([64, 1]) + b"ab" + b"\x41",
}


def sse(data, name=None, id=None, cut=0):
    """[flags: bit0 id, bit1 name, bits 2..7 split point][id u64 LE][name len][name][data]"""
    name = (name or "").encode() if isinstance(name, str) or name is None else name
    flags = (1 if id is not None else 0) | (2 if name else 0) | (cut << 2)
    return bytes([flags]) + (id or 0).to_bytes(8, "little") + bytes([len(name)]) + name + data


SSE = {
    "json_event": sse(b'{"sessionKey":"web-1","text":"hi"}', "message:received", 42, cut=33),
    "no_id_no_name": sse(b"plain"),
    "empty_data": sse(b"", "ping", 1),
    "id_zero": sse(b"x", id=0),
    "id_max": sse(b"x", "system:error", 2**64 - 1, cut=63),
    "lf_lines": sse(b"a\nb\nc", "x"),
    "cr_lines": sse(b"a\rb\rc", "x"),
    "crlf_lines": sse(b"a\r\nb\r\nc", "x", cut=20),
    "lf_cr_pair": sse(b"a\n\rb", cut=10),
    "trailing_lf": sse(b"data\n", cut=40),
    "trailing_cr": sse(b"data\r", cut=41),
    "only_breaks": sse(b"\r\n\r\n\n\r\r"),
    "blank_line_injection": sse(b"x\n\nid: 999\nevent: admin\ndata: evil\n\n", "message:sent", 5, cut=30),
    "name_with_lf": sse(b"x", "a\nid: 1"),
    "name_with_crlf": sse(b"x", "a\r\ndata: injected\r\n\r\n", 3),
    "name_only_breaks": sse(b"x", "\r\n\x00"),
    "name_nul": sse(b"x", "a\x00b"),
    "name_leading_space": sse(b"x", " spaced"),
    "name_colon": sse(b"x", "event: nested"),
    "data_leading_space": sse(b" leading", cut=5),
    "data_colon_first": sse(b": looks like a comment"),
    "data_bom": sse(b"\xef\xbb\xbfbom", cut=3),
    "data_invalid_utf8": sse(b"\xff\xfe\xc3(\x80", "x", 9),
    "data_nul": sse(b"a\x00b\x00"),
    "name_invalid_utf8": sse(b"x", b"\xff\x0a\xfe"),
    "long_data": sse(b"0123456789abcdef" * 300 + b"\n" + b"z" * 100, "message:streaming", 10, cut=50),
    "short_input": b"\x03\x01",
}


# Deep-nesting vectors repeat a piece 100000 times; as seeds a few thousand levels say the same.
MAX_REPEAT = 2000


def exchange_input(case):
    if "input" in case:
        return case["input"].encode()
    if "input_bytes" in case:
        return bytes(case["input_bytes"])
    return b"".join(piece.encode() * min(times, MAX_REPEAT) for piece, times in case["input_repeat"])


def rpc(i, method="m"):
    return '{"jsonrpc":"2.0","id":%d,"method":"%s","params":{"n":%d}}' % (i, method, i)


JSONRPC = {case["name"]: exchange_input(case) for case in json.loads(EXCHANGES.read_text())}
JSONRPC.update({
    "batch_50_at_default_limit": ("[" + ",".join(rpc(i) for i in range(50)) + "]").encode(),
    "batch_notifications_only": b'[{"jsonrpc":"2.0","method":"a"},{"jsonrpc":"2.0","method":"b","params":[]}]',
    "frames_chat_send": b'{"type":"req","id":"c-1","method":"chat.send","params":{"sessionKey":"main",'
                        b'"message":"hello \\"world\\"\\n","idempotencyKey":"k1","attachments":[]}}',
    "frames_connect": b'{"type":"req","id":"0","method":"connect","params":{"minProtocol":3,"maxProtocol":3,'
                      b'"client":{"id":"cli","version":"1.0","platform":"linux","mode":"operator"}}}',
    "method_control_chars_escaped": rb'{"jsonrpc":"2.0","id":1,"method":"\u0000\u001f\"\\\n\ud83d\ude00"}',
    "method_utf8": '{"type":"req","id":"1","method":"\u00e9\u2028\U0001f600"}'.encode(),
    "id_string_escapes": rb'{"jsonrpc":"2.0","id":"a\"b\\c\u0000","method":"m"}',
    "id_negative_zero": b'{"jsonrpc":"2.0","id":-0,"method":"m"}',
    "id_bad_number": b'{"jsonrpc":"2.0","id":01,"method":"m"}',
    "nested_batch_elements_deep": b"[" + b"[" * 64 + b"]" * 64 + b"," + rpc(1).encode() + b"]",
})


VECTORS = HERE.parent / "proto" / "webhooks" / "vectors.json"


def webhook(sig=None, ts=None, id=None, body=b"", now_delta=None):
    """[flags][sig len][sig][ts len][ts][id len][id][body] as fuzz/src/lib.rs split_webhook_input reads it.
    now_delta: None = fixed clock; else now = ts + now_delta, now_delta in (k * 43 - 320) for k in 0..16."""
    flags = (sig is not None) | (ts is not None) << 1 | (id is not None) << 2
    if now_delta is not None:
        k = (now_delta + 320) // 43
        assert k * 43 - 320 == now_delta and 0 <= k < 16, now_delta
        flags |= 8 | k << 4
    out = bytes([flags])
    for f in (sig, ts, id):
        f = (f or "").encode() if isinstance(f, str) or f is None else f
        assert len(f) < 256
        out += bytes([len(f)]) + f
    return out + (body.encode() if isinstance(body, str) else body)


def _vector_seed(v):
    h = v["headers"]
    sig = next((h[k] for k in ("x-signature", "x-hub-signature-256", "x-slack-signature", "webhook-signature",
                               "x-line-signature", "x-telegram-bot-api-secret-token", "x-webhook-signature",
                               "x-signature-ed25519", "x-lark-signature") if k in h),
               None)
    ts = next((h[k] for k in ("x-slack-request-timestamp", "webhook-timestamp", "x-webhook-timestamp",
                              "x-signature-timestamp", "x-lark-request-timestamp") if k in h), None)
    return webhook(sig, ts, h.get("webhook-id", h.get("x-lark-request-nonce")), v["body"], now_delta=_grid_delta(v, ts))


def _grid_delta(v, ts):
    """The vector's now - ts moved onto the check's clock grid (ts + k*43 - 320) without changing
    whether it is stale, in the window, or future."""
    if ts is None or "now" not in v or not ts.isdigit():
        return None
    d = v["now"] - int(ts)
    if d > 300:
        return 325
    if d < -300:
        return -320
    return min((k * 43 - 320 for k in range(1, 15)), key=lambda g: abs(g - d))


# Genuine signatures for the secrets fuzz/src/lib.rs configures (check_webhook must accept these and
# only these), and one seed per rejection vector of proto/webhooks/vectors.json for those secrets.
_CHECK_SECRETS = {"test key", "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a", "It's a Secret to Everybody", "8f742231b10e8888abcd99yyyzzz85a5",
                  "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", "channel_secret_example", "s3cr3t_Token-1"}
WEBHOOK = {v["name"]: _vector_seed(v) for v in json.loads(VECTORS.read_text())
           if v["secret"] in _CHECK_SECRETS | {"comis-secret-at-least-32-characters-long"}
           # check_webhook's Comis variants have fixed settings; a vector with others would mislead.
           and set(v.get("config", {})) <= {"algorithm"}}
_slack = json.loads(VECTORS.read_text())
_slack = next(v for v in _slack if v["name"] == "slack_official")
WEBHOOK.update({
    "empty_input": b"",
    "human_bare_github_hex": webhook("757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
                                     body="Hello, World!"),
    "comis_sha512_prefixed": webhook("sha512=" + hmac.new(b"comis-secret-at-least-32-characters-long", b"{}",
                                                          hashlib.sha512).hexdigest(), body="{}"),
    "all_absent": webhook(body="{}"),
    "slack_stale_by_20": webhook(_slack["headers"]["x-slack-signature"], "1531420618", body=_slack["body"],
                                 now_delta=325),
    "slack_future_by_20": webhook(_slack["headers"]["x-slack-signature"], "1531420618", body=_slack["body"],
                                  now_delta=-320),
    "ts_max_u64": webhook("v0=" + "0" * 64, "18446744073709551615", body="x", now_delta=24),
    "ts_overflow": webhook("v0=" + "0" * 64, "18446744073709551616", body="x", now_delta=24),
    "sig_high_bytes": webhook(bytes(range(128, 255)), "1", "\xff", b"\xff\xfe"),
    "standard_many_entries": webhook(" ".join(["v1,AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="] * 5), "1700000000",
                                     "msg_1", "{}", now_delta=24),
})

# webhook_body seeds are [content-type selector][body] (fuzz/src/webhook_body.rs split_webhook_body_input:
# selector % 4 = absent, application/json, form-urlencoded, text/plain): every case of
# proto/webhooks/payloads.json under its name, plus edge cases.
PAYLOADS = HERE.parent / "proto" / "webhooks" / "payloads.json"


def _selector(ct):
    if ct is None: return 0
    media = ct.split(";")[0].strip().lower()
    return {"application/json": 1, "application/x-www-form-urlencoded": 2}.get(media, 3)


WEBHOOK_BODY = {c["name"]: bytes([_selector(c["content_type"])]) + c["body"].encode()
                for c in json.loads(PAYLOADS.read_text())}
_opt = lambda depth: {"name": "o", "value": 1} if depth == 0 else {"name": "s", "options": [_opt(depth - 1)]}
WEBHOOK_BODY.update({
    "edge_empty_input": b"",
    "edge_deep_skipped": b"\x01" + b'{"update_id":7,"x":' + b"[" * 62 + b"]" * 62 + b"}",
    "edge_too_deep_skipped": b"\x01" + b'{"update_id":7,"x":' + b"[" * 5000 + b"]" * 5000 + b"}",
    "edge_deep_options_read": b"\x01" + json.dumps({"type": 2, "id": "1", "data": {"name": "n", "options": [_opt(29)]}}).encode(),
    "edge_invalid_utf8_skipped": b"\x01" + b'{"update_id":1,"message":{"text":"\xff"}}',
    "edge_lone_surrogate_text": b"\x01" + b'{"update_id":1,"message":{"text":"ok \\ud83d","chat":{"id":5}}}',
    "edge_lone_surrogate_key": b"\x01" + b'{"update_id":1,"message":{"\\ud800":1}}',
    "edge_bom": b"\x01" + b"\xef\xbb\xbf" + b'{"update_id":1}',
    "edge_duplicate_nested": b"\x01" + b'{"update_id":1,"message":{"chat":{"id":1,"id":2}}}',
    "edge_update_id_beyond_u64": b"\x01" + b'{"update_id":18446744073709551616}',
    "edge_update_id_1e400": b"\x01" + b'{"update_id":1e400}',
    "edge_form_percent_garbage": b"\x02" + b"payload=%7B%zz%&trigger_id=%%%E2%28&&=&x",
    "edge_nul_bytes": b"\x00" + b'\x00{"update_id":1}\x00',
    "edge_every_channel_field": b"\x01" + json.dumps({
        "update_id": 1, "type": 2, "id": "9", "event_id": "Ev1", "challenge": "c", "entry": [], "events": [],
        "schema": "2.0", "header": {"event_id": "e"}, "uuid": "u", "event": "x", "source": "s", "data": None,
        "message": {"text": "t"}, "encrypt": None}).encode(),
})


# provider_stream seeds are [flags][split][stream] as fuzz/src/provider_stream.rs reads them:
# flags bit 0 = Anthropic (else OpenAI), bit 1 = small SSE limits; split 128 = the middle.
STREAMS = HERE.parent / "proto" / "providers" / "streams.json"
PROVIDER = {
    c["name"]: bytes([1 if c["format"] == "anthropic" else 0, 128]) + c["stream"].encode()
    for c in json.loads(STREAMS.read_text())["cases"] if "stream" in c
}
PROVIDER.update({
    "small_line_too_long": bytes([2, 10]) + b"data: " + b"x" * 200 + b"\n\n",
    "small_event_too_large": bytes([2, 200]) + b"data: " + b"y" * 80 + b"\ndata: " + b"y" * 80 + b"\n\n",
    "small_long_line_after_done": bytes([2, 40]) + b"data: [DONE]\n\ndata: " + b"z" * 200 + b"\n\n",
    "openai_65_tool_calls": bytes([0, 128]) + "".join(
        'data: {"choices":[{"index":0,"delta":{"tool_calls":[{"index":%d,"id":"c%d","function":{"name":"f","arguments":"{}"}}]}}]}\n\n' % (i, i)
        for i in range(65)).encode(),
    "anthropic_unclosed_tool_block": bytes([1, 90]) + (
        'data: {"type":"content_block_start","index":3,"content_block":{"type":"tool_use","id":"t","name":"n","input":{"a":1}}}\n\n'
        'data: {"type":"message_stop"}\n\n').encode(),
    "empty_input": b"",
    "crlf_split_cr_lf": bytes([0, 100]) + b'data: {"choices":[{"index":0,"delta":{"content":"a"},"finish_reason":"stop"}]}\r\n\r\n',
})


# outbound_response seeds are [selector][status hi][status lo][retry-after length][retry-after][body]
# as fuzz/src/outbound_response.rs reads them: selector 0 telegram, 1 slack, 2 discord,
# 3 whatsapp, 4 line reply, 5 line push, 6 lark, 7 lark token; an odd length byte means no
# Retry-After header. Built from proto/outbound/responses.json plus edge cases.
RESPONSES = HERE.parent / "proto" / "outbound" / "responses.json"
SELECTOR = {"telegram": 0, "slack": 1, "discord": 2, "whatsapp": 3, "line": 4, "lark": 6}


def outbound_seed(selector, status, body, retry_after=None):
    ra = b"" if retry_after is None else retry_after.encode()
    length = 1 if retry_after is None else 2 * len(ra)
    return bytes([selector, status >> 8, status & 0xFF, length]) + ra + body


def outbound_body(case):
    if "body_text" in case:
        return case["body_text"].encode()
    return json.dumps(case.get("body")).encode()


OUTBOUND = {}
_responses = json.loads(RESPONSES.read_text())
for c in _responses["cases"]:
    t = c["target"]
    sel = SELECTOR[t["kind"]]
    if t["kind"] == "line" and "reply_token" not in t:
        sel = 5
    name = "".join(ch if ch.isalnum() else "_" for ch in c["name"])
    OUTBOUND[name] = outbound_seed(sel, c["status"], outbound_body(c), c.get("retry_after"))
for c in _responses.get("lark_token_cases", []):
    name = "lark_token_" + "".join(ch if ch.isalnum() else "_" for ch in c["name"])
    OUTBOUND[name] = outbound_seed(7, c["status"], outbound_body(c), c.get("retry_after"))
OUTBOUND.update({
    "telegram_retry_after_huge": outbound_seed(0, 429, b'{"ok":false,"parameters":{"retry_after":1e300}}'),
    "telegram_retry_after_negative": outbound_seed(0, 429, b'{"ok":false,"parameters":{"retry_after":-5}}'),
    "slack_retry_after_header_garbage": outbound_seed(1, 429, b'{"ok":false,"error":"ratelimited"}', "soon"),
    "discord_retry_after_nan": outbound_seed(2, 429, b'{"retry_after":NaN}'),
    "line_push_409": outbound_seed(5, 409, b'{"message":"The retry key is already accepted"}'),
    "line_reply_409": outbound_seed(4, 409, b'{"message":"conflict"}'),
    "lark_token_zero_expire": outbound_seed(7, 200, b'{"code":0,"tenant_access_token":"t","expire":0}'),
    "long_error_body": outbound_seed(3, 400, ("\u00e9" * 3000).encode()),
    "split_emoji_and_spaces": outbound_seed(0, 200, ("\U0001F600 a\n" * 40).encode()),
    "empty": b"",
})


# embeddings seeds are [selector][body] as fuzz/src/embeddings.rs reads them: an even selector is
# a client request to /v1/embeddings, an odd one an upstream answer for 1 + (selector >> 1) % 4
# inputs (1: one input, 3: two, 5: three, 7: four).
def embed_request(body):
    return bytes([0]) + (body if isinstance(body, bytes) else json.dumps(body).encode())


def embed_answer(inputs, body):
    return bytes([1 + 2 * (inputs - 1)]) + (body if isinstance(body, bytes) else json.dumps(body).encode())


def answer_list(vectors, usage=True):
    data = [{"object": "embedding", "index": i, "embedding": v} for i, v in enumerate(vectors)]
    body = {"object": "list", "data": data, "model": "m"}
    if usage:
        body["usage"] = {"prompt_tokens": 5, "total_tokens": 5}
    return body


EMBEDDINGS = {
    "request_sdk_default": embed_request({"model": "builtin/embed", "input": "hi", "encoding_format": "base64"}),
    "request_array_float": embed_request({"model": "embed", "input": ["a", "b c"], "encoding_format": "float"}),
    "request_dimensions": embed_request({"input": ["x"], "dimensions": 8, "user": "u"}),
    "request_token_ids": embed_request({"model": "m", "input": [[1, 2, 3], [4]]}),
    "request_empty_string": embed_request({"model": "m", "input": ["ok", ""]}),
    "request_unicode": embed_request({"input": ["h\u00e9llo \ud83d\ude00 \u4e16\u754c", "  ", "!?"]}),
    "request_bad_format": embed_request({"input": "a", "encoding_format": "int8", "dimensions": -1}),
    "request_not_object": embed_request(b'["input"]'),
    "request_truncated": embed_request(b'{"input":["a",'),
    "answer_openai": embed_answer(2, answer_list([[0.1, -0.2, 0.3], [1e-7, 0.5, -1.0]])),
    "answer_reordered": embed_answer(2, {"data": [{"index": 1, "embedding": [1.0]}, {"index": 0, "embedding": [2.0]}]}),
    "answer_base64": embed_answer(1, {"data": [{"embedding": "AACAPwAAAMA="}]}),
    "answer_per_token_llama_cpp": embed_answer(1, answer_list([[[0.1, 0.2], [0.3, 0.4]]])),
    "answer_too_few": embed_answer(3, answer_list([[0.1]])),
    "answer_duplicate_index": embed_answer(2, {"data": [{"index": 0, "embedding": [1]}, {"index": 0, "embedding": [2]}]}),
    "answer_huge_number": embed_answer(1, {"data": [{"embedding": [1e300]}]}),
    "answer_error_object": embed_answer(1, {"error": {"message": "no model", "type": "invalid_request_error"}}),
    "answer_no_usage_four": embed_answer(4, answer_list([[0.5, 0.5]] * 4, usage=False)),
    "answer_not_json": embed_answer(1, b"<html>502</html>"),
    "empty_input": b"",
}


# chat_request seeds are [selector][input] as fuzz/src/chat_request.rs reads them: selector % 5
# picks the parser (0 /v1/chat/completions body, 1 /v1/responses body, 2 POST /api/chat body,
# then 0x00 and its query, 3 the /api/chat/stream query, 4 a /api/chat/live message).
def chat_seed(selector, body):
    return bytes([selector]) + (body if isinstance(body, bytes) else json.dumps(body).encode())


USER = {"role": "user", "content": "hello"}
CHAT_REQUEST = {
    "completion_plain": chat_seed(0, {"model": "builtin/echo", "messages": [USER]}),
    "completion_history_parts": chat_seed(0, {"model": "m", "messages": [
        {"role": "system", "content": "be brief"}, {"role": "assistant", "content": "hi"},
        {"role": "tool", "tool_call_id": "c1", "content": "42"},
        {"role": "user", "content": [{"type": "text", "text": "a"}, {"type": "text", "text": "b"}]}]}),
    "completion_stream_usage": chat_seed(0, {"messages": [USER], "stream": True, "stream_options": {"include_usage": True},
                                             "temperature": 0.7, "max_completion_tokens": 16, "user": "alice"}),
    "completion_bad_sampling": chat_seed(0, {"messages": [USER], "temperature": 9, "max_tokens": 0}),
    "completion_image_part": chat_seed(0, {"messages": [{"role": "user", "content": [{"type": "image_url"}]}]}),
    "completion_last_not_user": chat_seed(0, {"messages": [{"role": "assistant", "content": "x"}]}),
    "completion_truncated": chat_seed(0, b'{"messages":[{"role":"user","content":"'),
    "responses_string": chat_seed(1, {"model": "builtin/echo", "input": "hello", "instructions": "terse"}),
    "responses_items": chat_seed(1, {"input": [{"type": "message", "role": "user", "content": [{"type": "input_text", "text": "x"}]}],
                                     "stream": True, "max_output_tokens": 8}),
    "responses_previous_id": chat_seed(1, {"input": "x", "previous_response_id": "resp_1"}),
    "responses_bad_input": chat_seed(1, {"input": 42}),
    "rest_openclaw_shape": chat_seed(2, b'{"message":"hi","agentId":"main","sessionKey":"s"}\x00'),
    "rest_clawgo_shape": chat_seed(2, b'{"session":"s2","message":"hi","media":"a.png"}\x00session=q'),
    "rest_query_session": chat_seed(2, b'{"message":"hi"}\x00session=%F0%9F%98%80'),
    "rest_empty": chat_seed(2, b''),
    "stream_query": chat_seed(3, b"message=hello+there&sessionKey=s&agentId=main&model=builtin%2Fecho"),
    "stream_query_no_message": chat_seed(3, b"session=s"),
    "stream_query_bad_escape": chat_seed(3, b"message=%ZZ%&message=%FF"),
    "live_message": chat_seed(4, {"session": "main", "message": "hi", "media": ""}),
    "live_not_json": chat_seed(4, b"hello"),
    "live_no_message": chat_seed(4, {"session": "x"}),
}


def write(target, seeds):
    d = HERE / "corpus" / target
    d.mkdir(parents=True, exist_ok=True)
    for name, data in seeds.items():
        (d / name).write_bytes(data)
    return len(seeds)


if __name__ == "__main__":
    n = (write("http1_head", HEAD) + write("http1_chunked", CHUNKED) + write("sse_encode", SSE)
         + write("jsonrpc_decode", JSONRPC) + write("webhook_verify", WEBHOOK)
         + write("webhook_body", WEBHOOK_BODY) + write("provider_stream", PROVIDER)
         + write("outbound_response", OUTBOUND) + write("embeddings", EMBEDDINGS)
         + write("chat_request", CHAT_REQUEST))
    print(f"wrote {n} seeds under {os.path.relpath(HERE / 'corpus')}")
