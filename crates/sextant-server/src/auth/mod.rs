//! Authentication and authorization (`sextant server --auth`), as MLflow's `basic-auth` app
//! does them, with Sextant's API tokens and UI sessions.
//!
//! With auth on, [`middleware::layer`] authenticates every request (HTTP Basic, a Bearer API
//! token or the `sextant_session` cookie), answers 401 with MLflow's error body when it cannot,
//! and authorizes it through the one endpoint -> permission table in [`table`] (an endpoint
//! with no entry is refused for non-admins). The verified caller reaches the handlers as
//! [`Identity`] in the request extensions and, for [`crate::AppState::actor`], in internal
//! headers the layer sets after removing any a client sent. [`api`] serves MLflow 3.17's auth
//! REST API and Sextant's session and token endpoints.
//!
//! The rules themselves (permissions, resolution, hashing) live in `sextant-auth`; the rows in
//! `sextant-store`'s [`AuthStore`].

pub mod api;
pub mod middleware;
pub mod table;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use sextant_auth::cache::{Cached, CredentialCache};
use sextant_auth::limit::LoginLimiter;
use sextant_auth::token::SecretHasher;
use sextant_auth::{AuthMethod, Identity, Permission, ResourceType};
use sextant_store::StoreError;
use sextant_store::auth::{AuthStore, UserGrants};
use sextant_types::now_millis;

pub use middleware::layer;

/// The UI's session cookie.
pub const SESSION_COOKIE: &str = "sextant_session";
/// How long a UI session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(12 * 3600);
/// The headers through which the layer hands the verified caller to [`crate::AppState::actor`].
/// Any copy a client sends is removed before authentication.
pub(crate) const VERIFIED_USER_HEADER: &str = "x-sextant-verified-user";
pub(crate) const VERIFIED_METHOD_HEADER: &str = "x-sextant-verified-method";

/// MLflow's message for a request without valid credentials.
pub const UNAUTHENTICATED_MESSAGE: &str = "You are not authenticated. Please see \
     https://www.mlflow.org/docs/latest/auth/index.html#authenticating-to-mlflow on how to \
     authenticate.";

/// How auth behaves (`sextant server --auth ...`).
#[derive(Debug, Clone)]
pub struct AuthConfig {
    /// The permission of a user on a resource nobody granted them anything on (MLflow's
    /// `default_permission`, `READ` by default).
    pub default_permission: Permission,
    /// How long a verified credential is trusted without checking it again.
    pub credential_ttl: Duration,
    /// Failed logins allowed per user and address within `failure_window`.
    pub max_failures: u32,
    pub failure_window: Duration,
}

impl Default for AuthConfig {
    fn default() -> Self {
        Self {
            default_permission: Permission::Read,
            credential_ttl: sextant_auth::cache::DEFAULT_TTL,
            max_failures: sextant_auth::limit::DEFAULT_MAX_FAILURES,
            failure_window: sextant_auth::limit::DEFAULT_WINDOW,
        }
    }
}

/// What a verified credential proved, remembered briefly.
#[derive(Debug, Clone)]
struct CachedUser {
    username: String,
    is_admin: bool,
}

impl Cached for CachedUser {
    fn username(&self) -> &str {
        &self.username
    }
}

