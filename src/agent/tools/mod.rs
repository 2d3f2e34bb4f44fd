//! The built-in tools a model may call during a turn, and the registry that offers them.
//!
//! - [`Tool`]: what a tool is (name, description, JSON-Schema parameters, whether it always
//!   needs approval, and `run`).
//! - [`ToolRegistry`]: the enabled tools (`agent.tools.enabled`), which of them need an
//!   operator's approval (`agent.tools.require_approval`), their specs for the upstream request
//!   and their `tools.catalog` entries.
//! - [`approvals::Approvals`]: pending approvals and the wait for `exec.approval.resolve`.
//! - [`current_time::CurrentTime`]: the one built-in tool that can exist today. Memory and
//!   scheduler tools arrive with those subsystems; nothing here pretends they exist.
//!
//! Guarantees: a tool never sees arguments that are not a JSON object (the registry refuses
//! them first, with a message the model can act on); a tool's output is cut at
//! [`MAX_TOOL_OUTPUT_BYTES`]; running a tool never panics the turn (errors are text).

pub mod approvals;
pub mod current_time;

use serde_json::{Map, Value, json};

use super::providers::ToolSpec;
use super::providers::types::truncate;
use crate::config::agent::ToolsConfig;

/// Longest tool output handed back to the model (bytes); longer output is cut at a character
/// boundary and marked, so one tool cannot flood the conversation or the transcript.
pub const MAX_TOOL_OUTPUT_BYTES: usize = 16 * 1024;

/// The names of every built-in tool (what `agent.tools.*` may name).
pub const BUILTIN_TOOL_NAMES: &[&str] = &[current_time::NAME];

/// One tool the model may call.
pub trait Tool: Send + Sync + std::fmt::Debug {
    /// The name the model calls it by (`[a-z_]`, unique).
    fn name(&self) -> &'static str;
    /// What it does, for the model and `tools.catalog`.
    fn description(&self) -> &'static str;
    /// JSON Schema of its arguments (an object schema).
    fn parameters(&self) -> Value;
    /// Whether every run needs an operator's approval, whatever the configuration says.
    fn always_needs_approval(&self) -> bool {
        false
    }
    /// Run it on the agent thread. Must return promptly (no unbounded waits).
    ///
    /// # Errors
    /// A message for the model: bad arguments, or why it could not run.
    fn run(&self, args: &Map<String, Value>) -> Result<String, String>;
}

/// Every built-in tool, enabled or not.
fn builtin() -> Vec<Box<dyn Tool>> {
    vec![Box::new(current_time::CurrentTime)]
}

/// An enabled tool and whether it needs approval.
#[derive(Debug)]
struct Entry {
    tool: Box<dyn Tool>,
    requires_approval: bool,
}

/// The tools of this process, as configured. Immutable after start.
#[derive(Debug)]
pub struct ToolRegistry {
    enabled: Vec<Entry>,
    disabled: Vec<Box<dyn Tool>>,
}

/// What looking a call up found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup {
    /// No enabled tool of that name.
    Unknown,
    /// Enabled; runs at once.
    Ready,
    /// Enabled; waits for an approval first.
    NeedsApproval,
}

impl ToolRegistry {
    /// The registry `agent.tools` describes (names were checked when the config was loaded;
    /// an unknown one here is ignored).
    #[must_use]
    pub fn from_config(cfg: &ToolsConfig) -> Self {
        let (mut enabled, mut disabled) = (Vec::new(), Vec::new());
        for tool in builtin() {
            if cfg.enabled.includes(tool.name()) {
                let requires_approval =
                    tool.always_needs_approval() || cfg.require_approval.iter().any(|n| n == tool.name());
                enabled.push(Entry { tool, requires_approval });
            } else {
                disabled.push(tool);
            }
        }
        Self { enabled, disabled }
    }

    fn entry(&self, name: &str) -> Option<&Entry> {
        self.enabled.iter().find(|e| e.tool.name() == name)
    }

    /// The specs sent upstream (empty when every tool is disabled: no `tools` field then).
    #[must_use]
    pub fn specs(&self) -> Vec<ToolSpec> {
        self.enabled
            .iter()
            .map(|e| ToolSpec {
                name: e.tool.name().to_owned(),
                description: e.tool.description().to_owned(),
                parameters: e.tool.parameters(),
            })
            .collect()
    }

    /// Whether `name` is an enabled tool and whether it needs approval.
    #[must_use]
    pub fn lookup(&self, name: &str) -> Lookup {
        match self.entry(name) {
            None => Lookup::Unknown,
            Some(e) if e.requires_approval => Lookup::NeedsApproval,
            Some(_) => Lookup::Ready,
        }
    }

    /// Run the enabled tool `name` on already-parsed arguments; the text the model gets back
    /// (an error is `error: …`), cut at [`MAX_TOOL_OUTPUT_BYTES`].
    #[must_use]
    pub fn run(&self, name: &str, args: &Map<String, Value>) -> String {
        let text = match self.entry(name) {
            None => format!("error: {}", unknown_tool_message(name, self)),
            Some(e) => match e.tool.run(args) {
                Ok(out) => out,
                Err(why) => format!("error: {why}"),
            },
        };
        bounded(text)
    }

