//! The inbox dispatcher: one thread that takes stored deliveries in `received` state, in inbox
//! order, normalises each into its messages, publishes them as `message:received` on the event
//! bus, and moves the delivery to `dispatched` (or `failed`, with the reason, when its body
//! holds nothing a channel sends).
//!
//! Guarantees: it never blocks an acknowledgement (it reads through the store's read
//! connection and writes states through the writer queue); nothing is skipped, because it
//! works from the store, not from notifications: a doorbell only saves it the poll interval.
//! A replayed delivery (moved back to `received` behind the cursor) is named to it by id and
//! dispatched from there; the cursor never moves back, so rows whose `dispatched` state is
//! still queued in the writer are never read (and published) a second time. At start every unfinished delivery (`received`, or `dispatched` but
//! not `done`/`failed` when the process stopped) is dispatched again: consumers see a delivery
//! at least once and tell repeats apart by `inboxId`.
//!
//! For a channel that is answered (`crate::channel_turns`) it also starts the agent turns of
//! the delivery's messages, after the row's `dispatched` state is queued (so a turn's end,
//! which settles the row through the same writer queue, always lands after it), through its
//! [`TurnLine`]: a turn the agent cannot take yet waits there, it is never dropped, and a full
//! line stops the reading of new deliveries (they wait in the inbox).

use std::borrow::Cow;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use serde_json::json;

use super::delivery::BodyError;
use super::normalize::{Message, normalize};
use super::{Channel, lark};
use crate::app::App;
use crate::channel_turns::line::TurnLine;
use crate::config::LogLevel;
use crate::config::ingest::NativeVerifier;
use crate::log::Field;
use crate::store::{InboxEntry, InboxState};

/// Deliveries taken from the store per round.
const BATCH: usize = 256;
/// How long the dispatcher sleeps without a doorbell before looking at the store again.
const POLL_INTERVAL: Duration = Duration::from_secs(1);

/// Handle of the dispatcher thread.
#[derive(Debug)]
pub struct Dispatcher {
    doorbell: Sender<()>,
    bell: Receiver<()>,
    replays: Replays,
    stop: Arc<AtomicBool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        // One pending ring is enough: the thread reads everything waiting when it wakes.
        let (doorbell, bell) = bounded(1);
        Self {
            replays: Replays { ids: Arc::new(Mutex::new(Vec::new())), doorbell: doorbell.clone() },
            doorbell,
            bell,
            stop: Arc::new(AtomicBool::new(false)),
            handle: Mutex::new(None),
        }
    }
}

impl Dispatcher {
    /// Start the thread. It holds the app weakly, so it never keeps it alive.
    ///
    /// # Errors
    /// The thread could not be spawned.
    pub fn start(&self, app: Weak<App>) -> std::io::Result<()> {
        let (bell, doorbell) = (self.bell.clone(), self.doorbell.clone());
        let replays = Arc::clone(&self.replays.ids);
        let stop = Arc::clone(&self.stop);
        let handle = std::thread::Builder::new()
            .name("talon-dispatch".into())
            .spawn(move || run(&app, &Wake { bell, doorbell }, &replays, &stop))?;
        *self.handle.lock() = Some(handle);
        Ok(())
    }

    /// New deliveries were stored.
    pub fn ring(&self) {
        let _ = self.doorbell.try_send(());
    }

    /// Where replayed ids are announced; cheap to clone into a store callback.
    #[must_use]
    pub fn replays(&self) -> Replays {
        self.replays.clone()
    }

    /// Stop after the current round and join the thread.
    pub fn stop(&self) {
        self.stop.store(true, Ordering::Release);
        self.ring();
        if let Some(h) = self.handle.lock().take() {
            let _ = h.join();
        }
    }
}

/// Announces deliveries a replay moved back to `received`.
#[derive(Debug, Clone)]
pub struct Replays {
    ids: Arc<Mutex<Vec<i64>>>,
    doorbell: Sender<()>,
}

impl Replays {
    /// Delivery `id` is `received` again (its replay is committed). Never blocks, so it may
    /// run on the store writer thread.
    pub fn announce(&self, id: i64) {
        self.ids.lock().push(id);
        let _ = self.doorbell.try_send(());
    }
}

/// The dispatcher's doorbell, both ends: it sleeps on `bell`; a channel turn's end rings
/// `doorbell` (a slot of `channels.replies.max_in_flight` came free).
struct Wake {
    bell: Receiver<()>,
    doorbell: Sender<()>,
}

