//! The `talon-outbound` thread: takes due outbox rows, sends them, records each outcome.
//!
//! Guarantees:
//! - **Only accepted sends become `sent`.** The state write waits for its commit before the
//!   next row is looked at, so a row is never picked up twice by this process; a crash between
//!   the platform's answer and the commit leaves it `pending` and it is sent again after the
//!   restart (the duplicate window, see the module doc of [`super`]).
//! - **Bounded work per round**: at most `batch` sends, then the doorbell or the next due time.
//!   Rows are read [`FETCH_FACTOR`] × `batch` at a time, so rows held back behind an earlier
//!   part of the same reply do not starve other conversations.
//! - **Order within a conversation.** Parts of one reply are rows with increasing ids; a row
//!   whose earlier sibling is waiting for a retry is held back until that one is settled, so
//!   parts never arrive out of order while this process runs. (After a restart the hold is
//!   forgotten: rows due together are still sent in id order.)
//! - **Never on the I/O loop**, and a stop is noticed between sends: the longest wait at
//!   shutdown is one request's `request_timeout`.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, bounded};

use super::backoff::{Backoff, Next};
use super::http::Client;
use super::request::{Creds, Row, build, classify, scrub, secrets};
use super::stats::OutboundStats;
use super::target::Target;
use super::{OutResponse, Verdict, clip_error, lark};
use crate::app::{App, unix_ms};
use crate::config::LogLevel;
use crate::log::Field;
use crate::store::{OutboxEntry, OutboxState, Store, StoreError};
use crate::webhook::Channel;

/// Rows read per round, as a multiple of the send batch (see the module doc).
pub const FETCH_FACTOR: usize = 4;

/// How long the sender waits between tries of a state write the store refused as full.
const STATE_WRITE_RETRY: Duration = Duration::from_millis(20);

/// Everything the thread needs, resolved at start.
#[derive(Debug, Clone)]
pub struct SenderConfig {
    /// Send settings per channel, indexed by [`Channel::index`].
    pub creds: Vec<Creds>,
    /// Retry policy.
    pub backoff: Backoff,
    /// Wait without a doorbell.
    pub poll_interval: Duration,
    /// Sends per round.
    pub batch: usize,
    /// TCP connect timeout.
    pub connect_timeout: Duration,
    /// Whole-request timeout.
    pub request_timeout: Duration,
}

/// A cached Lark tenant token.
struct LarkToken {
    token: String,
    usable_until: Instant,
}

/// The thread's state.
struct Sender<'a> {
    config: &'a SenderConfig,
    stats: &'a OutboundStats,
    client: Client,
    lark: Option<LarkToken>,
    /// Conversation → (the row being retried, when it is due): later rows of it wait.
    held: HashMap<String, (i64, u64)>,
}

/// The outcome of one attempt, before it is recorded.
struct Attempt {
    verdict: Verdict,
}

/// Run until `stop` (checked between sends and on every wake).
pub fn run(app: &Weak<App>, config: &SenderConfig, stats: &Arc<OutboundStats>, bell: &Receiver<()>, stop: &AtomicBool) {
    let mut sender = Sender {
        config,
        stats,
        client: Client::new(config.connect_timeout, config.request_timeout),
        lark: None,
        held: HashMap::new(),
    };
    while !stop.load(Ordering::Acquire) {
        let Some(app) = app.upgrade() else { return };
        let (sent_full_batch, next_due) = sender.round(&app, stop);
        drop(app);
        if sent_full_batch {
            continue;
        }
        let now = unix_ms();
        let wait = next_due.map_or(config.poll_interval, |due| {
            Duration::from_millis(due.saturating_sub(now)).min(config.poll_interval)
        });
        // A ring or the stop's ring ends the wait early; a disconnected bell means stop.
        if matches!(bell.recv_timeout(wait), Err(crossbeam_channel::RecvTimeoutError::Disconnected)) {
            return;
        }
    }
}