    /// The names of the enabled tools.
    #[must_use]
    pub fn names(&self) -> Vec<&'static str> {
        self.enabled.iter().map(|e| e.tool.name()).collect()
    }

    /// `tools.catalog` entries: every built-in tool, enabled ones first.
    #[must_use]
    pub fn catalog(&self) -> Vec<Value> {
        let on = self.enabled.iter().map(|e| (e.tool.as_ref(), true, e.requires_approval));
        let off = self.disabled.iter().map(|t| (t.as_ref(), false, t.always_needs_approval()));
        on.chain(off)
            .map(|(t, enabled, requires_approval)| {
                json!({
                    "name": t.name(), "id": t.name(), "label": t.name(), "description": t.description(),
                    "parameters": t.parameters(), "requiresApproval": requires_approval, "enabled": enabled,
                    "source": "builtin",
                })
            })
            .collect()
    }
}

/// What the model is told about a tool it may not call.
#[must_use]
pub fn unknown_tool_message(name: &str, registry: &ToolRegistry) -> String {
    let names = registry.names();
    let known = if names.is_empty() { "none".to_owned() } else { names.join(", ") };
    format!("there is no tool named {:?}; the tools available are: {known}", truncate(name, 64))
}

/// Parse a call's argument text: empty means `{}`; anything else must be a JSON object.
///
/// # Errors
/// A message for the model saying what is wrong with the text.
pub fn parse_arguments(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    match serde_json::from_str::<Value>(text) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(other) => Err(format!("the arguments must be a JSON object, not {}", kind_of(&other))),
        Err(e) => Err(format!("the arguments are not valid JSON: {e}")),
    }
}

fn kind_of(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `text` cut at [`MAX_TOOL_OUTPUT_BYTES`], with a note when it was cut.
#[must_use]
pub fn bounded(text: String) -> String {
    if text.len() <= MAX_TOOL_OUTPUT_BYTES {
        return text;
    }
    format!("{}\n[output cut at {MAX_TOOL_OUTPUT_BYTES} bytes]", truncate(&text, MAX_TOOL_OUTPUT_BYTES))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::agent::ToolSelection;

    #[test]
    fn builtin_names_match_the_tools() {
        let names: Vec<&str> = builtin().iter().map(|t| t.name()).collect();
        assert_eq!(names, BUILTIN_TOOL_NAMES);
        for t in builtin() {
            assert_eq!(t.parameters()["type"], "object", "{}", t.name());
            assert!(!t.description().is_empty());
        }
    }

    #[test]
    fn registry_follows_the_config() {
        let all = ToolRegistry::from_config(&ToolsConfig::default());
        assert_eq!(all.names(), ["current_time"]);
        assert_eq!(all.lookup("current_time"), Lookup::Ready);
        assert_eq!(all.lookup("shell"), Lookup::Unknown);
        assert_eq!(all.specs().len(), 1);
        assert_eq!(all.catalog()[0]["requiresApproval"], false);

        let gated = ToolsConfig { require_approval: vec!["current_time".into()], ..ToolsConfig::default() };
        let gated = ToolRegistry::from_config(&gated);
        assert_eq!(gated.lookup("current_time"), Lookup::NeedsApproval);
        assert_eq!(gated.catalog()[0]["requiresApproval"], true);

        let none =
            ToolRegistry::from_config(&ToolsConfig { enabled: ToolSelection::Only(vec![]), ..Default::default() });
        assert!(none.specs().is_empty(), "no tools field goes upstream");
        assert_eq!(none.lookup("current_time"), Lookup::Unknown);
        assert_eq!(none.catalog()[0]["enabled"], false, "a disabled tool is still listed");
        assert!(none.run("current_time", &Map::new()).starts_with("error: there is no tool named"));
        assert!(unknown_tool_message("x", &none).ends_with("available are: none"));
    }

    #[test]
    fn arguments_must_be_an_object() {
        assert_eq!(parse_arguments(""), Ok(Map::new()));
        assert_eq!(parse_arguments(" {} ").map(|m| m.len()), Ok(0));
        assert!(parse_arguments("{\"a\":1").is_err_and(|e| e.contains("not valid JSON")));
        assert!(parse_arguments("[1]").is_err_and(|e| e.contains("not an array")));
        assert!(parse_arguments("null").is_err_and(|e| e.contains("not null")));
    }

    #[test]
    fn output_is_bounded() {
        assert_eq!(bounded("short".into()), "short");
        let long = "é".repeat(MAX_TOOL_OUTPUT_BYTES);
        let cut = bounded(long);
        assert!(cut.len() < MAX_TOOL_OUTPUT_BYTES + 64);
        assert!(cut.ends_with(&format!("[output cut at {MAX_TOOL_OUTPUT_BYTES} bytes]")));
    }
}
