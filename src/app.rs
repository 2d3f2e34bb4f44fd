//! State shared by every reactor and worker: settings, metrics, logger, worker pool,
//! limiters, connection counts and the shutdown flag.
//!
//! Guarantees: everything here is either immutable after start, atomic, or behind a short
//! `parking_lot` lock held for a map lookup; no lock is held across I/O.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use parking_lot::Mutex;

use crate::auth::limiter::{AuthLimiter, RateLimiter};
use crate::config::Settings;
use crate::log::Logger;
use crate::metrics::{Gauges, Metrics};
use crate::workers::WorkerPool;

/// Wall-clock milliseconds since the Unix epoch (0 if the clock is before it).
#[must_use]
pub fn unix_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// The shared application state.
#[derive(Debug)]
pub struct App {
    /// Validated settings.
    pub settings: Settings,
    /// Counters.
    pub metrics: Arc<Metrics>,
    /// Logger.
    pub logger: Arc<Logger>,
    /// Worker pool.
    pub pool: WorkerPool,
    /// Per-IP request limiter.
    pub rate_limiter: Mutex<RateLimiter>,
    /// Failed-auth limiter.
    pub auth_limiter: Mutex<AuthLimiter>,
    /// When the process started serving.
    pub started: std::time::Instant,
    /// The same, as Unix milliseconds.
    pub started_unix_ms: u64,
    /// The event bus: every published event, its ring and the reactors' listeners.
    pub bus: Arc<crate::events::EventBus>,
    /// Open WebSockets across reactors, against `gateway.ws.max_connections`.
    pub ws_connections: Arc<AtomicUsize>,
    /// Per-channel webhook counters.
    pub ingest_stats: crate::webhook::stats::IngestStats,
    /// The embedded store (inbox, key-value, sessions) and its group-commit writer.
    pub store: Arc<crate::store::Store>,
    /// The agent runtime: agent threads, sessions, turns.
    pub agent: crate::agent::Runtime,
    /// `/v1/embeddings`: the built-in model and the forwarding pool of `models.embeddings`.
    pub embeddings: crate::embed::Embeddings,
    /// Publishes stored deliveries on the bus.
    pub dispatcher: crate::webhook::dispatch::Dispatcher,
    /// Queues replies to the channels in the outbox and runs the sender that delivers them.
    pub outbound: crate::outbound::Outbound,
    /// The channel loop: which channels are answered by agent turns, and its counters.
    pub channel_turns: crate::channel_turns::ChannelTurns,
    /// Body bytes of webhook deliveries handed to the store and not yet acknowledged.
    pub ingest_queued_bytes: std::sync::atomic::AtomicU64,
    conns_per_ip: Mutex<HashMap<IpAddr, u32>>,
    conns_total: AtomicUsize,
    shutting_down: AtomicBool,
    wakers: Mutex<Vec<Arc<mio::Waker>>>,
}

