//! [`TurnLine`]: the dispatcher's line of deliveries whose turns are not all started yet, and
//! the start of those turns.
//!
//! Guarantees:
//! - **Backpressure, not loss.** A turn the agent refuses for now (its queue or the session's
//!   is full, a store read failed) is never dropped: its delivery stays at the head of the line
//!   (stored, `dispatched`) and is tried again after `channels.replies.retry_base_ms`, doubling
//!   to `retry_max_ms`. Nothing here waits: the dispatcher keeps its own loop and webhook
//!   acknowledgements never depend on it.
//! - **Bounded.** At most `channels.replies.max_in_flight` channel turns run or wait in the
//!   agent at once (a [`Slot`] per turn, given back when its sink is dropped, which rings the
//!   dispatcher); at most [`MAX_LINE_ROWS`] deliveries wait in the line, the first
//!   [`KEEP_PLANS`] with their plan in memory, the rest re-read from the store when their turn
//!   comes. A full line stops the dispatcher reading new deliveries, which then wait in the
//!   inbox (`received`).
//! - **In order.** Deliveries start their turns in inbox order: once one waits, every later
//!   one queues behind it, so the messages of one chat reach its session in order.
//! - **Idempotent.** Starting a delivery again after a partial start (or after a restart)
//!   re-submits every turn; those already started or finished come back as duplicates of their
//!   idempotency key and start nothing.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_channel::Sender;

use super::ChannelTurns;
use super::plan::Plan;
use super::stats::{ChannelTurnStats, TurnCount};
use crate::agent::{TurnEvent, TurnSink};
use crate::app::App;
use crate::config::LogLevel;
use crate::error::GatewayError;
use crate::log::Field;
use crate::outbound::QueuedRows;
use crate::store::InboxState;
use crate::webhook::Channel;

/// Most deliveries waiting in the line; past it the dispatcher reads no new deliveries.
pub const MAX_LINE_ROWS: usize = 1024;

/// Deliveries at the head of the line that keep their plan in memory; the rest are re-read.
pub const KEEP_PLANS: usize = 32;

/// One delivery in line.
#[derive(Debug)]
struct Waiting {
    id: i64,
    /// Its plan, while it is near the head (else re-read from the store).
    plan: Option<Plan>,
    /// Not tried again before.
    due: Instant,
    /// Refusals so far (the backoff's exponent).
    refusals: u32,
}

/// How far starting a delivery's turns got.
enum Start {
    /// Every turn was started (or was a duplicate).
    All,
    /// `max_in_flight` turns are in flight: wait for one to end.
    NoSlot,
    /// The agent refused one for now.
    Refused,
    /// The agent is shutting down: the rows stay `dispatched` for the next start.
    Stopping,
}

/// The line (owned by the dispatcher thread).
#[derive(Debug, Default)]
pub struct TurnLine {
    rows: VecDeque<Waiting>,
    /// The head waits for a free slot (woken by the doorbell), not for a time.
    waiting_for_slot: bool,
}

impl TurnLine {
    /// No room for more deliveries: the dispatcher should not read new ones.
    #[must_use]
    pub fn is_full(&self) -> bool {
        self.rows.len() >= MAX_LINE_ROWS
    }

    /// Deliveries waiting.
    #[must_use]
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether nothing waits.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// Put delivery `id` (already `dispatched`, its events published) in line.
    pub fn push(&mut self, id: i64, plan: Plan) {
        let plan = (self.rows.len() < KEEP_PLANS).then_some(plan);
        self.rows.push_back(Waiting { id, plan, due: Instant::now(), refusals: 0 });
    }

    /// How long the dispatcher may sleep before the line needs it (at most `poll`).
    #[must_use]
    pub fn wait_at_most(&self, poll: Duration) -> Duration {
        match self.rows.front() {
            Some(head) if !self.waiting_for_slot => head.due.saturating_duration_since(Instant::now()).min(poll),
            _ => poll,
        }
    }

    /// Start the turns of the deliveries at the head whose time has come, in order, until one
    /// has to wait. `doorbell` wakes the dispatcher when a turn ends.
    pub fn run(&mut self, app: &App, doorbell: &Sender<()>) {
        self.waiting_for_slot = false;
        let now = Instant::now();
        while let Some(head) = self.rows.front_mut() {
            if head.due > now {
                return;
            }
            let Some(plan) = head.plan.take().or_else(|| reload(app, head.id)) else {
                // Settled or replayed since (a replay dispatches it again): nothing to start.
                self.rows.pop_front();
                continue;
            };
            match start(app, &plan, doorbell) {
                Start::All => {
                    self.rows.pop_front();
                }
                Start::NoSlot => {
                    head.plan = Some(plan);
                    self.waiting_for_slot = true;
                    return;
                }
                Start::Refused => {
                    head.plan = Some(plan);
                    head.refusals = head.refusals.saturating_add(1);
                    head.due = now + app.channel_turns.retry_delay(head.refusals);
                    return;
                }
                Start::Stopping => {
                    self.rows.clear();
                    return;
                }
            }
        }
    }
}

/// The plan of a delivery that left memory, from the store.
fn reload(app: &App, id: i64) -> Option<Plan> {
    let entry = app.store.get(id).ok().filter(|e| e.state == InboxState::Dispatched)?;
    let channel = Channel::from_name(&entry.channel)?;
    let messages = crate::webhook::dispatch::messages_of(app, channel, &entry).ok()?;
    app.channel_turns.plan(&entry, channel, &messages)
}

