#!/usr/bin/env python3
"""Measurement helpers for benches/load.sh (scenario S1 of shared/reference/performance.md).

Subcommands (all output is JSON lines on stdout, or a text report):
  run      one wrk run (or, with --json, one benches/loadgen run) against a server: loadavg + 1 s pre-run CPU sample, server CPU ticks from
           /proc/<pid>/stat (utime+stime, all given pids and their children) before/after, wrk's own
           CPU from wait4() rusage, per-core busy time and the other processes' CPU during the run.
  rss      VmRSS / Pss of the given pids (and their children).
  startup  exec -> first "200" on GET /health, N runs, each bounded by a deadline.
  report   medians, ratios and the per-run table from the JSON lines.

Only 127.0.0.1 is ever contacted; every loop is bounded by a count or a deadline.
"""

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import time

TICK = os.sysconf("SC_CLK_TCK")


def pid_ticks(pid):
    """utime+stime of a process (all its threads), in clock ticks; None if gone."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            rest = f.read().rsplit(b")", 1)[1].split()
        return int(rest[11]) + int(rest[12])
    except (OSError, IndexError, ValueError):
        return None


def children(pid):
    out = []
    try:
        for tid in os.listdir(f"/proc/{pid}/task"):
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out += [int(c) for c in f.read().split()]
    except OSError:
        pass
    return out


def with_children(pids):
    seen = []
    for p in pids:
        if p not in seen:
            seen.append(p)
            seen += [c for c in children(p) if c not in seen]
    return seen


def all_proc_ticks():
    ticks = {}
    for name in os.listdir("/proc"):
        if name.isdigit():
            t = pid_ticks(int(name))
            if t is not None:
                try:
                    with open(f"/proc/{name}/comm") as f:
                        comm = f.read().strip()
                except OSError:
                    comm = "?"
                ticks[int(name)] = (t, comm)
    return ticks


def cpu_lines():
    """{'cpu': busy, 'cpu0': busy, ...} and the matching totals, in ticks, from /proc/stat."""
    busy, total = {}, {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            v = [int(x) for x in parts[1:9]]
            idle = v[3] + v[4]
            total[parts[0]] = sum(v)
            busy[parts[0]] = sum(v) - idle
    return busy, total


FIELDS = ("user", "nice", "system", "idle", "iowait", "irq", "softirq", "steal")


def cpu_fields():
    """Per-CPU /proc/stat fields in ticks: {'cpu0': {'user': .., 'system': .., ...}, ...}."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if not line.startswith("cpu"):
                break
            parts = line.split()
            if parts[0] != "cpu":
                out[parts[0]] = dict(zip(FIELDS, (int(x) for x in parts[1:9])))
    return out


def loadavg():
    with open("/proc/loadavg") as f:
        return float(f.read().split()[0])


def others_delta(before, after, exclude):
    """CPU ticks used by every other process between two snapshots, top consumers first."""
    used = {}
    for pid, (t1, comm) in after.items():
        if pid in exclude:
            continue
        t0 = before.get(pid, (0, comm))[0] if pid in before else 0
        d = t1 - t0
        if d > 0:
            used[pid] = (d, comm)
    top = sorted(used.items(), key=lambda kv: -kv[1][0])
    return sum(d for d, _ in used.values()), [(comm, d) for _, (d, comm) in top[:3]]


def sample_idle(seconds=1.0):
    """Machine busy fraction (in cores) and top processes over a short window before a run."""
    b0, t0 = cpu_lines()
    p0 = all_proc_ticks()
    time.sleep(seconds)
    b1, t1 = cpu_lines()
    p1 = all_proc_ticks()
    cores_busy = (b1["cpu"] - b0["cpu"]) / TICK / seconds
    _, top = others_delta(p0, p1, {os.getpid()})
    return cores_busy, top


UNITS = {"us": 1.0, "ms": 1000.0, "s": 1_000_000.0}


def to_us(text):
    m = re.fullmatch(r"([\d.]+)(us|ms|s)", text)
    return float(m.group(1)) * UNITS[m.group(2)] if m else None


def parse_wrk(out):
    res = {}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    res["rps"] = float(m.group(1)) if m else 0.0
    m = re.search(r"(\d+) requests in ([\d.]+)(\w+)", out)
    res["requests"] = int(m.group(1)) if m else 0
    for pct in ("50", "75", "90", "99"):
        m = re.search(rf"^\s+{pct}%\s+(\S+)", out, re.M)
        res[f"p{pct}_us"] = to_us(m.group(1)) if m else None
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    res["non2xx"] = int(m.group(1)) if m else 0
    m = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res["socket_errors"] = sum(int(x) for x in m.groups()) if m else 0
    return res


