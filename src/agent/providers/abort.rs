//! Cancellation and the deadline of one turn.
//!
//! Guarantees: [`AbortHandle::abort`] from any thread stops the turn promptly, wherever it is:
//! a backoff sleep wakes at once (it waits on a condition variable, not a fixed sleep); an
//! upstream request in flight is interrupted at once, because the client registers its HTTP
//! agent here and `abort` shuts that agent's sockets down (`ureq::Agent::shutdown`), which
//! makes a read blocked on a stalled upstream return immediately; the built-in provider checks
//! the flag between tokens. The one wait `abort` cannot cut short is a TCP connect in progress,
//! bounded by `providers.<name>.connect_timeout_ms`.

use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex};

use super::error::{ProviderError, TimeoutKind};

/// How an [`AbortHandle::wait_until`] ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WaitEnd {
    /// The condition became true.
    Ready,
    /// The turn was aborted first.
    Aborted,
    /// The deadline passed first.
    TimedOut,
}

/// A shareable abort switch for one turn. Clones control the same turn.
#[derive(Debug, Clone, Default)]
pub struct AbortHandle {
    inner: Arc<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    state: Mutex<State>,
    wake: Condvar,
}

#[derive(Debug, Default)]
struct State {
    aborted: bool,
    /// The HTTP agent of the request in flight, shut down on abort.
    agent: Option<ureq::Agent>,
}

impl AbortHandle {
    /// A handle that has not been aborted.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Abort the turn: wake its waits and close its upstream connection. Idempotent.
    pub fn abort(&self) {
        let agent = {
            let mut state = self.inner.state.lock();
            state.aborted = true;
            state.agent.take()
        };
        self.inner.wake.notify_all();
        // Outside the lock: shutting down closes sockets, which need not be quick.
        if let Some(agent) = agent {
            agent.shutdown();
        }
    }

    /// Whether [`AbortHandle::abort`] was called.
    #[must_use]
    pub fn is_aborted(&self) -> bool {
        self.inner.state.lock().aborted
    }

    /// Sleep for `duration` unless aborted first. Returns whether the turn was aborted.
    pub fn sleep(&self, duration: Duration) -> bool {
        let until = Instant::now().checked_add(duration);
        let mut state = self.inner.state.lock();
        while !state.aborted {
            let Some(until) = until else {
                self.inner.wake.wait(&mut state);
                continue;
            };
            if self.inner.wake.wait_until(&mut state, until).timed_out() {
                break;
            }
        }
        state.aborted
    }

    /// Wait until `ready()` is true, the turn is aborted, or `deadline` passes, whichever comes
    /// first. `ready` is checked under the handle's lock, so a producer that makes it true and
    /// then calls [`AbortHandle::wake`] is never missed. An abort wins over a ready condition.
    pub fn wait_until(&self, deadline: Instant, mut ready: impl FnMut() -> bool) -> WaitEnd {
        let mut state = self.inner.state.lock();
        loop {
            if state.aborted {
                return WaitEnd::Aborted;
            }
            if ready() {
                return WaitEnd::Ready;
            }
            if self.inner.wake.wait_until(&mut state, deadline).timed_out() {
                return if state.aborted {
                    WaitEnd::Aborted
                } else if ready() {
                    WaitEnd::Ready
                } else {
                    WaitEnd::TimedOut
                };
            }
        }
    }

    /// Wake every [`AbortHandle::wait_until`] on this turn so it checks its condition again
    /// (without aborting anything).
    pub fn wake(&self) {
        let _state = self.inner.state.lock();
        self.inner.wake.notify_all();
    }

    /// Register the HTTP agent of the request about to be sent, so an abort interrupts it.
    ///
    /// # Errors
    /// [`ProviderError::Aborted`] if the turn was already aborted (nothing is registered).
    pub(crate) fn attach(&self, agent: &ureq::Agent) -> Result<(), ProviderError> {
        let mut state = self.inner.state.lock();
        if state.aborted {
            return Err(ProviderError::Aborted);
        }
        state.agent = Some(agent.clone());
        Ok(())
    }

