//! The `talon` command line: `--version`, `config validate` and `doctor`, run as a real process.

use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Command, Output};

fn talon(args: &[&str], data_dir: &PathBuf) -> Output {
    Command::new(env!("CARGO_BIN_EXE_talon"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env_remove("TALON_GATEWAY_TOKEN")
        .env_remove("TALON_GATEWAY_PORT")
        .env_remove("TALON_GATEWAY_HOST")
        .output()
        .expect("run talon")
}

fn temp_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("talon-cli-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("temp dir");
    dir
}

fn text(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn version_prints_the_crate_version() {
    let dir = temp_dir("version");
    let o = talon(&["--version"], &dir);
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout).trim(), format!("talon {}", env!("CARGO_PKG_VERSION")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn config_validate_names_the_key_and_the_reason() {
    let dir = temp_dir("validate");
    assert!(talon(&["config", "validate"], &dir).status.success(), "embedded defaults are valid");
    std::fs::write(dir.join("config.json"), r#"{"gateway":{"limits":{"max_body_bytes":"lots"}}}"#).unwrap();
    let o = talon(&["config", "validate"], &dir);
    assert_eq!(o.status.code(), Some(2), "{}", text(&o));
    assert!(text(&o).contains("gateway.limits.max_body_bytes"), "{}", text(&o));
    std::fs::write(dir.join("config.json"), r#"{"gateway":{"host":"0.0.0.0","colour":"blue"}}"#).unwrap();
    let o = talon(&["config", "validate"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown field `colour`"), "{}", text(&o));
    std::fs::write(dir.join("config.json"), r#"{"gateway":{"host":"0.0.0.0"}}"#).unwrap();
    let o = talon(&["config", "validate"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("gateway.host") && text(&o).contains("allow_public_bind"), "{}", text(&o));
    let o = talon(&["config", "validate", "--config", "/nonexistent/talon.json"], &dir);
    assert_eq!(o.status.code(), Some(2), "a named config file must exist: {}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn doctor_reports_a_busy_port_and_exits_non_zero() {
    let dir = temp_dir("doctor");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let o = talon(&["doctor", "--port", &port], &dir);
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    assert!(text(&o).contains("cannot bind"), "{}", text(&o));
    drop(busy);
    let free = TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let o = talon(&["doctor", "--port", &free], &dir);
    assert!(o.status.success(), "{}", text(&o));
    assert!(text(&o).contains("no problems found"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn unknown_command_is_a_usage_error() {
    let dir = temp_dir("usage");
    let o = talon(&["serve"], &dir);
    assert_eq!(o.status.code(), Some(2));
    assert!(text(&o).contains("unknown command"), "{}", text(&o));
    std::fs::remove_dir_all(&dir).ok();
}
