//! Browser safety and protected mode: the checks every request passes before authentication.
//!
//! A server on `127.0.0.1` is reachable by every web page its user has open: a page cannot read
//! the answers of another origin, but it can *send* requests (a form POST, a `text/plain`
//! `fetch` with `mode: "no-cors"`), and through DNS rebinding (a name of the attacker's that
//! resolves to 127.0.0.1) it can even read them. [`guard`] refuses those requests, with or
//! without authentication:
//!
//! - **Protected mode** (as Redis does it): without `--auth`, a request whose peer address is not
//!   loopback is refused unless `--allow-unauthenticated` was given.
//! - **Host**: the `Host` header must match `--allowed-hosts` (by default the loopback names on a
//!   loopback-bound server; on any other address also private-network IP literals and the bound
//!   address, as MLflow 3 does), so a rebinding name is refused. `/health` and `/version` are
//!   exempt (load balancers probe them by IP).
//! - **Cross-origin writes**: a POST/PUT/PATCH/DELETE that the browser marks as coming from
//!   another site (`Sec-Fetch-Site`), or whose `Origin` is not this server's own origin nor one
//!   of `--cors-allowed-origins`, is refused. Requests with neither header (the mlflow client,
//!   curl, scripts) pass: they do not come from a web page.
//! - **JSON only on the JSON APIs**: a write to MLflow's API or Sextant's with a body a page can
//!   send without a CORS preflight (`text/plain`, `application/x-www-form-urlencoded`,
//!   `multipart/form-data`) is refused; clients send `application/json`. The artifact API's
//!   uploads (`application/octet-stream`) are not JSON API and are not affected.
//! - **Headers on every answer**: `X-Frame-Options`, a `Content-Security-Policy` with
//!   `frame-ancestors 'self'` (the UI's policy allows only its own scripts; API and artifact
//!   answers get `default-src 'none'; sandbox`, so an uploaded HTML artifact opened in a tab
//!   cannot run scripts on this origin), `X-Content-Type-Options: nosniff`, `Referrer-Policy`.
//!
//! Every refusal is a 403 with MLflow's JSON error body and a message that names what was
//! refused and how to allow it.
//!
//! This module knows nothing of users: authentication comes after it (see the layer order in
//! [`crate::app`]).

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;

use axum::Json;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

/// The value of `X-Frame-Options` (MLflow's default).
const X_FRAME_OPTIONS: &str = "SAMEORIGIN";
/// The UI's policy: its own scripts and styles only (the UI sets `style` attributes, so inline
/// styles are allowed; inline scripts are not), images also from `data:`/`blob:` URLs (HTML
/// reports embed plots), no plugins, no `<base>`, forms only to this server, framed only by
/// this server.
const UI_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
     img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; \
     form-action 'self'; frame-ancestors 'self'";
/// API and artifact answers are data, never a page: nothing loads, scripts never run.
const DATA_CSP: &str = "default-src 'none'; frame-ancestors 'self'; sandbox";
const REFERRER_POLICY: &str = "same-origin";

const AUTH_HINT: &str = "start the server with --auth (see docs/security.md), or \
     --allow-unauthenticated to serve everyone without authentication";

/// A bad `--allowed-hosts` or `--cors-allowed-origins` entry.
#[derive(Debug, thiserror::Error)]
pub enum GuardConfigError {
    #[error(
        "bad --allowed-hosts entry '{0}': expected a Host header value such as \
         mlflow.example.com, 10.0.0.5:5000 or *.example.com, not a URL"
    )]
    Host(String),
    #[error(
        "bad --cors-allowed-origins entry '{0}': expected an origin such as \
         https://app.example.com or http://localhost:3000 (scheme, host and optional port, \
         no path), or '*'"
    )]
    Origin(String),
}

/// A `fnmatch`-style pattern as MLflow's `--allowed-hosts` takes them: `*` matches any run of
/// characters, `?` one character; everything else matches itself, case-insensitively.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Glob(String);

impl Glob {
    fn new(p: &str) -> Self {
        Self(p.to_ascii_lowercase())
    }

    fn has_port(&self) -> bool {
        if self.0.starts_with('[') {
            self.0.contains("]:")
        } else {
            self.0.contains(':')
        }
    }