def cmd_run(a):
    pids = [int(p) for p in a.pids.split(",")]
    la = loadavg()
    idle_busy, idle_top = sample_idle(1.0)
    server = with_children(pids)
    s0 = {p: pid_ticks(p) or 0 for p in server}
    b0, _ = cpu_lines()
    f0 = cpu_fields()
    p0 = all_proc_ticks()
    out_path = f"/tmp/talon-load-wrk.{os.getpid()}.out"
    t0 = time.monotonic()
    # posix_spawn + wait4 (not subprocess) so wrk's own CPU time comes back in its rusage.
    wrk_pid = os.posix_spawnp(a.wrk[0], a.wrk, os.environ, file_actions=[
        (os.POSIX_SPAWN_OPEN, 1, out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600),
        (os.POSIX_SPAWN_DUP2, 1, 2)])
    deadline = t0 + a.timeout
    while True:  # bounded: wrk stops by itself after -d, and is killed at the deadline
        done, _, ru = os.wait4(wrk_pid, os.WNOHANG)
        if done:
            break
        if time.monotonic() > deadline:
            os.kill(wrk_pid, signal.SIGKILL)
            _, _, ru = os.wait4(wrk_pid, 0)
            break
        time.sleep(0.02)
    with open(out_path, errors="replace") as f:
        wrk_out = f.read()
    os.unlink(out_path)
    wall = time.monotonic() - t0
    s1 = {p: pid_ticks(p) or 0 for p in server}
    b1, t1 = cpu_lines()
    f1 = cpu_fields()
    p1 = all_proc_ticks()
    exclude = set(server) | {wrk_pid, os.getpid()}
    other_ticks, other_top = others_delta(p0, p1, exclude)
    server_s = sum(s1[p] - s0[p] for p in server) / TICK
    if a.json:
        # A command that prints its own JSON line (benches/loadgen): keep its fields, add ours.
        lines = [ln for ln in wrk_out.splitlines() if ln.startswith("{")]
        res = json.loads(lines[-1]) if lines else {"error": "no JSON line", "output": wrk_out[-2000:]}
        res.update(label=a.label, rep=a.rep, wall_s=round(wall, 3), loadavg1=la,
                   idle_cores_busy=round(idle_busy, 3), idle_top=idle_top,
                   wrapper_server_cpu_s=server_s, client_proc_cpu_s=ru.ru_utime + ru.ru_stime,
                   other_cpu_s=other_ticks / TICK, other_top=other_top,
                   core_busy={k: round((b1[k] - b0[k]) / TICK / wall, 3) for k in b1 if k != "cpu"})
        res["noisy"] = la > a.noisy_load or idle_busy > 0.3 or res["other_cpu_s"] / max(wall, 1e-9) > 0.10
        res["command"] = " ".join(a.wrk)
        print(json.dumps(res), flush=True)
        return
    res = parse_wrk(wrk_out)
    res.update(label=a.label, rep=a.rep, wall_s=round(wall, 3), loadavg1=la,
               idle_cores_busy=round(idle_busy, 3), idle_top=idle_top,
               server_pids=server, server_cpu_s=server_s,
               other_cpu_s=other_ticks / TICK, other_top=other_top,
               core_busy={k: round((b1[k] - b0[k]) / TICK / wall, 3) for k in b1 if k != "cpu"},
               core_fields={c: {k: round((f1[c][k] - f0[c][k]) / TICK / wall, 3) for k in FIELDS if k != "idle"}
                            for c in f1})
    res["wrk_cpu_s"] = ru.ru_utime + ru.ru_stime
    n = res["requests"] or 1
    res["server_us_per_req"] = server_s * 1e6 / n
    # NOISY: loadavg before the run over the limit, the machine busy in the second before it
    # (> 0.3 core: someone else's burst), or other processes using > 10% of a core during it.
    res["noisy"] = la > a.noisy_load or idle_busy > 0.3 or res["other_cpu_s"] / max(wall, 1e-9) > 0.10
    if a.raw:
        res["wrk_output"] = wrk_out
    print(json.dumps(res), flush=True)


def status_field(pid, field):
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def pss_kb(pid):
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def cmd_rss(a):
    pids = with_children([int(p) for p in a.pids.split(",")])
    per = [{"pid": p, "rss_kb": status_field(p, "VmRSS"), "pss_kb": pss_kb(p), "threads": status_field(p, "Threads")}
           for p in pids]
    print(json.dumps({"label": a.label, "when": a.when, "rss_kb": sum(x["rss_kb"] for x in per),
                      "pss_kb": sum(x["pss_kb"] for x in per), "procs": per}), flush=True)