impl Sender<'_> {
    /// One round: returns whether a full batch was sent (more may be waiting) and the earliest
    /// time a held row is due.
    fn round(&mut self, app: &App, stop: &AtomicBool) -> (bool, Option<u64>) {
        let now = unix_ms();
        let batch = self.config.batch.max(1);
        let mut due = match app.store.outbox_due(now, batch.saturating_mul(FETCH_FACTOR)) {
            Ok(rows) => rows,
            Err(e) => {
                let why = e.to_string();
                app.logger.event(LogLevel::Warn, "outbox read failed", &[("error", Field::Str(&why))]);
                return (false, None);
            }
        };
        due.sort_by_key(|r| r.id);
        self.held.retain(|_, (_, until)| *until > now.saturating_sub(self.config.poll_interval_ms()));
        let mut sent = 0usize;
        for row in &due {
            if sent >= batch || stop.load(Ordering::Acquire) {
                break;
            }
            let target = Target::parse(&row.target);
            let conversation = target.as_ref().map_or_else(|_| format!("row:{}", row.id), Target::conversation);
            if self.held.get(&conversation).is_some_and(|(holder, _)| *holder != row.id) {
                continue;
            }
            sent += 1;
            let channel = target.as_ref().map_or_else(|_| Channel::from_name(&row.channel), |t| Some(t.channel()));
            let attempt = match target {
                Ok(t) => self.attempt(&t, row),
                Err(e) => Attempt { verdict: Verdict::Failed { error: e.0 } },
            };
            match self.record(app, row, channel, attempt) {
                Some(next_ms) => {
                    self.held.insert(conversation, (row.id, next_ms));
                }
                None => {
                    self.held.remove(&conversation);
                }
            }
            if !app.store.healthy() {
                break;
            }
        }
        let next_due = self.held.values().map(|(_, until)| *until).min();
        (sent >= batch, next_due)
    }

    /// Send one row and classify the answer.
    fn attempt(&mut self, target: &Target, row: &OutboxEntry) -> Attempt {
        let Some(creds) = self.config.creds.get(target.channel().index()) else {
            return Attempt { verdict: Verdict::Failed { error: "channel has no send settings".into() } };
        };
        let Ok(text) = std::str::from_utf8(&row.body) else {
            return Attempt { verdict: Verdict::Failed { error: "stored outbox text is not UTF-8".into() } };
        };
        let row_ref = Row { id: row.id, created_ms: row.created_ms, text };
        let mut fresh_token_tried = false;
        loop {
            let lark_token = if matches!(target, Target::Lark { .. }) {
                match self.lark_token(creds) {
                    Ok(t) => Some(t),
                    Err(verdict) => return Attempt { verdict },
                }
            } else {
                None
            };
            let request = match build(target, row_ref, creds, lark_token.as_deref()) {
                Ok(r) => r,
                Err(error) => return Attempt { verdict: Verdict::Failed { error } },
            };
            let mut hidden = secrets(creds, lark_token.as_deref());
            if let Target::Discord { interaction_token: Some(t), .. } | Target::Line { reply_token: Some(t), .. } =
                target
            {
                hidden.push(t);
            }
            let answer = match self.client.send(&request) {
                Ok(a) => a,
                Err(e) => {
                    let error = clip_error(&scrub(e, &hidden));
                    return Attempt { verdict: Verdict::Retry { after: None, error } };
                }
            };
            let response =
                OutResponse { status: answer.status, retry_after: answer.retry_after.as_deref(), body: &answer.body };
            if matches!(target, Target::Lark { .. }) && lark::token_rejected(&response) {
                self.lark = None;
                if !fresh_token_tried {
                    // The cached token was revoked or expired early: one more try with a new one.
                    fresh_token_tried = true;
                    continue;
                }
            }
            let verdict = match classify(target, &response) {
                Verdict::Sent => Verdict::Sent,
                Verdict::Retry { after, error } => Verdict::Retry { after, error: scrub(error, &hidden) },
                Verdict::Failed { error } => Verdict::Failed { error: scrub(error, &hidden) },
            };
            return Attempt { verdict };
        }
    }

    /// The cached Lark token, fetched when there is none or it is about to expire.
    fn lark_token(&mut self, creds: &Creds) -> Result<String, Verdict> {
        if let Some(t) = self.lark.as_ref().filter(|t| t.usable_until > Instant::now()) {
            return Ok(t.token.clone());
        }
        let app_id = creds.account.as_deref().filter(|s| !s.is_empty());
        let secret = creds.token.as_deref().filter(|s| !s.is_empty());
        let (Some(app_id), Some(secret)) = (app_id, secret) else {
            return Err(Verdict::Failed {
                error: "channels.lark.app_id and channels.lark.app_secret must both be configured".into(),
            });
        };
        let request = lark::token_request(&creds.api_base, app_id, secret);
        let answer = self.client.send(&request).map_err(|e| Verdict::Retry {
            after: None,
            error: clip_error(&scrub(format!("lark token: {e}"), &[secret])),
        })?;
        let response =
            OutResponse { status: answer.status, retry_after: answer.retry_after.as_deref(), body: &answer.body };
        let (token, usable) = lark::parse_token(&response)?;
        self.lark = Some(LarkToken { token: token.clone(), usable_until: Instant::now() + usable });
        Ok(token)
    }

    /// Record the outcome durably; returns when the row is due again if it stays pending.
    fn record(&self, app: &App, row: &OutboxEntry, channel: Option<Channel>, attempt: Attempt) -> Option<u64> {
        let now = unix_ms();
        let attempt_no = row.attempts.saturating_add(1);
        let (state, next_ms, error) = match attempt.verdict {
            Verdict::Sent => (OutboxState::Sent, 0, None),
            Verdict::Failed { error } => (OutboxState::Failed, 0, Some(error)),
            Verdict::Retry { after, error } => match self.config.backoff.after_failure(attempt_no, after) {
                Next::RetryIn(delay) => {
                    let delay_ms = u64::try_from(delay.as_millis()).unwrap_or(u64::MAX);
                    (OutboxState::Pending, now.saturating_add(delay_ms), Some(error))
                }
                Next::GiveUp => (OutboxState::Failed, 0, Some(format!("gave up after {attempt_no} attempts: {error}"))),
            },
        };
        if let (OutboxState::Failed, Some(e)) = (&state, &error) {
            app.logger.event(
                LogLevel::Warn,
                "outbound message failed",
                &[
                    ("channel", Field::Str(&row.channel)),
                    ("outbox_id", Field::U64(u64::try_from(row.id).unwrap_or(0))),
                    ("error", Field::Str(e)),
                ],
            );
        }
        let written = write_state(&app.store, row.id, state, next_ms, error.clone());
        // Counted after the write, so a reader that sees the count also sees the row's state.
        if let Some(channel) = channel {
            match (&state, &error) {
                (OutboxState::Sent, _) => self.stats.sent(channel, now),
                (s, Some(e)) => self.stats.attempt_failed(channel, *s == OutboxState::Failed, e, now),
                (_, None) => {}
            }
        }
        match written {
            Ok(()) => {}
            Err(e) => {
                let why = e.to_string();
                app.logger.event(
                    LogLevel::Error,
                    "outbox state not recorded (the row stays pending and will be sent again)",
                    &[("outbox_id", Field::U64(u64::try_from(row.id).unwrap_or(0))), ("error", Field::Str(&why))],
                );
                // Hold it back for a poll so this process does not resend it at once.
                return Some(now.saturating_add(self.config.poll_interval_ms()));
            }
        }
        (state == OutboxState::Pending).then_some(next_ms)
    }
}

impl SenderConfig {
    fn poll_interval_ms(&self) -> u64 {
        u64::try_from(self.poll_interval.as_millis()).unwrap_or(u64::MAX)
    }
}

/// Write a row's new state and wait for the commit; a full queue is tried again (the sender
/// is off the I/O loop and must not lose the outcome of a send).
fn write_state(
    store: &Store,
    id: i64,
    state: OutboxState,
    next_ms: u64,
    error: Option<String>,
) -> Result<(), StoreError> {
    loop {
        let (tx, rx) = bounded(1);
        store.outbox_set_state(
            id,
            state,
            next_ms,
            error.clone(),
            Box::new(move |r| {
                let _ = tx.send(r);
            }),
        );
        match rx.recv().unwrap_or(Err(StoreError::Closed)) {
            Err(StoreError::Full) => std::thread::sleep(STATE_WRITE_RETRY),
            other => return other,
        }
    }
}
