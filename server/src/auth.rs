//! Bearer tokens: who may read or write which stores.
//!
//! A token is configured as `secret:stores:scope` ([`Token`]'s `FromStr`): `stores` a
//! comma-separated list of store names or `*` (every store), `scope` `read` or `write`
//! (write includes read). With no token configured, authentication is off and the server
//! only listens on loopback ([`crate::start`]).
//!
//! With tokens, every request needs `Authorization: Bearer <secret>` except the open
//! paths ([`OPEN_PATHS`]: `/health`, `/ready`, `/v1/openapi.json`): none or an unknown
//! secret is 401. [`authenticate`] then checks what it can from the path alone:
//! `/metrics` takes any valid token; the seed APIs (every path outside `/v1/`) live in the
//! default store, so they need that store, `read` for `GET`/`HEAD` and `write` for
//! anything else. Under `/v1/stores/{store}` the store comes from the matched route:
//! [`authorize_store`] (a route layer of the v1 router) checks it the same way. A token
//! without the store or the scope is 403.

use std::collections::BTreeSet;
use std::str::FromStr;
use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

/// The paths anyone may call, even with tokens configured.
pub const OPEN_PATHS: [&str; 3] = ["/health", "/ready", "/v1/openapi.json"];

/// Shortest accepted secret, in bytes: a guessable token protects nothing.
pub const MIN_SECRET_BYTES: usize = 16;

/// What a token allows in its stores.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Scope {
    /// Reading only.
    Read,
    /// Reading and appending.
    Write,
}

impl Scope {
    /// The scope a request of `method` needs: `Read` for `GET` and `HEAD`, else `Write`.
    pub fn of(method: &Method) -> Scope {
        if method == Method::GET || method == Method::HEAD {
            Scope::Read
        } else {
            Scope::Write
        }
    }
}

/// The stores a token reaches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Stores {
    /// Every store (`*`).
    All,
    /// These stores.
    Only(BTreeSet<String>),
}

/// One access token: its secret, its stores and its scope.
#[derive(Clone, PartialEq, Eq)]
pub struct Token {
    secret: String,
    /// The stores it reaches.
    pub stores: Stores,
    /// What it allows there.
    pub scope: Scope,
}

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Token")
            .field("secret", &"<hidden>")
            .field("stores", &self.stores)
            .field("scope", &self.scope)
            .finish()
    }
}

/// Why a token specification was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `secret:stores:scope`.
    #[error("a token must be 'secret:store1,store2:read|write' (or '*' for every store), got {0} part(s) separated by ':'")]
    Shape(usize),
    /// The secret is too short.
    #[error("a token secret must be at least {MIN_SECRET_BYTES} bytes, got {0}")]
    ShortSecret(usize),
    /// The secret has characters that cannot travel in a header.
    #[error("a token secret must be printable ascii without spaces")]
    SecretCharacters,
    /// No store, or a blank one.
    #[error("a token must name at least one store, and no blank one")]
    NoStore,
    /// Neither `read` nor `write`.
    #[error("a token scope is 'read' or 'write', got '{0}'")]
    Scope(String),
    /// The same secret twice.
    #[error("the same token secret is configured twice")]
    Duplicate,
    /// The tokens file could not be read.
    #[error("cannot read the tokens file {path}: {message}")]
    File {
        /// The file.
        path: String,
        /// Why.
        message: String,
    },
    /// A line of the tokens file is wrong.
    #[error("tokens file {path}, line {line}: {source}")]
    Line {
        /// The file.
        path: String,
        /// The 1-based line.
        line: usize,
        /// What is wrong with it.
        source: Box<TokenError>,
    },
}

impl FromStr for Token {
    type Err = TokenError;