    fn matches(&self, s: &str) -> bool {
        let s = s.to_ascii_lowercase();
        glob_match(self.0.as_bytes(), s.as_bytes())
    }
}

fn glob_match(p: &[u8], s: &[u8]) -> bool {
    // Iterative matcher with backtracking to the last `*` (linear in practice, no recursion).
    let (mut pi, mut si) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while si < s.len() {
        match p.get(pi) {
            Some(b'*') => {
                star = Some((pi, si));
                pi += 1;
            }
            Some(&c) if c == b'?' || c == s[si] => {
                pi += 1;
                si += 1;
            }
            _ => match star {
                Some((sp, ss)) => {
                    pi = sp + 1;
                    si = ss + 1;
                    star = Some((sp, ss + 1));
                }
                None => return false,
            },
        }
    }
    p[pi..].iter().all(|&c| c == b'*')
}

/// Which `Host` headers are served.
#[derive(Debug, Clone)]
enum HostRule {
    /// `--allowed-hosts '*'`: every host (no DNS-rebinding protection).
    Any,
    /// The built-in default: loopback names on any port; with `network` also IP literals of
    /// private networks (RFC 1918, RFC 4193) and `bound` (the address the server listens on).
    Default {
        network: bool,
        bound: Option<IpAddr>,
    },
    /// `--allowed-hosts a,b,...`.
    List(Vec<Glob>),
}

/// Which other origins may send state-changing requests (and get CORS answers).
#[derive(Debug, Clone)]
enum OriginRule {
    /// `--cors-allowed-origins '*'`: every origin, without credentials (as MLflow).
    Any,
    List(Vec<Glob>),
}

/// The guard's settings (`sextant server --allowed-hosts/--cors-allowed-origins/
/// --allow-unauthenticated`, and whether `--auth` is on).
#[derive(Debug, Clone)]
pub struct GuardConfig {
    hosts: HostRule,
    origins: OriginRule,
    /// Authentication is on (`--auth`): protected mode is off then.
    pub auth_enabled: bool,
    /// `--allow-unauthenticated`: serve non-loopback peers without authentication.
    pub allow_unauthenticated: bool,
}

impl Default for GuardConfig {
    /// A loopback-bound server without auth: what tests and a laptop get.
    fn default() -> Self {
        Self::loopback()
    }
}

impl GuardConfig {
    /// A loopback-bound server's defaults: loopback `Host` names only, no other origins, auth off.
    pub fn loopback() -> Self {
        Self {
            hosts: HostRule::Default {
                network: false,
                bound: None,
            },
            origins: OriginRule::List(Vec::new()),
            auth_enabled: false,
            allow_unauthenticated: false,
        }
    }

    /// The settings for a server bound to `bound`, from the flags' raw values (comma lists).
    pub fn new(
        bound: IpAddr,
        allowed_hosts: Option<&str>,
        cors_allowed_origins: Option<&str>,
        auth_enabled: bool,
        allow_unauthenticated: bool,
    ) -> Result<Self, GuardConfigError> {
        let hosts = match allowed_hosts.map(split_list).filter(|l| !l.is_empty()) {
            None if is_loopback(bound) => HostRule::Default {
                network: false,
                bound: None,
            },
            None => HostRule::Default {
                network: true,
                bound: (!bound.is_unspecified()).then_some(bound),
            },
            Some(l) if l.iter().any(|h| h == "*") => HostRule::Any,
            Some(l) => HostRule::List(
                l.iter()
                    .map(|h| parse_host_pattern(h))
                    .collect::<Result<_, _>>()?,
            ),
        };
        let origins = match cors_allowed_origins.map(split_list) {
            Some(l) if l.iter().any(|o| o == "*") => OriginRule::Any,
            Some(l) => OriginRule::List(
                l.iter()
                    .map(|o| parse_origin_pattern(o))
                    .collect::<Result<_, _>>()?,
            ),
            None => OriginRule::List(Vec::new()),
        };
        Ok(Self {
            hosts,
            origins,
            auth_enabled,
            allow_unauthenticated,
        })
    }

    /// Set whether authentication is on (protected mode applies only when it is off).
    pub fn with_auth(mut self, on: bool) -> Self {
        self.auth_enabled = on;
        self
    }

