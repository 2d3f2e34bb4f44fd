//! `store_ingest`: how many webhook records per second the store acknowledges on this disk,
//! and how many records each sync carries (the group-commit figure of scenario S2a/S2b in
//! shared/reference/performance.md, without HTTP).
//!
//! `--clients` threads each submit one 1 KiB delivery and wait for its ack before the next
//! (closed loop, like that many webhook connections). It prints one JSON line: records/s,
//! batches, syncs, records per sync and the histogram. It asserts nothing; it measures.
//!
//! ```text
//! cargo run --release --example store_ingest -- --clients 64 --per-client 500 --mode durable
//! cargo run --release --example store_ingest -- --clients 64 --per-client 500 --mode buffered --sync-ms 5
//! ```
//!
//! `--gather-us` sets the group-commit wait (`store.group_commit_wait_us`; 0 by default here).
//! `--mode` is `durable` (synchronous=FULL), `normal` (durable, the writer's own fdatasync) or
//! `buffered`. `--dir` picks where the database goes (default: a fresh directory under the
//! system temp dir, removed afterwards); put it on the disk you want to measure.
//!
//! First figures (2-core VM, ext4 on virtio, release build, while another build
//! kept the machine loaded, so take them as shape, not as a baseline): durable, 64 clients:
//! 6.5-10.5 k records/s at 36-38 records per sync, 2.8-4 ms per commit; 256 clients: 10-17 k
//! records/s at 170-205 per sync; buffered (5 ms), 64 clients: 9-18 k records/s.
//! `strace -c` confirms one `fsync` per batch (durable, full), one `fdatasync` per batch and
//! none from SQLite (durable, normal), and `fdatasync`s only from the sync thread (buffered).
//! Records per sync sit near half the clients: with a closed loop, the clients acked by one
//! sync resubmit while the next one runs, so they split into two alternating cohorts. Real
//! webhook traffic arrives open-loop and batches by arrival rate times sync time instead.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use talon::store::{AckMode, NewDelivery, RECORDS_PER_SYNC_BUCKETS, Store, StoreError, StoreOptions};

struct Args {
    clients: usize,
    per_client: usize,
    mode: String,
    sync_ms: u64,
    gather_us: u64,
    dir: Option<PathBuf>,
}

fn parse() -> Result<Args, lexopt::Error> {
    use lexopt::prelude::*;
    let mut a = Args { clients: 64, per_client: 200, mode: "durable".into(), sync_ms: 5, gather_us: 0, dir: None };
    let mut p = lexopt::Parser::from_env();
    while let Some(arg) = p.next()? {
        match arg {
            Long("clients") => a.clients = p.value()?.parse()?,
            Long("per-client") => a.per_client = p.value()?.parse()?,
            Long("mode") => a.mode = p.value()?.string()?,
            Long("sync-ms") => a.sync_ms = p.value()?.parse()?,
            Long("dir") => a.dir = Some(p.value()?.into()),
            Long("gather-us") => a.gather_us = p.value()?.parse()?,
            _ => return Err(arg.unexpected()),
        }
    }
    Ok(a)
}

fn main() -> std::process::ExitCode {
    let args = match parse() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("store_ingest: {e}");
            return std::process::ExitCode::from(2);
        }
    };
    let (dir, remove) = match &args.dir {
        Some(d) => (d.clone(), false),
        None => (std::env::temp_dir().join(format!("talon-store-ingest-{}", std::process::id())), true),
    };
    let mut opts = StoreOptions::new(dir.join("talon.db"));
    opts.group_commit_wait = Duration::from_micros(args.gather_us);
    match args.mode.as_str() {
        "durable" => {}
        "normal" => opts.sync_full = false,
        "buffered" => opts.ack = AckMode::Buffered { sync_interval: Duration::from_millis(args.sync_ms) },
        other => {
            eprintln!("store_ingest: unknown --mode {other} (durable | normal | buffered)");
            return std::process::ExitCode::from(2);
        }
    }
    let store = match Store::open(opts) {
        Ok(s) => Arc::new(s),
        Err(e) => {
            eprintln!("store_ingest: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };

    let body = vec![b'x'; 1024];
    let started = Instant::now();
    let clients: Vec<_> = (0..args.clients)
        .map(|c| {
            let (store, body, n) = (Arc::clone(&store), body.clone(), args.per_client);
            std::thread::spawn(move || {
                let mut failed = 0u64;
                for i in 0..n {
                    let d = NewDelivery {
                        channel: "webhook",
                        delivery_id: format!("{c}-{i}"),
                        received_ms: talon::app::unix_ms(),
                        headers: vec![("x-signature".into(), "0".repeat(64))],
                        body: body.clone(),
                    };
                    let (tx, rx) = crossbeam_channel::bounded(1);
                    let sent = store.submit(
                        d,
                        Box::new(move |r| {
                            let _ = tx.send(r);
                        }),
                    );
                    let ok = sent.is_ok() && matches!(rx.recv(), Ok(Ok(_)));
                    failed += u64::from(!ok);
                }
                failed
            })
        })
        .collect();
    let failed: u64 = clients.into_iter().map(|h| h.join().unwrap_or(u64::MAX)).sum();
    let elapsed = started.elapsed();
    store.shutdown();

    let s = store.stats();
    let total = (args.clients * args.per_client) as f64;
    let hist: Vec<String> = RECORDS_PER_SYNC_BUCKETS
        .iter()
        .map(ToString::to_string)
        .chain(std::iter::once("+Inf".to_owned()))
        .zip(s.records_per_sync_hist)
        .filter(|(_, n)| *n > 0)
        .map(|(le, n)| format!("\"{le}\":{n}"))
        .collect();
    println!(
        "{{\"mode\":\"{}\",\"clients\":{},\"records\":{},\"failed\":{failed},\"seconds\":{:.3},\"records_per_s\":{:.0},\
         \"batches\":{},\"syncs\":{},\"records_per_sync\":{:.1},\"max_batch\":{},\"sync_ms_avg\":{:.2},\"hist\":{{{}}}}}",
        args.mode,
        args.clients,
        s.records,
        elapsed.as_secs_f64(),
        total / elapsed.as_secs_f64().max(1e-9),
        s.batches,
        s.syncs,
        total / (s.syncs.max(1) as f64),
        s.max_batch_records,
        s.sync_micros_total as f64 / 1000.0 / (s.syncs.max(1) as f64),
        hist.join(","),
    );
    if let Some(why) = store.failure() {
        eprintln!("store_ingest: the store failed: {}", StoreError::Failed(why));
    }
    drop(store);
    if remove {
        let _ = std::fs::remove_dir_all(&dir);
    }
    if failed == 0 { std::process::ExitCode::SUCCESS } else { std::process::ExitCode::FAILURE }
}