    fn from_str(s: &str) -> Result<Token, TokenError> {
        let parts: Vec<&str> = s.trim().split(':').collect();
        let [secret, stores, scope] = parts[..] else {
            return Err(TokenError::Shape(parts.len()));
        };
        if secret.len() < MIN_SECRET_BYTES {
            return Err(TokenError::ShortSecret(secret.len()));
        }
        if !secret.bytes().all(|b| b.is_ascii_graphic()) {
            return Err(TokenError::SecretCharacters);
        }
        let stores = if stores.trim() == "*" {
            Stores::All
        } else {
            let names: BTreeSet<String> = stores.split(',').map(|n| n.trim().to_string()).collect();
            if names.iter().any(String::is_empty) {
                return Err(TokenError::NoStore);
            }
            Stores::Only(names)
        };
        let scope = match scope.trim() {
            "read" => Scope::Read,
            "write" => Scope::Write,
            other => return Err(TokenError::Scope(other.to_string())),
        };
        Ok(Token {
            secret: secret.to_string(),
            stores,
            scope,
        })
    }
}

impl Token {
    /// Whether this token may do `scope` in `store`.
    pub fn allows(&self, store: &str, scope: Scope) -> bool {
        let reaches = match &self.stores {
            Stores::All => true,
            Stores::Only(names) => names.contains(store),
        };
        reaches && self.scope >= scope
    }
}

/// The tokens of a file: one `secret:stores:scope` per line; blank lines and lines
/// starting with `#` are skipped. (A clap value parser: `--tokens-file`.)
pub fn tokens_file(path: &str) -> Result<TokenList, TokenError> {
    let text = std::fs::read_to_string(path).map_err(|e| TokenError::File {
        path: path.to_string(),
        message: e.to_string(),
    })?;
    let mut tokens = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        tokens.push(line.parse().map_err(|e| TokenError::Line {
            path: path.to_string(),
            line: i + 1,
            source: Box::new(e),
        })?);
    }
    Ok(TokenList(tokens))
}

/// The tokens of one `--tokens-file`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenList(pub Vec<Token>);

/// The configured tokens; empty means authentication is off.
#[derive(Debug, Clone, Default)]
pub struct Auth {
    tokens: Vec<Token>,
    default_store: String,
}

impl Auth {
    /// `tokens` guarding a server whose seed APIs use `default_store`; refuses a secret
    /// configured twice.
    pub fn new(tokens: Vec<Token>, default_store: &str) -> Result<Auth, TokenError> {
        let secrets: BTreeSet<&str> = tokens.iter().map(|t| t.secret.as_str()).collect();
        if secrets.len() != tokens.len() {
            return Err(TokenError::Duplicate);
        }
        Ok(Auth {
            tokens,
            default_store: default_store.to_string(),
        })
    }

    /// Whether any token is configured (otherwise everything is open, on loopback only).
    pub fn enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The token with this secret. Compares every configured secret in full, so the time
    /// taken does not tell how much of a guess was right.
    fn find(&self, secret: &str) -> Option<&Token> {
        let mut found = None;
        for token in &self.tokens {
            if same_bytes(token.secret.as_bytes(), secret.as_bytes()) {
                found = Some(token);
            }
        }
        found
    }
}

/// Equality in time that depends on the lengths only.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    if a.len() != b.len() {
        return false;
    }
    a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What a request may do, put in its extensions by [`authenticate`].
#[derive(Debug, Clone)]
pub enum Grant {
    /// Authentication is off: everything.
    Open,
    /// This token's stores and scope.
    Token(Arc<Token>),
}

impl Grant {
    /// Whether this grant may do `scope` in `store`.
    pub fn allows(&self, store: &str, scope: Scope) -> bool {
        match self {
            Grant::Open => true,
            Grant::Token(token) => token.allows(store, scope),
        }
    }
}

/// A request that authentication refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// 401: no `Authorization: Bearer` header.
    #[error("missing bearer token: send 'Authorization: Bearer <token>'")]
    Missing,
    /// 401: a secret no token has.
    #[error("unknown bearer token")]
    Unknown,
    /// 403: the token does not reach the store or lacks the scope.
    #[error("this token may not {action} store '{store}'")]
    Forbidden {
        /// `read` or `write to`.
        action: &'static str,
        /// The store.
        store: String,
    },
}

