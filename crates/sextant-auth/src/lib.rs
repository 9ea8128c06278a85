//! Authentication and authorization for Sextant, as MLflow's `basic-auth` app defines them.
//!
//! Why a crate of its own: the rules that decide who may do what must be written once and be
//! testable without a server or a database. This crate holds them and nothing else:
//!
//! - [`Permission`] — MLflow's `READ`, `USE`, `EDIT`, `MANAGE`, `NO_PERMISSIONS` (and `DENY` in
//!   roles) with MLflow's `can_read`/`can_use`/`can_update`/`can_delete`/`can_manage`.
//! - [`resolve`] — the effective permission of a user on one resource: a `DENY` from any of the
//!   user's roles wins, then the user's own grant, then the strongest matching role grant (the
//!   pattern is the resource's id or name, or `*`), then the configured default (MLflow's is
//!   `READ`). Admins are never asked: they may do everything.
//! - [`password`] — argon2id hashes (memory-hard, salted), verified in constant time.
//! - [`token`] — long random API tokens and session secrets, stored only as a keyed hash
//!   (HMAC-SHA256 under a per-store key), so a token is found with one indexed lookup and a
//!   leaked database does not yield usable tokens.
//! - [`cache::CredentialCache`] — verified `(user, password)` pairs remembered briefly, so a
//!   password hash (deliberately slow) is not recomputed on every request.
//! - [`limit::LoginLimiter`] — failed logins counted per user and address; too many in a window
//!   and further attempts are refused until it passes.
//!
//! ```
//! use sextant_auth::{Grants, Permission, resolve};
//! let grants = Grants {
//!     direct: Some(Permission::Edit),
//!     roles: vec![("*".into(), Permission::Read)],
//! };
//! assert_eq!(resolve(&grants, "42", "my-model", Permission::Read), Permission::Edit);
//! ```

pub mod cache;
pub mod limit;
pub mod password;
mod permission;
pub mod token;

pub use permission::{Capability, Grants, Permission, ResourceType, resolve};

use sextant_types::registry::Actor;

/// How a request proved who it is from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AuthMethod {
    /// HTTP Basic (`MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`).
    Basic,
    /// `Authorization: Bearer <token>` (`MLFLOW_TRACKING_TOKEN`).
    Token,
    /// The UI's `sextant_session` cookie.
    Session,
}

impl AuthMethod {
    /// The actor source recorded with every change: `auth:basic`, `auth:token`, `auth:session`.
    pub fn actor_source(self) -> &'static str {
        match self {
            Self::Basic => "auth:basic",
            Self::Token => "auth:token",
            Self::Session => "auth:session",
        }
    }

    /// The method named by an actor source (the inverse of [`AuthMethod::actor_source`]).
    pub fn from_actor_source(source: &str) -> Option<Self> {
        match source {
            "auth:basic" => Some(Self::Basic),
            "auth:token" => Some(Self::Token),
            "auth:session" => Some(Self::Session),
            _ => None,
        }
    }
}

/// A verified caller: who they are, whether they are an admin, and how they proved it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub username: String,
    pub is_admin: bool,
    pub method: AuthMethod,
}

impl Identity {
    /// The actor of every change this caller makes.
    pub fn actor(&self) -> Actor {
        Actor::new(self.username.clone(), self.method.actor_source())
    }
}

/// What can go wrong in this crate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// A value from outside (a permission name, a resource type, a pattern) is not valid.
    #[error("{0}")]
    Invalid(String),
    /// A password could not be hashed (the hasher's parameters are broken).
    #[error("cannot hash the password: {0}")]
    Hash(String),
}

/// Check a username as MLflow does (not empty) and as Sextant adds (no control characters, no
/// `:` since HTTP Basic could not carry it, at most 256 characters).
pub fn validate_username(username: &str) -> Result<(), AuthError> {
    if username.trim().is_empty() {
        return Err(AuthError::Invalid("Username cannot be empty.".into()));
    }
    if username.chars().count() > 256 {
        return Err(AuthError::Invalid(
            "Username is too long (at most 256 characters).".into(),
        ));
    }
    if username.chars().any(|c| c.is_control() || c == ':') {
        return Err(AuthError::Invalid(
            "Username may not contain ':' or control characters.".into(),
        ));
    }
    Ok(())
}

/// Check a password: at least 12 characters (MLflow 3.17's rule and message) and at most 1024
/// bytes (argon2 hashes whatever it is given; an unbounded password is a cheap way to burn CPU).
pub fn validate_password(password: &str) -> Result<(), AuthError> {
    if password.is_empty() {
        return Err(AuthError::Invalid("Password cannot be empty.".into()));
    }
    if password.chars().count() < 12 {
        return Err(AuthError::Invalid(
            "Password must be at least 12 characters.".into(),
        ));
    }
    if password.len() > 1024 {
        return Err(AuthError::Invalid(
            "Password is too long (at most 1024 bytes).".into(),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actor_sources_round_trip() {
        for m in [AuthMethod::Basic, AuthMethod::Token, AuthMethod::Session] {
            assert_eq!(AuthMethod::from_actor_source(m.actor_source()), Some(m));
            let id = Identity {
                username: "ann".into(),
                is_admin: false,
                method: m,
            };
            assert!(id.actor().is_verified());
        }
        assert_eq!(AuthMethod::from_actor_source("header"), None);
    }

    #[test]
    fn usernames_and_passwords_are_checked() {
        assert!(validate_username("ann").is_ok());
        assert!(validate_username("").is_err());
        assert!(validate_username("a:b").is_err());
        assert!(validate_username("a\nb").is_err());
        assert!(validate_password("").is_err());
        assert!(validate_password(&"x".repeat(2000)).is_err());
        assert!(validate_password("short").is_err());
        assert!(validate_password("twelve chars").is_ok());
    }
}
