//! Starting and stopping the gateway: logger, worker pool, listeners, reactors, signals.
//!
//! Guarantees: `start` returns only once every listener is bound (so the port is known
//! and connectable); `wait` returns only after every reactor has drained and the worker
//! pool and logger have stopped.

use std::net::SocketAddr;
use std::sync::Arc;
use std::thread::JoinHandle;

use crate::app::App;
use crate::config::ingest::AckPolicy;
use crate::config::{LogLevel, Settings};
use crate::log::{Field, Logger};
use crate::metrics::Metrics;
use crate::reactor::{Reactor, bind};
use crate::store::{AckMode, Store, StoreOptions};
use crate::workers::WorkerPool;

/// A running gateway.
#[derive(Debug)]
pub struct Server {
    app: Arc<App>,
    /// The claim on the store file, released when the server is dropped (after `wait`).
    _store_lock: crate::store::lock::StoreLock,
    reactors: Vec<JoinHandle<()>>,
    local_addr: SocketAddr,
}

/// Start the gateway with validated settings.
///
/// # Errors
/// The log file, a thread or the listening socket could not be set up.
pub fn start(settings: Settings) -> std::io::Result<Server> {
    let metrics = Arc::new(Metrics::default());
    let logger = Logger::start(&settings, Arc::clone(&metrics))?;
    let pool = WorkerPool::start(settings.worker_threads, settings.worker_queue)?;
    // Before the store opens: a second gateway, or an offline `talon sessions import`, on the
    // same store file is refused instead of writing beside this one.
    let store_lock =
        crate::store::lock::StoreLock::acquire(&settings.ingest.store_path).map_err(std::io::Error::other)?;
    let store = open_store(&settings, &logger)?;
    let (listeners, local_addr) = bind(settings.bind, settings.io_threads)?;
    let app = Arc::new(App::new(settings, metrics, logger, pool, store)?);
    app.channel_turns.log_start(&app.settings, &app.logger);
    app.dispatcher.start(Arc::downgrade(&app))?;
    // Rows left pending by the last run (crash or stop) are due at once: the outbox is durable.
    app.outbound.start(Arc::downgrade(&app), &app.settings)?;
    let mut reactors = Vec::new();
    for (i, listener) in listeners.into_iter().enumerate() {
        let reactor = Reactor::new(i, Arc::clone(&app), listener)?;
        app.add_waker(reactor.waker());
        reactors.push(std::thread::Builder::new().name(format!("talon-io-{i}")).spawn(move || reactor.run())?);
    }
    let addr = local_addr.to_string();
    app.logger.event(
        LogLevel::Info,
        "listening",
        &[
            ("addr", Field::Str(&addr)),
            ("io_threads", Field::U64(reactors.len() as u64)),
            ("version", Field::Str(env!("CARGO_PKG_VERSION"))),
        ],
    );
    Ok(Server { app, _store_lock: store_lock, reactors, local_addr })
}

/// Open the store, and put every delivery that was dispatched but not finished when the
/// process stopped back in line.
fn open_store(settings: &Settings, logger: &Arc<Logger>) -> std::io::Result<Store> {
    let ingest = &settings.ingest;
    let log = Arc::clone(logger);
    let options = store_options(settings, Box::new(move |line: &str| log.event(LogLevel::Error, line, &[])));
    let path = ingest.store_path.display().to_string();
    let store =
        Store::open(options).map_err(|e| std::io::Error::other(format!("cannot open the store at {path}: {e}")))?;
    let window_ms = u64::try_from(ingest.resume_window.as_millis()).unwrap_or(u64::MAX);
    let resumed = store
        .resume_dispatched_since(crate::app::unix_ms().saturating_sub(window_ms))
        .map_err(|e| std::io::Error::other(format!("store {path}: {e}")))?;
    // Before the agent runtime starts: every `running` turn is a previous process's, and a
    // repeat of its idempotency key (its delivery, resumed above) must run it again.
    let interrupted =
        store.interrupt_running_turns().map_err(|e| std::io::Error::other(format!("store {path}: {e}")))?;
    logger.event(
        LogLevel::Info,
        "store open",
        &[
            ("path", Field::Str(&path)),
            ("resumed", Field::U64(resumed)),
            ("interrupted_turns", Field::U64(interrupted)),
        ],
    );
    Ok(store)
}

/// The store's options from the settings, with `log` for its error lines (the gateway's
/// logger, or stderr for an offline command).
#[must_use]
pub fn store_options(settings: &Settings, log: crate::store::LogFn) -> StoreOptions {
    let ingest = &settings.ingest;
    let ack = match ingest.ack {
        AckPolicy::Durable => AckMode::Durable,
        AckPolicy::Buffered { interval } => AckMode::Buffered { sync_interval: interval },
    };
    StoreOptions {
        path: ingest.store_path.clone(),
        ack,
        queue_capacity: ingest.queue,
        max_batch: ingest.max_batch,
        dedup_window: ingest.dedup_window,
        dedup_max_keys: ingest.dedup_max_keys,
        sync_full: ingest.store_sync_full,
        log,
        group_commit_wait: std::time::Duration::from_micros(settings.config.store.group_commit_wait_us),
    }
}

impl Server {
    /// The bound address (the real port when 0 was asked for).
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The shared state.
    #[must_use]
    pub fn app(&self) -> &Arc<App> {
        &self.app
    }

    /// Begin graceful shutdown (what SIGTERM does).
    pub fn shutdown(&self) {
        self.app.begin_shutdown();
    }

    /// Stop on the first SIGTERM or SIGINT; a second one exits at once.
    ///
    /// # Errors
    /// The signal handlers could not be installed.
    pub fn stop_on_signals(&self) -> std::io::Result<()> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGTERM, SIGINT])?;
        let app = Arc::downgrade(&self.app);
        std::thread::Builder::new().name("talon-signals".into()).spawn(move || {
            let mut seen = 0;
            for sig in signals.forever() {
                seen += 1;
                let Some(app) = app.upgrade() else { return };
                if seen > 1 {
                    app.logger.event(LogLevel::Warn, "second signal: exiting now", &[]);
                    app.logger.shutdown();
                    std::process::exit(1);
                }
                app.logger.event(
                    LogLevel::Info,
                    "shutting down",
                    &[("signal", Field::U64(u64::try_from(sig).unwrap_or(0)))],
                );
                app.begin_shutdown();
            }
        })?;
        Ok(())
    }

    /// Wait for the reactors to drain, then stop the workers and the logger.
    pub fn wait(self) {
        for r in self.reactors {
            let _ = r.join();
        }
        // Agent turns end (aborted) and record their ends while the store still writes.
        self.app.agent.shutdown();
        // Forwarded embeddings calls in flight are aborted; nothing waits for their answers.
        self.app.embeddings.shutdown();
        self.app.pool.shutdown();
        // The dispatcher first: its last state changes must reach a store that still writes.
        // Then every delivery the reactors handed over is committed and acknowledged.
        self.app.dispatcher.stop();
        // The sender finishes its current send and records it while the store still writes.
        self.app.outbound.stop();
        self.app.store.shutdown();
        self.app.logger.event(LogLevel::Info, "stopped", &[]);
        self.app.logger.shutdown();
    }
}
