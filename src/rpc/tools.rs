//! The tool methods: `tools.catalog` (the built-in tools, enabled or not) and
//! `exec.approval.resolve` (an operator's answer to a tool call waiting for approval).
//!
//! Guarantees: both run inline (a table read, a map lookup and a wake-up); an unknown,
//! already resolved or expired approval id is [`GatewayError::ApprovalNotFound`], and an
//! unknown decision is -32602 naming the accepted ones.

use serde::Deserialize;
use serde_json::json;
use serde_json::value::RawValue;

use super::Ctx;
use super::methods::{params, to_vec};
use crate::agent::tools::approvals::Decision;
use crate::error::GatewayError;

/// `tools.catalog`: every built-in tool with `name`, `description`, `parameters`,
/// `requiresApproval`, `enabled` and `source: "builtin"`.
pub(super) fn tools_catalog(ctx: &mut Ctx<'_>, _: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let tools = ctx.app.agent.tools().catalog();
    Ok(to_vec(&json!({ "count": tools.len(), "tools": tools })))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct ResolveParams {
    id: Option<String>,
    decision: Option<String>,
}

/// `exec.approval.resolve {id, decision}`: `allow-once`, `allow-always` or `deny` (aliases
/// `approve`, `allow`, `reject`, `denied`, ...). Answers the `approval:resolved` payload.
pub(super) fn exec_approval_resolve(ctx: &mut Ctx<'_>, raw: Option<&RawValue>) -> Result<Vec<u8>, GatewayError> {
    let p: ResolveParams = params(raw)?;
    let id = p.id.filter(|id| !id.is_empty()).ok_or_else(|| GatewayError::InvalidParams("id is required".into()))?;
    let text = p.decision.ok_or_else(|| GatewayError::InvalidParams("decision is required".into()))?;
    let decision = Decision::parse(&text).ok_or_else(|| {
        GatewayError::InvalidParams(format!(
            "decision {:?} is not one of allow-once, allow-always, deny",
            text.chars().take(32).collect::<String>()
        ))
    })?;
    let resolved = ctx.app.agent.approvals().resolve(&id, decision)?;
    Ok(to_vec(&json!({ "ok": true, "resolved": resolved })))
}
