//! The inbox dispatcher: one thread that takes stored deliveries in `received` state, in inbox
//! order, normalises each into its messages, publishes them as `message:received` on the event
//! bus, and moves the delivery to `dispatched` (or `failed`, with the reason, when its body
//! holds nothing a channel sends).
//!
//! Guarantees: it never blocks an acknowledgement (it reads through the store's read
//! connection and writes states through the writer queue); nothing is skipped, because it
//! works from the store, not from notifications: a doorbell only saves it the poll interval,
//! and a replayed delivery (moved back to `received`, possibly behind the cursor) makes it scan
//! from the start again. At start every unfinished delivery (`received`, or `dispatched` but
//! not `done`/`failed` when the process stopped) is dispatched again: consumers see a delivery
//! at least once and tell repeats apart by `inboxId`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crossbeam_channel::{Receiver, Sender, bounded};
use parking_lot::Mutex;
use serde_json::json;

use super::normalize::normalize;
use super::{Channel, lark};
use crate::app::App;
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
    rescan: Arc<AtomicBool>,
    stop: Arc<AtomicBool>,
    handle: Mutex<Option<JoinHandle<()>>>,
}

impl Default for Dispatcher {
    fn default() -> Self {
        // One pending ring is enough: the thread reads everything waiting when it wakes.
        let (doorbell, bell) = bounded(1);
        Self {
            doorbell,
            bell,
            rescan: Arc::new(AtomicBool::new(false)),
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
        let bell = self.bell.clone();
        let rescan = Arc::clone(&self.rescan);
        let stop = Arc::clone(&self.stop);
        let handle = std::thread::Builder::new()
            .name("talon-dispatch".into())
            .spawn(move || run(&app, &bell, &rescan, &stop))?;
        *self.handle.lock() = Some(handle);
        Ok(())
    }

    /// New deliveries were stored.
    pub fn ring(&self) {
        let _ = self.doorbell.try_send(());
    }

    /// A delivery went back to `received` (replay): look from the start again.
    pub fn rescan(&self) {
        self.rescan.store(true, Ordering::Release);
        self.ring();
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

fn run(app: &Weak<App>, bell: &Receiver<()>, rescan: &AtomicBool, stop: &AtomicBool) {
    let mut cursor = 0i64;
    while !stop.load(Ordering::Acquire) {
        if rescan.swap(false, Ordering::AcqRel) {
            cursor = 0;
        }
        let Some(app) = app.upgrade() else { return };
        let batch = match app.store.received_after(cursor, BATCH) {
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
        let full = batch.len() == BATCH;
        if let Some(last) = batch.last() {
            cursor = last.id;
        }
        dispatch(&app, batch);
        drop(app);
        if !full {
            let _ = bell.recv_timeout(POLL_INTERVAL);
        }
    }
}

/// Publish the messages of each delivery and record the outcome.
fn dispatch(app: &App, batch: Vec<InboxEntry>) {
    let mut dispatched = Vec::with_capacity(batch.len());
    for entry in batch {
        let Some(channel) = Channel::from_name(&entry.channel) else {
            app.store.set_state(vec![entry.id], InboxState::Failed, Some(format!("unknown channel {}", entry.channel)));
            continue;
        };
        let content_type = entry.headers.get("content-type").and_then(serde_json::Value::as_str);
        let plain = plaintext(app, channel, &entry.body);
        match normalize(channel, content_type, &plain) {
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
                dispatched.push(entry.id);
            }
            Err(e) => app.store.set_state(vec![entry.id], InboxState::Failed, Some(e.to_string())),
        }
    }
    if !dispatched.is_empty() {
        app.store.set_state(dispatched, InboxState::Dispatched, None);
    }
}

/// Lark deliveries are stored as received (encrypted when an Encrypt Key is set).
fn plaintext(app: &App, channel: Channel, body: &[u8]) -> Vec<u8> {
    if channel != Channel::Lark {
        return body.to_vec();
    }
    let key = app.settings.ingest.channel(Channel::Lark).and_then(|c| match &c.native {
        Some(NativeVerifier::Lark { encrypt_key: Some(k), .. }) => Some(k.clone()),
        _ => None,
    });
    #[derive(serde::Deserialize)]
    struct Encrypted {
        encrypt: String,
    }
    match (key, serde_json::from_slice::<Encrypted>(body)) {
        (Some(key), Ok(e)) => lark::decrypt(e.encrypt.as_bytes(), &key).unwrap_or_else(|_| body.to_vec()),
        _ => body.to_vec(),
    }
}