/// Why a request is not authenticated.
#[derive(Debug)]
pub enum AuthFailure {
    /// No credentials, or wrong ones.
    Unauthenticated,
    /// Too many failed logins for this user from this address.
    RateLimited(Duration),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for AuthFailure {
    fn from(e: StoreError) -> Self {
        Self::Store(e)
    }
}

/// Bounded memo of resource -> experiment (a run's or logged model's experiment never changes).
struct ParentCache {
    map: Mutex<HashMap<String, String>>,
}

const PARENT_CACHE_MAX: usize = 100_000;

impl ParentCache {
    fn new() -> Self {
        Self {
            map: Mutex::new(HashMap::new()),
        }
    }
    fn get(&self, k: &str) -> Option<String> {
        self.map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .get(k)
            .cloned()
    }
    fn put(&self, k: &str, v: &str) {
        let mut m = self
            .map
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if m.len() >= PARENT_CACHE_MAX {
            m.clear();
        }
        m.insert(k.to_owned(), v.to_owned());
    }
}

/// Everything auth needs at run time: the store, the secret hasher, caches and limits.
pub struct AuthState {
    pub(crate) store: Arc<dyn AuthStore>,
    hasher: SecretHasher,
    cache: CredentialCache<CachedUser>,
    limiter: LoginLimiter,
    pub(crate) config: AuthConfig,
    run_experiments: ParentCache,
    model_experiments: ParentCache,
    /// When each token's `last_used_at` was last written (written at most once a minute).
    touched: Mutex<HashMap<String, Instant>>,
    /// Bounds the password checks running at once: each argon2 check takes ~19 MiB and a core,
    /// so a flood of logins (with ever new usernames, past the per-user limit) queues here
    /// instead of exhausting memory.
    hashing: tokio::sync::Semaphore,
}

/// What [`AuthState::bootstrap_admin`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bootstrap {
    Created,
    /// The user existed; it is (now) an admin and its password was left alone.
    Existing,
}

