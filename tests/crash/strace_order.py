#!/usr/bin/env python3
"""Sync-before-ack order check from an strace log (testing.md §6, harness 3). Stdlib only.

  strace_order.py send  PORT M SECRET OUT.json   send M Telegram updates one after another on
                                                 one keep-alive connection; write the client's
                                                 port and every answer to OUT.json
  strace_order.py check TRACE OUT.json DATA_DIR [--expect-violations]

The trace comes from `strace -f -tt -yy -s 4096 -o TRACE -e trace=fdatasync,fsync,write,writev,
sendto,sendmsg,read,recvfrom,pwrite64 talon ...`; -yy names every descriptor (the socket's
4-tuple, the file's path), which is how the check tells the test connection and the store files
apart from everything else. Lines are in the order strace saw the events.

For the k-th request on the test connection (sequential: the client waits for each answer), with
  R = the last read on that connection that returned bytes before the k-th response,
  S = the start of the k-th response write on that connection (a write whose data begins
      with "HTTP/1.1 2"),
the check asks for, between R and S in this order:
  W = a write (write / pwrite64 / writev) to a file under DATA_DIR (the record going into the log),
  F = an fsync or fdatasync of that same file that *starts* after W and *returns 0* before S.
A 2xx without such a W -> F pair is an ack that preceded its sync. It also checks that R
carries the update_id the client sent k-th, so reads and answers are paired correctly.
--expect-violations inverts the verdict (a negative control: with `ingest.ack: buffered` the
ack follows the commit and the sync comes later, so the check must find violations).
"""

import json
import re
import socket
import sys
import time

SYSCALLS = ("fdatasync", "fsync", "write", "writev", "sendto", "sendmsg", "read", "recvfrom", "pwrite64")
LINE = re.compile(r"^(?P<pid>\d+)\s+(?P<time>\d\d:\d\d:\d\d\.\d+)\s+(?P<rest>.*)$")
# -yy: "12<TCP:[127.0.0.1:8080->127.0.0.1:51234]>" (the 4-tuple holds a '>'), "5</data/talon.db-wal>".
CALL = re.compile(r"^(?P<name>[a-z0-9_]+)\((?P<fd>\d+)<(?P<desc>[A-Za-z0-9]+:\[[^\]]*\]|[^>]*)>(?P<args>.*)$")
RESUMED = re.compile(r"^<\.\.\. (?P<name>[a-z0-9_]+) resumed>(?P<args>.*)$")
RET = re.compile(r"\)\s+=\s+(?P<ret>-?\d+)(?:\s+\w+.*)?$")
UPDATE_ID = re.compile(r'update_id\\?"\s*:\s*(\d+)')


