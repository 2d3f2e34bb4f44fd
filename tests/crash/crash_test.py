#!/usr/bin/env python3
"""kill -9 loop against Talon's webhook ingestion (testing.md §6, harness 1). Stdlib only.

K client threads send N Telegram updates with unique update_ids over keep-alive connections to
`POST /webhook/telegram`. Every attempt is logged as
  acked          2xx with X-Talon-Delivery: durable | duplicate,
  failed         any other status (the server said no: 4xx, 503 queue full, ...),
  indeterminate  connection reset / refused mid-request / timeout: may or may not be stored.
A killer thread sends SIGKILL to the server's pid at random moments (CRASH_KILL_MIN..MAX seconds
after it last came up), restarts it on the same data dir and port, and the clients reconnect and
carry on. An indeterminate update is re-sent later with probability CRASH_RESEND (which makes the
server answer `duplicate` when the first attempt was stored), and a fraction CRASH_REPEAT of acked
updates is re-sent after a restart (which must be answered `duplicate` with the same inbox id).
After the last client is done the server is killed once more and restarted, and everything is
read back through `GET /api/inbox?channel=telegram`:

  lost      = acked - stored         must be empty
  phantom   = stored - sent          must be empty
  twice     = delivery ids stored more than once   must be empty
  id moved  = acked ids whose stored inbox id differs from the id in the ack   must be empty
  forgotten = acked updates re-sent and answered as a new delivery (not `duplicate`)   must be empty

Limit (testing.md §6): SIGKILL keeps the page cache, so a missing fsync is invisible here; this
finds ordering and recovery bugs. tests/crash/strace_order.sh checks the sync-before-ack order.

Environment (defaults = the short CI form):
  TALON_BIN        server binary (required)
  CRASH_N          updates to send                      2000
  CRASH_K          client threads / connections          8
  CRASH_KILLS      SIGKILLs during the sends              4   (plus one before the read-back)
  CRASH_KILL_MIN   / CRASH_KILL_MAX   seconds between coming up and the next kill   0.3 / 3
  CRASH_RATE       total sends/s; 0 = as fast as possible; default: N spread over the
                   expected kill schedule so that every kill lands while sends are in flight
  CRASH_DURATION   wall-clock bound of the send phase, seconds    45
  CRASH_RESEND     probability that an indeterminate update is re-sent   0.5
  CRASH_REPEAT     fraction of acked updates re-sent after a restart     0.02
  CRASH_BODY_BYTES approximate body size                  300
  CRASH_SEED       random seed (printed; reuse to repeat a schedule)
  CRASH_ACK        ingest.ack: durable | buffered         durable
  CRASH_OUT        directory for server logs and the report (default: a temp dir, kept on failure)
Exit status: 0 pass, 1 a check failed, 2 the harness could not run (server would not start, ...).
"""

import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter

SECRET = "crash-test-secret-token"


def env_num(name, default, kind=float):
    v = os.environ.get(name, "")
    return kind(v) if v.strip() else default


N = env_num("CRASH_N", 2000, int)
K = env_num("CRASH_K", 8, int)
KILLS = env_num("CRASH_KILLS", 4, int)
KILL_MIN = env_num("CRASH_KILL_MIN", 0.3)
KILL_MAX = env_num("CRASH_KILL_MAX", 3.0)
DURATION = env_num("CRASH_DURATION", 45.0)
RESEND = env_num("CRASH_RESEND", 0.5)
REPEAT = env_num("CRASH_REPEAT", 0.02)
BODY_BYTES = env_num("CRASH_BODY_BYTES", 300, int)
SEED = env_num("CRASH_SEED", random.SystemRandom().randrange(1, 2**31), int)
ACK = os.environ.get("CRASH_ACK", "durable")
IO_TIMEOUT = 5.0  # per socket operation
START_TIMEOUT = 20.0  # exec -> /health 200


