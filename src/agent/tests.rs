//! Runtime tests against a real store in a temp directory and a recording provider (the echo
//! provider with a per-token delay): per-session ordering, both bounded queues, abort timing,
//! idempotency, cost, history, the turn deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, unbounded};
use parking_lot::Mutex;

use super::providers::echo::EchoProvider;
use super::providers::router::NullSink;
use super::providers::{
    ModelInfo, ModelRef, Provider, ProviderError, Role, Router, StreamEvent, TurnControl, TurnRequest, TurnSummary,
};
use super::{ChatRequest, Runtime, TurnEvent};
use crate::config::agent::{AgentConfig, PriceConfig};
use crate::error::GatewayError;
use crate::events::EventBus;
use crate::store::{Store, StoreOptions, TurnState};

/// The echo provider, named `builtin`, slowed down, recording every request and when it
/// returned after an abort.
#[derive(Debug)]
struct Recording {
    echo: EchoProvider,
    requests: Mutex<Vec<TurnRequest>>,
    stopped_at: Mutex<Option<Instant>>,
}

impl Provider for Recording {
    fn name(&self) -> &str {
        "builtin"
    }
    fn models(&self) -> Vec<ModelInfo> {
        self.echo.models()
    }
    fn stream(
        &self,
        model: &str,
        request: &TurnRequest,
        ctl: &TurnControl,
        emit: &mut dyn FnMut(StreamEvent<'_>),
    ) -> Result<TurnSummary, ProviderError> {
        self.requests.lock().push(request.clone());
        let r = self.echo.stream(model, request, ctl, emit);
        if r == Err(ProviderError::Aborted) {
            *self.stopped_at.lock() = Some(Instant::now());
        }
        r
    }
    fn complete(&self, model: &str, request: &TurnRequest, ctl: &TurnControl) -> Result<TurnSummary, ProviderError> {
        self.echo.complete(model, request, ctl)
    }
}

struct Fixture {
    runtime: Runtime,
    store: Arc<Store>,
    provider: Arc<Recording>,
    dir: std::path::PathBuf,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.runtime.shutdown();
        self.store.shutdown();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn fixture(tag: &str, token_delay: Duration, tune: impl FnOnce(&mut AgentConfig)) -> Fixture {
    static N: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("talon-agent-{tag}-{}-{n}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let mut opts = StoreOptions::new(dir.join("talon.db"));
    opts.log = Box::new(|_| {});
    let store = Arc::new(Store::open(opts).expect("store"));
    let mut config = AgentConfig::default();
    tune(&mut config);
    let provider = Arc::new(Recording {
        echo: EchoProvider::with_token_delay(token_delay),
        requests: Mutex::new(Vec::new()),
        stopped_at: Mutex::new(None),
    });
    let default_model = ModelRef::parse("builtin/echo").expect("model");
    let timeout = Duration::from_millis(config.turn_timeout_ms);
    let providers: Vec<Arc<dyn Provider>> = vec![Arc::clone(&provider) as Arc<dyn Provider>];
    let router = Router::new(providers, default_model, Vec::new(), timeout, Arc::new(NullSink));
    let bus = Arc::new(EventBus::new(1000));
    let runtime = Runtime::start(&config, Arc::new(router), Arc::clone(&store), bus).expect("runtime");
    Fixture { runtime, store, provider, dir }
}

/// What a sink saw, with the run id and when.
#[derive(Debug, Clone, PartialEq)]
enum Seen {
    Started,
    Delta(String),
    Final { text: String, cost: f64, input: u64, output: u64 },
    Aborted(String),
    Error(String),
}

fn sink_for(run_tag: &'static str) -> (super::TurnSink, Receiver<(&'static str, Seen, Instant)>) {
    let (tx, rx) = unbounded();
    let sink = Box::new(move |e: TurnEvent<'_>| {
        let seen = match e {
            TurnEvent::Started { .. } => Seen::Started,
            TurnEvent::Delta { text } => Seen::Delta(text.to_owned()),
            TurnEvent::ToolCall(_) => return,
            TurnEvent::Final(r) => Seen::Final {
                text: r.text.clone(),
                cost: r.cost_usd,
                input: r.usage.input_tokens,
                output: r.usage.output_tokens,
            },
            TurnEvent::Aborted { partial } => Seen::Aborted(partial.to_owned()),
            TurnEvent::Error { kind, .. } => Seen::Error(kind.to_owned()),
        };
        let _ = tx.send((run_tag, seen, Instant::now()));
    });
    (sink, rx)
}

fn request(session: &str, message: &str) -> ChatRequest {
    ChatRequest { session_key: session.into(), message: message.into(), ..ChatRequest::default() }
}

/// Events until the turn's end (Final, Aborted or Error), with a generous deadline.
fn until_end(rx: &Receiver<(&'static str, Seen, Instant)>) -> Vec<(Seen, Instant)> {
    let mut out = Vec::new();
    loop {
        let (_, seen, at) = rx.recv_timeout(Duration::from_secs(10)).expect("turn ended in time");
        let end = matches!(seen, Seen::Final { .. } | Seen::Aborted(_) | Seen::Error(_));
        out.push((seen, at));
        if end {
            return out;
        }
    }
}

#[test]
fn turns_of_one_session_run_in_order_and_never_overlap() {
    let f = fixture("order", Duration::from_millis(20), |_| {});
    let (s1, r1) = sink_for("one");
    let (s2, r2) = sink_for("two");
    let a = f.runtime.submit(request("s", "alpha beta"), s1).expect("first");
    let b = f.runtime.submit(request("s", "gamma"), s2).expect("second");
    assert!(!a.queued && b.queued, "the second waits behind the first");
    let first = until_end(&r1);
    let second = until_end(&r2);
    let first_end = first.last().map(|(_, t)| *t).expect("end");
    let second_start = second.first().map(|(_, t)| *t).expect("start");
    assert!(second_start >= first_end, "the second turn started before the first ended");
    assert!(matches!(&first.last().expect("end").0, Seen::Final { text, .. } if text == "alpha beta"));
    // The second turn's upstream request carries the first turn as history.
    let requests = f.provider.requests.lock().clone();
    let history: Vec<(Role, String)> = requests[1].messages.iter().map(|m| (m.role, m.content.clone())).collect();
    let expected = [(Role::User, "alpha beta"), (Role::Assistant, "alpha beta"), (Role::User, "gamma")];
    assert_eq!(history, expected.map(|(r, t)| (r, t.to_owned())));
    assert!(!f.runtime.busy("s"));
}

#[test]
fn a_full_session_fifo_is_refused_clearly() {
    let f = fixture("fifo", Duration::from_millis(200), |c| c.max_queued_per_session = 1);
    let (s1, r1) = sink_for("one");
    f.runtime.submit(request("s", "one two three"), s1).expect("running");
    f.runtime.submit(request("s", "waits"), super::no_sink()).expect("waiting");
    let refused = f.runtime.submit(request("s", "refused"), super::no_sink());
    assert!(matches!(refused, Err(GatewayError::SessionBusy { max: 1, .. })), "{refused:?}");
    let e = GatewayError::SessionBusy { session: "s".into(), max: 1 };
    assert_eq!((e.http_status(), e.frame_code(), e.retry_after_ms()), (503, "UNAVAILABLE", Some(1000)));
    f.runtime.abort("s", None).expect("abort all");
    assert!(matches!(until_end(&r1).last().map(|e| &e.0), Some(Seen::Aborted(_))));
}

#[test]
fn a_submit_that_races_the_shutdown_sweep_is_refused_not_left_running_unaborted() {
    let f = fixture("race-shutdown", Duration::from_millis(50), |_| {});
    let runtime = &f.runtime;
    let refused = std::thread::scope(|scope| {
        // The shutdown sweep's lock is held: a submit that has passed its first stopping check
        // queues on it, as it would while the sweep aborts every turn it can see.
        let sweep = runtime.hold_sessions();
        let submit = scope.spawn(|| runtime.submit(request("late", "one two three"), super::no_sink()));
        // Time for the submit to get past its first check (on a slow machine it may not have:
        // then that check refuses it, and the test passes without telling anything).
        std::thread::sleep(Duration::from_millis(100));
        runtime.mark_stopping();
        drop(sweep);
        submit.join().map(|r| r.err())
    });
    assert_eq!(
        refused.ok().flatten(),
        Some(GatewayError::ShuttingDown),
        "a turn let in after the sweep runs unaborted"
    );
    assert_eq!(f.runtime.in_flight(), 0);
}

#[test]
fn a_full_agent_queue_answers_overloaded() {
    let f = fixture("queue", Duration::from_millis(500), |c| {
        c.max_concurrent_turns = 1;
        c.max_queued_turns = 1;
    });
    let (s1, r1) = sink_for("one");
    f.runtime.submit(request("a", "x y"), s1).expect("runs");
    assert_eq!(r1.recv_timeout(Duration::from_secs(10)).expect("started").1, Seen::Started);
    f.runtime.submit(request("b", "x"), super::no_sink()).expect("waits in the agent queue");
    let refused = f.runtime.submit(request("c", "x"), super::no_sink());
    assert_eq!(refused.err(), Some(GatewayError::Overloaded { what: "agent turn queue" }));
    assert!(!f.runtime.busy("c"), "a refused turn leaves nothing behind");
}

#[test]
fn abort_stops_the_upstream_within_100_ms_and_keeps_the_partial_text() {
    let f = fixture("abort", Duration::from_millis(300), |_| {});
    let (sink, rx) = sink_for("one");
    let run = f.runtime.submit(request("s", "first second third fourth"), sink).expect("submit");
    // Wait for the first delta, so there is partial text.
    loop {
        if let (_, Seen::Delta(_), _) = rx.recv_timeout(Duration::from_secs(10)).expect("delta") {
            break;
        }
    }
    let asked = Instant::now();
    let aborted = f.runtime.abort("s", Some(&run.run_id)).expect("abort");
    assert_eq!(aborted.run_ids, std::slice::from_ref(&run.run_id));
    let events = until_end(&rx);
    let stopped = f.provider.stopped_at.lock().expect("the provider saw the abort");
    assert!(stopped.duration_since(asked) < Duration::from_millis(100), "took {:?}", stopped.duration_since(asked));
    assert_eq!(events.last().map(|e| e.0.clone()), Some(Seen::Aborted("first".into())));
    let turn = f.store.agent().expect("reads").turn(&run.run_id).expect("read").expect("row");
    assert_eq!(turn.state, TurnState::Aborted);
    let messages = f.store.agent().expect("reads").messages("s", 10).expect("messages");
    assert_eq!(messages.last().map(|m| m.content.as_str()), Some("first"));
    // The thread lets go of the session just after the sink's last event.
    let deadline = Instant::now() + Duration::from_secs(5);
    while f.runtime.busy("s") && Instant::now() < deadline {
        std::thread::sleep(Duration::from_millis(1));
    }
    // Nothing of that session is in flight any more: an unknown run is refused, an unknown
    // session too.
    assert_eq!(f.runtime.abort("s", Some("run_nope")), Err(GatewayError::RunNotFound("run_nope".into())));
    assert!(f.runtime.abort("s", None).expect("known session").run_ids.is_empty());
    assert_eq!(f.runtime.abort("ghost", None), Err(GatewayError::SessionNotFound("ghost".into())));
}

#[test]
fn a_repeated_idempotency_key_returns_the_first_run() {
    let f = fixture("idem", Duration::ZERO, |_| {});
    let (sink, rx) = sink_for("one");
    let mut req = request("s", "hello");
    req.idempotency_key = Some("k1".into());
    let first = f.runtime.submit(req.clone(), sink).expect("first");
    let again = f.runtime.submit(req.clone(), super::no_sink()).expect("repeat while running or just after");
    assert_eq!((again.run_id.as_str(), again.duplicate), (first.run_id.as_str(), true));
    until_end(&rx);
    // From the store too, once memory is not asked: another runtime over the same store.
    let reads = f.store.agent().expect("reads");
    assert_eq!(reads.turn_by_idempotency("s", "k1").expect("read").map(|t| t.run_id), Some(first.run_id.clone()));
    assert_eq!(reads.session("s").expect("read").map(|s| s.turns), Some(1), "one turn, not two");
    let other_session = f.runtime.submit(ChatRequest { session_key: "t".into(), ..req }, super::no_sink());
    assert!(!other_session.expect("other session").duplicate, "keys are per session");
}

#[test]
fn concurrent_repeats_of_one_key_start_one_turn() {
    let f = Arc::new(fixture("idem-race", Duration::from_millis(50), |_| {}));
    let runs: Vec<_> = (0..8)
        .map(|_| {
            let f = Arc::clone(&f);
            std::thread::spawn(move || {
                let mut req = request("s", "same");
                req.idempotency_key = Some("race".into());
                f.runtime.submit(req, super::no_sink()).expect("submit")
            })
        })
        .map(|h| h.join().expect("thread"))
        .collect();
    assert_eq!(runs.iter().filter(|r| !r.duplicate).count(), 1, "{runs:?}");
    assert!(runs.iter().all(|r| r.run_id == runs[0].run_id));
}

#[test]
fn cost_comes_from_the_price_table_and_adds_up_in_the_session() {
    let f = fixture("cost", Duration::ZERO, |c| {
        c.prices.insert("echo".into(), PriceConfig { input_per_mtok: 1_000_000.0, output_per_mtok: 2_000_000.0 });
        c.system_prompt = Some("be brief".into());
    });
    let (sink, rx) = sink_for("one");
    f.runtime.submit(request("s", "one two three"), sink).expect("submit");
    let end = until_end(&rx);
    // Echo counts words: input = system prompt (2) + message (3), output = 3.
    match &end.last().expect("end").0 {
        Seen::Final { input, output, cost, .. } => {
            assert_eq!((*input, *output), (5, 3));
            assert!((cost - (5.0 + 6.0)).abs() < 1e-9, "{cost}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(f.provider.requests.lock()[0].messages[0].role, Role::System, "the system prompt goes first");
    let session = f.store.agent().expect("reads").session("s").expect("read").expect("row");
    assert!((session.cost_usd - 11.0).abs() < 1e-9 && session.input_tokens == 5 && session.output_tokens == 3);
}

#[test]
fn the_turn_deadline_ends_a_slow_turn_with_a_timeout() {
    let f = fixture("timeout", Duration::from_millis(400), |c| c.turn_timeout_ms = 100);
    let (sink, rx) = sink_for("one");
    let run = f.runtime.submit(request("s", "a b c"), sink).expect("submit");
    assert_eq!(until_end(&rx).last().map(|e| e.0.clone()), Some(Seen::Error("turn_timeout".into())));
    let turn = f.store.agent().expect("reads").turn(&run.run_id).expect("read").expect("row");
    assert_eq!(turn.state, TurnState::Error);
}

#[test]
fn bad_requests_are_refused_before_anything_runs() {
    let f = fixture("bad", Duration::ZERO, |_| {});
    assert!(matches!(f.runtime.submit(request("s", ""), super::no_sink()), Err(GatewayError::InvalidParams(_))));
    let mut unknown_model = request("s", "x");
    unknown_model.model = Some("nope/model".into());
    assert!(
        matches!(f.runtime.submit(unknown_model, super::no_sink()), Err(GatewayError::ModelNotFound(m)) if m == "nope/model")
    );
    assert!(!f.runtime.busy("s"));
}
