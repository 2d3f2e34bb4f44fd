//! [`Outbound`]: the handle the gateway holds. The runtime queues replies with
//! [`Outbound::enqueue`]; the server starts and stops the `talon-outbound` thread.
//!
//! Guarantees:
//! - `enqueue` never blocks: its checks are in memory, the rows go to the store writer's
//!   bounded queue, and a full queue is answered at once ([`EnqueueError::Full`]). The ids
//!   arrive through the returned [`Receipt`] after the commit, which also rings the sender.
//! - A reply longer than the platform's message limit becomes several rows, queued in order
//!   and sent in order. If the store refuses part way (queue full), the parts already
//!   accepted are still sent and the error says how many (the caller decides whether to send
//!   the rest); nothing is queued after the refusal.
//! - `stop` returns after the thread has finished its current send and exited.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;

use super::MAX_TEXT_BYTES;
use super::backoff::Backoff;
use super::request::Creds;
use super::sender::{self, SenderConfig};
use super::split::split_rows;
use super::stats::OutboundStats;
use super::target::{Target, TargetError};
use crate::app::{App, unix_ms};
use crate::config::Settings;
use crate::config::load::resolve_secret;
use crate::config::schema::Secret;
use crate::store::{NewOutbound, Store, StoreError};
use crate::webhook::Channel;

/// Why a reply was not queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EnqueueError {
    /// The destination is incomplete or malformed, or the channel has no send API.
    Target(String),
    /// Nothing to send.
    EmptyText,
    /// Longer than [`MAX_TEXT_BYTES`].
    TooLong {
        /// Its length.
        bytes: usize,
    },
    /// A LINE reply needs more than one request but has no push target for the rest (a reply
    /// token can be used once).
    LineNeedsPushTarget {
        /// Rows the text needs.
        rows: usize,
    },
    /// The store's queue is full (or the store stopped); `queued` rows were accepted before.
    Store {
        /// The store's answer.
        error: StoreError,
        /// Ids of the parts accepted before the refusal (they will be sent).
        queued: Vec<i64>,
    },
    /// [`Receipt::wait`] gave up before the store answered.
    Timeout,
}

impl std::fmt::Display for EnqueueError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Target(why) => write!(f, "outbound target: {why}"),
            Self::EmptyText => f.write_str("outbound text is empty"),
            Self::TooLong { bytes } => write!(f, "outbound text is {bytes} bytes, more than {MAX_TEXT_BYTES}"),
            Self::LineNeedsPushTarget { rows } => write!(
                f,
                "the reply needs {rows} LINE requests but a reply token covers one; give the user/group id to push the rest"
            ),
            Self::Store { error, queued } if queued.is_empty() => write!(f, "outbox not written: {error}"),
            Self::Store { error, queued } => {
                write!(f, "outbox written only in part ({} parts queued): {error}", queued.len())
            }
            Self::Timeout => f.write_str("the store did not answer in time"),
        }
    }
}

/// The one error mapping (`error.rs`) decides status, JSON-RPC code and close code.
impl From<EnqueueError> for crate::error::GatewayError {
    fn from(e: EnqueueError) -> Self {
        match e {
            EnqueueError::Store { error: StoreError::Full, .. } => Self::Overloaded { what: "outbox" },
            EnqueueError::Store { error: StoreError::Failed(_), .. } => Self::StoreFailed,
            EnqueueError::Store { error: StoreError::Closed, .. } => Self::ShuttingDown,
            e @ (EnqueueError::Store { .. } | EnqueueError::Timeout) => Self::Internal(e.to_string()),
            e @ (EnqueueError::Target(_)
            | EnqueueError::EmptyText
            | EnqueueError::TooLong { .. }
            | EnqueueError::LineNeedsPushTarget { .. }) => Self::InvalidParams(e.to_string()),
        }
    }
}

impl From<TargetError> for EnqueueError {
    fn from(e: TargetError) -> Self {
        Self::Target(e.0)
    }
}

/// The store's answer for a queued reply.
#[derive(Debug)]
pub struct Receipt {
    rx: Receiver<Result<Vec<i64>, EnqueueError>>,
}

