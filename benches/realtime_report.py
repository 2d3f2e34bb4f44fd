#!/usr/bin/env python3
"""Report for benches/realtime.sh (S3, S4, S6 of shared/reference/performance.md).

  realtime_report.py results.jsonl   Markdown tables: medians per label, ratios, NOISY counts,
                                     and every run's line.
  realtime_report.py --line          one JSON result on stdin -> a one-line progress summary.
"""

import json
import statistics
import sys


def get(r, path, default=None):
    for k in path.split("."):
        if not isinstance(r, dict) or k not in r:
            return default
        r = r[k]
    return r


def med(rows, path):
    vals = [get(r, path) for r in rows]
    vals = [v for v in vals if isinstance(v, (int, float))]
    return statistics.median(vals) if vals else None


def fmt(v, spec=",.0f"):
    if v is None:
        return "–"
    return format(v, spec).replace(",", " ")


def kind(r):
    if "unavailable" in r:
        return "unavailable"
    if r.get("mode") in ("ws-rpc", "sse", "ws-idle", "http-idle"):
        return r["mode"]
    if "requests" in r and "rps" in r:
        return "wrk"
    return None


def errors_total(r):
    e = r.get("errors") or {}
    n = sum(v for k, v in e.items() if isinstance(v, int))
    if kind(r) == "wrk":
        n = r.get("non2xx", 0) + r.get("socket_errors", 0)
    return n


def line(r):
    k = kind(r)
    tag = f"rep {r.get('rep')} {r.get('label', '?'):18}"
    noisy = "  NOISY" if r.get("noisy") else ""
    ctx = f"  load1 {r.get('loadavg1', 0):.2f} others {r.get('other_cpu_s', 0):.2f} CPU-s{noisy}"
    if k == "unavailable":
        return f"{tag} UNAVAILABLE: {r['unavailable']}"
    if k == "wrk":
        return (f"{tag} {r['rps']:9.0f} req/s  p50 {r['p50_us']:.0f} µs  p99 {r['p99_us']:.0f} µs  "
                f"server {r['server_us_per_req']:.2f} µs/req{ctx}")
    if k == "ws-rpc":
        return (f"{tag} {r['rps']:9.0f} rt/s   p50 {get(r, 'latency.p50_us'):.0f} µs  p99 {get(r, 'latency.p99_us'):.0f} µs  "
                f"server {r['server_us_per_op']:.2f} µs/rt  errors {errors_total(r)}{ctx}")
    if k == "sse":
        return (f"{tag} {r['subs_streaming']}/{r['subs']} subs  {r['deliveries_per_s']:9.0f} deliveries/s  "
                f"lost {r['lost_deliveries']}/{r['expected_deliveries']}  "
                f"p99 last-sub {get(r, 'last_subscriber_latency.p99_us'):.0f} µs  "
                f"server {r['server_us_per_delivery']:.2f} µs/delivery  RSS peak {r['server_rss_kb_peak']} KiB{ctx}")
    if k in ("ws-idle", "http-idle"):
        return (f"{tag} {r['established']}/{r['conns']} open  ΔRSS {r['rss_bytes_per_conn']:.0f} B/conn  "
                f"ΔPss {r['pss_bytes_per_conn']:.0f} B/conn  slab {r['slab_bytes_per_conn_both_ends']:.0f} B/conn "
                f"(both ends)  RSS {r['server_rss_kb']} KiB{ctx}")
    return f"{tag} {json.dumps(r)[:300]}"


def s4_order(label):
    """Sort S4 labels `<server>-sse-<N>[-b<burst>]` by N, then burst, then Talon first."""
    parts = label.split("-sse-", 1)[-1].split("-b")
    n = int(parts[0]) if parts[0].isdigit() else 0
    burst = int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else 0
    return (n, burst, not label.startswith("talon"), label)


def by_label(rows):
    out = {}
    for r in rows:
        out.setdefault(r.get("label", "?"), []).append(r)
    return out


def noisy(rows):
    return f"{sum(1 for r in rows if r.get('noisy'))}/{len(rows)}"


