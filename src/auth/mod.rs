//! Authentication, scopes, client addresses and per-IP limits.
//!
//! Guarantees: a credential is taken from `Authorization: Bearer`, from the `talon_token`
//! cookie, or from `?token=` only on the paths listed in `query_token_routes`. With no
//! token configured, only loopback clients of a loopback bind (or anyone, when the operator
//! set `allow_public_bind`) are let in. The client address is the socket peer unless the
//! peer is a trusted proxy, in which case the forwarding headers are read right to left.

pub mod cidr;
pub mod limiter;
pub mod scope;
pub mod token;

use std::net::IpAddr;

use crate::protocol::http1::RequestHead;
use crate::protocol::http1::head::trim_ows as trim;
pub use cidr::Cidr;
pub use scope::{Scope, ScopeSet};
pub use token::{TokenStore, constant_time_eq, token_weakness};

/// Name of the cookie that may carry the token (browser Control UI).
pub const TOKEN_COOKIE: &str = "talon_token";

/// The result of looking at a request's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthOutcome {
    /// Let in with these scopes; `identity` names the token (or `loopback` / `open`).
    Granted {
        /// Token id for logs.
        identity: String,
        /// What it may do.
        scopes: ScopeSet,
    },
    /// No credential was presented and none is implied.
    Missing,
    /// A credential was presented and matches no token.
    Invalid,
}

impl AuthOutcome {
    /// Granted because a configured token with `scope` was shown, not because the gateway is
    /// open (`loopback` / `open` grants exist only while no token is configured).
    #[must_use]
    pub fn token_grants(&self, scope: Scope) -> bool {
        matches!(self, Self::Granted { identity, scopes }
            if scopes.satisfies(scope) && identity != "open" && identity != "loopback")
    }
}

/// How requests are authenticated, fixed at start.
#[derive(Debug, Clone, Default)]
pub struct AuthPolicy {
    /// Configured tokens.
    pub tokens: TokenStore,
    /// No tokens and a loopback bind: loopback clients get every scope.
    pub open_loopback: bool,
    /// No tokens and `allow_public_bind`: everyone gets every scope.
    pub open_all: bool,
    /// Paths where `?token=` is accepted.
    pub query_token_routes: Vec<String>,
    /// Peers whose forwarding headers are believed.
    pub trusted_proxies: Vec<Cidr>,
    /// Read RFC 7239 `Forwarded` instead of `X-Forwarded-For`.
    pub use_forwarded: bool,
}

impl AuthPolicy {
    /// Decide who the request is. `local` says the client is on this machine (see
    /// [`AuthPolicy::is_local`]).
    #[must_use]
    pub fn authenticate(&self, head: &RequestHead, local: bool) -> AuthOutcome {
        if let Some(presented) = self.credential(head) {
            if self.tokens.is_empty() && (self.open_all || (self.open_loopback && local)) {
                return AuthOutcome::Granted { identity: "open".into(), scopes: ScopeSet::ALL };
            }
            return match self.tokens.authenticate(&presented) {
                Some(entry) => AuthOutcome::Granted { identity: entry.id.clone(), scopes: entry.scopes },
                None => AuthOutcome::Invalid,
            };
        }
        if self.tokens.is_empty() {
            if self.open_all {
                return AuthOutcome::Granted { identity: "open".into(), scopes: ScopeSet::ALL };
            }
            if self.open_loopback && local {
                return AuthOutcome::Granted { identity: "loopback".into(), scopes: ScopeSet::ALL };
            }
        }
        AuthOutcome::Missing
    }

    fn credential(&self, head: &RequestHead) -> Option<Vec<u8>> {
        if let Some(value) = head.header("authorization") {
            let value = trim(value);
            if value.len() > 7 && value.get(..7).is_some_and(|s| s.eq_ignore_ascii_case(b"bearer ")) {
                return Some(trim(value.get(7..).unwrap_or_default()).to_vec());
            }
            // Another scheme was presented: it is a credential, and it does not match.
            return Some(value.to_vec());
        }
        if let Some(cookie) = head.header("cookie") {
            for pair in cookie.split(|&b| b == b';') {
                let pair = trim(pair);
                if let Some(v) = pair.strip_prefix(TOKEN_COOKIE.as_bytes()).and_then(|r| r.strip_prefix(b"=")) {
                    return Some(v.to_vec());
                }
            }
        }
        let path = head.path();
        if self.query_token_routes.iter().any(|r| r == path)
            && let Some(v) = head.query().and_then(|q| query_param(q, "token"))
        {
            return Some(v);
        }
        None
    }