impl Receipt {
    /// Wait for the commit (off the I/O loop only): the rows' ids, in part order.
    ///
    /// # Errors
    /// The store refused or failed, or did not answer within `timeout`.
    pub fn wait(&self, timeout: Duration) -> Result<Vec<i64>, EnqueueError> {
        self.rx.recv_timeout(timeout).unwrap_or(Err(EnqueueError::Timeout))
    }

    /// The answer if it has arrived.
    #[must_use]
    pub fn try_get(&self) -> Option<Result<Vec<i64>, EnqueueError>> {
        self.rx.try_recv().ok()
    }
}

/// Collects the per-part answers into one.
struct Parts {
    ids: Vec<Option<i64>>,
    answered: usize,
    expected: Option<usize>,
    error: Option<StoreError>,
    done: Option<Sender<Result<Vec<i64>, EnqueueError>>>,
}

impl Parts {
    fn settle(&mut self) {
        let Some(expected) = self.expected else { return };
        if self.answered < expected {
            return;
        }
        let Some(done) = self.done.take() else { return };
        let ids: Vec<i64> = self.ids.iter().flatten().copied().collect();
        let _ = done.send(match self.error.take() {
            None => Ok(ids),
            Some(error) => Err(EnqueueError::Store { error, queued: ids }),
        });
    }
}

/// Tells the sender about outbox rows committed outside [`Outbound::enqueue`].
#[derive(Debug, Clone)]
pub struct QueuedRows {
    doorbell: Sender<()>,
    stats: Arc<OutboundStats>,
}

impl QueuedRows {
    /// `rows` rows for `channel` were committed: count them and wake the sender (0 only wakes).
    pub fn committed(&self, channel: Channel, rows: u64) {
        if rows > 0 {
            self.stats.queued(channel, rows);
        }
        let _ = self.doorbell.try_send(());
    }
}

/// The outbound side's handle.
#[derive(Debug)]
pub struct Outbound {
    doorbell: Sender<()>,
    bell: Receiver<()>,
    stop: Arc<AtomicBool>,
    stats: Arc<OutboundStats>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Outbound {
    fn default() -> Self {
        // One pending ring is enough: the sender reads everything due when it wakes.
        let (doorbell, bell) = bounded(1);
        Self {
            doorbell,
            bell,
            stop: Arc::new(AtomicBool::new(false)),
            stats: Arc::new(OutboundStats::default()),
            handle: Mutex::new(None),
        }
    }
}

impl Outbound {
    /// Queue `text` for `channel`: `target` and `reply_context` as [`Target::from_parts`]
    /// reads them. Checks run at once; the store's answer comes through the receipt.
    ///
    /// # Errors
    /// A bad target or text, or the store refused the first part at once (queue full, stopped).
    pub fn enqueue(
        &self,
        store: &Store,
        channel: Channel,
        target: &str,
        text: &str,
        reply_context: Option<&str>,
    ) -> Result<Receipt, EnqueueError> {
        let rows = reply_rows(channel, target, text, reply_context, unix_ms())?;
        let (tx, rx) = bounded(1);
        let parts = Arc::new(Mutex::new(Parts {
            ids: vec![None; rows.len()],
            answered: 0,
            expected: None,
            error: None,
            done: Some(tx),
        }));
        let mut submitted = 0usize;
        for (i, message) in rows.into_iter().enumerate() {
            // Stop at the first refusal: later parts must not go out without an earlier one.
            if parts.lock().error.is_some() {
                break;
            }
            let (answer_parts, doorbell, stats) = (Arc::clone(&parts), self.doorbell.clone(), Arc::clone(&self.stats));
            submitted += 1;
            store.outbox_enqueue(
                message,
                Box::new(move |result| {
                    let mut p = answer_parts.lock();
                    p.answered += 1;
                    match result {
                        Ok(id) => {
                            if let Some(slot) = p.ids.get_mut(i) {
                                *slot = Some(id);
                            }
                            stats.queued(channel, 1);
                            // Committed: the sender may look now.
                            let _ = doorbell.try_send(());
                        }
                        Err(e) => {
                            p.error.get_or_insert(e);
                        }
                    }
                    p.settle();
                }),
            );
        }
        let mut p = parts.lock();
        p.expected = Some(submitted);
        // Refused at once on this thread (queue full, store stopped) and nothing else pending:
        // answer now, not through the receipt.
        if p.answered == submitted
            && p.ids.iter().all(Option::is_none)
            && let Some(error) = p.error.take()
        {
            return Err(EnqueueError::Store { error, queued: Vec::new() });
        }
        p.settle();
        drop(p);
        Ok(Receipt { rx })
    }

