//! The worker pool: threads that run jobs too slow for the event loop.
//!
//! Guarantees: the job queue is bounded; `submit` never blocks and hands a full-queue job
//! back to the caller, which answers 503 with `Retry-After`. Each job's result travels back
//! to the reactor that owns the connection over that reactor's completion channel, followed
//! by a `mio::Waker` wake-up. A panicking job becomes a 500 (or an internal RPC error) for its
//! request, never a dead worker. Completion channels are unbounded in type but bounded in fact: at most
//! `worker_queue + worker_threads` jobs are ever in flight, and the pieces of a streamed turn
//! ([`Output::Stream`]) are all taken by the reactor at each iteration; a connection whose
//! unsent output passes its bound aborts its turn rather than hold more.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering::Relaxed};
use std::thread::JoinHandle;

use crossbeam_channel::{Receiver, Sender, TrySendError, bounded};

use crate::protocol::http1::Response;

/// The work of one job.
pub type Work = Box<dyn FnOnce() -> Output + Send>;

/// What a job produced.
#[derive(Debug)]
pub enum Output {
    /// An HTTP response to send.
    Http(Response),
    /// The reply payload of a WebSocket RPC frame (empty: nothing to send), and the
    /// connection's scopes after it ran (`connect` may authenticate).
    Rpc {
        /// Encoded reply.
        reply: Vec<u8>,
        /// Scopes after the call.
        scopes: Option<crate::auth::ScopeSet>,
    },
    /// The next piece of a streamed agent turn, already in the bytes of its surface (HTTP
    /// chunks of SSE events, or WebSocket frames), formatted on the agent thread. `end`: the
    /// turn's last piece (the stream is complete after these bytes).
    Stream {
        /// Bytes to append to the connection's output as they are.
        bytes: Vec<u8>,
        /// This piece ends the turn.
        end: bool,
    },
    /// The job panicked.
    Panicked,
}

/// A finished job on its way back to the reactor.
#[derive(Debug)]
pub struct Completion {
    /// The connection token (slot + generation) the job belongs to.
    pub token: usize,
    /// What the job produced.
    pub output: Output,
}

/// Where a job's completion goes.
#[derive(Clone, Debug)]
pub struct ReplyTo {
    tx: Sender<Completion>,
    waker: Arc<mio::Waker>,
}

impl ReplyTo {
    /// A reply path into a reactor.
    #[must_use]
    pub fn new(tx: Sender<Completion>, waker: Arc<mio::Waker>) -> Self {
        Self { tx, waker }
    }

    /// Hand a finished job to the reactor and wake it.
    pub fn send(&self, completion: Completion) {
        // The reactor is gone only during shutdown; the response has nobody to go to.
        if self.tx.send(completion).is_ok() {
            let _ = self.waker.wake();
        }
    }
}

/// One queued job.
pub struct Job {
    /// The connection token.
    pub token: usize,
    /// What to run.
    pub work: Work,
    /// Where to send the result.
    pub reply: ReplyTo,
}

/// What travels on the queue: a job, or the marker that tells one worker to exit.
enum Task {
    Run(Job),
    Stop,
}

impl std::fmt::Debug for Job {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Job").field("token", &self.token).finish_non_exhaustive()
    }
}

/// The pool.
#[derive(Debug)]
pub struct WorkerPool {
    tx: Sender<Task>,
    rx: Receiver<Task>,
    stopped: std::sync::atomic::AtomicBool,
    handles: parking_lot::Mutex<Vec<JoinHandle<()>>>,
    busy: Arc<AtomicUsize>,
    capacity: usize,
}

impl WorkerPool {
    /// Start `threads` workers behind a queue of `queue` jobs.
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start(threads: usize, queue: usize) -> std::io::Result<Self> {
        Self::start_named("talon-worker", threads, queue)
    }

    /// Start `threads` workers named `{name}-N` behind a queue of `queue` jobs (a pool of its
    /// own for one kind of slow job, so it cannot starve the main pool).
    ///
    /// # Errors
    /// A thread could not be spawned.
    pub fn start_named(name: &str, threads: usize, queue: usize) -> std::io::Result<Self> {
        let (tx, rx) = bounded::<Task>(queue.max(1));
        let busy = Arc::new(AtomicUsize::new(0));
        let mut handles = Vec::with_capacity(threads);
        for i in 0..threads.max(1) {
            let rx = rx.clone();
            let busy = Arc::clone(&busy);
            handles.push(std::thread::Builder::new().name(format!("{name}-{i}")).spawn(move || {
                for task in &rx {
                    let Task::Run(job) = task else { break };
                    busy.fetch_add(1, Relaxed);
                    let token = job.token;
                    let output =
                        std::panic::catch_unwind(std::panic::AssertUnwindSafe(job.work)).unwrap_or(Output::Panicked);
                    busy.fetch_sub(1, Relaxed);
                    job.reply.send(Completion { token, output });
                }
            })?);
        }
        Ok(Self {
            tx,
            rx,
            stopped: std::sync::atomic::AtomicBool::new(false),
            handles: parking_lot::Mutex::new(handles),
            busy,
            capacity: queue.max(1),
        })
    }

    /// Queue a job without blocking.
    ///
    /// # Errors
    /// The queue is full (or the pool is stopping): the job comes back.
    #[allow(clippy::result_large_err)]
    pub fn submit(&self, job: Job) -> Result<(), Job> {
        if self.stopped.load(Relaxed) {
            return Err(job);
        }
        match self.tx.try_send(Task::Run(job)) {
            Err(TrySendError::Full(Task::Run(j)) | TrySendError::Disconnected(Task::Run(j))) => Err(j),
            // Only `Task::Run` is sent here, so nothing else can come back.
            Ok(()) | Err(_) => Ok(()),
        }
    }

    /// Jobs waiting.
    #[must_use]
    pub fn depth(&self) -> usize {
        self.rx.len()
    }

    /// The queue bound.
    #[must_use]
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Jobs running.
    #[must_use]
    pub fn busy(&self) -> usize {
        self.busy.load(Relaxed)
    }

    /// Stop taking jobs, let queued ones finish, join the threads.
    pub fn shutdown(&self) {
        self.stopped.store(true, Relaxed);
        let handles: Vec<_> = self.handles.lock().drain(..).collect();
        // One stop marker per worker, queued behind every job already accepted.
        for _ in &handles {
            let _ = self.tx.send(Task::Stop);
        }
        for h in handles {
            let _ = h.join();
        }
    }
}