def log(msg):
    print(f"[crash {time.monotonic() - T0:7.2f}s] {msg}", file=sys.stderr, flush=True)


T0 = time.monotonic()
SERVERS = []  # for the watchdog


# --- a tiny HTTP/1.1 client (keep-alive, Content-Length bodies, timeouts everywhere) -----------


class Http:
    def __init__(self, port):
        self.port = port
        self.sock = None
        self.buf = b""

    def close(self):
        if self.sock is not None:
            try:
                self.sock.close()
            except OSError:
                pass
        self.sock = None
        self.buf = b""

    def connect(self):
        """Raises OSError when nothing listens (nothing was sent: not indeterminate)."""
        self.close()
        s = socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = s

    def _read_more(self):
        d = self.sock.recv(65536)
        if not d:
            raise ConnectionResetError("server closed the connection")
        self.buf += d

    def request(self, method, path, body=b"", headers=None):
        """One exchange on the open connection: (status, {lower-case header: value}, body)."""
        lines = [f"{method} {path} HTTP/1.1", "Host: 127.0.0.1"]
        for k, v in (headers or {}).items():
            lines.append(f"{k}: {v}")
        lines.append(f"Content-Length: {len(body)}")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode() + body)
        while b"\r\n\r\n" not in self.buf:
            self._read_more()
        head, self.buf = self.buf.split(b"\r\n\r\n", 1)
        hl = head.decode("latin-1").split("\r\n")
        status = int(hl[0].split(" ", 2)[1])
        hdrs = {}
        for line in hl[1:]:
            k, _, v = line.partition(":")
            hdrs[k.strip().lower()] = v.strip()
        n = int(hdrs.get("content-length", "0"))
        while len(self.buf) < n:
            self._read_more()
        data, self.buf = self.buf[:n], self.buf[n:]
        if hdrs.get("connection", "").lower() == "close":
            self.close()
        return status, hdrs, data


def get_json(port, path, timeout=IO_TIMEOUT):
    c = Http(port)
    try:
        c.connect()
        c.sock.settimeout(timeout)
        status, _, data = c.request("GET", path)
        return status, (json.loads(data) if data else None)
    finally:
        c.close()


# --- the server ---------------------------------------------------------------------------------


