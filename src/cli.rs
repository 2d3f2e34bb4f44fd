//! The command line: `talon gateway | doctor | config validate | sessions export|import |
//! --version | help`.
//!
//! Guarantees: every command exits 0 on success and non-zero with a message on stderr
//! otherwise: 2 for usage and configuration errors, 1 for runtime failures and for
//! problems `doctor` finds.

use std::ffi::OsString;
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::ExitCode;

use lexopt::prelude::*;

use crate::config::{self, ConfigError, Overrides, Settings};

const USAGE: &str = "\
talon — gateway for personal AI agents

USAGE:
    talon gateway [--host H] [--port P] [--config FILE] [--data-dir DIR]
    talon doctor  [--host H] [--port P] [--config FILE] [--data-dir DIR]
    talon config validate [--config FILE] [--data-dir DIR]
    talon sessions export --dir DIR [--config FILE] [--data-dir DIR]
    talon sessions import --dir DIR [--config FILE] [--data-dir DIR]
    talon --version

sessions export/import: the store's sessions as OpenClaw's sessions directory (sessions.json
plus <sessionId>.jsonl). The gateway using the store must be stopped first.

Configuration: $TALON_HOME/config.json (default ~/.talon/config.json), then TALON_* environment
variables, then flags. See docs/COMPAT.md and README.md for the keys.";

/// Parse the arguments and run the command.
#[must_use]
pub fn main(args: Vec<OsString>) -> ExitCode {
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("talon: {e}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run(args: Vec<OsString>) -> Result<ExitCode, lexopt::Error> {
    let mut parser = lexopt::Parser::from_args(args);
    let mut command: Vec<String> = Vec::new();
    let mut o = Overrides::default();
    let mut dir: Option<PathBuf> = None;
    while let Some(arg) = parser.next()? {
        match arg {
            Short('V') | Long("version") => {
                println!("talon {}", env!("CARGO_PKG_VERSION"));
                return Ok(ExitCode::SUCCESS);
            }
            Short('h') | Long("help") => {
                println!("{USAGE}");
                return Ok(ExitCode::SUCCESS);
            }
            Long("host") => o.host = Some(parser.value()?.string()?),
            Long("port") => o.port = Some(parser.value()?.parse()?),
            Short('c') | Long("config") => o.config = Some(PathBuf::from(parser.value()?)),
            Long("data-dir") => o.data_dir = Some(PathBuf::from(parser.value()?)),
            Long("dir") => dir = Some(PathBuf::from(parser.value()?)),
            Value(v) => command.push(v.string()?),
            _ => return Err(arg.unexpected()),
        }
    }
    let words: Vec<&str> = command.iter().map(String::as_str).collect();
    Ok(match words.as_slice() {
        ["gateway"] => gateway(&o),
        ["doctor"] => doctor(&o),
        ["config", "validate"] => validate(&o),
        ["sessions", verb @ ("export" | "import")] => {
            let Some(dir) = dir else {
                return Err(lexopt::Error::Custom(format!("sessions {verb} needs --dir DIR").into()));
            };
            sessions(&o, verb == &"import", &dir)
        }
        ["version"] => {
            println!("talon {}", env!("CARGO_PKG_VERSION"));
            ExitCode::SUCCESS
        }
        ["help"] | [] => {
            println!("{USAGE}");
            ExitCode::SUCCESS
        }
        _ => return Err(lexopt::Error::Custom(format!("unknown command {:?}", command.join(" ")).into())),
    })
}

fn print_config_errors(errors: &[ConfigError]) {
    for e in errors {
        eprintln!("talon: config error: {e}");
    }
}

fn load(o: &Overrides) -> Result<Settings, ExitCode> {
    config::from_process(o).map_err(|errors| {
        print_config_errors(&errors);
        ExitCode::from(2)
    })
}

fn gateway(o: &Overrides) -> ExitCode {
    let settings = match load(o) {
        Ok(s) => s,
        Err(code) => return code,
    };
    if !settings.config.gateway.enabled {
        eprintln!("talon: gateway.enabled is false in the configuration; not starting");
        return ExitCode::from(2);
    }
    if let Err(e) = std::fs::create_dir_all(&settings.data_dir) {
        eprintln!("talon: cannot create data directory {}: {e}", settings.data_dir.display());
        return ExitCode::from(1);
    }
    let server = match crate::server::start(settings) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("talon: cannot start: {e}");
            return ExitCode::from(1);
        }
    };
    eprintln!("talon: listening on http://{}", server.local_addr());
    if let Err(e) = server.stop_on_signals() {
        eprintln!("talon: cannot install signal handlers: {e}");
        server.shutdown();
    }
    server.wait();
    ExitCode::SUCCESS
}

