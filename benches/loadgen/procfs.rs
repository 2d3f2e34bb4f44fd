//! /proc readers for the load client: CPU ticks of the server processes (and of the client
//! itself) over the measured window, RSS/Pss, kernel slab and socket memory, loadavg.
//! All readers return 0 / None when the file is missing, so a bench run never panics on them.

use std::fs;

/// USER_HZ: the unit of utime/stime in /proc/<pid>/stat on Linux (fixed at 100 by the ABI).
pub const TICKS_PER_S: f64 = 100.0;

/// utime + stime of a process (all threads), in ticks.
pub fn cpu_ticks(pid: &str) -> Option<u64> {
    let s = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &s[s.rfind(')')? + 1..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    Some(f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?)
}

/// The given pids plus their direct children (nginx master -> worker).
pub fn with_children(pids: &[u32]) -> Vec<u32> {
    let mut out: Vec<u32> = Vec::new();
    for &p in pids {
        if !out.contains(&p) {
            out.push(p);
        }
        let Ok(tasks) = fs::read_dir(format!("/proc/{p}/task")) else { continue };
        for t in tasks.flatten() {
            let Ok(kids) = fs::read_to_string(t.path().join("children")) else { continue };
            for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
                if !out.contains(&k) {
                    out.push(k);
                }
            }
        }
    }
    out
}

/// Sum of utime+stime over pids, in ticks.
pub fn sum_ticks(pids: &[u32]) -> u64 {
    pids.iter().filter_map(|p| cpu_ticks(&p.to_string())).sum()
}

/// This process's own utime+stime, in ticks.
pub fn self_ticks() -> u64 {
    cpu_ticks("self").unwrap_or(0)
}

fn kv_kb(path: &str, key: &str) -> u64 {
    let Ok(s) = fs::read_to_string(path) else { return 0 };
    s.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':').map(|v| v.split_whitespace().next().unwrap_or("0")))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Memory of a set of processes: (VmRSS KiB, Pss KiB), summed.
pub fn rss_pss_kb(pids: &[u32]) -> (u64, u64) {
    pids.iter().fold((0, 0), |(r, p), pid| {
        (r + kv_kb(&format!("/proc/{pid}/status"), "VmRSS"), p + kv_kb(&format!("/proc/{pid}/smaps_rollup"), "Pss"))
    })
}

/// Kernel memory from /proc/meminfo: (Slab, SUnreclaim) in KiB.
pub fn slab_kb() -> (u64, u64) {
    (kv_kb("/proc/meminfo", "Slab"), kv_kb("/proc/meminfo", "SUnreclaim"))
}

/// TCP sockets in use and TCP buffer pages, from /proc/net/sockstat.
pub fn tcp_sockstat() -> (u64, u64) {
    let Ok(s) = fs::read_to_string("/proc/net/sockstat") else { return (0, 0) };
    let Some(line) = s.lines().find(|l| l.starts_with("TCP:")) else { return (0, 0) };
    let f: Vec<&str> = line.split_whitespace().collect();
    let get = |k: &str| f.iter().position(|x| *x == k).and_then(|i| f.get(i + 1)).and_then(|v| v.parse().ok());
    (get("inuse").unwrap_or(0), get("mem").unwrap_or(0))
}

/// 1-minute load average.
pub fn loadavg1() -> f64 {
    fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next().and_then(|v| v.parse().ok()))
        .unwrap_or(0.0)
}

/// The soft RLIMIT_NOFILE of this process, from /proc/self/limits.
pub fn nofile_soft() -> Option<u64> {
    let s = fs::read_to_string("/proc/self/limits").ok()?;
    let line = s.lines().find(|l| l.starts_with("Max open files"))?;
    line["Max open files".len()..].split_whitespace().next()?.parse().ok()
}

/// Server CPU over a window: remembers the pids and the ticks at the start.
pub struct CpuWindow {
    pids: Vec<u32>,
    server0: u64,
    client0: u64,
}

impl CpuWindow {
    /// Starts a window over `pids` (and their children).
    pub fn start(pids: &[u32]) -> Self {
        let pids = with_children(pids);
        Self { server0: sum_ticks(&pids), client0: self_ticks(), pids }
    }

    /// (server CPU-s, client CPU-s) since start.
    pub fn end(&self) -> (f64, f64) {
        let s = sum_ticks(&self.pids).saturating_sub(self.server0) as f64 / TICKS_PER_S;
        let c = self_ticks().saturating_sub(self.client0) as f64 / TICKS_PER_S;
        (s, c)
    }

    /// The pids measured.
    pub fn pids(&self) -> &[u32] {
        &self.pids
    }
}