class Server:
    def __init__(self, binary, work, port):
        self.binary = binary
        self.work = work
        self.port = port
        self.data = os.path.join(work, "data")
        os.makedirs(self.data, exist_ok=True)
        self.config = os.path.join(work, "config.json")
        cfg = {
            "gateway": {
                "port": port,
                "max_connections_per_ip": 20000,
                "rate_limit": {"max_requests": 100000000, "window_ms": 1000},
            },
            "channels": {"telegram": {"enabled": True, "secret_token": SECRET}},
            "ingest": {"ack": ACK},
            "logging": {"level": "warn", "file": "-"},
        }
        with open(self.config, "w") as f:
            json.dump(cfg, f)
        self.proc = None
        self.incarnation = 0
        self.lock = threading.Lock()

    def start(self):
        """Start and wait for /health 200; returns seconds from exec to ready."""
        last = ""
        for attempt in range(3):
            self.incarnation += 1
            logf = open(os.path.join(self.work, f"server.{self.incarnation}.log"), "wb")
            t = time.monotonic()
            self.proc = subprocess.Popen(
                [self.binary, "gateway", "--config", self.config, "--data-dir", self.data],
                stdout=logf, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                env={**os.environ, "TALON_LOG_LEVEL": "warn"},
            )
            logf.close()
            while time.monotonic() - t < START_TIMEOUT:
                if self.proc.poll() is not None:
                    break
                try:
                    status, _ = get_json(self.port, "/health", timeout=1.0)
                    if status == 200:
                        return time.monotonic() - t
                except (OSError, ValueError):
                    pass
                time.sleep(0.02)
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait(5)
            last = self.log_tail(self.incarnation)
            log(f"server start attempt {attempt + 1} failed (exit {self.proc.returncode}); retrying")
            time.sleep(0.5)
        raise RuntimeError(f"server would not start; last log:\n{last}")

    def kill9(self):
        """SIGKILL our own server process (by its pid) and reap it."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.kill(self.proc.pid, signal.SIGKILL)
                self.proc.wait(10)
            except (OSError, subprocess.TimeoutExpired):
                pass

    def log_tail(self, n, lines=30):
        try:
            with open(os.path.join(self.work, f"server.{n}.log"), "rb") as f:
                return b"\n".join(f.read().splitlines()[-lines:]).decode(errors="replace")
        except OSError:
            return ""


# --- the run ------------------------------------------------------------------------------------


class Record:
    __slots__ = ("sends", "acked", "ack_kinds", "ack_ids", "failed", "indeterminate", "errors")

    def __init__(self):
        self.sends = 0
        self.acked = False
        self.ack_kinds = []  # X-Talon-Delivery of each 2xx
        self.ack_ids = []  # inbox id in each 2xx body
        self.failed = []  # statuses
        self.indeterminate = 0
        self.errors = []


def body_for(update_id):
    msg = {"update_id": update_id, "message": {"message_id": update_id, "chat": {"id": 1}, "from": {"id": 2},
                                               "date": 1700000000, "text": ""}}
    base = len(json.dumps(msg, separators=(",", ":")))
    msg["message"]["text"] = f"crash test {update_id} " + "x" * max(0, BODY_BYTES - base - 20)
    # The same update re-sent carries the same body, as Telegram's retries do.
    return json.dumps(msg, separators=(",", ":")).encode()


def main():
    binary = os.environ.get("TALON_BIN")
    if not binary or not os.access(binary, os.X_OK):
        print("crash_test: set TALON_BIN to the talon binary", file=sys.stderr)
        return 2
    out = os.environ.get("CRASH_OUT")
    keep = bool(out)
    work = out or tempfile.mkdtemp(prefix="talon-crash.")
    if out:
        # Clear only what an earlier run left (never the whole directory: it is the caller's).
        os.makedirs(out, exist_ok=True)
        shutil.rmtree(os.path.join(out, "data"), ignore_errors=True)
        for name in os.listdir(out):
            if name in ("report.json", "config.json") or (name.startswith("server.") and name.endswith(".log")):
                os.unlink(os.path.join(out, name))
    rng = random.Random(SEED)

    # The kill schedule, drawn up front; the send rate spreads N over it so every kill lands
    # while sends are in flight.
    gaps = [rng.uniform(KILL_MIN, KILL_MAX) for _ in range(KILLS)]
    rate = env_num("CRASH_RATE", N / (sum(gaps) + 1.5))
    log(f"seed {SEED}: N={N} K={K} kills={KILLS} (+1 before read-back) gaps={[round(g, 2) for g in gaps]} "
        f"rate={'max' if rate <= 0 else f'{rate:.0f}/s'} ack={ACK} duration<={DURATION}s work={work}")

    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    server = Server(binary, work, port)
    SERVERS.append(server)
    failures = []
    try:
        server.start()
    except RuntimeError as e:
        print(f"crash_test: {e}", file=sys.stderr)
        return 2

    records = {}  # update_id -> Record
    rec_lock = threading.Lock()
    next_id = [1]
    stop = threading.Event()
    deadline = time.monotonic() + DURATION
    counts = Counter()
    ack_kinds = Counter()
    repeat_pool = []  # acked ids, candidates for a deliberate re-send after a restart
    forgotten = []  # (update_id, kind, id) for an acked update re-sent and not seen as duplicate
    restarts_seen = [0]
    ready_ms = []  # exec -> /health 200 after each kill

    def client(idx):
        crng = random.Random(SEED * 1000 + idx)
        conn = Http(port)
        retry = []  # indeterminate ids to re-send
        interval = (K / rate) if rate > 0 else 0.0
        next_at = time.monotonic() + crng.uniform(0, interval)
        my_restart = restarts_seen[0]
        while not stop.is_set() and time.monotonic() < deadline:
            # Pick what to send: a retry, a deliberate repeat of an acked update after a
            # restart, or the next new id.
            repeat = False
            if retry and crng.random() < 0.5:
                uid = retry.pop(0)
            elif restarts_seen[0] != my_restart and repeat_pool and crng.random() < REPEAT * 5:
                with rec_lock:
                    uid = repeat_pool.pop(crng.randrange(len(repeat_pool)))
                repeat = True
                my_restart = restarts_seen[0]
            else:
                with rec_lock:
                    if next_id[0] > N:
                        uid = None
                    else:
                        uid = next_id[0]
                        next_id[0] += 1
                if uid is None:
                    if retry:
                        uid = retry.pop(0)
                    else:
                        break
            if interval:
                now = time.monotonic()
                if next_at > now:
                    time.sleep(next_at - now)
                next_at = max(next_at + interval, time.monotonic() - interval)
            # Connect first: a refused connect sent nothing, so it is not indeterminate.
            while conn.sock is None and not stop.is_set() and time.monotonic() < deadline:
                try:
                    conn.connect()
                except OSError:
                    counts["connect_refused"] += 1
                    time.sleep(0.02)
            if conn.sock is None:
                with rec_lock:
                    counts["unsent_at_deadline"] += 1
                break
            body = body_for(uid)
            with rec_lock:
                r = records.setdefault(uid, Record())
                r.sends += 1
            try:
                status, hdrs, data = conn.request(
                    "POST", "/webhook/telegram", body,
                    {"Content-Type": "application/json", "X-Telegram-Bot-Api-Secret-Token": SECRET})
            except (OSError, ValueError, IndexError) as e:
                conn.close()
                with rec_lock:
                    r.indeterminate += 1
                    r.errors.append(type(e).__name__)
                    counts["indeterminate"] += 1
                if crng.random() < RESEND:
                    retry.append(uid)
                continue
            kind = hdrs.get("x-talon-delivery", "")
            with rec_lock:
                if 200 <= status < 300:
                    was_acked = r.acked
                    r.acked = True
                    r.ack_kinds.append(kind)
                    ack_kinds[kind] += 1
                    counts["acked"] += 1
                    try:
                        doc = json.loads(data)
                        r.ack_ids.append(doc.get("id"))
                        dup_flag = doc.get("duplicate")
                    except ValueError:
                        r.ack_ids.append(None)
                        dup_flag = None
                    if was_acked and (kind != "duplicate" or dup_flag is False):
                        forgotten.append((uid, kind, r.ack_ids[-1], repeat))
                    if not was_acked and not repeat and crng.random() < REPEAT:
                        repeat_pool.append(uid)
                else:
                    r.failed.append(status)
                    counts[f"status_{status}"] += 1
                    if status in (429, 503):
                        retry.append(uid)  # the server asked for a retry; the ack is still owed
            if status in (429, 503):
                time.sleep(0.05)
        conn.close()

    def killer():
        for i, gap in enumerate(gaps):
            if stop.wait(gap):
                return
            if time.monotonic() >= deadline:
                return
            server.kill9()
            counts["kills"] += 1
            t = time.monotonic()
            try:
                up = server.start()
            except RuntimeError as e:
                failures.append(f"restart after kill {i + 1} failed: {e}")
                stop.set()
                return
            restarts_seen[0] += 1
            ready_ms.append(up * 1000)
            log(f"kill {i + 1}/{KILLS}: SIGKILL, restarted, ready in {up * 1000:.0f} ms "
                f"(down {(time.monotonic() - t) * 1000:.0f} ms); acked so far {counts['acked']}")

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(K)]
    kt = threading.Thread(target=killer, daemon=True)
    t_send = time.monotonic()
    for t in threads:
        t.start()
    kt.start()
    for t in threads:
        t.join(max(0.1, deadline - time.monotonic() + 2 * IO_TIMEOUT + 5))
    stop.set()
    kt.join(START_TIMEOUT * 3 + 15)
    send_secs = time.monotonic() - t_send
    alive = [t for t in threads if t.is_alive()] + ([kt] if kt.is_alive() else [])
    if alive:
        failures.append(f"{len(alive)} harness threads did not finish (bounded wait expired)")

    # One more kill with nothing in flight, then read everything back from a fresh process.
    if not failures:
        server.kill9()
        counts["kills"] += 1
        try:
            server.start()
        except RuntimeError as e:
            failures.append(f"restart before read-back failed: {e}")

    stored = []
    if not failures:
        after = 0
        pages = 0
        while pages < 100000:
            pages += 1
            try:
                status, doc = get_json(port, f"/api/inbox?channel=telegram&after={after}&limit=1000", timeout=10)
            except (OSError, ValueError) as e:
                failures.append(f"GET /api/inbox failed: {type(e).__name__}: {e}")
                break
            if status != 200 or not isinstance(doc, dict):
                failures.append(f"GET /api/inbox answered {status}: {str(doc)[:300]}")
                break
            stored.extend(doc.get("entries", []))
            nxt = doc.get("next_after")
            if nxt is None or not doc.get("entries"):
                break
            after = nxt
    server.kill9()

    # --- checks -----------------------------------------------------------------------------------
    by_delivery = {}
    twice = []
    unparseable = []
    for e in stored:
        try:
            d = int(str(e.get("delivery_id")))
        except ValueError:
            unparseable.append(e.get("delivery_id"))
            continue
        if d in by_delivery:
            twice.append(d)
        by_delivery[d] = e
    sent = set(records)
    acked = {u for u, r in records.items() if r.acked}
    indeterminate_only = {u for u, r in records.items() if not r.acked and r.indeterminate}
    failed_only = {u for u, r in records.items() if not r.acked and not r.indeterminate and r.failed}
    lost = sorted(acked - set(by_delivery))
    phantom = sorted(set(by_delivery) - sent) + unparseable
    moved = []
    for u in sorted(acked & set(by_delivery)):
        sid = by_delivery[u].get("id")
        for kind, aid in zip(records[u].ack_kinds, records[u].ack_ids):
            if aid is not None and sid is not None and aid != sid:
                moved.append((u, kind, aid, sid))
    if not failures and not stored and acked:
        failures.append("the inbox is empty although updates were acknowledged")
    unexpected_kind = {k: v for k, v in ack_kinds.items() if k not in ("duplicate", ACK)}
    ind_stored = len(indeterminate_only & set(by_delivery))
    failed_stored = len(failed_only & set(by_delivery))
    dup_entries = [e for e in stored if (e.get("duplicates") or 0) > 0]
    resent = sum(1 for r in records.values() if r.sends > 1)

    if lost:
        failures.append(f"LOST {len(lost)} acknowledged updates not stored: {lost[:20]}")
    if phantom:
        failures.append(f"PHANTOM {len(phantom)} stored delivery ids never sent: {phantom[:20]}")
    if twice:
        failures.append(f"STORED TWICE {len(twice)} delivery ids: {sorted(set(twice))[:20]}")
    if moved:
        failures.append(f"ID MOVED {len(moved)} acks name an inbox id other than the stored one "
                        f"(update, ack kind, acked id, stored id): {moved[:10]}")
    if forgotten:
        failures.append(f"FORGOTTEN {len(forgotten)} acked updates re-sent and answered as new "
                        f"(update, kind, id, deliberate repeat): {forgotten[:10]}")
    if unexpected_kind:
        failures.append(f"unexpected X-Talon-Delivery values for ingest.ack={ACK}: {dict(unexpected_kind)}")
    if counts["kills"] == 0:
        failures.append("no kill happened: the run proves nothing")
    if not acked:
        failures.append("nothing was acknowledged")

    report = {
        "seed": SEED, "n": N, "k": K, "ack": ACK, "kills": counts["kills"], "send_seconds": round(send_secs, 2),
        "ids_sent": len(sent), "ids_not_reached": N - len(sent), "sends": sum(r.sends for r in records.values()),
        "resent_ids": resent, "acked_ids": len(acked), "ack_kinds": dict(ack_kinds),
        "indeterminate_attempts": counts["indeterminate"], "indeterminate_only_ids": len(indeterminate_only),
        "indeterminate_only_stored": ind_stored, "failed_only_ids": len(failed_only),
        "failed_only_stored": failed_stored,
        "statuses": {k: v for k, v in counts.items() if k.startswith("status_")},
        "connect_refused": counts["connect_refused"], "stored": len(stored),
        "inbox_entries_flagged_duplicate": len(dup_entries),
        "inbox_duplicates_sum": sum(e.get("duplicates") or 0 for e in dup_entries),
        "lost": len(lost), "phantom": len(phantom), "stored_twice": len(twice), "id_moved": len(moved),
        "forgotten": len(forgotten), "restart_ready_ms": [round(x) for x in ready_ms], "failures": failures,
    }
    with open(os.path.join(work, "report.json"), "w") as f:
        json.dump(report, f, indent=1)
    print(f"crash test: seed {SEED}, {counts['kills']} SIGKILLs ({KILLS} during sends + 1 before read-back), "
          f"{send_secs:.1f} s of sends")
    if ready_ms:
        srt = sorted(ready_ms)
        print(f"  restart -> /health 200: median {srt[len(srt) // 2]:.0f} ms, max {srt[-1]:.0f} ms")
    print(f"  sent {len(sent)} of {N} update ids in {report['sends']} requests ({resent} ids sent more than once)")
    print(f"  acked {len(acked)} ids; acks by X-Talon-Delivery: {dict(ack_kinds)}")
    print(f"  indeterminate: {counts['indeterminate']} attempts; {len(indeterminate_only)} ids never acked, "
          f"{ind_stored} of them stored")
    print(f"  refused: {report['statuses'] or 'none'}; {len(failed_only)} ids only refused, {failed_stored} of them stored")
    print(f"  stored {len(stored)}; inbox entries flagged duplicate {len(dup_entries)} "
          f"(duplicates counted {report['inbox_duplicates_sum']})")
    print(f"  lost {len(lost)}  phantom {len(phantom)}  stored twice {len(twice)}  id moved {len(moved)}  "
          f"forgotten {len(forgotten)}")
    if N - len(sent):
        print(f"  note: {N - len(sent)} ids were never sent (wall-clock bound CRASH_DURATION={DURATION}s)")
    if failures:
        print("FAIL:")
        for f in failures:
            print(f"  - {f}")
        for n in range(max(1, server.incarnation - 1), server.incarnation + 1):
            tail = server.log_tail(n, 15)
            if tail.strip():
                print(f"  server log {n} (tail):\n    " + tail.replace("\n", "\n    "))
        print(f"  kept: {work}")
        return 1
    print("PASS")
    if not keep:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    # Never hang: a watchdog ends the process if the bounded joins ever fail to.
    def expire():
        print("crash_test: watchdog expired, giving up", file=sys.stderr, flush=True)
        for srv in SERVERS:
            srv.kill9()
        os._exit(2)

    watchdog = threading.Timer(DURATION + 4 * START_TIMEOUT + 90, expire)
    watchdog.daemon = True
    watchdog.start()
    try:
        code = main()
    finally:
        for srv in SERVERS:
            srv.kill9()
    sys.exit(code)