def report(path):
    rows = []
    with open(path) as f:
        for ln in f:
            ln = ln.strip()
            if ln.startswith("{"):
                rows.append(json.loads(ln))
    probes = [r for r in rows if "probe" in r]
    runs = [r for r in rows if kind(r)]
    labels = by_label(runs)
    for p in probes:
        print(f"Talon endpoint probes: `/ws` upgrade → {p['ws']}, `GET /api/events` → {p['sse']}, "
              f"`POST /debug/publish` → {p['publish']}\n")

    s3 = {k: v for k, v in labels.items() if k == "talon-health" or k.startswith("talon-ws-d")}
    if s3:
        print("### S3: WebSocket JSON-RPC round trips vs `/health` on the same build (server core 0, client core 1)\n")
        print("| run | rate/s (median) | p50 µs | p99 µs | server CPU µs/op | ops per server CPU-s | errors | vs /health rate | vs /health CPU/op | NOISY |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        h = s3.get("talon-health", [])
        h_rps, h_cpu = med(h, "rps"), med(h, "server_us_per_req")
        for lab, rs in s3.items():
            if all(kind(r) == "unavailable" for r in rs):
                print(f"| {lab} | UNAVAILABLE: {rs[0]['unavailable']} | | | | | | | | |")
                continue
            rs = [r for r in rs if kind(r) != "unavailable"]
            if lab == "talon-health":
                rps, p50, p99, cpu = med(rs, "rps"), med(rs, "p50_us"), med(rs, "p99_us"), med(rs, "server_us_per_req")
            else:
                rps, p50, p99 = med(rs, "rps"), med(rs, "latency.p50_us"), med(rs, "latency.p99_us")
                cpu = med(rs, "server_us_per_op")
            ratio = f"{rps / h_rps:.2f}" if rps and h_rps else "–"
            cratio = f"{cpu / h_cpu:.2f}" if cpu and h_cpu else "–"
            per_s = 1e6 / cpu if cpu else None
            errs = sum(errors_total(r) for r in rs)
            print(f"| {lab} | {fmt(rps)} | {fmt(p50)} | {fmt(p99)} | {fmt(cpu, '.2f')} | {fmt(per_s)} | {errs} | "
                  f"{ratio} | {cratio} | {noisy(rs)} |")
        print()

    s4 = {k: v for k, v in labels.items() if "-sse-" in k}
    if s4:
        print("### S4: SSE fan-out, Talon vs nginx + nchan (server core 0, client + publisher core 1)\n")
        print("| run | subs streaming | events/s asked / done | deliveries/s | lost / expected | p99 publish→last sub µs | "
              "p99 delivery µs | server CPU µs/delivery | server RSS peak KiB | NOISY |")
        print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        for lab in sorted(s4, key=s4_order):
            rs = s4[lab]
            if all(kind(r) == "unavailable" for r in rs):
                print(f"| {lab} | UNAVAILABLE: {rs[0]['unavailable']} | | | | | | | | |")
                continue
            rs = [r for r in rs if kind(r) != "unavailable"]
            lost = sum(r["lost_deliveries"] for r in rs)
            exp = sum(r["expected_deliveries"] for r in rs)
            print(f"| {lab} | {fmt(med(rs, 'subs_streaming'))}/{rs[0]['subs']} | "
                  f"{rs[0]['publish_rate']:g} / {fmt(med(rs, 'publish_rate_achieved'), '.1f')} | "
                  f"{fmt(med(rs, 'deliveries_per_s'))} | {lost} / {exp} | "
                  f"{fmt(med(rs, 'last_subscriber_latency.p99_us'))} | {fmt(med(rs, 'delivery_latency.p99_us'))} | "
                  f"{fmt(med(rs, 'server_us_per_delivery'), '.2f')} | {fmt(med(rs, 'server_rss_kb_peak'))} | {noisy(rs)} |")
        print()

    s6 = {k: v for k, v in labels.items() if k.endswith("-idle")}
    if s6:
        print("### S6: memory per idle connection (fresh server each rep)\n")
        print("| run | established | server RSS before → after KiB | ΔRSS B/conn | ΔPss B/conn | kernel Slab Δ B/conn (client+server sockets) | NOISY |")
        print("|---|---:|---:|---:|---:|---:|---:|")
        for lab, rs in s6.items():
            rs = [r for r in rs if kind(r) != "unavailable"]
            if not rs:
                continue
            before = statistics.median(r["server_rss_kb"][0] for r in rs)
            after = statistics.median(r["server_rss_kb"][1] for r in rs)
            print(f"| {lab} | {fmt(med(rs, 'established'))}/{rs[0]['conns']} | {fmt(before)} → {fmt(after)} | "
                  f"{fmt(med(rs, 'rss_bytes_per_conn'))} | {fmt(med(rs, 'pss_bytes_per_conn'))} | "
                  f"{fmt(med(rs, 'slab_bytes_per_conn_both_ends'))} | {noisy(rs)} |")
        print()

    print("### Every run\n")
    print("```")
    for r in rows:
        if kind(r):
            print(line(r))
    print("```")


def main():
    if len(sys.argv) > 1 and sys.argv[1] == "--line":
        for ln in sys.stdin:
            if ln.strip().startswith("{"):
                print(line(json.loads(ln)), flush=True)
        return
    report(sys.argv[1])


if __name__ == "__main__":
    main()
