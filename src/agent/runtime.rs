//! The agent runtime: a bounded pool of agent threads fed by a bounded queue, sessions whose
//! turns run one at a time, aborts, and idempotent submission.
//!
//! Guarantees:
//! - [`Runtime::submit`] never waits for a turn: it answers at once with the run id, or with
//!   a clear refusal: the agent queue is full (`agent.max_queued_turns`: 503, `UNAVAILABLE`,
//!   `Retry-After`), or the session already has `agent.max_queued_per_session` turns waiting
//!   (503 as well). Nothing is dropped silently.
//! - Turns of one session run in submission order, never two at once: while one runs, later
//!   ones wait in that session's FIFO and the thread that ran it takes the next.
//! - [`Runtime::abort`] reaches a running turn through its provider `AbortHandle` (which
//!   closes the upstream connection at once) and removes waiting ones; both end as `aborted`
//!   turns in the store, the partial text kept.
//! - A repeated `idempotencyKey` in a session returns the first run and starts nothing, both
//!   while it runs (remembered here) and after (found in the store).
//! - [`Runtime::shutdown`] aborts everything, lets each turn record its end, and joins the
//!   threads; call it before the store shuts down. A turn waiting for a tool approval waits on
//!   its abort handle, so shutdown ends that wait at once too.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};
use parking_lot::Mutex;

use super::providers::{AbortHandle, ProviderError, Router};
use super::tools::ToolRegistry;
use super::tools::approvals::Approvals;
use super::turn_types::{ChatRequest, Submitted, TurnSink, new_id};
use crate::config::agent::AgentConfig;
use crate::error::GatewayError;
use crate::events::EventBus;
use crate::store::Store;

/// Idempotency keys remembered in memory (the store answers for older ones); the oldest is
/// forgotten first past this.
pub const MAX_REMEMBERED_KEYS: usize = 4096;

/// A turn waiting for, or running on, an agent thread.
pub(super) struct Pending {
    pub(super) run_id: String,
    pub(super) request: ChatRequest,
    pub(super) sink: TurnSink,
    pub(super) abort: AbortHandle,
}

/// The turn of a session that holds its place on an agent thread.
struct Running {
    run_id: String,
    abort: AbortHandle,
}

/// One session's turns in flight.
#[derive(Default)]
struct SessionSlot {
    running: Option<Running>,
    waiting: VecDeque<Box<Pending>>,
}

/// What the agent threads share with the handle.
pub(super) struct Inner {
    pub(super) router: Arc<Router>,
    pub(super) store: Arc<Store>,
    pub(super) bus: Arc<EventBus>,
    pub(super) config: AgentConfig,
    /// The enabled tools (`agent.tools`).
    pub(super) tools: ToolRegistry,
    /// Tool calls waiting for `exec.approval.resolve`.
    pub(super) approvals: Approvals,
    sessions: Mutex<HashMap<String, SessionSlot>>,
    /// `(session key, idempotency key)` → run id, oldest first.
    recent_keys: Mutex<VecDeque<(String, String, String)>>,
    stopping: AtomicBool,
}

/// What an abort did.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Aborted {
    /// Run ids stopped (running) or removed (waiting).
    pub run_ids: Vec<String>,
}

/// The runtime handle `App` holds.
pub struct Runtime {
    inner: Arc<Inner>,
    tx: Mutex<Option<Sender<Box<Pending>>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("threads", &self.threads.lock().len()).finish_non_exhaustive()
    }
}