impl AuthState {
    /// Auth over `store` (its secret key is created on first use).
    pub async fn new(store: Arc<dyn AuthStore>, config: AuthConfig) -> Result<Self, StoreError> {
        let key = store.auth_key().await?;
        Ok(Self {
            store,
            hasher: SecretHasher::new(key.as_bytes()),
            cache: CredentialCache::new(
                config.credential_ttl,
                sextant_auth::cache::DEFAULT_CAPACITY,
            ),
            limiter: LoginLimiter::new(config.max_failures, config.failure_window),
            config,
            run_experiments: ParentCache::new(),
            model_experiments: ParentCache::new(),
            touched: Mutex::new(HashMap::new()),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get() * 2),
            ),
        })
    }

    pub fn default_permission(&self) -> Permission {
        self.config.default_permission
    }

    /// Make sure `username` exists and is an admin: created with `password` when missing
    /// (an existing user's password is not changed, as MLflow ignores `admin_password` once
    /// the admin exists).
    pub async fn bootstrap_admin(
        &self,
        username: &str,
        password: &str,
    ) -> Result<Bootstrap, api::AuthApiError> {
        sextant_auth::validate_username(username).map_err(api::AuthApiError::invalid)?;
        match self.store.get_user(username).await {
            Ok(u) => {
                if !u.is_admin {
                    self.store.set_user_admin(username, true).await?;
                }
                Ok(Bootstrap::Existing)
            }
            Err(StoreError::NotFound(_)) => {
                sextant_auth::validate_password(password).map_err(api::AuthApiError::invalid)?;
                let hash = hash_password(password.to_owned()).await?;
                self.store.create_user(username, &hash, true).await?;
                Ok(Bootstrap::Created)
            }
            Err(e) => Err(e.into()),
        }
    }

    /// Whether any admin exists.
    pub async fn has_admin(&self) -> Result<bool, StoreError> {
        Ok(self.store.list_users().await?.iter().any(|u| u.is_admin))
    }

    /// Check a username and password (rate-limited per user and `address`).
    pub async fn verify_password(
        &self,
        username: &str,
        password: &str,
        address: &str,
        method: AuthMethod,
    ) -> Result<Identity, AuthFailure> {
        if let Some(c) = self.cache.get(&["basic", username, password]) {
            return Ok(identity(c, method));
        }
        self.limiter
            .check(username, address)
            .map_err(AuthFailure::RateLimited)?;
        let user = match self.store.get_user(username).await {
            Ok(u) => Some(u),
            Err(StoreError::NotFound(_)) => None,
            Err(e) => return Err(e.into()),
        };
        let ok = {
            let _permit = self.hashing.acquire().await.ok();
            let password = password.to_owned();
            let phc = user.as_ref().map(|u| u.password_hash.clone());
            tokio::task::spawn_blocking(move || match phc {
                Some(phc) => sextant_auth::password::verify(&password, &phc),
                None => {
                    sextant_auth::password::verify_dummy(&password);
                    false
                }
            })
            .await
            .unwrap_or(false)
        };
        match user {
            Some(u) if ok => {
                self.limiter.record_success(username, address);
                let c = CachedUser {
                    username: u.username,
                    is_admin: u.is_admin,
                };
                self.cache
                    .insert(&["basic", username, password], c.clone(), None);
                Ok(identity(c, method))
            }
            _ => {
                self.limiter.record_failure(username, address);
                tracing::info!(user = %username, %address, "failed login");
                Err(AuthFailure::Unauthenticated)
            }
        }
    }

    /// Check an API token secret.
    pub async fn verify_token(&self, secret: &str) -> Result<Identity, AuthFailure> {
        if let Some(c) = self.cache.get(&["token", secret]) {
            return Ok(identity(c, AuthMethod::Token));
        }
        let hash = self.hasher.hash(secret);
        let Some((token, user)) = self.store.find_token(&hash).await? else {
            return Err(AuthFailure::Unauthenticated);
        };
        let now = now_millis();
        if token.expires_at.is_some_and(|t| t <= now) {
            return Err(AuthFailure::Unauthenticated);
        }
        self.touch(&token.id, now).await;
        let not_after = token.expires_at.map(|t| {
            let left = u64::try_from(t - now).unwrap_or(0);
            Instant::now() + Duration::from_millis(left)
        });
        let c = CachedUser {
            username: user.username,
            is_admin: user.is_admin,
        };
        self.cache.insert(&["token", secret], c.clone(), not_after);
        Ok(identity(c, AuthMethod::Token))
    }

    async fn touch(&self, token_id: &str, now: i64) {
        {
            let mut t = self
                .touched
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner);
            if t.get(token_id)
                .is_some_and(|at| at.elapsed() < Duration::from_secs(60))
            {
                return;
            }
            if t.len() > 100_000 {
                t.clear();
            }
            t.insert(token_id.to_owned(), Instant::now());
        }
        if let Err(e) = self.store.touch_token(token_id, now).await {
            tracing::warn!(error = %e, "cannot record a token's last use");
        }
    }

    /// Check a session cookie.
    pub async fn verify_session(&self, secret: &str) -> Result<Identity, AuthFailure> {
        if let Some(c) = self.cache.get(&["session", secret]) {
            return Ok(identity(c, AuthMethod::Session));
        }
        let hash = self.hasher.hash(secret);
        let Some(user) = self.store.find_session(&hash, now_millis()).await? else {
            return Err(AuthFailure::Unauthenticated);
        };
        let c = CachedUser {
            username: user.username,
            is_admin: user.is_admin,
        };
        self.cache.insert(&["session", secret], c.clone(), None);
        Ok(identity(c, AuthMethod::Session))
    }

    /// Authenticate a request from its headers: `Authorization: Basic`/`Bearer`, else the
    /// session cookie. `Ok(None)` when it carries no credentials at all.
    pub async fn authenticate(
        &self,
        headers: &HeaderMap,
        address: &str,
    ) -> Result<Option<Identity>, AuthFailure> {
        if let Some(v) = headers
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
        {
            let v = v.trim();
            let (scheme, rest) = v.split_once(' ').unwrap_or((v, ""));
            let rest = rest.trim();
            if scheme.eq_ignore_ascii_case("basic") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(rest)
                    .ok()
                    .and_then(|b| String::from_utf8(b).ok())
                    .ok_or(AuthFailure::Unauthenticated)?;
                let (user, password) = decoded
                    .split_once(':')
                    .ok_or(AuthFailure::Unauthenticated)?;
                return self
                    .verify_password(user, password, address, AuthMethod::Basic)
                    .await
                    .map(Some);
            }
            if scheme.eq_ignore_ascii_case("bearer") {
                return self.verify_token(rest).await.map(Some);
            }
            return Err(AuthFailure::Unauthenticated);
        }
        match session_cookie(headers) {
            Some(secret) => self.verify_session(&secret).await.map(Some),
            None => Ok(None),
        }
    }

    /// Forget every cached credential of `username` (password, admin flag or tokens changed).
    pub(crate) fn forget_user(&self, username: &str) {
        self.cache.forget_user(username);
    }

    pub(crate) fn hash_secret(&self, secret: &str) -> String {
        self.hasher.hash(secret)
    }

    pub(crate) fn forget_credential(&self, parts: &[&str]) {
        // Only entries of the same credential match; the cache has no per-key removal, so
        // forgetting the user is the safe over-approximation.
        if let Some(c) = self.cache.get(parts) {
            self.cache.forget_user(&c.username);
        }
    }

    /// The user's grants on one resource type (on one resource when `id` is given).
    pub(crate) async fn grants(
        &self,
        username: &str,
        resource_type: ResourceType,
        id: Option<&str>,
    ) -> Result<UserGrants, StoreError> {
        self.store.user_grants(username, resource_type, id).await
    }

    pub(crate) fn cached_run_experiment(&self, run_id: &str) -> Option<String> {
        self.run_experiments.get(run_id)
    }
    pub(crate) fn remember_run_experiment(&self, run_id: &str, exp: &str) {
        self.run_experiments.put(run_id, exp);
    }
    pub(crate) fn cached_model_experiment(&self, model_id: &str) -> Option<String> {
        self.model_experiments.get(model_id)
    }
    pub(crate) fn remember_model_experiment(&self, model_id: &str, exp: &str) {
        self.model_experiments.put(model_id, exp);
    }
}