    /// [`Outbound::enqueue`] and wait for the commit. Never call it on a reactor thread.
    ///
    /// # Errors
    /// As `enqueue`, and the store's later answer.
    pub fn enqueue_wait(
        &self,
        store: &Store,
        channel: Channel,
        target: &str,
        text: &str,
        reply_context: Option<&str>,
        timeout: Duration,
    ) -> Result<Vec<i64>, EnqueueError> {
        self.enqueue(store, channel, target, text, reply_context)?.wait(timeout)
    }

    /// A handle for code that queues outbox rows inside its own transaction (a channel turn's
    /// end): it counts them and rings the sender once they are committed.
    #[must_use]
    pub fn queued_rows(&self) -> QueuedRows {
        QueuedRows { doorbell: self.doorbell.clone(), stats: Arc::clone(&self.stats) }
    }

    /// Wake the sender (something became due outside `enqueue`).
    pub fn ring(&self) {
        let _ = self.doorbell.try_send(());
    }

    /// The per-channel counters.
    #[must_use]
    pub fn stats(&self) -> &OutboundStats {
        &self.stats
    }

    /// Start the sender thread unless `channels.outbound.enabled` is false. It holds the app
    /// weakly, so it never keeps it alive.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn start(&self, app: Weak<App>, settings: &Settings) -> std::io::Result<()> {
        let out = &settings.config.channels.outbound;
        if !out.enabled {
            return Ok(());
        }
        let config = sender_config(settings);
        let (bell, stop, stats) = (self.bell.clone(), Arc::clone(&self.stop), Arc::clone(&self.stats));
        let handle = std::thread::Builder::new()
            .name("talon-outbound".into())
            .spawn(move || sender::run(&app, &config, &stats, &bell, &stop))?;
        *self.handle.lock() = Some(handle);
        Ok(())
    }

    /// Stop the thread after its current send and wait for it.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        let _ = self.doorbell.try_send(());
        if let Some(handle) = self.handle.lock().take() {
            let _ = handle.join();
        }
    }
}

/// The outbox rows of one reply, in send order: `text` split to the platform's message size,
/// the first part to the target built from `target` and `reply_context` (see
/// [`Target::from_parts`]), the rest to the same target, except that a LINE reply token (single
/// use) is left to the first part and the rest are pushed. Pure: what [`Outbound::enqueue`]
/// queues, and what a channel turn queues inside its own end-of-turn transaction.
///
/// # Errors
/// A bad target, an empty or too long text, or a LINE reply that needs pushes without a push
/// target.
pub fn reply_rows(
    channel: Channel,
    target: &str,
    text: &str,
    reply_context: Option<&str>,
    created_ms: u64,
) -> Result<Vec<NewOutbound>, EnqueueError> {
    let first = Target::from_parts(channel, target, reply_context)?;
    if text.trim().is_empty() {
        return Err(EnqueueError::EmptyText);
    }
    if text.len() > MAX_TEXT_BYTES {
        return Err(EnqueueError::TooLong { bytes: text.len() });
    }
    let parts = split_rows(channel, text);
    // A LINE reply token is single use: only the first row may use it.
    let rest = match &first {
        Target::Line { to: Some(to), reply_token: Some(_) } => Target::Line { to: Some(to.clone()), reply_token: None },
        Target::Line { to: None, reply_token: Some(_) } if parts.len() > 1 => {
            return Err(EnqueueError::LineNeedsPushTarget { rows: parts.len() });
        }
        other => other.clone(),
    };
    let (first_json, rest_json) = (first.to_json(), rest.to_json());
    Ok(parts
        .iter()
        .enumerate()
        .map(|(i, part)| NewOutbound {
            channel: channel.name().to_owned(),
            target: if i == 0 { first_json.clone() } else { rest_json.clone() },
            body: part.as_bytes().to_vec(),
            created_ms,
        })
        .collect())
}