impl Runtime {
    /// Start `agent.max_concurrent_turns` agent threads.
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start(
        config: &AgentConfig,
        router: Arc<Router>,
        store: Arc<Store>,
        bus: Arc<EventBus>,
    ) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Box<Pending>>(config.max_queued_turns.max(1));
        let inner = Arc::new(Inner {
            router,
            store,
            bus: Arc::clone(&bus),
            config: config.clone(),
            tools: ToolRegistry::from_config(&config.tools),
            approvals: Approvals::new(Arc::clone(&bus)),
            sessions: Mutex::new(HashMap::new()),
            recent_keys: Mutex::new(VecDeque::new()),
            stopping: AtomicBool::new(false),
        });
        let runtime = Self { inner, tx: Mutex::new(Some(tx)), threads: Mutex::new(Vec::new()) };
        for i in 0..config.max_concurrent_turns.max(1) {
            let (inner, rx) = (Arc::clone(&runtime.inner), rx.clone());
            let handle =
                std::thread::Builder::new().name(format!("talon-agent-{i}")).spawn(move || run(&inner, &rx))?;
            runtime.threads.lock().push(handle);
        }
        Ok(runtime)
    }

    /// The router (for `models.list`).
    #[must_use]
    pub fn router(&self) -> &Router {
        &self.inner.router
    }

    /// The tools the model may call (for `tools.catalog`).
    #[must_use]
    pub fn tools(&self) -> &ToolRegistry {
        &self.inner.tools
    }

    /// The tool calls waiting for approval (for `exec.approval.resolve`).
    #[must_use]
    pub fn approvals(&self) -> &Approvals {
        &self.inner.approvals
    }

    /// The agent configuration in force.
    #[must_use]
    pub fn config(&self) -> &AgentConfig {
        &self.inner.config
    }

    /// Start (or queue) a turn; `sink` receives its events on an agent thread. May read the
    /// store (a repeated idempotency key): call it from a worker, or without a key.
    ///
    /// # Errors
    /// Invalid request (400), unknown model (404), agent queue or session FIFO full (503),
    /// shutting down (503), or the store read failed.
    pub fn submit(&self, mut request: ChatRequest, sink: TurnSink) -> Result<Submitted, GatewayError> {
        request.validate()?;
        if self.inner.stopping.load(Ordering::Acquire) {
            return Err(GatewayError::ShuttingDown);
        }
        if let Some(model) = request.model.as_deref() {
            self.inner.router.resolve(Some(model)).map_err(|e| match e {
                ProviderError::UnknownModel(id) => GatewayError::ModelNotFound(id),
                other => GatewayError::InvalidParams(other.to_string()),
            })?;
        }
        let key = request.session_key.clone();
        if let Some(idem) = request.idempotency_key.clone()
            && let Some(run_id) = self.remembered(&key, &idem)?
        {
            return Ok(duplicate_of(run_id, key));
        }
        let run_id = new_id("run_");
        let pending = Box::new(Pending { run_id: run_id.clone(), request, sink, abort: AbortHandle::new() });
        let idem = pending.request.idempotency_key.clone();
        let abort = pending.abort.clone();
        let queued = {
            let mut sessions = self.inner.sessions.lock();
            // Again under the lock, which shutdown takes to abort every turn: a turn let in
            // after its sweep would run unaborted and hold the shutdown for its whole length.
            if self.inner.stopping() {
                return Err(GatewayError::ShuttingDown);
            }
            // Again under the lock: a concurrent submit of the same key may have got here first.
            if let Some(idem) = &idem
                && let Some(run_id) = self.inner.remembered_in_memory(&key, idem)
            {
                return Ok(duplicate_of(run_id, key));
            }
            let slot = sessions.entry(key.clone()).or_default();
            let queued = if slot.running.is_none() {
                let running = Running { run_id: run_id.clone(), abort: pending.abort.clone() };
                let sent = match self.tx.lock().as_ref() {
                    None => Err(GatewayError::ShuttingDown),
                    Some(tx) => tx.try_send(pending).map_err(|e| match e {
                        TrySendError::Full(_) => GatewayError::Overloaded { what: "agent turn queue" },
                        TrySendError::Disconnected(_) => GatewayError::ShuttingDown,
                    }),
                };
                if let Err(e) = sent {
                    if slot.waiting.is_empty() {
                        sessions.remove(&key);
                    }
                    return Err(e);
                }
                slot.running = Some(running);
                false
            } else if slot.waiting.len() >= self.inner.config.max_queued_per_session {
                return Err(GatewayError::SessionBusy {
                    session: key.chars().take(64).collect(),
                    max: self.inner.config.max_queued_per_session,
                });
            } else {
                slot.waiting.push_back(pending);
                true
            };
            // Remembered under the sessions lock, so a repeat racing this one sees it.
            if let Some(idem) = idem {
                let mut keys = self.inner.recent_keys.lock();
                if keys.len() >= MAX_REMEMBERED_KEYS {
                    keys.pop_front();
                }
                keys.push_back((key.clone(), idem, run_id.clone()));
            }
            queued
        };
        Ok(Submitted { run_id, session_key: key, queued, duplicate: false, abort })
    }

    /// The run id an idempotency key already started, from memory or the store.
    fn remembered(&self, session_key: &str, idem: &str) -> Result<Option<String>, GatewayError> {
        if let Some(run) = self.inner.remembered_in_memory(session_key, idem) {
            return Ok(Some(run));
        }
        let reads = self.inner.store.agent().map_err(|e| GatewayError::Internal(e.to_string()))?;
        let row = reads.turn_by_idempotency(session_key, idem).map_err(|e| GatewayError::Internal(e.to_string()))?;
        Ok(row.map(|t| t.run_id))
    }

    /// Abort the session's turns: `run_id` alone, or (with `None`) the running one and every
    /// waiting one. Waiting turns removed here are recorded as aborted on this thread (which
    /// may wait for the store queue: call it from a worker).
    ///
    /// # Errors
    /// [`GatewayError::RunNotFound`] for a run id that is neither running nor waiting;
    /// [`GatewayError::SessionNotFound`] for a session with nothing in flight that the store
    /// does not know either.
    pub fn abort(&self, session_key: &str, run_id: Option<&str>) -> Result<Aborted, GatewayError> {
        let mut removed: Vec<Box<Pending>> = Vec::new();
        let mut stopped: Vec<String> = Vec::new();
        {
            let mut sessions = self.inner.sessions.lock();
            if let Some(slot) = sessions.get_mut(session_key) {
                if let Some(running) = slot.running.as_ref().filter(|r| run_id.is_none_or(|id| id == r.run_id)) {
                    running.abort.abort();
                    stopped.push(running.run_id.clone());
                }
                let mut i = 0;
                while i < slot.waiting.len() {
                    let matches = slot.waiting.get(i).is_some_and(|p| run_id.is_none_or(|id| id == p.run_id));
                    match slot.waiting.remove(i) {
                        Some(p) if matches => removed.push(p),
                        Some(p) => {
                            slot.waiting.insert(i, p);
                            i += 1;
                        }
                        None => break,
                    }
                }
            }
        }
        let mut run_ids = stopped;
        for p in removed {
            run_ids.push(p.run_id.clone());
            super::turn::abort_waiting(&self.inner, *p);
        }
        if run_ids.is_empty() {
            if let Some(id) = run_id {
                return Err(GatewayError::RunNotFound(id.chars().take(64).collect()));
            }
            let reads = self.inner.store.agent().map_err(|e| GatewayError::Internal(e.to_string()))?;
            if reads.session(session_key).map_err(|e| GatewayError::Internal(e.to_string()))?.is_none() {
                return Err(GatewayError::SessionNotFound(session_key.chars().take(64).collect()));
            }
        }
        Ok(Aborted { run_ids })
    }

    /// Whether the session has a turn running or waiting.
    #[must_use]
    pub fn busy(&self, session_key: &str) -> bool {
        self.inner.sessions.lock().contains_key(session_key)
    }

    /// Turns running or waiting, over all sessions.
    #[must_use]
    pub fn in_flight(&self) -> usize {
        self.inner.sessions.lock().values().map(|s| usize::from(s.running.is_some()) + s.waiting.len()).sum()
    }

    /// Abort every turn, let each record its end, and join the threads. Idempotent.
    pub fn shutdown(&self) {
        self.inner.stopping.store(true, Ordering::Release);
        {
            let sessions = self.inner.sessions.lock();
            for slot in sessions.values() {
                if let Some(r) = &slot.running {
                    r.abort.abort();
                }
                for p in &slot.waiting {
                    p.abort.abort();
                }
            }
        }
        // Dropping the sender ends each thread once the queue is empty.
        drop(self.tx.lock().take());
        let threads: Vec<_> = self.threads.lock().drain(..).collect();
        for t in threads {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
impl Runtime {
    /// Hold the lock that [`Runtime::shutdown`] sweeps the sessions under (for a test that
    /// races a submit against that sweep).
    pub(super) fn hold_sessions(&self) -> impl Sized + '_ {
        self.inner.sessions.lock()
    }

    /// The first step of [`Runtime::shutdown`] alone: from now on the runtime is stopping.
    pub(super) fn mark_stopping(&self) {
        self.inner.stopping.store(true, Ordering::Release);
    }
}

impl Drop for Runtime {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Inner {
    /// Whether the runtime is shutting down (an abort now is the shutdown's, not a client's).
    pub(super) fn stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// The run id of a remembered idempotency key.
    fn remembered_in_memory(&self, session_key: &str, idem: &str) -> Option<String> {
        let keys = self.recent_keys.lock();
        keys.iter().rev().find(|(s, k, _)| s == session_key && k == idem).map(|(_, _, run)| run.clone())
    }

    /// The turn of `session_key` ended: hand back the session's next waiting turn (now its
    /// running one), or forget the session.
    fn next_of(&self, session_key: &str) -> Option<Box<Pending>> {
        let mut sessions = self.sessions.lock();
        let slot = sessions.get_mut(session_key)?;
        match slot.waiting.pop_front() {
            Some(next) => {
                if self.stopping.load(Ordering::Acquire) {
                    next.abort.abort();
                }
                slot.running = Some(Running { run_id: next.run_id.clone(), abort: next.abort.clone() });
                Some(next)
            }
            None => {
                sessions.remove(session_key);
                None
            }
        }
    }
}

/// The answer to a repeated idempotency key: the first run, nothing started.
fn duplicate_of(run_id: String, session_key: String) -> Submitted {
    Submitted { run_id, session_key, queued: false, duplicate: true, abort: AbortHandle::new() }
}

/// An agent thread: run each turn taken from the queue, then the waiting turns of its session.
fn run(inner: &Arc<Inner>, rx: &Receiver<Box<Pending>>) {
    for first in rx {
        let mut next = Some(first);
        while let Some(pending) = next {
            let key = pending.request.session_key.clone();
            // A panic in a sink or a turn must not take the session's place for ever.
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| super::turn::run(inner, *pending)));
            if outcome.is_err() {
                let payload =
                    serde_json::json!({ "source": "agent", "sessionKey": key, "message": "agent turn panicked" });
                let _ = inner.bus.publish("system:error", &payload);
            }
            next = inner.next_of(&key);
        }
    }
}