/// `talon sessions export|import --dir DIR`: with the store locked against a running gateway.
fn sessions(o: &Overrides, import: bool, dir: &std::path::Path) -> ExitCode {
    let settings = match load(o) {
        Ok(s) => s,
        Err(code) => return code,
    };
    let lock = match crate::store::lock::StoreLock::acquire(&settings.ingest.store_path) {
        Ok(l) => l,
        Err(e) => {
            eprintln!("talon: {e}");
            return ExitCode::from(1);
        }
    };
    let options = crate::server::store_options(&settings, Box::new(|line: &str| eprintln!("talon: store: {line}")));
    let store = match crate::store::Store::open(options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("talon: cannot open the store at {}: {e}", settings.ingest.store_path.display());
            return ExitCode::from(1);
        }
    };
    let outcome = if import {
        crate::openclaw::import(&store, dir).map(|r| {
            println!(
                "imported {} session(s) with {} message(s); skipped {} that already existed; {} without a transcript file",
                r.imported, r.messages, r.skipped, r.missing_transcripts
            );
        })
    } else {
        crate::openclaw::export(&store, dir).map(|r| {
            println!("exported {} session(s) with {} message(s) to {}", r.sessions, r.messages, dir.display());
        })
    };
    store.shutdown();
    drop(lock);
    match outcome {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("talon: sessions {}: {e}", if import { "import" } else { "export" });
            ExitCode::from(1)
        }
    }
}

fn validate(o: &Overrides) -> ExitCode {
    match load(o) {
        Ok(s) => {
            println!("config OK (bind {}, data dir {})", s.bind, s.data_dir.display());
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn doctor(o: &Overrides) -> ExitCode {
    let mut problems = 0;
    let settings = match config::from_process(o) {
        Ok(s) => {
            println!("ok      config is valid");
            s
        }
        Err(errors) => {
            for e in &errors {
                println!("error   config: {e}");
            }
            println!("\n{} problem(s) found", errors.len());
            return ExitCode::from(1);
        }
    };
    let dir = &settings.data_dir;
    match check_dir_writable(dir) {
        Ok(()) => println!("ok      data directory {} is writable", dir.display()),
        Err(e) => {
            problems += 1;
            println!("error   data directory {}: {e}", dir.display());
        }
    }
    if let Some(log) = &settings.log_file
        && let Some(parent) = log.parent()
    {
        match check_dir_writable(parent) {
            Ok(()) => println!("ok      log directory {} is writable", parent.display()),
            Err(e) => {
                problems += 1;
                println!("error   log directory {}: {e}", parent.display());
            }
        }
    }
    match TcpListener::bind(settings.bind) {
        Ok(_) => println!("ok      {} is free to bind", settings.bind),
        Err(e) => {
            problems += 1;
            println!("error   cannot bind {}: {e}", settings.bind);
        }
    }
    if settings.auth.open_all {
        println!(
            "warning no token configured and allow_public_bind is set: anyone who can reach the port has full access"
        );
    } else if settings.auth.open_loopback {
        println!("note    no token configured: only loopback clients are accepted");
    }
    if problems == 0 {
        println!("\nno problems found");
        ExitCode::SUCCESS
    } else {
        println!("\n{problems} problem(s) found");
        ExitCode::from(1)
    }
}

/// Create the directory if needed and prove we can write a file in it.
fn check_dir_writable(dir: &std::path::Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    let probe = dir.join(format!(".talon-doctor-{}", std::process::id()));
    std::fs::write(&probe, b"probe")?;
    std::fs::remove_file(&probe)
}