impl App {
    /// Build the shared state and start the agent runtime (its router publishes on the bus).
    ///
    /// # Errors
    /// A provider key named by `{"env": ...}` is unset, or an agent thread cannot start.
    pub fn new(
        settings: Settings,
        metrics: Arc<Metrics>,
        logger: Arc<Logger>,
        pool: WorkerPool,
        store: crate::store::Store,
    ) -> std::io::Result<Self> {
        let channel_turns = crate::channel_turns::ChannelTurns::new(&settings);
        let rl = settings.rate_limit;
        let al = settings.auth_rate_limit;
        let bus = Arc::new(crate::events::EventBus::from_config(&settings.config.gateway.sse));
        let store = Arc::new(store);
        let sink: Arc<dyn crate::agent::providers::EventSink> = Arc::clone(&bus) as _;
        let env = |name: &str| std::env::var(name).ok();
        let router = crate::agent::providers::Router::from_config(&settings.config, &env, sink).map_err(|errors| {
            let why: Vec<String> = errors.iter().map(ToString::to_string).collect();
            std::io::Error::other(format!("agent configuration: {}", why.join("; ")))
        })?;
        let embeddings = crate::embed::Embeddings::from_config(&settings.config, &env)?;
        let agent = crate::agent::Runtime::start(
            &settings.config.agent,
            Arc::new(router),
            Arc::clone(&store),
            Arc::clone(&bus),
        )?;
        Ok(Self {
            rate_limiter: Mutex::new(RateLimiter::new(
                rl.max_requests,
                std::time::Duration::from_millis(rl.window_ms),
                rl.max_tracked_ips,
            )),
            auth_limiter: Mutex::new(AuthLimiter::new(
                al.max_attempts,
                std::time::Duration::from_millis(al.window_ms),
                std::time::Duration::from_millis(al.lockout_ms),
                rl.max_tracked_ips,
            )),
            settings,
            metrics,
            logger,
            pool,
            started: std::time::Instant::now(),
            started_unix_ms: unix_ms(),
            bus,
            ws_connections: Arc::new(AtomicUsize::new(0)),
            ingest_stats: crate::webhook::stats::IngestStats::default(),
            store,
            agent,
            embeddings,
            dispatcher: crate::webhook::dispatch::Dispatcher::default(),
            outbound: crate::outbound::Outbound::default(),
            channel_turns,
            ingest_queued_bytes: std::sync::atomic::AtomicU64::new(0),
            conns_per_ip: Mutex::new(HashMap::new()),
            conns_total: AtomicUsize::new(0),
            shutting_down: AtomicBool::new(false),
            wakers: Mutex::new(Vec::new()),
        })
    }

    /// Try to admit a new connection from `ip` under both caps.
    ///
    /// # Errors
    /// Which cap refused it.
    pub fn open_connection(&self, ip: IpAddr) -> Result<(), crate::metrics::Reject> {
        let mut per_ip = self.conns_per_ip.lock();
        let n = per_ip.entry(ip).or_insert(0);
        if *n as usize >= self.settings.max_connections_per_ip {
            return Err(crate::metrics::Reject::PerIpConnections);
        }
        // Reactors race for the last places: reserve atomically, give back on overshoot.
        if self.conns_total.fetch_add(1, Ordering::Relaxed) >= self.settings.max_connections {
            self.conns_total.fetch_sub(1, Ordering::Relaxed);
            if *n == 0 {
                per_ip.remove(&ip);
            }
            return Err(crate::metrics::Reject::MaxConnections);
        }
        *n += 1;
        Ok(())
    }

    /// A connection from `ip` closed.
    pub fn close_connection(&self, ip: IpAddr) {
        let mut per_ip = self.conns_per_ip.lock();
        if let Some(n) = per_ip.get_mut(&ip) {
            *n = n.saturating_sub(1);
            if *n == 0 {
                per_ip.remove(&ip);
            }
        }
        self.conns_total.fetch_sub(1, Ordering::Relaxed);
    }

    /// Open connections across all reactors.
    #[must_use]
    pub fn connections(&self) -> usize {
        self.conns_total.load(Ordering::Relaxed)
    }

    /// Register a reactor's waker so shutdown can reach it.
    pub fn add_waker(&self, waker: Arc<mio::Waker>) {
        self.wakers.lock().push(waker);
    }

    /// Begin graceful shutdown and wake every reactor.
    pub fn begin_shutdown(&self) {
        if !self.shutting_down.swap(true, Ordering::SeqCst) {
            for w in self.wakers.lock().iter() {
                let _ = w.wake();
            }
        }
    }

    /// Whether shutdown has begun.
    #[must_use]
    pub fn shutting_down(&self) -> bool {
        self.shutting_down.load(Ordering::Relaxed)
    }

    /// Gauges for `/metrics`.
    #[must_use]
    pub fn gauges(&self) -> Gauges {
        Gauges {
            worker_queue_depth: self.pool.depth(),
            worker_queue_capacity: self.pool.capacity(),
            workers_busy: self.pool.busy(),
            log_queue_chunks: self.logger.queued_chunks(),
        }
    }
}