impl AuthError {
    fn forbidden(store: &str, scope: Scope) -> AuthError {
        AuthError::Forbidden {
            action: match scope {
                Scope::Read => "read",
                Scope::Write => "write to",
            },
            store: store.to_string(),
        }
    }
}

impl IntoResponse for AuthError {
    fn into_response(self) -> Response {
        let body = Json(json!({ "error": self.to_string() }));
        match self {
            AuthError::Missing | AuthError::Unknown => (
                StatusCode::UNAUTHORIZED,
                [(header::WWW_AUTHENTICATE, "Bearer")],
                body,
            )
                .into_response(),
            AuthError::Forbidden { .. } => (StatusCode::FORBIDDEN, body).into_response(),
        }
    }
}

/// Middleware on the whole router: finds the request's token (401 without a known one,
/// except on [`OPEN_PATHS`]), checks the default store's scope for the seed APIs and
/// puts the [`Grant`] in the request's extensions for [`authorize_store`].
pub async fn authenticate(
    State(auth): State<Arc<Auth>>,
    mut request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    if !auth.enabled() {
        request.extensions_mut().insert(Grant::Open);
        return Ok(next.run(request).await);
    }
    let path = request.uri().path();
    if OPEN_PATHS.contains(&path) {
        return Ok(next.run(request).await);
    }
    let secret = request
        .headers()
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| {
            v.strip_prefix("Bearer ")
                .or_else(|| v.strip_prefix("bearer "))
        })
        .map(str::trim)
        .ok_or(AuthError::Missing)?;
    let token = Arc::new(auth.find(secret).ok_or(AuthError::Unknown)?.clone());
    let scope = Scope::of(request.method());
    if path != "/metrics" && !path.starts_with("/v1/") && !token.allows(&auth.default_store, scope)
    {
        return Err(AuthError::forbidden(&auth.default_store, scope));
    }
    request.extensions_mut().insert(Grant::Token(token));
    Ok(next.run(request).await)
}

/// Route layer of `/v1/stores/{store}/…`: the request's [`Grant`] must allow the
/// request's scope in `{store}`.
pub async fn authorize_store(
    Path(params): Path<Vec<(String, String)>>,
    request: Request,
    next: Next,
) -> Result<Response, AuthError> {
    let store = params
        .iter()
        .find(|(k, _)| k == "store")
        .map_or("", |(_, v)| v.as_str());
    let scope = Scope::of(request.method());
    let allowed = request
        .extensions()
        .get::<Grant>()
        .is_some_and(|g| g.allows(store, scope));
    if !allowed {
        return Err(match request.extensions().get::<Grant>() {
            None => AuthError::Missing,
            Some(_) => AuthError::forbidden(store, scope),
        });
    }
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_parse_and_scope() {
        let t: Token = "0123456789abcdef:a,b:read".parse().unwrap();
        assert!(t.allows("a", Scope::Read) && t.allows("b", Scope::Read));
        assert!(!t.allows("a", Scope::Write) && !t.allows("c", Scope::Read));
        let w: Token = "0123456789abcdef:*:write".parse().unwrap();
        assert!(w.allows("any", Scope::Write) && w.allows("any", Scope::Read));
        assert_eq!(
            "short:a:read".parse::<Token>(),
            Err(TokenError::ShortSecret(5))
        );
        assert_eq!(
            "0123456789abcdef:a:admin".parse::<Token>(),
            Err(TokenError::Scope("admin".into()))
        );
        assert_eq!(
            "0123456789abcdef:a,:read".parse::<Token>(),
            Err(TokenError::NoStore)
        );
        assert_eq!("x:y".parse::<Token>(), Err(TokenError::Shape(2)));
        assert!(format!("{t:?}").contains("<hidden>"));
        assert!(!format!("{t:?}").contains("0123456789abcdef"));
        assert!(Auth::new(vec![t.clone(), t], "default").is_err());
    }
}
