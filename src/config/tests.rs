//! Table-driven tests of configuration loading and validation.

use super::*;
use std::collections::HashMap;

fn run(json: &str, env: &[(&str, &str)]) -> Result<Settings, Vec<ConfigError>> {
    let cfg = load::parse(json.as_bytes()).map_err(|e| vec![e])?;
    let env: HashMap<String, String> = env.iter().map(|(k, v)| ((*k).to_string(), (*v).to_string())).collect();
    let lookup = |k: &str| env.get(k).cloned();
    let loaded =
        Loaded { config: cfg, data_dir: "/tmp/talon-test".into(), config_path: "/tmp/x".into(), file_found: true };
    validate(&loaded, &lookup)
}

const GOOD: &str = "k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue";

#[test]
fn defaults_are_valid() {
    let s = run("{}", &[]).unwrap();
    assert_eq!(s.bind.to_string(), "127.0.0.1:18789");
    assert!(s.auth.open_loopback);
    assert_eq!(s.limits.max_body_bytes, 1_048_576);
}

#[test]
fn refusals_name_the_path() {
    let cases: &[(&str, &str)] = &[
        (r#"{"gateway":{"nope":1}}"#, "gateway"),
        (r#"{"gateway":{"limits":{"max_body_bytes":"x"}}}"#, "gateway.limits.max_body_bytes"),
        (r#"{"gateway":{"host":"0.0.0.0"}}"#, "gateway.host"),
        (r#"{"gateway":{"auth_token":"short"}}"#, "gateway.auth_token"),
        (
            r#"{"gateway":{"tokens":[{"id":"a","secret":"changeme-changeme-changeme-changeme","scopes":["rpc"]}]}}"#,
            "gateway.tokens[0].secret",
        ),
        (
            r#"{"gateway":{"tokens":[{"id":"a","secret":"k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue","scopes":["root"]}]}}"#,
            "gateway.tokens[0].scopes",
        ),
        (r#"{"gateway":{"cors_origins":["*"]}}"#, "gateway.cors_origins[0]"),
        (r#"{"gateway":{"trusted_proxies":["10.0.0.0/99"]}}"#, "gateway.trusted_proxies[0]"),
        (r#"{"gateway":{"io_threads":"many"}}"#, "gateway.io_threads"),
        (r#"{"logging":{"level":"loud"}}"#, "logging.level"),
        (r#"{"gateway":{"tls":{"certPath":"/c.pem"}}}"#, "gateway.tls"),
        (r#"{"agent":42}"#, "agent"),
        (r#"{"gateway":{"wsMessageRateLimit":{"maxMessages":"x"}}}"#, "gateway.wsMessageRateLimit.maxMessages"),
        (r#"{"gateway":{"wsMessageRateLimit":{"burst":1}}}"#, "gateway.wsMessageRateLimit"),
        (r#"{"gateway":{"auth_token":{"env":"TALON_TEST_MISSING"}}}"#, "gateway.auth_token"),
    ];
    for (json, path) in cases {
        let errs = run(json, &[]).expect_err(json);
        assert!(errs.iter().any(|e| e.path.starts_with(path)), "{json}: {errs:?}");
        assert!(errs.iter().all(|e| !e.reason.is_empty()));
    }
}

#[test]
fn seed_aliases_are_accepted() {
    let json = r#"{"gateway":{"rateLimit":{"windowMs":1000,"maxRequests":5},"httpBodyLimitBytes":2048,
        "corsOrigins":["https://app.example.com"],"trustedProxies":["10.0.0.0/8"],
        "webhook_hmac_secret":"s","token":"k3Jd9aPq0xLm2ZrT7vNw4bYc8HfGs1Ue",
        "enabled":true,"maxBatchSize":20,"wsHeartbeatMs":30000,"allowInsecureHttp":false,"web":{"enabled":true},
        "wsMessageRateLimit":{"maxMessages":5,"windowMs":1000},"wsMaxMessageBytes":4096}}"#;
    let cfg = load::parse(json.as_bytes()).unwrap();
    let loaded = Loaded { config: cfg, data_dir: "/tmp".into(), config_path: "/tmp/x".into(), file_found: true };
    let s = validate(&loaded, &|_| None).unwrap();
    assert_eq!(s.rate_limit.max_requests, 5);
    assert_eq!(s.limits.max_body_bytes, 2048);
    assert_eq!(s.cors_origins, vec!["https://app.example.com"]);
    assert!(s.config.ingest.webhook_hmac_secret.is_some());
    assert!(!s.auth.tokens.is_empty());
    let gw = &s.config.gateway;
    assert_eq!((gw.max_batch_size, gw.ws.ping_interval_ms, gw.ws.max_message_bytes), (20, 30_000, 4096));
    assert_eq!(gw.ws.message_rate_limit.max_messages, 5);
}

#[test]
fn public_bind_rules() {
    assert!(run(r#"{"gateway":{"host":"0.0.0.0","allow_public_bind":true}}"#, &[]).unwrap().auth.open_all);
    let s = run(&format!(r#"{{"gateway":{{"host":"0.0.0.0","auth_token":"{GOOD}"}}}}"#), &[]).unwrap();
    assert!(!s.auth.open_all && !s.auth.open_loopback);
    let s = run(r#"{"gateway":{"auth_token":{"env":"T"}}}"#, &[("T", GOOD)]).unwrap();
    assert!(!s.auth.tokens.is_empty());
}

#[test]
fn env_and_flags_override_file() {
    let dir = std::env::temp_dir().join(format!("talon-cfg-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("config.json"), r#"{"gateway":{"port":1111}}"#).unwrap();
    let env = |k: &str| match k {
        "TALON_GATEWAY_PORT" => Some("2222".to_string()),
        _ => None,
    };
    let o = Overrides { data_dir: Some(dir.clone()), ..Overrides::default() };
    assert_eq!(load(&o, &env).unwrap().config.gateway.port, 2222);
    let o = Overrides { data_dir: Some(dir.clone()), port: Some(3333), ..Overrides::default() };
    assert_eq!(load(&o, &env).unwrap().config.gateway.port, 3333);
    let bad = |k: &str| (k == "TALON_GATEWAY_PORT").then(|| "http".to_string());
    let errs = load(&Overrides { data_dir: Some(dir.clone()), ..Overrides::default() }, &bad).unwrap_err();
    assert_eq!(errs[0].path, "TALON_GATEWAY_PORT");
    let missing = Overrides { config: Some(dir.join("absent.json")), ..Overrides::default() };
    assert!(load(&missing, &|_| None).is_err());
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn ingest_settings_resolve_and_refuse_half_configured_channels() {
    let s = run(
        r#"{"ingest":{"webhook_hmac_secret":"s","hooks":{"enabled":true,"secret":{"env":"HOOK"},"algorithm":"sha512"}},
            "channels":{"telegram":{"enabled":true,"secret_token":"tok","max_body_bytes":2048},"slack":{"enabled":true}}}"#,
        &[("HOOK", "hook-secret")],
    )
    .unwrap();
    let ingest = &s.ingest;
    assert_eq!(ingest.generic_secret.as_deref(), Some(&b"s"[..]));
    let hooks = ingest.hooks.as_ref().unwrap();
    assert_eq!(hooks.secret.as_deref(), Some(&b"hook-secret"[..]));
    assert_eq!(hooks.algorithm, crate::webhook::Algorithm::Sha512);
    let tg = ingest.channel(crate::webhook::Channel::Telegram).unwrap();
    assert_eq!(tg.max_body_bytes, 2048);
    assert!(tg.native.is_some());
    assert!(ingest.channel(crate::webhook::Channel::Slack).unwrap().native.is_none());
    assert!(ingest.channel(crate::webhook::Channel::Line).is_none());

    let cases: &[(&str, &str)] = &[
        (r#"{"channels":{"discord":{"enabled":true}}}"#, "channels.discord.public_key"),
        (r#"{"channels":{"discord":{"enabled":true,"public_key":"zz"}}}"#, "channels.discord.public_key"),
        (r#"{"channels":{"telegram":{"enabled":true,"secret_token":""}}}"#, "channels.telegram.secret_token"),
        (r#"{"channels":{"telegram":{"nope":1}}}"#, "channels.telegram"),
        (r#"{"ingest":{"hooks":{"enabled":true}}}"#, "ingest.hooks"),
        (r#"{"ingest":{"hooks":{"enabled":true,"secret":"x","algorithm":"md5"}}}"#, "ingest.hooks.algorithm"),
        (
            r#"{"ingest":{"hooks":{"enabled":true,"standard_webhooks_secret":"whsec_!!"}}}"#,
            "ingest.hooks.standard_webhooks_secret",
        ),
        (r#"{"store":{"sync":"sometimes"}}"#, "store.sync"),
        (r#"{"ingest":{"queue":0}}"#, "ingest.queue"),
    ];
    for (json, path) in cases {
        let errors = run(json, &[]).expect_err(json);
        assert!(errors.iter().any(|e| e.path.starts_with(path)), "{json}: {errors:?}");
    }
}

#[test]
fn agent_providers_models_defaults_and_overrides() {
    let s = run("{}", &[]).unwrap();
    let c = &s.config;
    assert_eq!(c.agent.default_model, "builtin/echo");
    assert_eq!((c.agent.max_concurrent_turns, c.agent.turn_timeout_ms), (16, 120_000));
    assert_eq!(c.agent.prices["gpt-4o-mini"].output_per_mtok, 0.6);
    let openai = &c.providers.0["openai"];
    assert_eq!(openai.base_url, "https://api.openai.com/v1");
    assert_eq!(openai.api_key_env.as_deref(), Some("OPENAI_API_KEY"));
    assert_eq!(c.providers.0["anthropic"].kind, agent::ProviderKind::Anthropic);
    assert!(c.models.fallbacks.is_empty() && c.models.embeddings.is_none());
    assert_eq!(c.agent.tools.enabled, agent::ToolSelection::All);
    assert!(c.agent.tools.require_approval.is_empty());
    assert_eq!((c.agent.approval_timeout_ms, c.agent.max_tool_rounds), (120_000, 8));
    let tools = r#"{"agent":{"tools":{"enabled":[],"require_approval":["current_time"]}}}"#;
    let s = run(tools, &[]).unwrap();
    assert_eq!(s.config.agent.tools.enabled, agent::ToolSelection::Only(Vec::new()));
    assert!(!s.config.agent.tools.enabled.includes("current_time"));
    assert_eq!(s.config.agent.tools.require_approval, ["current_time"]);

    let json = r#"{"agent":{"default_model":"local/qwen"},
        "providers":{"openai":{"models":["gpt-4o-mini"]},
                     "local":{"base_url":"http://127.0.0.1:8080/v1","models":["qwen"]}},
        "models":{"fallbacks":["openai/gpt-4o-mini","builtin/echo"],"embeddings":"local/minilm"}}"#;
    let s = run(json, &[]).unwrap();
    assert_eq!(s.config.models.embeddings.as_deref(), Some("local/minilm"));
    assert!(run(r#"{"models":{"embeddings":"builtin/embed"}}"#, &[]).is_ok());
    let p = &s.config.providers.0;
    assert_eq!(p["openai"].base_url, "https://api.openai.com/v1", "a well-known entry keeps its defaults");
    assert_eq!(p["openai"].models, ["gpt-4o-mini"]);
    assert_eq!(p["local"].kind, agent::ProviderKind::OpenAiCompatible);
    assert!(p["local"].api_key_env.is_none());
    assert!(p.contains_key("anthropic"));
}

#[test]
fn agent_refusals_name_the_path() {
    let cases: &[(&str, &str)] = &[
        (r#"{"agent":{"default_model":"echo"}}"#, "agent.default_model"),
        (r#"{"agent":{"default_model":"nobody/x"}}"#, "agent.default_model"),
        (r#"{"agent":{"default_model":"builtin/parrot"}}"#, "agent.default_model"),
        (r#"{"agent":{"max_concurrent_turns":0}}"#, "agent.max_concurrent_turns"),
        (r#"{"agent":{"colour":"red"}}"#, "agent"),
        (r#"{"agent":{"prices":{"m":{"input_per_mtok":-1,"output_per_mtok":1}}}}"#, "agent.prices.m.input_per_mtok"),
        (r#"{"providers":{"local":{"models":["x"]}}}"#, "providers.local.base_url"),
        (r#"{"providers":{"local":{"base_url":"ftp://x"}}}"#, "providers.local.base_url"),
        (r#"{"providers":{"openai":{"kind":"gemini"}}}"#, "providers.openai.kind"),
        (r#"{"providers":{"openai":{"apikey":"x"}}}"#, "providers.openai"),
        (r#"{"providers":{"builtin":{"base_url":"http://x"}}}"#, "providers.builtin"),
        (r#"{"models":{"fallbacks":["openai"]}}"#, "models.fallbacks[0]"),
        (r#"{"models":{"extra":1}}"#, "models"),
        (r#"{"agent":{"tools":{"enabled":["current_time","shell"]}}}"#, "agent.tools.enabled[1]"),
        (r#"{"agent":{"tools":{"enabled":"some"}}}"#, "agent.tools.enabled"),
        (r#"{"agent":{"tools":{"require_approval":["rm"]}}}"#, "agent.tools.require_approval[0]"),
        (r#"{"agent":{"tools":{"allow":[]}}}"#, "agent.tools"),
        (r#"{"agent":{"approval_timeout_ms":0}}"#, "agent.approval_timeout_ms"),
        (r#"{"agent":{"max_tool_rounds":0}}"#, "agent.max_tool_rounds"),
        (r#"{"agent":{"max_tool_rounds":65}}"#, "agent.max_tool_rounds"),
        (r#"{"models":{"embeddings":"builtin/echo"}}"#, "models.embeddings"),
        (r#"{"models":{"embeddings":"anthropic/claude"}}"#, "models.embeddings"),
        (r#"{"models":{"embeddings":"nobody/x"}}"#, "models.embeddings"),
        (r#"{"models":{"embeddings":"minilm"}}"#, "models.embeddings"),
        (r#"{"agent":{"default_model":"builtin/embed"}}"#, "agent.default_model"),
    ];
    for (json, path) in cases {
        let errs = run(json, &[]).expect_err(json);
        assert!(errs.iter().any(|e| e.path.starts_with(path)), "{json}: {errs:?}");
    }
}
