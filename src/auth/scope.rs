//! Token scopes and the rule of which scope satisfies which requirement.
//!
//! Guarantees: `admin` satisfies everything except being an `mcp-client`; `rpc` satisfies
//! `read`; `webhook` and `mcp-client` satisfy only themselves. A token holding only
//! `mcp-client` can never pass a REST or SSE check (those require `read` or more).

use std::fmt;

/// One permission a token can carry or a route can require.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Everything: config, tokens, channels, observability.
    Admin,
    /// Client operations: RPC, chat, REST.
    Rpc,
    /// Read-only REST (status, version, metrics).
    Read,
    /// Posting webhooks.
    Webhook,
    /// A narrow MCP client token; refused by REST and SSE.
    McpClient,
}

impl Scope {
    const fn bit(self) -> u8 {
        match self {
            Self::Admin => 1,
            Self::Rpc => 2,
            Self::Read => 4,
            Self::Webhook => 8,
            Self::McpClient => 16,
        }
    }

    /// The configuration spelling.
    #[must_use]
    pub const fn as_str(self) -> &'static str {
        match self {
            Self::Admin => "admin",
            Self::Rpc => "rpc",
            Self::Read => "read",
            Self::Webhook => "webhook",
            Self::McpClient => "mcp-client",
        }
    }
}

impl fmt::Display for Scope {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ScopeSet(u8);

impl ScopeSet {
    /// Every scope a full operator has (`*`, the single admin token, open loopback).
    pub const ALL: Self = Self(1 | 2 | 4 | 8);

    /// Add a scope.
    pub fn insert(&mut self, scope: Scope) {
        self.0 |= scope.bit();
    }

    /// Whether the set carries `scope` itself.
    #[must_use]
    pub const fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }

    /// Whether a holder of this set may do what `required` guards.
    #[must_use]
    pub const fn satisfies(self, required: Scope) -> bool {
        match required {
            Scope::McpClient => self.contains(Scope::McpClient),
            Scope::Admin => self.contains(Scope::Admin),
            Scope::Rpc => self.contains(Scope::Admin) || self.contains(Scope::Rpc),
            Scope::Read => self.contains(Scope::Admin) || self.contains(Scope::Rpc) || self.contains(Scope::Read),
            Scope::Webhook => self.contains(Scope::Admin) || self.contains(Scope::Webhook),
        }
    }

    /// Parse configuration scope names. `*` is admin+rpc+read+webhook; Comis's `api` and
    /// `ws` mean `rpc`.
    ///
    /// # Errors
    /// The first unknown name.
    pub fn parse<'a>(names: impl IntoIterator<Item = &'a str>) -> Result<Self, String> {
        let mut set = Self::default();
        for name in names {
            match name {
                "*" => set.0 |= Self::ALL.0,
                "admin" => set.insert(Scope::Admin),
                "rpc" | "api" | "ws" => set.insert(Scope::Rpc),
                "read" => set.insert(Scope::Read),
                "webhook" => set.insert(Scope::Webhook),
                "mcp-client" => set.insert(Scope::McpClient),
                other => {
                    return Err(format!(
                        "unknown scope {other:?} (expected admin, rpc, read, webhook, mcp-client or *)"
                    ));
                }
            }
        }
        Ok(set)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hierarchy() {
        let rpc = ScopeSet::parse(["rpc"]).unwrap();
        assert!(rpc.satisfies(Scope::Read) && rpc.satisfies(Scope::Rpc));
        assert!(!rpc.satisfies(Scope::Admin) && !rpc.satisfies(Scope::Webhook));
        let mcp = ScopeSet::parse(["mcp-client"]).unwrap();
        assert!(!mcp.satisfies(Scope::Read));
        assert!(ScopeSet::ALL.satisfies(Scope::Admin) && !ScopeSet::ALL.satisfies(Scope::McpClient));
        assert!(ScopeSet::parse(["root"]).is_err());
    }
}