    /// Forget the registered agent (the request is over).
    pub(crate) fn detach(&self) {
        self.inner.state.lock().agent = None;
    }
}

/// What a provider needs to be stoppable: the abort switch and the turn's deadline.
#[derive(Debug, Clone)]
pub struct TurnControl {
    /// The caller's abort switch.
    pub abort: AbortHandle,
    /// When the whole turn (every retry and fallback included) must be over.
    pub deadline: Instant,
}

impl TurnControl {
    /// A control with a fresh abort handle and a deadline `timeout` from now (a timeout too
    /// large to represent means no practical deadline: about 100 years).
    #[must_use]
    pub fn new(timeout: Duration) -> Self {
        Self::with_abort(AbortHandle::new(), timeout)
    }

    /// A control for an existing abort handle.
    #[must_use]
    pub fn with_abort(abort: AbortHandle, timeout: Duration) -> Self {
        let now = Instant::now();
        let far = Duration::from_secs(100 * 365 * 24 * 3600);
        let deadline = now.checked_add(timeout).or_else(|| now.checked_add(far)).unwrap_or(now);
        Self { abort, deadline }
    }

    /// Time left before the deadline (zero once it passed).
    #[must_use]
    pub fn remaining(&self) -> Duration {
        self.deadline.saturating_duration_since(Instant::now())
    }

    /// `Err` if the turn was aborted or its deadline passed.
    ///
    /// # Errors
    /// [`ProviderError::Aborted`], or [`ProviderError::Timeout`] of [`TimeoutKind::Turn`].
    pub fn check(&self) -> Result<(), ProviderError> {
        if self.abort.is_aborted() {
            return Err(ProviderError::Aborted);
        }
        if self.remaining().is_zero() {
            return Err(ProviderError::Timeout(TimeoutKind::Turn));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sleep_wakes_on_abort() {
        let handle = AbortHandle::new();
        let other = handle.clone();
        let started = Instant::now();
        let t = std::thread::spawn(move || other.sleep(Duration::from_secs(30)));
        std::thread::sleep(Duration::from_millis(20));
        handle.abort();
        assert!(t.join().unwrap_or(false));
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(handle.sleep(Duration::from_secs(30)), "an aborted handle never sleeps");
    }

    #[test]
    fn wait_until_ends_on_ready_abort_or_deadline() {
        use std::sync::atomic::{AtomicBool, Ordering};
        let handle = AbortHandle::new();
        let flag = std::sync::Arc::new(AtomicBool::new(false));
        let (other, flag2) = (handle.clone(), std::sync::Arc::clone(&flag));
        let far = Instant::now() + Duration::from_secs(30);
        let t = std::thread::spawn(move || other.wait_until(far, || flag2.load(Ordering::SeqCst)));
        std::thread::sleep(Duration::from_millis(20));
        flag.store(true, Ordering::SeqCst);
        handle.wake();
        assert_eq!(t.join().ok(), Some(WaitEnd::Ready));
        let soon = Instant::now() + Duration::from_millis(10);
        assert_eq!(AbortHandle::new().wait_until(soon, || false), WaitEnd::TimedOut);
        let other = handle.clone();
        let t = std::thread::spawn(move || other.wait_until(far, || false));
        std::thread::sleep(Duration::from_millis(20));
        handle.abort();
        assert_eq!(t.join().ok(), Some(WaitEnd::Aborted));
    }

    #[test]
    fn sleep_runs_out_without_abort() {
        let handle = AbortHandle::new();
        assert!(!handle.sleep(Duration::from_millis(5)));
        let ctl = TurnControl::with_abort(handle, Duration::ZERO);
        assert_eq!(ctl.check(), Err(ProviderError::Timeout(TimeoutKind::Turn)));
        ctl.abort.abort();
        assert_eq!(ctl.check(), Err(ProviderError::Aborted));
        assert!(TurnControl::new(Duration::MAX).remaining() > Duration::from_secs(3600));
    }
}
