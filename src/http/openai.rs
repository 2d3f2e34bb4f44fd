//! The OpenAI-compatible model catalogue: `GET /v1/models` and `GET /v1/models/{id}`, in the
//! shapes the official SDKs parse (`{"object":"list","data":[…]}`, one model object, and
//! OpenAI's error object for an unknown id).
//!
//! Guarantees: inline and constant work (the router's model list is in memory); every model
//! the agent runtime can run is listed under its `provider/model` id, the built-in offline
//! one with `owned_by: "talon-builtin"`; an id with an encoded `/` (`builtin%2Fecho`) is the
//! same model as the plain one, since SDKs differ in whether they encode it.

use serde_json::{Value, json};

use crate::agent::providers::ModelInfo;
use crate::app::App;
use crate::protocol::http1::Response;

/// The path prefix of one model.
pub const MODEL_PREFIX: &str = "/v1/models/";

/// One model as OpenAI's `Model` object; `created` is when the gateway started (the catalogue
/// comes from its configuration), in Unix seconds.
fn model_object(m: &ModelInfo, created: u64) -> Value {
    json!({ "id": m.id, "object": "model", "created": created, "owned_by": m.owned_by })
}

fn created(app: &App) -> u64 {
    app.started_unix_ms / 1000
}

/// `GET /v1/models`.
#[must_use]
pub fn models(app: &App) -> Response {
    let created = created(app);
    let data: Vec<Value> = app.agent.router().models().iter().map(|m| model_object(m, created)).collect();
    Response::json(200, json!({ "object": "list", "data": data }).to_string().into_bytes())
}

/// `GET /v1/models/{id}`: the model, or OpenAI's 404 `model_not_found`.
#[must_use]
pub fn model(app: &App, path: &str) -> Response {
    let raw = path.strip_prefix(MODEL_PREFIX).unwrap_or_default();
    let id = raw.replace("%2F", "/").replace("%2f", "/");
    match app.agent.router().models().iter().find(|m| m.id == id) {
        Some(m) => Response::json(200, model_object(m, created(app)).to_string().into_bytes()),
        None => {
            error(404, &format!("The model '{id}' does not exist"), "invalid_request_error", Some("model_not_found"))
        }
    }
}

/// An error in OpenAI's shape (`{"error":{"message","type","param","code"}}`), which the SDKs
/// turn into their typed exceptions.
#[must_use]
pub fn error(status: u16, message: &str, kind: &str, code: Option<&str>) -> Response {
    let body = json!({ "error": { "message": message, "type": kind, "param": Value::Null, "code": code } });
    Response::json(status, body.to_string().into_bytes())
}
