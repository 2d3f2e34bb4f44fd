//! Bus tests: id sequence under concurrent publishers, wire forms, refusal of unknown names,
//! and wake-up coalescing and lossless delivery against a real `mio::Poll`.

use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use mio::{Events, Poll, Token, Waker};
use serde_json::json;

use super::*;
use crate::auth::scope::Scope;
use crate::protocol::sse::parse_stream;

const WAKE: Token = Token(7);

fn ids(events: &[Arc<Encoded>]) -> Vec<u64> {
    events.iter().map(|e| e.id()).collect()
}

#[test]
fn ids_are_monotonic_and_contiguous_under_concurrent_publishers() {
    const THREADS: u64 = 4;
    const PER_THREAD: u64 = 2_000;
    let bus = Arc::new(EventBus::new(10_000));
    let handles: Vec<_> = (0..THREADS)
        .map(|t| {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                (0..PER_THREAD)
                    .map(|i| bus.publish("message:streaming", &json!({ "t": t, "i": i })).unwrap_or(0))
                    .collect::<Vec<u64>>()
            })
        })
        .collect();
    let mut all = Vec::new();
    for h in handles {
        let mine = h.join().unwrap_or_default();
        assert!(mine.windows(2).all(|w| w[0] < w[1]), "one thread's ids must ascend");
        all.extend(mine);
    }
    all.sort_unstable();
    let total = THREADS * PER_THREAD;
    assert_eq!(all, (1..=total).collect::<Vec<_>>());
    assert_eq!(bus.last_id(), total);
    // Ring order is id order, and each event's bytes carry its own id.
    let s = bus.since(0, usize::MAX);
    assert!(!s.missed);
    assert_eq!(ids(&s.events), (1..=total).collect::<Vec<_>>());
    for e in &s.events {
        let parsed = parse_stream(e.sse());
        assert_eq!(parsed.first().map(|p| p.id.clone()), Some(e.id().to_string()));
    }
}

#[test]
fn published_bytes_parse_back() {
    let bus = EventBus::new(16);
    let payload = json!({ "sessionKey": "web-1", "text": "line one\nline two\r\n", "n": 3 });
    let id = bus.publish("message:received", &payload).unwrap_or(0);
    assert_eq!(id, 1);
    let recent = bus.recent(1);
    let [e] = recent.as_slice() else { panic!("one event expected, got {}", recent.len()) };
    let parsed = parse_stream(e.sse());
    let [p] = parsed.as_slice() else { panic!("one parsed event expected: {parsed:?}") };
    assert_eq!((p.id.as_str(), p.event.as_str()), ("1", "message:received"));
    let back: serde_json::Value = serde_json::from_slice(&p.data).unwrap_or_default();
    assert_eq!(back, payload);
    assert_eq!(e.payload(), p.data.as_slice());
    let activity: serde_json::Value = serde_json::from_slice(e.activity()).unwrap_or_default();
    assert_eq!(activity["id"], 1);
    assert_eq!(activity["event"], "message:received");
    assert_eq!(activity["payload"], payload);
    assert!(activity["ts"].as_u64().is_some_and(|ts| ts > 1_600_000_000_000));
    assert_eq!(e.scope(), Scope::Rpc);

    let raw = serde_json::value::RawValue::from_string("{\"delta\":\"x\",\n \"done\":false}".to_owned());
    let raw = raw.unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bus.publish_raw("message:streaming", &raw), Ok(2));
    let parsed = parse_stream(bus.recent(1).first().map(|e| e.sse()).unwrap_or_default());
    let data = parsed.first().map(|p| p.data.clone()).unwrap_or_default();
    assert_eq!(serde_json::from_slice::<serde_json::Value>(&data).ok(), Some(json!({"delta":"x","done":false})));

    assert_eq!(bus.publish("security:warn", &json!(null)), Ok(3));
    assert_eq!(bus.recent(1).first().map(|e| e.scope()), Some(Scope::Admin));
}

#[test]
fn unknown_events_are_refused() {
    let bus = EventBus::new(16);
    for name in ["", "ping", "message", "message:bogus", "MESSAGE:SENT", "system:error\n"] {
        let err = bus.publish(name, &json!({})).err();
        assert_eq!(err.as_ref().map(UnknownEvent::name), Some(name), "{name:?}");
    }
    assert_eq!(bus.last_id(), 0);
    assert!(bus.recent(10).is_empty());
    let long = "é".repeat(100);
    let err = bus.publish(&long, &json!({})).err().unwrap_or_else(|| panic!("accepted"));
    assert!(err.name().len() <= bus::MAX_UNKNOWN_NAME_ECHO && long.starts_with(err.name()));
    assert!(err.to_string().contains("unknown event name"));
}