/// Start every turn of `plan`.
fn start(app: &App, plan: &Plan, doorbell: &Sender<()>) -> Start {
    let turns = &app.channel_turns;
    for request in &plan.turns {
        let Some(route) = request.reply.as_ref() else { continue };
        let channel = route.channel;
        let Some(slot) = Slot::take(&turns.in_flight, turns.max_in_flight, doorbell) else {
            return Start::NoSlot;
        };
        let sink = sink(slot, channel, Arc::clone(&turns.stats), app.outbound.queued_rows(), route.clone());
        match app.agent.submit(request.clone(), sink) {
            Ok(s) if s.duplicate => {}
            Ok(_) => turns.stats.count(channel, TurnCount::Started),
            Err(GatewayError::ShuttingDown) => return Start::Stopping,
            Err(e @ (GatewayError::InvalidParams(_) | GatewayError::AgentNotFound(_))) => {
                // Checked when planned, so not expected; never retried for ever either.
                let why = format!("the agent refused the turn: {}", e.message());
                app.logger.event(
                    LogLevel::Error,
                    "channel turn refused",
                    &[("inbox_id", Field::U64(route.inbox_id.unsigned_abs())), ("error", Field::Str(&why))],
                );
                turns.stats.count(channel, TurnCount::Failed);
                app.store.set_state(vec![route.inbox_id], InboxState::Failed, Some(why));
            }
            Err(_) => {
                turns.stats.count(channel, TurnCount::Deferred);
                return Start::Refused;
            }
        }
    }
    Start::All
}

/// One turn's place in `max_in_flight`, held by its sink: given back (and the dispatcher
/// rung) when the sink is dropped, which happens when the turn is over, or at once when the
/// submit was a duplicate or refused.
struct Slot {
    in_flight: Arc<AtomicUsize>,
    doorbell: Sender<()>,
}

impl Slot {
    fn take(in_flight: &Arc<AtomicUsize>, max: usize, doorbell: &Sender<()>) -> Option<Self> {
        in_flight.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| (n < max).then_some(n + 1)).ok()?;
        Some(Self { in_flight: Arc::clone(in_flight), doorbell: doorbell.clone() })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        self.in_flight.fetch_sub(1, Ordering::AcqRel);
        let _ = self.doorbell.try_send(());
    }
}

/// The sink of a channel turn: counts its end and wakes the outbound sender once the reply
/// (committed with the turn's end, before the sink hears of it) is in the outbox.
fn sink(
    slot: Slot,
    channel: Channel,
    stats: Arc<ChannelTurnStats>,
    queued: QueuedRows,
    route: super::ReplyRoute,
) -> TurnSink {
    Box::new(move |event| {
        let _held = &slot;
        match event {
            TurnEvent::Final(result) => {
                stats.count(channel, TurnCount::Replied);
                queued.committed(channel, route.parts_of(&result.text));
            }
            TurnEvent::Error { .. } => {
                stats.count(channel, TurnCount::Failed);
                let notice = route.error_text.as_deref().map_or(0, |t| route.parts_of(t));
                queued.committed(channel, notice);
            }
            TurnEvent::Aborted { .. } => stats.count(channel, TurnCount::Aborted),
            TurnEvent::Started { .. } | TurnEvent::Delta { .. } | TurnEvent::ToolCall(_) => {}
        }
    })
}

/// The delay before the `refusals`-th retry: `base × 2^(refusals-1)`, at most `max`.
#[must_use]
pub fn backoff(base: Duration, max: Duration, refusals: u32) -> Duration {
    let factor = 1u32.checked_shl(refusals.saturating_sub(1).min(16)).unwrap_or(u32::MAX);
    base.saturating_mul(factor).min(max)
}

impl ChannelTurns {
    /// The delay before the `refusals`-th retry of a delivery.
    #[must_use]
    pub fn retry_delay(&self, refusals: u32) -> Duration {
        backoff(self.retry_base, self.retry_max, refusals)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_and_is_bounded() {
        let (base, max) = (Duration::from_millis(200), Duration::from_secs(5));
        let delays: Vec<u128> = (1..=7).map(|n| backoff(base, max, n).as_millis()).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 5000, 5000]);
        assert_eq!(backoff(base, max, u32::MAX), max);
    }

    #[test]
    fn slots_are_bounded_and_given_back_on_drop() {
        let (tx, rx) = crossbeam_channel::bounded(1);
        let counter = Arc::new(AtomicUsize::new(0));
        let a = Slot::take(&counter, 2, &tx).expect("first");
        let b = Slot::take(&counter, 2, &tx).expect("second");
        assert!(Slot::take(&counter, 2, &tx).is_none(), "the bound holds");
        drop(a);
        assert_eq!(counter.load(Ordering::Acquire), 1);
        assert!(rx.try_recv().is_ok(), "a freed slot rings the dispatcher");
        drop(b);
        assert_eq!(counter.load(Ordering::Acquire), 0);
    }

    #[test]
    fn the_line_keeps_plans_near_its_head_only_and_says_when_it_is_full() {
        let mut line = TurnLine::default();
        for id in 0..MAX_LINE_ROWS {
            assert!(!line.is_full());
            line.push(i64::try_from(id).unwrap_or(0), Plan::default());
        }
        assert!(line.is_full());
        assert_eq!(line.rows.iter().filter(|w| w.plan.is_some()).count(), KEEP_PLANS);
        assert_eq!(line.wait_at_most(Duration::from_secs(1)), Duration::ZERO, "the head is due");
    }
}