fn identity(c: CachedUser, method: AuthMethod) -> Identity {
    Identity {
        username: c.username,
        is_admin: c.is_admin,
        method,
    }
}

/// Hash a password on the blocking pool (argon2 is deliberately slow).
pub(crate) async fn hash_password(password: String) -> Result<String, api::AuthApiError> {
    tokio::task::spawn_blocking(move || sextant_auth::password::hash(&password))
        .await
        .map_err(|e| api::AuthApiError::internal(&e))?
        .map_err(|e| api::AuthApiError::internal(&e))
}

/// The `sextant_session` cookie's value, if the request carries one.
pub fn session_cookie(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == SESSION_COOKIE)
        .map(|(_, v)| v.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// A JSON error in MLflow's shape.
pub(crate) fn error_response(status: StatusCode, code: &str, message: &str) -> Response {
    (
        status,
        Json(serde_json::json!({ "error_code": code, "message": message })),
    )
        .into_response()
}

/// 401 with MLflow's message. `WWW-Authenticate` only for non-browser requests, so the UI never
/// triggers the browser's own Basic prompt.
pub(crate) fn unauthenticated(headers: &HeaderMap) -> Response {
    let mut r = error_response(
        StatusCode::UNAUTHORIZED,
        "UNAUTHENTICATED",
        UNAUTHENTICATED_MESSAGE,
    );
    if !headers.contains_key("sec-fetch-mode") {
        r.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sextant\""),
        );
    }
    r
}

/// 403 with MLflow's error code.
pub(crate) fn forbidden(message: &str) -> Response {
    error_response(StatusCode::FORBIDDEN, "PERMISSION_DENIED", message)
}

/// 429 with `Retry-After`.
pub(crate) fn rate_limited(retry: Duration) -> Response {
    let secs = retry.as_secs().max(1);
    let mut r = error_response(
        StatusCode::TOO_MANY_REQUESTS,
        "REQUEST_LIMIT_EXCEEDED",
        &format!("Too many failed logins for this user from this address; try again in {secs} s."),
    );
    if let Ok(v) = HeaderValue::from_str(&secs.to_string()) {
        r.headers_mut().insert(header::RETRY_AFTER, v);
    }
    r
}

/// The response for a failed authentication.
pub(crate) fn failure_response(f: AuthFailure, headers: &HeaderMap) -> Response {
    match f {
        AuthFailure::Unauthenticated => unauthenticated(headers),
        AuthFailure::RateLimited(d) => rate_limited(d),
        AuthFailure::Store(e) => crate::error::ApiError::from(e).into_response(),
    }
}