fn run(app: &Weak<App>, wake: &Wake, replays: &Mutex<Vec<i64>>, stop: &AtomicBool) {
    let mut cursor = 0i64;
    let mut line = TurnLine::default();
    while !stop.load(Ordering::Acquire) {
        let Some(app) = app.upgrade() else { return };
        let replayed = std::mem::take(&mut *replays.lock());
        if !replayed.is_empty() {
            let again: Vec<InboxEntry> = replayed
                .into_iter()
                .filter_map(|id| app.store.get(id).ok())
                // Ids past the cursor are the cursor's to find; taking them here too would
                // publish them twice.
                .filter(|e| e.id <= cursor && e.state == InboxState::Received)
                .collect();
            dispatch(&app, again, &mut line, &wake.doorbell);
        }
        line.run(&app, &wake.doorbell);
        // A full line holds new deliveries back in the inbox, stored and `received`.
        let batch = if line.is_full() { Ok(Vec::new()) } else { app.store.received_after(cursor, BATCH) };
        let batch = match batch {
            Ok(b) => b,
            Err(e) => {
                let why = e.to_string();
                app.logger.event(
                    LogLevel::Error,
                    "inbox dispatcher cannot read the store",
                    &[("error", Field::Str(&why))],
                );
                Vec::new()
            }
        };
        // A page may be cut short by its body budget, so only an empty one means "caught up".
        let more = !batch.is_empty();
        if let Some(last) = batch.last() {
            cursor = last.id;
        }
        dispatch(&app, batch, &mut line, &wake.doorbell);
        let wait = line.wait_at_most(POLL_INTERVAL);
        drop(app);
        if !more {
            let _ = wake.bell.recv_timeout(wait);
        }
    }
}

/// The messages of a stored delivery from `channel`, as `message:received` carries them.
///
/// # Errors
/// The body holds nothing the channel sends (see `normalize`).
pub(crate) fn messages_of(app: &App, channel: Channel, entry: &InboxEntry) -> Result<Vec<Message>, BodyError> {
    let content_type = entry.headers.get("content-type").and_then(serde_json::Value::as_str);
    let plain = plaintext(app, channel, &entry.body);
    // A Standard Webhooks delivery (named by `webhook-id`) is any payload, not Comis's schema.
    let standard = channel == Channel::Hooks && entry.headers.get(super::standard::ID_HEADER).is_some();
    let shape = if standard { Channel::Generic } else { channel };
    normalize(shape, content_type, &plain).map(|mut messages| {
        for m in &mut messages {
            m.channel = channel.name();
        }
        messages
    })
}

/// Publish the messages of each delivery, record the outcome, and put the turns of answered
/// channels in line.
fn dispatch(app: &App, batch: Vec<InboxEntry>, line: &mut TurnLine, doorbell: &Sender<()>) {
    let mut dispatched = Vec::with_capacity(batch.len());
    let mut planned = Vec::new();
    for entry in batch {
        let Some(channel) = Channel::from_name(&entry.channel) else {
            app.store.set_state(vec![entry.id], InboxState::Failed, Some(format!("unknown channel {}", entry.channel)));
            continue;
        };
        match messages_of(app, channel, &entry) {
            Ok(messages) => {
                for (index, m) in messages.iter().enumerate() {
                    let payload = json!({
                        "inboxId": entry.id, "index": index, "channel": m.channel, "deliveryId": entry.delivery_id,
                        "receivedMs": entry.received_ms, "attempt": entry.attempts, "kind": m.kind,
                        "sender": m.sender, "chat": m.chat, "text": m.text, "attachments": m.attachments,
                    });
                    // The name is in the catalogue; publishing cannot fail for it.
                    let _ = app.bus.publish("message:received", &payload);
                }
                match app.channel_turns.plan(&entry, channel, &messages) {
                    Some(plan) => {
                        if plan.refused.is_empty() {
                            dispatched.push(entry.id);
                        } else {
                            // The other messages are still answered; the row says which were not.
                            app.store.set_state(vec![entry.id], InboxState::Failed, Some(plan.refused.join("; ")));
                        }
                        if !plan.turns.is_empty() {
                            planned.push((entry.id, plan));
                        }
                    }
                    None => dispatched.push(entry.id),
                }
            }
            Err(e) => app.store.set_state(vec![entry.id], InboxState::Failed, Some(e.to_string())),
        }
    }
    if !dispatched.is_empty() {
        app.store.set_state(dispatched, InboxState::Dispatched, None);
    }
    // Only now: every state above is queued in the writer ahead of any turn's end.
    for (id, plan) in planned {
        line.push(id, plan);
    }
    line.run(app, doorbell);
}

/// Lark deliveries are stored as received (encrypted when an Encrypt Key is set).
fn plaintext<'a>(app: &App, channel: Channel, body: &'a [u8]) -> Cow<'a, [u8]> {
    if channel != Channel::Lark {
        return Cow::Borrowed(body);
    }
    let key = app.settings.ingest.channel(Channel::Lark).and_then(|c| match &c.native {
        Some(NativeVerifier::Lark { encrypt_key: Some(k), .. }) => Some(k.as_slice()),
        _ => None,
    });
    #[derive(serde::Deserialize)]
    struct Encrypted {
        encrypt: String,
    }
    match (key, serde_json::from_slice::<Encrypted>(body)) {
        (Some(key), Ok(e)) => lark::decrypt(e.encrypt.as_bytes(), key).map_or(Cow::Borrowed(body), Cow::Owned),
        _ => Cow::Borrowed(body),
    }
}