def get_health(port, deadline):
    """One attempt: True on a 200 status line, False on refusal/anything else."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=max(0.05, deadline - time.monotonic())) as s:
            s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n")
            buf = b""
            while b"\r\n" not in buf and time.monotonic() < deadline:
                chunk = s.recv(4096)
                if not chunk:
                    break
                buf += chunk
            return buf.startswith(b"HTTP/1.1 200") or buf.startswith(b"HTTP/1.0 200")
    except OSError:
        return False


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cmd_startup(a):
    times = []
    for i in range(a.runs):
        port = free_port()
        argv = [x.replace("@PORT@", str(port)) for x in a.argv]
        if a.template:
            with open(a.template) as f:
                conf = f.read().replace("@PORT@", str(port))
            with open(a.template + ".run", "w") as f:
                f.write(conf)
        t0 = time.perf_counter()
        proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        deadline = time.monotonic() + a.deadline
        ok = False
        try:
            while time.monotonic() < deadline and proc.poll() is None:
                if get_health(port, deadline):
                    ok = True
                    break
            elapsed = time.perf_counter() - t0
        finally:
            # The whole process group: nginx's worker too.
            try:
                os.killpg(proc.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            time.sleep(a.pause)
        if ok:
            times.append(elapsed * 1000)
        else:
            print(f"startup run {i}: no 200 within {a.deadline}s (exit {proc.returncode})", file=sys.stderr)
    print(json.dumps({"label": a.label, "startup_ms": times,
                      "median_ms": statistics.median(times) if times else None,
                      "min_ms": min(times) if times else None, "max_ms": max(times) if times else None}), flush=True)


def med(rows, key):
    vals = [r[key] for r in rows if r.get(key) is not None]
    return statistics.median(vals) if vals else float("nan")


def cmd_report(a):
    runs, rss, startup, extra = [], {}, {}, []
    with open(a.file) as f:
        for line in f:
            line = line.strip()
            if not line.startswith("{"):
                continue
            r = json.loads(line)
            if "rps" in r:
                runs.append(r)
            elif "rss_kb" in r:
                rss[(r["label"], r["when"])] = r
            elif "startup_ms" in r:
                startup[r["label"]] = r
            else:
                extra.append(r)
    labels = []
    for r in runs:
        if r["label"] not in labels:
            labels.append(r["label"])
    print("Per run:")
    print(f"{'server':8} {'rep':>3} {'req/s':>9} {'p50':>8} {'p99':>9} {'srv CPU s':>9} {'µs/req':>7} "
          f"{'wrk µs/req':>10} {'load1':>5} {'pre-busy':>8} {'others':>7}  {'core0/1 busy':>12}  flags")
    for r in runs:
        n = r["requests"] or 1
        wrk = r.get("wrk_cpu_s", float("nan")) * 1e6 / n
        cores = r["core_busy"]
        flags = []
        if r["noisy"]:
            flags.append("NOISY")
        if r["non2xx"] or r["socket_errors"]:
            flags.append(f"ERR non2xx={r['non2xx']} sock={r['socket_errors']}")
        top = ",".join(f"{c}:{d / TICK:.2f}s" for c, d in r["other_top"]) or "-"
        print(f"{r['label']:8} {r['rep']:>3} {r['rps']:>9.0f} {r['p50_us']:>6.0f}µs {r['p99_us']:>7.0f}µs "
              f"{r['server_cpu_s']:>9.2f} {r['server_us_per_req']:>7.2f} {wrk:>10.2f} {r['loadavg1']:>5.2f} "
              f"{r['idle_cores_busy']:>8.2f} {r['other_cpu_s']:>6.2f}s  "
              f"{cores.get('cpu0', 0):>5.2f}/{cores.get('cpu1', 0):<5.2f}  {' '.join(flags)} others-top={top}")
        fields = r.get("core_fields", {})
        if fields:
            print("    " + "   ".join(
                f"{c}: " + " ".join(f"{k[:4]} {v:.2f}" for k, v in fv.items() if k in ("user", "system", "irq", "softirq", "steal"))
                for c, fv in sorted(fields.items())))
    print()
    print("Medians:")
    m = {}
    for lab in labels:
        rows = [r for r in runs if r["label"] == lab]
        for r in rows:
            r["wrk_us_per_req"] = r.get("wrk_cpu_s", float("nan")) * 1e6 / (r["requests"] or 1)
            r["req_per_cpu_s"] = r["requests"] / r["server_cpu_s"] if r["server_cpu_s"] else float("nan")
        m[lab] = {k: med(rows, k) for k in ("rps", "p50_us", "p99_us", "server_us_per_req", "wrk_us_per_req",
                                           "req_per_cpu_s", "loadavg1", "other_cpu_s")}
        m[lab]["noisy"] = sum(1 for r in rows if r["noisy"])
        m[lab]["n"] = len(rows)
        x = m[lab]
        print(f"  {lab:8} req/s {x['rps']:>9.0f}   p50 {x['p50_us']:>6.0f} µs   p99 {x['p99_us']:>7.0f} µs   "
              f"server CPU {x['server_us_per_req']:>6.2f} µs/req   req per server CPU-s {x['req_per_cpu_s']:>8.0f}   "
              f"wrk {x['wrk_us_per_req']:>5.2f} µs/req   NOISY runs {x['noisy']}/{x['n']}")
    if len(labels) >= 2:
        a_, b_ = labels[0], labels[1]
        x, y = m[a_], m[b_]
        print()
        print(f"Ratios {a_}/{b_} (medians of the same script run):")
        print(f"  req/s                       {x['rps'] / y['rps']:.3f}")
        print(f"  server CPU µs per request   {x['server_us_per_req'] / y['server_us_per_req']:.3f}  (lower is better)")
        print(f"  req per server CPU-second   {x['req_per_cpu_s'] / y['req_per_cpu_s']:.3f}")
        print(f"  p50 latency                 {x['p50_us'] / y['p50_us']:.3f}  (lower is better)")
        print(f"  p99 latency                 {x['p99_us'] / y['p99_us']:.3f}  (lower is better)")
    if rss:
        print()
        print("Memory (sum over the server's processes):")
        for (lab, when), r in rss.items():
            procs = " + ".join(f"{p['rss_kb']}" for p in r["procs"])
            print(f"  {lab:8} {when:14} RSS {r['rss_kb']:>6} KiB ({procs})   PSS {r['pss_kb']:>6} KiB   "
                  f"threads {sum(p['threads'] for p in r['procs'])}")
    if startup:
        print()
        print("Startup, exec -> first 200 on /health:")
        for lab, r in startup.items():
            if r["median_ms"] is None:
                print(f"  {lab:8} FAILED")
                continue
            print(f"  {lab:8} median {r['median_ms']:.2f} ms  (min {r['min_ms']:.2f}, max {r['max_ms']:.2f}, "
                  f"n={len(r['startup_ms'])})")
        if len(startup) >= 2:
            ls = list(startup)
            if startup[ls[0]]["median_ms"] and startup[ls[1]]["median_ms"]:
                print(f"  ratio {ls[0]}/{ls[1]}: {startup[ls[0]]['median_ms'] / startup[ls[1]]['median_ms']:.3f}")
    for r in extra:
        print()
        print(json.dumps(r))


def main():
    p = argparse.ArgumentParser()
    sub = p.add_subparsers(dest="sub", required=True)
    r = sub.add_parser("run")
    r.add_argument("--label", required=True)
    r.add_argument("--rep", type=int, default=0)
    r.add_argument("--pids", required=True)
    r.add_argument("--timeout", type=float, default=120)
    r.add_argument("--noisy-load", type=float, default=0.5)
    r.add_argument("--raw", action="store_true")
    r.add_argument("--json", action="store_true", help="the command prints a JSON line (loadgen); merge it")
    r.add_argument("wrk", nargs=argparse.REMAINDER)
    s = sub.add_parser("rss")
    s.add_argument("--label", required=True)
    s.add_argument("--when", default="idle_1s")
    s.add_argument("--pids", required=True)
    st = sub.add_parser("startup")
    st.add_argument("--label", required=True)
    st.add_argument("--runs", type=int, default=20)
    st.add_argument("--deadline", type=float, default=5.0)
    st.add_argument("--template")
    st.add_argument("--pause", type=float, default=0.05,
                    help="idle seconds between runs; 0 keeps the CPU hot and measures ~2-3 ms less here")
    st.add_argument("argv", nargs=argparse.REMAINDER)
    rp = sub.add_parser("report")
    rp.add_argument("file")
    a = p.parse_args()
    if getattr(a, "wrk", None) and a.wrk[0] == "--":
        a.wrk = a.wrk[1:]
    if getattr(a, "argv", None) and a.argv[0] == "--":
        a.argv = a.argv[1:]
    {"run": cmd_run, "rss": cmd_rss, "startup": cmd_startup, "report": cmd_report}[a.sub](a)


if __name__ == "__main__":
    main()