    /// Protected mode is on: non-loopback peers are refused.
    pub fn protected_mode(&self) -> bool {
        !self.auth_enabled && !self.allow_unauthenticated
    }

    /// What the server prints at start, after the line that says whether auth is on: who may
    /// connect, and which `Host` names (and other origins) are served.
    pub fn describe(&self, listening: SocketAddr) -> String {
        let who = if is_loopback(listening.ip()) {
            "Who may connect: this machine only (listening on a loopback address).".to_owned()
        } else if self.auth_enabled {
            format!(
                "Who may connect: anyone who can reach {listening}, with credentials (/health \
                 and /version without)."
            )
        } else if self.allow_unauthenticated {
            format!(
                "WARNING: who may connect: anyone who can reach {listening}, WITHOUT \
                 authentication (--allow-unauthenticated): they can read and change everything, \
                 including approving models. Use --auth on a shared network (see \
                 docs/security.md)."
            )
        } else {
            format!(
                "Who may connect: this machine only. Protected mode refuses requests from other \
                 machines although the server listens on {listening}; to serve them, {AUTH_HINT}."
            )
        };
        let hosts = match &self.hosts {
            HostRule::Any => "WARNING: --allowed-hosts '*' accepts every Host header (no DNS \
                              rebinding protection)."
                .to_owned(),
            HostRule::Default { network: false, .. } => {
                "Host names served: localhost, 127.0.0.1, [::1] (any port); add others with \
                 --allowed-hosts."
                    .to_owned()
            }
            HostRule::Default { network: true, .. } => {
                "Host names served: localhost, loopback and private-network IP addresses (any \
                 port); add DNS names with --allowed-hosts."
                    .to_owned()
            }
            HostRule::List(l) => format!(
                "Host names served: localhost, 127.0.0.1, [::1] and {}.",
                l.iter()
                    .map(|g| g.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let origins = match &self.origins {
            OriginRule::Any => "\nWARNING: --cors-allowed-origins '*': every web site may send \
                                requests to this server (without the browser's credentials)."
                .to_owned(),
            OriginRule::List(l) if l.is_empty() => String::new(),
            OriginRule::List(l) => format!(
                "\nOther origins allowed to send requests: {}.",
                l.iter()
                    .map(|g| g.0.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        format!("{who}\n{hosts}{origins}")
    }

    fn host_allowed(&self, host: &str) -> bool {
        match &self.hosts {
            HostRule::Any => true,
            // A pattern without a port matches its host on any port. The loopback names stay
            // served: no rebinding name can be sent as one.
            HostRule::List(l) => {
                let name = strip_port(host);
                is_loopback_name(host)
                    || l.iter()
                        .any(|g| g.matches(host) || (!g.has_port() && g.matches(name)))
            }
            HostRule::Default { network, bound } => {
                if is_loopback_name(host) {
                    return true;
                }
                let Some(ip) = parse_ip(host_part(host)) else {
                    return false;
                };
                *network && (is_private(ip) || Some(ip) == *bound || ip.is_unspecified())
            }
        }
    }

    fn origin_listed(&self, origin: &str) -> bool {
        match &self.origins {
            OriginRule::Any => true,
            OriginRule::List(l) => l.iter().any(|g| g.matches(origin)),
        }
    }
}

fn split_list(s: &str) -> Vec<String> {
    s.split(',')
        .map(str::trim)
        .filter(|x| !x.is_empty())
        .map(str::to_owned)
        .collect()
}

fn parse_host_pattern(h: &str) -> Result<Glob, GuardConfigError> {
    let bad = h.contains("://")
        || h.contains('/')
        || h.chars().any(|c| c.is_whitespace() || c.is_control());
    if bad {
        return Err(GuardConfigError::Host(h.to_owned()));
    }
    Ok(Glob::new(h))
}

fn parse_origin_pattern(o: &str) -> Result<Glob, GuardConfigError> {
    let rest = o
        .strip_prefix("http://")
        .or_else(|| o.strip_prefix("https://"));
    let ok = rest.is_some_and(|r| {
        !r.is_empty() && !r.contains('/') && !r.chars().any(|c| c.is_whitespace() || c.is_control())
    });
    if !ok {
        return Err(GuardConfigError::Origin(o.to_owned()));
    }
    Ok(Glob::new(o.trim_end_matches('/')))
}

/// `host` of `host:port`, `[v6]:port`, `[v6]` or `host`.
fn host_part(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h,
        _ => host,
    }
}

/// `host:port` without the port (`[v6]:port` keeps its brackets).
fn strip_port(host: &str) -> &str {
    if host.starts_with('[') {
        return match host.find(']') {
            Some(i) => &host[..=i],
            None => host,
        };
    }
    match host.rsplit_once(':') {
        Some((h, _)) if !h.contains(':') => h,
        _ => host,
    }
}

/// `localhost` or a loopback IP literal, on any port.
fn is_loopback_name(host: &str) -> bool {
    let name = host_part(host);
    name.eq_ignore_ascii_case("localhost") || parse_ip(name).is_some_and(is_loopback)
}

fn parse_ip(name: &str) -> Option<IpAddr> {
    name.parse::<IpAddr>().ok().map(|ip| ip.to_canonical())
}

fn is_loopback(ip: IpAddr) -> bool {
    ip.to_canonical().is_loopback()
}

fn is_private(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => v4.is_private(),
        // fc00::/7, unique local addresses.
        IpAddr::V6(v6) => (v6.segments()[0] & 0xfe00) == 0xfc00,
    }
}

fn is_state_changing(m: &Method) -> bool {
    matches!(
        *m,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Paths of the JSON APIs (MLflow's and Sextant's); not the artifact API.
fn is_json_api(path: &str) -> bool {
    [
        "/api/2.0/mlflow/",
        "/ajax-api/2.0/mlflow/",
        "/api/3.0/",
        "/ajax-api/3.0/",
        "/api/sextant/",
    ]
    .iter()
    .any(|p| path.starts_with(p))
}

fn is_api(path: &str) -> bool {
    path.starts_with("/api/") || path.starts_with("/ajax-api/")
}

fn header_str<'a>(h: &'a HeaderMap, name: &HeaderName) -> Option<&'a str> {
    h.get(name).and_then(|v| v.to_str().ok()).map(str::trim)
}

/// The media type of a `Content-Type` value (`text/plain;charset=UTF-8` -> `text/plain`).
fn media_type(v: &str) -> String {
    v.split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

/// Body types a page can send to another origin without a CORS preflight.
const SIMPLE_BODY_TYPES: [&str; 3] = [
    "text/plain",
    "application/x-www-form-urlencoded",
    "multipart/form-data",
];

/// A refusal: 403 with MLflow's JSON error body.
fn forbidden(message: String) -> Response {
    tracing::warn!(%message, "request refused");
    let body = serde_json::json!({
        "error_code": "PERMISSION_DENIED",
        "message": message,
    });
    (StatusCode::FORBIDDEN, Json(body)).into_response()
}

/// The request's `Host`: the header, or the authority of an absolute URI (HTTP/2).
fn request_host(req: &Request) -> Option<String> {
    header_str(req.headers(), &header::HOST)
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_owned()))
}

/// Does `origin` (`scheme://host[:port]`) name the same host and port as `host`?
fn same_origin(origin: &str, host: &str) -> bool {
    let Some((scheme, authority)) = origin.split_once("://") else {
        return false;
    };
    let default_port = match scheme.to_ascii_lowercase().as_str() {
        "http" => "80",
        "https" => "443",
        _ => return false,
    };
    let norm = |a: &str| -> String {
        let a = a.to_ascii_lowercase();
        let has_port = if a.starts_with('[') {
            a.contains("]:")
        } else {
            a.contains(':')
        };
        if has_port {
            a
        } else {
            format!("{a}:{default_port}")
        }
    };
    norm(authority) == norm(host)
}

/// Why a request is refused, if it is; `None` lets it through.
fn check(cfg: &GuardConfig, req: &Request) -> Option<String> {
    let path = req.uri().path();
    let headers = req.headers();

    // Protected mode: the peer address (present when served by `serve`; in-process router
    // calls have no peer).
    if cfg.protected_mode() {
        if let Some(ConnectInfo(peer)) = req.extensions().get::<ConnectInfo<SocketAddr>>() {
            if !is_loopback(peer.ip()) {
                return Some(format!(
                    "Refused a request from {}: authentication is off, so this server only \
                     serves its own machine (protected mode). To serve other machines, {AUTH_HINT}.",
                    peer.ip().to_canonical()
                ));
            }
        }
    }

    // DNS rebinding: the Host header (a browser always sends one).
    if path != "/health" && path != "/version" {
        if let Some(host) = request_host(req) {
            if !cfg.host_allowed(&host) {
                return Some(format!(
                    "Refused a request for Host '{host}', which this server does not serve \
                     (possible DNS rebinding attack). If that is this server's name, add the \
                     host to --allowed-hosts (e.g. --allowed-hosts '{}').",
                    host_part(&host)
                ));
            }
        }
    }

    if !is_state_changing(req.method()) {
        return None;
    }

    // Cross-origin writes.
    let origin = header_str(headers, &header::ORIGIN);
    let listed = origin.is_some_and(|o| cfg.origin_listed(o));
    let site = header_str(headers, &HeaderName::from_static("sec-fetch-site"))
        .map(str::to_ascii_lowercase);
    let cross = match site.as_deref() {
        // The browser says where the request comes from (pages cannot forge this header).
        Some("same-origin" | "none") => false,
        Some(_) => !listed,
        // No fetch metadata (curl, the mlflow client, older browsers): judge by Origin.
        None => match origin {
            None => false,
            Some(o) => !listed && !request_host(req).is_some_and(|h| same_origin(o, &h)),
        },
    };
    if cross {
        let from = origin.unwrap_or("another site");
        return Some(format!(
            "Refused a cross-origin {} {path} from {from}: web pages of other origins may not \
             change this server's state. If that origin is a trusted web app, add it to \
             --cors-allowed-origins.",
            req.method()
        ));
    }

    // JSON only on the JSON APIs.
    if is_json_api(path) {
        if let Some(ct) = header_str(headers, &header::CONTENT_TYPE) {
            let mt = media_type(ct);
            if SIMPLE_BODY_TYPES.contains(&mt.as_str()) {
                return Some(format!(
                    "Refused a {} {path} with Content-Type '{mt}': this API takes \
                     application/json bodies only (form and text/plain bodies are what a web \
                     page can send to another origin). Send the body as JSON with \
                     'Content-Type: application/json'.",
                    req.method()
                ));
            }
        }
    }
    None
}

fn set_default(h: &mut HeaderMap, name: HeaderName, value: &'static str) {
    h.entry(name).or_insert(HeaderValue::from_static(value));
}

/// The CORS answer headers for a listed other origin.
fn cors_headers(cfg: &GuardConfig, origin: &str, h: &mut HeaderMap) {
    match cfg.origins {
        OriginRule::Any => {
            h.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
        }
        OriginRule::List(_) => {
            if let Ok(v) = HeaderValue::from_str(origin) {
                h.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
        }
    }
    h.append(header::VARY, HeaderValue::from_static("Origin"));
}

/// The middleware (installed by [`crate::app`] outside authentication).
pub async fn guard(State(cfg): State<Arc<GuardConfig>>, req: Request, next: Next) -> Response {
    let path = req.uri().path().to_owned();
    let listed_origin = header_str(req.headers(), &header::ORIGIN)
        .filter(|o| cfg.origin_listed(o))
        .map(str::to_owned);
    let mut resp = match check(&cfg, &req) {
        Some(message) => forbidden(message),
        None => match (&listed_origin, req.method()) {
            // A CORS preflight from a listed origin.
            (Some(_), &Method::OPTIONS)
                if req
                    .headers()
                    .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD) =>
            {
                let mut r = StatusCode::NO_CONTENT.into_response();
                let h = r.headers_mut();
                h.insert(
                    header::ACCESS_CONTROL_ALLOW_METHODS,
                    HeaderValue::from_static("GET, POST, PUT, DELETE, OPTIONS, PATCH"),
                );
                if let Some(v) = req.headers().get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                    h.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v.clone());
                }
                h.insert(
                    header::ACCESS_CONTROL_MAX_AGE,
                    HeaderValue::from_static("600"),
                );
                r
            }
            _ => next.run(req).await,
        },
    };
    let h = resp.headers_mut();
    if let Some(o) = &listed_origin {
        cors_headers(&cfg, o, h);
    }
    set_default(h, header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    set_default(h, header::X_FRAME_OPTIONS, X_FRAME_OPTIONS);
    set_default(h, header::REFERRER_POLICY, REFERRER_POLICY);
    let csp = if is_api(&path) { DATA_CSP } else { UI_CSP };
    set_default(h, header::CONTENT_SECURITY_POLICY, csp);
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn globs_match_like_fnmatch() {
        assert!(Glob::new("*.example.com").matches("ml.Example.com"));
        assert!(Glob::new("10.0.0.?:*").matches("10.0.0.5:5000"));
        assert!(!Glob::new("10.0.0.?:*").matches("10.0.0.55:5000"));
        assert!(Glob::new("a*b*c").matches("aXXbYYc"));
        assert!(!Glob::new("a*b*c").matches("aXXbYY"));
        assert!(Glob::new("*").matches(""));
    }

    #[test]
    fn host_parts() {
        assert_eq!(host_part("localhost:5000"), "localhost");
        assert_eq!(host_part("[::1]:5000"), "::1");
        assert_eq!(host_part("[::1]"), "::1");
        assert_eq!(host_part("example.com"), "example.com");
    }

    #[test]
    fn loopback_defaults_refuse_rebinding_names() {
        let c = GuardConfig::loopback();
        for ok in [
            "localhost",
            "localhost:5000",
            "127.0.0.1:80",
            "[::1]:5000",
            "LOCALHOST:1",
        ] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for bad in [
            "evil.example",
            "10.0.0.1:5000",
            "127.0.0.1.evil.example:5000",
            "[::2]",
        ] {
            assert!(!c.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn network_defaults_take_private_ip_literals_not_names_that_look_like_them() {
        let bound = "203.0.113.7".parse().unwrap();
        let c = GuardConfig::new(bound, None, None, false, false).unwrap();
        for ok in [
            "10.1.2.3:5000",
            "192.168.0.9",
            "172.16.0.1:1",
            "[fd00::1]:5000",
            "203.0.113.7:5000",
            "localhost",
        ] {
            assert!(c.host_allowed(ok), "{ok}");
        }
        for bad in [
            "10.evil.example:5000",
            "172.32.0.1",
            "8.8.8.8",
            "mlflow.example.com",
        ] {
            assert!(!c.host_allowed(bad), "{bad}");
        }
    }

    #[test]
    fn flag_values_are_validated() {
        let lo = "127.0.0.1".parse().unwrap();
        assert!(GuardConfig::new(lo, Some("http://x.example"), None, false, false).is_err());
        assert!(GuardConfig::new(lo, None, Some("app.example"), false, false).is_err());
        assert!(GuardConfig::new(lo, None, Some("https://a.example/path"), false, false).is_err());
        let c = GuardConfig::new(
            lo,
            Some("ml.example.com, *.corp"),
            Some("https://app.example"),
            false,
            false,
        )
        .unwrap();
        assert!(c.host_allowed("ml.example.com:443"));
        assert!(c.host_allowed("ml.example.com"));
        assert!(!c.host_allowed("ml.example.com.evil:443"));
        assert!(c.host_allowed("x.corp"));
        assert!(
            c.host_allowed("localhost:5000"),
            "loopback names stay served"
        );
        assert!(c.origin_listed("https://app.example"));
        assert!(!c.origin_listed("https://evil.example"));
    }

    #[test]
    fn same_origin_compares_host_and_port() {
        assert!(same_origin("http://localhost:5000", "localhost:5000"));
        assert!(same_origin("http://example.com", "example.com"));
        assert!(same_origin("https://example.com", "example.com:443"));
        assert!(!same_origin("http://localhost:8080", "localhost:5000"));
        assert!(!same_origin("null", "localhost:5000"));
        assert!(same_origin("http://[::1]:5000", "[::1]:5000"));
    }

    #[test]
    fn content_types_are_read_by_media_type() {
        assert_eq!(media_type("Text/Plain;charset=UTF-8"), "text/plain");
        assert_eq!(media_type("application/json"), "application/json");
    }
}