def send(port, m, secret, out):
    sock = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    client_port = sock.getsockname()[1]
    answers = []
    buf = b""
    base = int(time.time() * 1000) % 1_000_000_000 * 1000  # fresh ids on every run
    for k in range(m):
        uid = base + k
        body = json.dumps({"update_id": uid, "message": {"chat": {"id": 1}, "from": {"id": 2},
                                                         "text": f"order check {k}"}}).encode()
        head = (f"POST /webhook/telegram HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                f"X-Telegram-Bot-Api-Secret-Token: {secret}\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        sock.sendall(head + body)  # one write: usually one read on the server
        while b"\r\n\r\n" not in buf:
            d = sock.recv(65536)
            if not d:
                raise SystemExit(f"server closed the connection at request {k}")
            buf += d
        h, buf = buf.split(b"\r\n\r\n", 1)
        lines = h.decode("latin-1").split("\r\n")
        hdrs = {k.strip().lower(): v.strip() for k, _, v in (x.partition(":") for x in lines[1:])}
        n = int(hdrs.get("content-length", "0"))
        while len(buf) < n:
            d = sock.recv(65536)
            if not d:
                raise SystemExit("server closed the connection mid-body")
            buf += d
        data, buf = buf[:n], buf[n:]
        answers.append({"update_id": uid, "status": int(lines[0].split()[1]),
                        "delivery": hdrs.get("x-talon-delivery"), "body": data.decode(errors="replace")[:200]})
    sock.close()
    with open(out, "w") as f:
        json.dump({"client_port": client_port, "answers": answers}, f)
    bad = [a for a in answers if a["status"] != 200]
    print(f"sent {m} updates from port {client_port}; non-200 answers: {len(bad)}"
          + (f" (first: {bad[0]})" if bad else ""), file=sys.stderr)


def parse(path):
    """Events (line no, time, pid, name, fd, desc, phase, ret, args) in strace order.

    phase is 'call' (complete), 'start' (unfinished) or 'end' (resumed)."""
    events = []
    pending = {}  # (pid, name) -> (fd, desc, start args)
    with open(path, errors="replace") as f:
        for no, raw in enumerate(f, 1):
            m = LINE.match(raw.rstrip("\n"))
            if not m:
                continue
            pid, t, rest = int(m["pid"]), m["time"], m["rest"]
            r = RESUMED.match(rest)
            if r:
                name = r["name"]
                if (pid, name) not in pending:
                    continue
                fd, desc, args0 = pending.pop((pid, name))
                rm = RET.search(r["args"])
                events.append((no, t, pid, name, fd, desc, "end", int(rm["ret"]) if rm else None, args0 + r["args"]))
                continue
            c = CALL.match(rest)
            if not c or c["name"] not in SYSCALLS:
                continue
            name, fd, desc, args = c["name"], int(c["fd"]), c["desc"], c["args"]
            if args.endswith("<unfinished ...>"):
                pending[(pid, name)] = (fd, desc, args)
                events.append((no, t, pid, name, fd, desc, "start", None, args))
                continue
            rm = RET.search(args)
            events.append((no, t, pid, name, fd, desc, "call", int(rm["ret"]) if rm else None, args))
    return events


def check(trace, answers_path, data_dir, expect_violations):
    with open(answers_path) as f:
        run = json.load(f)
    cport = run["client_port"]
    answers = run["answers"]
    events = parse(trace)
    if not events:
        print(f"FAIL: no events parsed from {trace}")
        return 2

    def on_conn(desc):
        # -yy prints a TCP socket as TCP:[local->peer]; the server's side names the client port
        # as the peer.
        return desc.startswith("TCP:[") and desc.rstrip("]").endswith(f":{cport}")

    def is_store_file(desc):
        return desc.startswith(data_dir)

    reads = [e for e in events if e[3] in ("read", "recvfrom") and on_conn(e[5]) and e[6] != "start"
             and (e[7] or 0) > 0]
    responses = [e for e in events if e[3] in ("write", "writev", "sendto", "sendmsg") and on_conn(e[5])
                 and e[6] in ("call", "start") and re.search(r'"HTTP/1\.1 \d{3}', e[8][:200])]
    syncs = [e for e in events if e[3] in ("fsync", "fdatasync") and is_store_file(e[5])]
    wal_writes = [e for e in events if e[3] in ("write", "pwrite64", "writev") and is_store_file(e[5])
                  and e[6] in ("call", "end") and (e[7] or 0) > 0]
    synced_files = sorted({e[5] for e in syncs})
    print(f"trace: {len(events)} traced events; test connection (client port {cport}): {len(reads)} reads with data, "
          f"{len(responses)} responses; store files: {len(wal_writes)} writes, {len(syncs)} sync events on {synced_files}")
    if len(responses) != len(answers):
        print(f"FAIL: the client got {len(answers)} answers but the trace shows {len(responses)} response writes "
              f"on the connection")
        return 2
    if not syncs:
        if expect_violations:
            print(f"PASS (negative control): no fsync/fdatasync of any file under {data_dir} at all, "
                  f"yet {sum(1 for a in answers if 200 <= a['status'] < 300)} acks")
            return 0
        print(f"FAIL: no fsync/fdatasync of any file under {data_dir} in the trace")
        return 1

    # Sync completions: (start line, end line, desc, ret). A complete call starts and ends on its line.
    sync_spans = []
    open_sync = {}
    for e in syncs:
        no, _, pid, name, fd, desc, phase, ret, _ = e
        if phase == "call":
            sync_spans.append((no, no, desc, ret))
        elif phase == "start":
            open_sync[(pid, name)] = (no, desc)
        elif (pid, name) in open_sync:
            s_no, s_desc = open_sync.pop((pid, name))
            sync_spans.append((s_no, no, s_desc, ret))

    violations = []
    paired = 0
    prev_resp = 0
    for k, (resp, ans) in enumerate(zip(responses, answers)):
        r_before = [e for e in reads if prev_resp < e[0] < resp[0]]
        prev_resp = resp[0]
        if not r_before:
            violations.append((k, ans["update_id"], "no read of the request before its response", resp))
            continue
        last_read = r_before[-1]
        ids = {int(x) for e in r_before for x in UPDATE_ID.findall(e[8])}
        if ids and ans["update_id"] not in ids:
            violations.append((k, ans["update_id"], f"reads before response {k} carry update_ids {sorted(ids)}", resp))
            continue
        paired += 1
        if not re.search(r'"HTTP/1\.1 2', resp[8][:200]):
            continue  # not an ack; nothing to order
        ok = False
        for w in wal_writes:
            if not last_read[0] < w[0] < resp[0]:
                continue
            if any(s_start > w[0] and s_end < resp[0] and ret == 0 and desc == w[5]
                   for s_start, s_end, desc, ret in sync_spans):
                ok = True
                break
        if not ok:
            writes = [w for w in wal_writes if last_read[0] < w[0] < resp[0]]
            near = [s for s in sync_spans if last_read[0] < s[1] < resp[0] or last_read[0] < s[0] < resp[0]]
            why = (f"read at line {last_read[0]} ({last_read[1]}), {len(writes)} store writes after it, "
                   f"syncs overlapping: {[(a, b, d.rsplit('/', 1)[-1], r) for a, b, d, r in near][:4]}, "
                   f"2xx write at line {resp[0]} ({resp[1]})")
            violations.append((k, ans["update_id"], why, resp))

    acks = sum(1 for a in answers if 200 <= a["status"] < 300)
    print(f"{len(answers)} requests, {acks} acknowledged (2xx), {paired} paired with their read; "
          f"acks not preceded by write -> sync of the store file: {len(violations)}")
    for v in violations[:10]:
        print(f"  request {v[0]} (update_id {v[1]}): {v[2]}")
    if expect_violations:
        if len(violations) * 2 > acks:
            print(f"PASS (negative control): {len(violations)} of {acks} acks preceded their sync, as expected "
                  f"when the ack does not wait for the sync")
            return 0
        print("FAIL (negative control): the check found too few violations; it may not be able to see a missing sync")
        return 1
    if violations or acks == 0:
        print("FAIL: acknowledgement(s) sent before the sync that made them durable" if violations
              else "FAIL: no request was acknowledged")
        return 1
    print("PASS: every 2xx was written after a store write and an fsync/fdatasync of that file that started "
          "after the request was read")
    return 0


def main():
    if len(sys.argv) >= 6 and sys.argv[1] == "send":
        send(int(sys.argv[2]), int(sys.argv[3]), sys.argv[4], sys.argv[5])
        return 0
    if len(sys.argv) >= 5 and sys.argv[1] == "check":
        return check(sys.argv[2], sys.argv[3], sys.argv[4].rstrip("/") + "/", "--expect-violations" in sys.argv)
    print(__doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
