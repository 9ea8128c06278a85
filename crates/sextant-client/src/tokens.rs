//! Access tokens (`/api/sextant/v1/tokens`) and the signed-in user
//! (`/api/2.0/mlflow/users/current`) on a server with auth on: a token is created for the user
//! the request authenticates as, its secret is returned once, and it is sent afterwards as
//! `MLFLOW_TRACKING_TOKEN` (`Authorization: Bearer <secret>`).

use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::{Client, Expiry, Result, encode_segment};

/// A token as the server lists it (never its secret). Times in milliseconds since the epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenInfo {
    pub id: String,
    pub name: String,
    pub username: String,
    pub created_at: i64,
    #[serde(default)]
    pub expires_at: Option<i64>,
    #[serde(default)]
    pub last_used_at: Option<i64>,
}

/// A token just created, with its secret: the only time the server shows it.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewToken {
    pub token: TokenInfo,
    pub secret: String,
}

impl std::fmt::Debug for NewToken {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NewToken")
            .field("token", &self.token)
            .field("secret", &"<redacted>")
            .finish()
    }
}

/// The user the server authenticated the request as (MLflow's `users/current`).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct CurrentUser {
    pub username: String,
    #[serde(default)]
    pub is_admin: bool,
}

#[derive(Deserialize)]
struct Tokens {
    #[serde(default)]
    tokens: Vec<TokenInfo>,
}

#[derive(Deserialize)]
struct UserEnvelope {
    user: CurrentUser,
}

impl Client {
    /// Create a token called `name` for the signed-in user, living for `expiry`.
    pub fn create_token(&self, name: &str, expiry: Expiry) -> Result<NewToken> {
        let body = json!({ "name": name, "expires_in_seconds": expiry.seconds() });
        self.sextant_call("POST", "tokens", &[], Some(&body))
    }

    /// The signed-in user's tokens; with `all`, every user's (admins only).
    pub fn list_tokens(&self, all: bool) -> Result<Vec<TokenInfo>> {
        let query: &[(&str, &str)] = if all { &[("all", "true")] } else { &[] };
        Ok(self
            .sextant_call::<Tokens>("GET", "tokens", query, None)?
            .tokens)
    }

    /// Revoke the token `id`: requests with its secret are refused from now on.
    pub fn revoke_token(&self, id: &str) -> Result<()> {
        self.sextant_call::<serde_json::Value>(
            "DELETE",
            &format!("tokens/{}", encode_segment(id)),
            &[],
            None,
        )
        .map(drop)
    }

    /// Who the server takes this client for.
    pub fn current_user(&self) -> Result<CurrentUser> {
        Ok(self.mlflow_get::<UserEnvelope>("users/current", &[])?.user)
    }
}