#[test]
fn since_and_recent_through_the_bus() {
    let bus = EventBus::new(4);
    for i in 0..10 {
        assert_eq!(bus.publish("skill:executed", &json!(i)), Ok(i + 1));
    }
    let s = bus.since(0, 100);
    assert_eq!((ids(&s.events), s.missed), (vec![7, 8, 9, 10], true));
    let s = bus.since(6, 2);
    assert_eq!((ids(&s.events), s.missed), (vec![7, 8], false));
    let s = bus.since(10, 100);
    assert!(s.events.is_empty() && !s.missed);
    let s = bus.since(11, 100);
    assert!(s.events.is_empty() && s.missed);
    assert_eq!(ids(&bus.recent(2)), [9, 10]);
    let mut buf = Vec::new();
    assert!(!bus.since_into(8, 100, &mut buf));
    assert_eq!(ids(&buf), [9, 10]);
}

/// Events for `WAKE` that arrive within `wait`.
fn wakeups(poll: &mut Poll, events: &mut Events, wait: Duration) -> usize {
    poll.poll(events, Some(wait)).unwrap_or_else(|e| panic!("poll: {e}"));
    events.iter().filter(|e| e.token() == WAKE).count()
}

#[test]
fn a_listener_is_woken_once_per_burst() {
    let mut poll = Poll::new().unwrap_or_else(|e| panic!("{e}"));
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).unwrap_or_else(|e| panic!("{e}")));
    let mut events = Events::with_capacity(16);
    let bus = EventBus::new(2_000);
    let listener = bus.add_listener(waker);

    // No subscribers: publishing does not wake the reactor.
    bus.publish("system:startup", &json!({})).unwrap_or(0);
    assert_eq!(wakeups(&mut poll, &mut events, Duration::from_millis(20)), 0);
    assert!(!listener.take_pending());

    listener.add_subscriber();
    bus.publish("graph:started", &json!({})).unwrap_or(0);
    assert_eq!(wakeups(&mut poll, &mut events, Duration::from_secs(2)), 1);
    // Until the reactor takes the flag, further events do not signal the waker again (the
    // waker's eventfd is edge-triggered, so a second wake() would show up here).
    for _ in 0..999 {
        bus.publish("graph:node_updated", &json!({})).unwrap_or(0);
        assert_eq!(wakeups(&mut poll, &mut events, Duration::ZERO), 0);
    }
    assert!(listener.take_pending());
    assert!(!listener.take_pending());
    bus.publish("graph:completed", &json!({})).unwrap_or(0);
    assert_eq!(wakeups(&mut poll, &mut events, Duration::from_secs(2)), 1);
    assert!(listener.take_pending());

    listener.remove_subscriber();
    listener.remove_subscriber(); // never below zero
    assert_eq!(listener.subscribers(), 0);
    bus.publish("graph:completed", &json!({})).unwrap_or(0);
    assert_eq!(wakeups(&mut poll, &mut events, Duration::from_millis(20)), 0);

    listener.add_subscriber();
    bus.remove_listener(&listener);
    bus.publish("graph:completed", &json!({})).unwrap_or(0);
    assert_eq!(wakeups(&mut poll, &mut events, Duration::from_millis(20)), 0);
}

/// A reactor following the protocol on [`Listener`] sees every event exactly once, in order,
/// while two threads publish concurrently.
#[test]
fn a_reactor_following_the_protocol_loses_nothing() {
    const PUBLISHERS: u64 = 2;
    const PER_THREAD: u64 = 5_000;
    const TOTAL: u64 = PUBLISHERS * PER_THREAD;
    let bus = Arc::new(EventBus::new(usize::try_from(TOTAL).unwrap_or(usize::MAX)));
    let mut poll = Poll::new().unwrap_or_else(|e| panic!("{e}"));
    let waker = Arc::new(Waker::new(poll.registry(), WAKE).unwrap_or_else(|e| panic!("{e}")));
    let listener = bus.add_listener(waker);
    // Subscribe, then replay (nothing yet) and start the cursor.
    listener.add_subscriber();
    let mut cursor = bus.last_id();
    let mut seen = Vec::new();
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|_| {
            let bus = Arc::clone(&bus);
            thread::spawn(move || {
                for i in 0..PER_THREAD {
                    bus.publish("message:streaming", &json!(i)).unwrap_or(0);
                }
            })
        })
        .collect();
    let mut events = Events::with_capacity(16);
    let mut wakes = 0;
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut buf = Vec::new();
    while cursor < TOTAL {
        assert!(Instant::now() < deadline, "stalled at {cursor} of {TOTAL} after {wakes} wake-ups");
        wakes += wakeups(&mut poll, &mut events, Duration::from_secs(1));
        if listener.take_pending() {
            buf.clear();
            assert!(!bus.since_into(cursor, usize::MAX, &mut buf), "missed events");
            if let Some(last) = buf.last() {
                cursor = last.id();
            }
            seen.extend(buf.iter().map(|e| e.id()));
        }
    }
    for p in publishers {
        p.join().unwrap_or_else(|_| panic!("publisher panicked"));
    }
    assert_eq!(seen, (1..=TOTAL).collect::<Vec<_>>());
    assert!(wakes <= usize::try_from(TOTAL).unwrap_or(usize::MAX));
}