/// The send credential `channel` lacks, named by its configuration key (`None`: it can send).
/// A channel turn's reply goes out only where this is `None`; Discord replies follow up the
/// interaction, which needs `application_id` only.
#[must_use]
pub fn missing_send_key(settings: &Settings, channel: Channel) -> Option<&'static str> {
    let config = sender_config(settings);
    let creds = config.creds.get(channel.index())?;
    let has = |v: &Option<String>| v.as_deref().is_some_and(|s| !s.is_empty());
    let (token, account) = match channel {
        Channel::Generic | Channel::Hooks => return Some("a send API (this channel has none)"),
        Channel::Telegram => ("channels.telegram.bot_token", None),
        Channel::Slack => ("channels.slack.bot_token", None),
        Channel::Discord => return (!has(&creds.account)).then_some("channels.discord.application_id"),
        Channel::WhatsApp => ("channels.whatsapp.access_token", Some("channels.whatsapp.phone_number_id")),
        Channel::Line => ("channels.line.channel_access_token", None),
        Channel::Lark => ("channels.lark.app_secret", Some("channels.lark.app_id")),
    };
    if !has(&creds.token) {
        return Some(token);
    }
    account.filter(|_| !has(&creds.account))
}

fn ms(v: u64) -> Duration {
    Duration::from_millis(v.max(1))
}

/// The sender's settings from the validated configuration. Secrets given as `{"env": ...}`
/// were checked at load time; one that disappeared since leaves the credential unset, and
/// sends on that channel fail with "... is not configured".
fn sender_config(settings: &Settings) -> SenderConfig {
    let c = &settings.config.channels;
    let env = |name: &str| std::env::var(name).ok();
    let secret = |path: &str, s: &Option<Secret>| s.as_ref().and_then(|s| resolve_secret(path, s, &env).ok());
    let mut creds = vec![Creds::default(); Channel::ALL.len()];
    let mut put = |channel: Channel, value: Creds| {
        if let Some(slot) = creds.get_mut(channel.index()) {
            *slot = value;
        }
    };
    put(
        Channel::Telegram,
        Creds {
            api_base: c.telegram.api_base.clone(),
            token: secret("channels.telegram.bot_token", &c.telegram.bot_token),
            account: None,
        },
    );
    put(
        Channel::Slack,
        Creds {
            api_base: c.slack.api_base.clone(),
            token: secret("channels.slack.bot_token", &c.slack.bot_token),
            account: None,
        },
    );
    put(
        Channel::Discord,
        Creds {
            api_base: c.discord.api_base.clone(),
            token: secret("channels.discord.bot_token", &c.discord.bot_token),
            account: c.discord.application_id.clone(),
        },
    );
    put(
        Channel::WhatsApp,
        Creds {
            api_base: c.whatsapp.api_base.clone(),
            token: secret("channels.whatsapp.access_token", &c.whatsapp.access_token),
            account: c.whatsapp.phone_number_id.clone(),
        },
    );
    put(
        Channel::Line,
        Creds {
            api_base: c.line.api_base.clone(),
            token: secret("channels.line.channel_access_token", &c.line.channel_access_token),
            account: None,
        },
    );
    put(
        Channel::Lark,
        Creds {
            api_base: c.lark.api_base.clone(),
            token: secret("channels.lark.app_secret", &c.lark.app_secret),
            account: c.lark.app_id.clone(),
        },
    );
    let out = &c.outbound;
    SenderConfig {
        creds,
        backoff: Backoff {
            base: ms(out.backoff_base_ms),
            max: ms(out.backoff_max_ms.max(out.backoff_base_ms)),
            max_attempts: out.max_attempts.max(1),
        },
        poll_interval: ms(out.poll_interval_ms),
        batch: out.batch.max(1),
        connect_timeout: ms(out.connect_timeout_ms),
        request_timeout: ms(out.request_timeout_ms),
    }
}