    /// The client address: the peer, or what a trusted proxy says the client was.
    #[must_use]
    pub fn client_ip(&self, peer: IpAddr, head: &RequestHead) -> IpAddr {
        if !self.is_trusted(peer) {
            return peer;
        }
        // `None` marks a hop we cannot parse (`unknown`, an obfuscated `_name`, garbage).
        let mut hops: Vec<Option<IpAddr>> = Vec::new();
        if self.use_forwarded {
            for value in head.headers().filter(|(n, _)| n.eq_ignore_ascii_case("forwarded")).map(|(_, v)| v) {
                let Ok(fwd) = std::str::from_utf8(value) else {
                    hops.push(None);
                    continue;
                };
                for element in fwd.split(',') {
                    for pair in element.split(';') {
                        let Some((k, v)) = pair.trim().split_once('=') else { continue };
                        if k.trim().eq_ignore_ascii_case("for") {
                            hops.push(parse_forwarded_node(v.trim()));
                        }
                    }
                }
            }
        } else {
            for value in head.headers().filter(|(n, _)| n.eq_ignore_ascii_case("x-forwarded-for")).map(|(_, v)| v) {
                let Ok(xff) = std::str::from_utf8(value) else {
                    hops.push(None);
                    continue;
                };
                hops.extend(xff.split(',').map(|s| s.trim().parse::<IpAddr>().ok()));
            }
        }
        // Right to left, believing only our own proxies: the first hop that is not one of
        // them is the client. A hop we cannot read ends the walk at the last proxy we trust:
        // skipping it would let a client's forged hop to its left stand in for the client.
        let mut client = peer;
        for hop in hops.iter().rev() {
            match hop {
                Some(ip) if self.is_trusted(*ip) => client = *ip,
                Some(ip) => return *ip,
                None => return client,
            }
        }
        client
    }

    /// Whether the client may count as "on this machine" for open-loopback mode and the
    /// loopback lockout exemption: a loopback address and no forwarding header at all. A
    /// request that went through any reverse proxy (trusted or not, with a readable chain
    /// or not) came from somewhere else, so it is never local.
    #[must_use]
    pub fn is_local(&self, client_ip: IpAddr, head: &RequestHead) -> bool {
        client_ip.is_loopback()
            && !["x-forwarded-for", "forwarded", "x-real-ip"].iter().any(|h| head.header(h).is_some())
    }

    fn is_trusted(&self, ip: IpAddr) -> bool {
        self.trusted_proxies.iter().any(|c| c.contains(ip))
    }
}

/// `for=` node of RFC 7239: `1.2.3.4`, `"[2001:db8::1]:80"`, `"1.2.3.4:80"`.
fn parse_forwarded_node(v: &str) -> Option<IpAddr> {
    let v = v.trim_matches('"');
    if let Some(rest) = v.strip_prefix('[') {
        return rest.split(']').next()?.parse().ok();
    }
    v.parse().ok().or_else(|| v.rsplit_once(':').and_then(|(h, _)| h.parse().ok()))
}

/// The percent-decoded value of `name` in a query string.
#[must_use]
pub fn query_param(query: &str, name: &str) -> Option<Vec<u8>> {
    query.split('&').find_map(|pair| {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        (k == name).then(|| percent_decode(v.as_bytes()))
    })
}

/// Decode `%XX` escapes and `+` as space; a malformed escape is kept literally.
#[must_use]
pub fn percent_decode(input: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while let Some(&b) = input.get(i) {
        let hex = |o: usize| input.get(i + o).and_then(|c| (*c as char).to_digit(16));
        match (b, hex(1), hex(2)) {
            (b'%', Some(h), Some(l)) => {
                out.push((h * 16 + l) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            _ => {
                out.push(b);
                i += 1;
            }
        }
    }
    out
}
