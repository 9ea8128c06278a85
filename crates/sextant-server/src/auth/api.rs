//! MLflow 3.17's auth REST API (users, per-user permissions, roles), as
//! `mlflow/server/auth/__init__.py` serves it and `AuthServiceClient` calls it, plus Sextant's
//! session (UI sign-in) and API token endpoints. Who may call what is decided by the layer's
//! table ([`super::table`]); these handlers only do the work.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, patch, post};
use axum::{Extension, Json, Router};
use serde_json::{Value, json};
use sextant_auth::{Identity, Permission, ResourceType, resolve};
use sextant_store::StoreError;
use sextant_store::auth::{AuthUser, NewToken, Role, RoleAssignment, RolePermission, TokenRecord};
use sextant_types::now_millis;

use super::{AuthFailure, AuthState, SESSION_COOKIE, SESSION_TTL, failure_response, forbidden};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

/// An error of the auth API: MLflow's JSON error, or 403.
#[derive(Debug)]
pub enum AuthApiError {
    Api(ApiError),
    Forbidden(String),
}

impl AuthApiError {
    pub fn invalid(e: impl std::fmt::Display) -> Self {
        Self::Api(ApiError::invalid(e.to_string()))
    }
    pub(crate) fn internal(e: &dyn std::fmt::Display) -> Self {
        Self::Api(ApiError::from(StoreError::Internal(e.to_string())))
    }
}

impl std::fmt::Display for AuthApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Api(e) => f.write_str(&e.message),
            Self::Forbidden(m) => f.write_str(m),
        }
    }
}

impl From<ApiError> for AuthApiError {
    fn from(e: ApiError) -> Self {
        Self::Api(e)
    }
}
impl From<StoreError> for AuthApiError {
    fn from(e: StoreError) -> Self {
        Self::Api(e.into())
    }
}
impl From<sextant_auth::AuthError> for AuthApiError {
    fn from(e: sextant_auth::AuthError) -> Self {
        Self::invalid(e)
    }
}

impl IntoResponse for AuthApiError {
    fn into_response(self) -> Response {
        match self {
            Self::Api(e) => e.into_response(),
            Self::Forbidden(m) => forbidden(&m),
        }
    }
}

type R = Result<Json<Value>, AuthApiError>;

fn not_enabled() -> AuthApiError {
    AuthApiError::invalid(
        "Authentication is not enabled on this server.\nhint: start it with `sextant server \
         --auth --admin-user NAME` (password in SEXTANT_ADMIN_PASSWORD)",
    )
}

fn auth_of(s: &AppState) -> Result<&Arc<AuthState>, AuthApiError> {
    s.auth.as_ref().ok_or_else(not_enabled)
}

fn caller(id: Option<Extension<Identity>>) -> Result<Identity, AuthApiError> {
    id.map(|Extension(i)| i)
        .ok_or_else(|| AuthApiError::Forbidden("Permission denied: not signed in.".into()))
}

fn user_json(u: &AuthUser) -> Value {
    json!({ "id": u.id, "username": u.username, "is_admin": u.is_admin })
}

fn role_perm_json(p: &RolePermission) -> Value {
    json!({
        "id": p.id,
        "role_id": p.role_id,
        "resource_type": p.resource_type.as_str(),
        "resource_pattern": p.resource_pattern,
        "permission": p.permission.as_str(),
    })
}

fn role_json(r: &Role) -> Value {
    json!({
        "id": r.id,
        "name": r.name,
        "workspace": r.workspace,
        "description": r.description,
        "permissions": r.permissions.iter().map(role_perm_json).collect::<Vec<_>>(),
    })
}

fn assignment_json(a: &RoleAssignment) -> Value {
    json!({ "id": a.id, "user_id": a.user_id, "role_id": a.role_id })
}

fn token_json(t: &TokenRecord) -> Value {
    json!({
        "id": t.id,
        "name": t.name,
        "username": t.username,
        "created_at": t.created_at,
        "expires_at": t.expires_at,
        "last_used_at": t.last_used_at,
    })
}

fn int(m: &Msg, name: &str) -> Result<i64, AuthApiError> {
    Ok(m.i64(name)?)
}

/// A resource pattern for our resource types: an id, a name or `*`.
fn pattern(s: &str) -> Result<String, AuthApiError> {
    if s.is_empty() || s.len() > 1024 || s.chars().any(char::is_control) {
        return Err(AuthApiError::invalid(format!(
            "Invalid resource_pattern '{s}': give a resource id or name, or '*'."
        )));
    }
    Ok(s.to_owned())
}

// ----------------------------------------------------------------------------- users

async fn create_user(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let password = m.str("password")?;
    sextant_auth::validate_username(&username)?;
    sextant_auth::validate_password(&password)?;
    let hash = super::hash_password(password).await?;
    let u = auth.store.create_user(&username, &hash, false).await?;
    Ok(Json(json!({ "user": user_json(&u) })))
}

async fn get_user(State(s): State<AppState>, m: Msg) -> R {
    let u = auth_of(&s)?.store.get_user(&m.str("username")?).await?;
    Ok(Json(json!({ "user": user_json(&u) })))
}

async fn list_users(State(s): State<AppState>) -> R {
    let store = &auth_of(&s)?.store;
    let mut out = Vec::new();
    for u in store.list_users().await? {
        let roles = store.list_user_roles(&u.username).await?;
        let mut j = user_json(&u);
        j["roles"] = roles.iter().map(role_json).collect::<Vec<_>>().into();
        out.push(j);
    }
    Ok(Json(json!({ "users": out })))
}

async fn current_user(State(s): State<AppState>, id: Option<Extension<Identity>>) -> R {
    let id = caller(id)?;
    let u = auth_of(&s)?.store.get_user(&id.username).await?;
    Ok(Json(
        json!({ "user": user_json(&u), "is_basic_auth": true }),
    ))
}

async fn update_password(State(s): State<AppState>, id: Option<Extension<Identity>>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let id = caller(id)?;
    let username = m.str("username")?;
    let password = m.str("password")?;
    sextant_auth::validate_password(&password)?;
    let user = auth.store.get_user(&username).await?;
    if id.username == username {
        // Self-service re-asserts the current password (MLflow's rule).
        let Some(current) = m.opt_str("current_password")?.filter(|c| !c.is_empty()) else {
            return Err(AuthApiError::invalid(
                "Current password is required when changing your own password.",
            ));
        };
        let phc = user.password_hash.clone();
        let c2 = current.clone();
        let ok = tokio::task::spawn_blocking(move || sextant_auth::password::verify(&c2, &phc))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(AuthApiError::invalid("Current password does not match."));
        }
        if password == current {
            return Err(AuthApiError::invalid(
                "New password must differ from the current password.",
            ));
        }
    }
    let hash = super::hash_password(password).await?;
    auth.store.set_user_password(&username, &hash).await?;
    auth.forget_user(&username);
    Ok(Json(json!({})))
}

async fn update_admin(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let is_admin = m
        .opt_bool("is_admin")?
        .ok_or_else(|| AuthApiError::invalid("Missing value for required parameter 'is_admin'."))?;
    auth.store.set_user_admin(&username, is_admin).await?;
    auth.forget_user(&username);
    Ok(Json(json!({})))
}

async fn delete_user(State(s): State<AppState>, id: Option<Extension<Identity>>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let id = caller(id)?;
    let username = m.str("username")?;
    if username == id.username {
        return Err(AuthApiError::Api(ApiError::new(
            crate::error::ErrorCode::BadRequest,
            "Users cannot delete their own account. Ask another admin to delete this user instead.",
        )));
    }
    auth.store.delete_user(&username).await?;
    auth.forget_user(&username);
    Ok(Json(json!({})))
}

// ----------------------------------------------------------------------------- permissions

async fn permission_rows(
    auth: &AuthState,
    username: &str,
) -> Result<(bool, Vec<Value>), AuthApiError> {
    let u = auth.store.get_user(username).await?;
    let mut rows: Vec<Value> = auth
        .store
        .list_user_permissions(username)
        .await?
        .iter()
        .map(|p| {
            json!({
                "role_id": 0,
                "role_name": format!("__user_{}__", u.id),
                "workspace": "default",
                "resource_type": p.resource_type.as_str(),
                "resource_pattern": p.resource_id,
                "permission": p.permission.as_str(),
            })
        })
        .collect();
    for r in auth.store.list_user_roles(username).await? {
        for p in &r.permissions {
            rows.push(json!({
                "role_id": r.id,
                "role_name": r.name,
                "workspace": r.workspace,
                "resource_type": p.resource_type.as_str(),
                "resource_pattern": p.resource_pattern,
                "permission": p.permission.as_str(),
            }));
        }
    }
    Ok((u.is_admin, rows))
}

async fn current_permissions(State(s): State<AppState>, id: Option<Extension<Identity>>) -> R {
    let id = caller(id)?;
    let (is_admin, rows) = permission_rows(auth_of(&s)?, &id.username).await?;
    Ok(Json(json!({ "is_admin": is_admin, "permissions": rows })))
}

async fn list_permissions(State(s): State<AppState>, m: Msg) -> R {
    let (is_admin, rows) = permission_rows(auth_of(&s)?, &m.str("username")?).await?;
    Ok(Json(json!({ "is_admin": is_admin, "permissions": rows })))
}

fn resource_args(m: &Msg) -> Result<(ResourceType, String), AuthApiError> {
    let rtype = ResourceType::parse(&m.str("resource_type")?)?;
    Ok((rtype, pattern(&m.str("resource_id")?)?))
}

async fn grant_permission(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let (rtype, rid) = resource_args(&m)?;
    let p = Permission::parse_grantable(&m.str("permission")?, rtype)?;
    auth.store
        .grant_user_permission(&username, rtype, &rid, p)
        .await?;
    Ok(Json(json!({})))
}

async fn revoke_permission(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let (rtype, rid) = resource_args(&m)?;
    auth.store
        .revoke_user_permission(&username, rtype, &rid)
        .await?;
    Ok(Json(json!({})))
}

async fn get_permission(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let (rtype, rid) = resource_args(&m)?;
    let u = auth.store.get_user(&username).await?;
    let p = if u.is_admin {
        Permission::Manage
    } else {
        let g = auth.store.user_grants(&username, rtype, Some(&rid)).await?;
        let name = match rtype {
            ResourceType::Experiment => s.tracking.get_experiment(&rid).await.ok().map(|e| e.name),
            ResourceType::RegisteredModel => Some(rid.clone()),
        };
        resolve(
            &g.for_resource(&rid),
            &rid,
            name.as_deref().unwrap_or(&rid),
            auth.default_permission(),
        )
    };
    Ok(Json(
        json!({ "allowed": p.can_use(), "permission": p.as_str() }),
    ))
}

// ----------------------------------------------------------------------------- roles

fn role_name(m: &Msg, field: &str) -> Result<Option<String>, AuthApiError> {
    match m.opt_str(field)? {
        None => Ok(None),
        Some(n) if n.trim().is_empty() => Err(AuthApiError::invalid("Role name cannot be empty.")),
        Some(n) => Ok(Some(n)),
    }
}

async fn create_role(State(s): State<AppState>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let name = role_name(&m, "name")?
        .ok_or_else(|| AuthApiError::invalid("Role name cannot be empty."))?;
    let workspace = m
        .opt_str("workspace")?
        .filter(|w| !w.trim().is_empty())
        .ok_or_else(|| AuthApiError::invalid("Workspace cannot be empty."))?;
    let description = m.opt_str("description")?;
    let r = auth
        .store
        .create_role(&workspace, &name, description.as_deref())
        .await?;
    Ok(Json(json!({ "role": role_json(&r) })))
}

async fn get_role(State(s): State<AppState>, m: Msg) -> R {
    let r = auth_of(&s)?.store.get_role(int(&m, "role_id")?).await?;
    Ok(Json(json!({ "role": role_json(&r) })))
}

async fn list_roles(State(s): State<AppState>, m: Msg) -> R {
    let workspaces = m.str_list("workspace")?;
    if workspaces.iter().any(|w| w.trim().is_empty()) {
        return Err(AuthApiError::invalid(
            "Parameter 'workspace' must be a non-empty string when provided.",
        ));
    }
    let roles = auth_of(&s)?.store.list_roles(&workspaces).await?;
    Ok(Json(
        json!({ "roles": roles.iter().map(role_json).collect::<Vec<_>>() }),
    ))
}

async fn update_role(State(s): State<AppState>, m: Msg) -> R {
    let id = int(&m, "role_id")?;
    let name = role_name(&m, "name")?;
    let description = m.opt_str("description")?;
    if name.is_none() && description.is_none() {
        return Err(AuthApiError::invalid(
            "At least one of 'name' or 'description' must be provided to update a role.",
        ));
    }
    let r = auth_of(&s)?
        .store
        .update_role(id, name.as_deref(), description.as_deref())
        .await?;
    Ok(Json(json!({ "role": role_json(&r) })))
}

async fn delete_role(State(s): State<AppState>, m: Msg) -> R {
    auth_of(&s)?.store.delete_role(int(&m, "role_id")?).await?;
    Ok(Json(json!({})))
}

async fn add_role_permission(State(s): State<AppState>, m: Msg) -> R {
    let rtype = ResourceType::parse(&m.str("resource_type")?)?;
    let pat = pattern(&m.str("resource_pattern")?)?;
    let p = Permission::parse_grantable(&m.str("permission")?, rtype)?;
    let rp = auth_of(&s)?
        .store
        .add_role_permission(int(&m, "role_id")?, rtype, &pat, p)
        .await?;
    Ok(Json(json!({ "role_permission": role_perm_json(&rp) })))
}

async fn remove_role_permission(State(s): State<AppState>, m: Msg) -> R {
    auth_of(&s)?
        .store
        .remove_role_permission(int(&m, "role_permission_id")?)
        .await?;
    Ok(Json(json!({})))
}

async fn list_role_permissions(State(s): State<AppState>, m: Msg) -> R {
    let ps = auth_of(&s)?
        .store
        .list_role_permissions(int(&m, "role_id")?)
        .await?;
    Ok(Json(
        json!({ "role_permissions": ps.iter().map(role_perm_json).collect::<Vec<_>>() }),
    ))
}

async fn update_role_permission(State(s): State<AppState>, m: Msg) -> R {
    let store = &auth_of(&s)?.store;
    let id = int(&m, "role_permission_id")?;
    let p = Permission::parse(&m.str("permission")?)?;
    if p == Permission::NoPermissions {
        return Err(AuthApiError::invalid(
            "Invalid permission 'NO_PERMISSIONS': grants accept only ('DENY', 'EDIT', 'MANAGE', \
             'READ', 'USE').",
        ));
    }
    let rp = store.update_role_permission(id, p).await?;
    Ok(Json(json!({ "role_permission": role_perm_json(&rp) })))
}

async fn assign_role(State(s): State<AppState>, m: Msg) -> R {
    let a = auth_of(&s)?
        .store
        .assign_role(&m.str("username")?, int(&m, "role_id")?)
        .await?;
    Ok(Json(json!({ "assignment": assignment_json(&a) })))
}

async fn unassign_role(State(s): State<AppState>, m: Msg) -> R {
    auth_of(&s)?
        .store
        .unassign_role(&m.str("username")?, int(&m, "role_id")?)
        .await?;
    Ok(Json(json!({})))
}

async fn list_user_roles(State(s): State<AppState>, m: Msg) -> R {
    let roles = auth_of(&s)?
        .store
        .list_user_roles(&m.str("username")?)
        .await?;
    Ok(Json(
        json!({ "roles": roles.iter().map(role_json).collect::<Vec<_>>() }),
    ))
}

async fn list_role_users(State(s): State<AppState>, m: Msg) -> R {
    let a = auth_of(&s)?
        .store
        .list_role_users(int(&m, "role_id")?)
        .await?;
    Ok(Json(
        json!({ "assignments": a.iter().map(assignment_json).collect::<Vec<_>>() }),
    ))
}

// ----------------------------------------------------------------------------- sessions

fn address(ci: Option<&Extension<ConnectInfo<SocketAddr>>>) -> String {
    ci.map_or_else(|| "unknown".to_owned(), |c| c.0.0.ip().to_string())
}

/// `GET /api/sextant/v1/session`: whether auth is on and who the request is from.
async fn get_session(
    State(s): State<AppState>,
    ci: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
) -> Json<Value> {
    let Some(auth) = &s.auth else {
        return Json(json!({ "auth_enabled": false, "user": null }));
    };
    let user = match auth.authenticate(&headers, &address(ci.as_ref())).await {
        Ok(Some(i)) => json!({ "username": i.username, "is_admin": i.is_admin }),
        _ => Value::Null,
    };
    Json(json!({ "auth_enabled": true, "user": user }))
}

fn cookie(value: &str, max_age: u64) -> Option<HeaderValue> {
    HeaderValue::from_str(&format!(
        "{SESSION_COOKIE}={value}; HttpOnly; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .ok()
}

/// `POST /api/sextant/v1/session`: sign in with a username and password.
async fn create_session(
    State(s): State<AppState>,
    ci: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    m: Msg,
) -> Result<Response, AuthApiError> {
    let auth = auth_of(&s)?;
    let username = m.str("username")?;
    let password = m.str("password")?;
    let id = match auth
        .verify_password(
            &username,
            &password,
            &address(ci.as_ref()),
            sextant_auth::AuthMethod::Session,
        )
        .await
    {
        Ok(i) => i,
        Err(AuthFailure::Unauthenticated) => {
            // No WWW-Authenticate here: this is the UI's form, not a Basic challenge.
            return Ok(super::error_response(
                StatusCode::UNAUTHORIZED,
                "UNAUTHENTICATED",
                "Wrong username or password.",
            ));
        }
        Err(f) => return Ok(failure_response(f, &headers)),
    };
    let secret = sextant_auth::token::new_session_secret();
    let ttl = SESSION_TTL.as_secs();
    let expires = now_millis() + i64::try_from(SESSION_TTL.as_millis()).unwrap_or(i64::MAX / 4);
    auth.store
        .create_session(&auth.hash_secret(&secret), &id.username, expires)
        .await?;
    let mut r = Json(json!({
        "auth_enabled": true,
        "user": { "username": id.username, "is_admin": id.is_admin },
    }))
    .into_response();
    if let Some(c) = cookie(&secret, ttl) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    Ok(r)
}

/// `DELETE /api/sextant/v1/session`: sign out (the session ends server-side too).
async fn delete_session(State(s): State<AppState>, headers: HeaderMap) -> Response {
    if let (Some(auth), Some(secret)) = (&s.auth, super::session_cookie(&headers)) {
        auth.forget_credential(&["session", &secret]);
        if let Err(e) = auth.store.delete_session(&auth.hash_secret(&secret)).await {
            return ApiError::from(e).into_response();
        }
    }
    let mut r = Json(json!({ "auth_enabled": s.auth.is_some(), "user": null })).into_response();
    if let Some(c) = cookie("", 0) {
        r.headers_mut().insert(header::SET_COOKIE, c);
    }
    r
}

// ----------------------------------------------------------------------------- tokens

/// Longest token lifetime accepted: ten years.
const MAX_TOKEN_SECONDS: i64 = 10 * 365 * 24 * 3600;

async fn create_token(State(s): State<AppState>, id: Option<Extension<Identity>>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let id = caller(id)?;
    let name = m.str("name")?;
    if name.chars().count() > 256 || name.chars().any(char::is_control) {
        return Err(AuthApiError::invalid(
            "Token name must be at most 256 characters, without control characters.",
        ));
    }
    let expires_at = match m.opt_i64("expires_in_seconds")? {
        None => None,
        Some(s) if (1..=MAX_TOKEN_SECONDS).contains(&s) => Some(now_millis() + s * 1000),
        Some(s) => {
            return Err(AuthApiError::invalid(format!(
                "expires_in_seconds must be between 1 and {MAX_TOKEN_SECONDS} (ten years), got {s}."
            )));
        }
    };
    let secret = sextant_auth::token::new_token_secret();
    let t = auth
        .store
        .create_token(NewToken {
            id: sextant_auth::token::new_id(),
            username: id.username.clone(),
            name,
            secret_hash: auth.hash_secret(&secret),
            expires_at,
        })
        .await?;
    tracing::info!(user = %id.username, token = %t.id, "token created");
    Ok(Json(json!({ "token": token_json(&t), "secret": secret })))
}

async fn list_tokens(State(s): State<AppState>, id: Option<Extension<Identity>>, m: Msg) -> R {
    let auth = auth_of(&s)?;
    let id = caller(id)?;
    let all = m.opt_bool("all")?.unwrap_or(false);
    if all && !id.is_admin {
        return Err(AuthApiError::Forbidden(
            "Permission denied: only admins may list every user's tokens.".into(),
        ));
    }
    let tokens = auth
        .store
        .list_tokens(if all { None } else { Some(&id.username) })
        .await?;
    Ok(Json(
        json!({ "tokens": tokens.iter().map(token_json).collect::<Vec<_>>() }),
    ))
}

async fn delete_token(
    State(s): State<AppState>,
    id: Option<Extension<Identity>>,
    Path(token_id): Path<String>,
) -> R {
    let auth = auth_of(&s)?;
    let id = caller(id)?;
    let t = auth.store.get_token(&token_id).await?;
    if t.username != id.username && !id.is_admin {
        return Err(AuthApiError::Forbidden(
            "Permission denied: only the token's owner or an admin may revoke it.".into(),
        ));
    }
    auth.store.delete_token(&token_id).await?;
    // The token may be cached as verified: forget its user's cached credentials.
    auth.forget_user(&t.username);
    tracing::info!(user = %id.username, token = %t.id, "token revoked");
    Ok(Json(json!({})))
}

// ----------------------------------------------------------------------------- legacy grants

// MLflow 2's per-resource permission endpoints (`experiments/permissions/*`,
// `registered-models/permissions/*`), kept by older `AuthServiceClient`s: the same per-user
// grants as `users/permissions/*`.

fn legacy_not_found(kind: &str, key: &str, id: &str, username: &str) -> AuthApiError {
    AuthApiError::Api(ApiError::not_found(format!(
        "{kind} permission with {key}={id} and username={username} not found"
    )))
}

async fn legacy_get(
    auth: &AuthState,
    rtype: ResourceType,
    id: &str,
    username: &str,
) -> Result<(AuthUser, Permission), AuthApiError> {
    let u = auth.store.get_user(username).await?;
    let g = auth.store.user_grants(username, rtype, Some(id)).await?;
    match g.direct.get(id) {
        Some(p) => Ok((u, *p)),
        None => Err(match rtype {
            ResourceType::Experiment => {
                legacy_not_found("Experiment", "experiment_id", id, username)
            }
            ResourceType::RegisteredModel => {
                legacy_not_found("Registered model", "name", id, username)
            }
        }),
    }
}

fn legacy_json(rtype: ResourceType, id: &str, u: &AuthUser, p: Permission) -> Value {
    match rtype {
        ResourceType::Experiment => json!({ "experiment_permission": {
            "experiment_id": id, "user_id": u.id, "permission": p.as_str() } }),
        ResourceType::RegisteredModel => json!({ "registered_model_permission": {
            "name": id, "user_id": u.id, "permission": p.as_str(), "workspace": "default" } }),
    }
}

fn legacy_key(rtype: ResourceType) -> &'static str {
    match rtype {
        ResourceType::Experiment => "experiment_id",
        ResourceType::RegisteredModel => "name",
    }
}

async fn legacy_create(s: &AppState, rtype: ResourceType, m: &Msg) -> R {
    let auth = auth_of(s)?;
    let id = m.str_or_int(legacy_key(rtype))?;
    let username = m.str("username")?;
    let p = Permission::parse_grantable(&m.str("permission")?, rtype)?;
    auth.store
        .grant_user_permission(&username, rtype, &id, p)
        .await?;
    let (u, p) = legacy_get(auth, rtype, &id, &username).await?;
    Ok(Json(legacy_json(rtype, &id, &u, p)))
}

async fn legacy_read(s: &AppState, rtype: ResourceType, m: &Msg) -> R {
    let auth = auth_of(s)?;
    let id = m.str_or_int(legacy_key(rtype))?;
    let (u, p) = legacy_get(auth, rtype, &id, &m.str("username")?).await?;
    Ok(Json(legacy_json(rtype, &id, &u, p)))
}

async fn legacy_update(s: &AppState, rtype: ResourceType, m: &Msg) -> R {
    let auth = auth_of(s)?;
    let id = m.str_or_int(legacy_key(rtype))?;
    let username = m.str("username")?;
    let p = Permission::parse_grantable(&m.str("permission")?, rtype)?;
    legacy_get(auth, rtype, &id, &username).await?;
    auth.store
        .set_user_permission(&username, rtype, &id, p)
        .await?;
    Ok(Json(json!({})))
}

async fn legacy_delete(s: &AppState, rtype: ResourceType, m: &Msg) -> R {
    let auth = auth_of(s)?;
    let id = m.str_or_int(legacy_key(rtype))?;
    let username = m.str("username")?;
    legacy_get(auth, rtype, &id, &username).await?;
    auth.store
        .revoke_user_permission(&username, rtype, &id)
        .await?;
    Ok(Json(json!({})))
}

async fn exp_perm_create(State(s): State<AppState>, m: Msg) -> R {
    legacy_create(&s, ResourceType::Experiment, &m).await
}
async fn exp_perm_get(State(s): State<AppState>, m: Msg) -> R {
    legacy_read(&s, ResourceType::Experiment, &m).await
}
async fn exp_perm_update(State(s): State<AppState>, m: Msg) -> R {
    legacy_update(&s, ResourceType::Experiment, &m).await
}
async fn exp_perm_delete(State(s): State<AppState>, m: Msg) -> R {
    legacy_delete(&s, ResourceType::Experiment, &m).await
}
async fn model_perm_create(State(s): State<AppState>, m: Msg) -> R {
    legacy_create(&s, ResourceType::RegisteredModel, &m).await
}
async fn model_perm_get(State(s): State<AppState>, m: Msg) -> R {
    legacy_read(&s, ResourceType::RegisteredModel, &m).await
}
async fn model_perm_update(State(s): State<AppState>, m: Msg) -> R {
    legacy_update(&s, ResourceType::RegisteredModel, &m).await
}
async fn model_perm_delete(State(s): State<AppState>, m: Msg) -> R {
    legacy_delete(&s, ResourceType::RegisteredModel, &m).await
}

// ----------------------------------------------------------------------------- routes

fn mlflow_auth_routes(prefix: &str) -> Router<AppState> {
    let p = |tail: &str| format!("/{prefix}{tail}");
    Router::new()
        .route(&p("/2.0/mlflow/users/create"), post(create_user))
        .route(&p("/2.0/mlflow/users/get"), get(get_user))
        .route(&p("/2.0/mlflow/users/current"), get(current_user))
        .route(
            &p("/2.0/mlflow/users/update-password"),
            patch(update_password),
        )
        .route(&p("/2.0/mlflow/users/update-admin"), patch(update_admin))
        .route(&p("/2.0/mlflow/users/delete"), delete(delete_user))
        .route(&p("/2.0/mlflow/users/list"), get(list_users))
        .route(
            &p("/2.0/mlflow/experiments/permissions/create"),
            post(exp_perm_create),
        )
        .route(
            &p("/2.0/mlflow/experiments/permissions/get"),
            get(exp_perm_get),
        )
        .route(
            &p("/2.0/mlflow/experiments/permissions/update"),
            patch(exp_perm_update),
        )
        .route(
            &p("/2.0/mlflow/experiments/permissions/delete"),
            delete(exp_perm_delete),
        )
        .route(
            &p("/2.0/mlflow/registered-models/permissions/create"),
            post(model_perm_create),
        )
        .route(
            &p("/2.0/mlflow/registered-models/permissions/get"),
            get(model_perm_get),
        )
        .route(
            &p("/2.0/mlflow/registered-models/permissions/update"),
            patch(model_perm_update),
        )
        .route(
            &p("/2.0/mlflow/registered-models/permissions/delete"),
            delete(model_perm_delete),
        )
        .route(
            &p("/3.0/mlflow/users/current/permissions"),
            get(current_permissions),
        )
        .route(
            &p("/3.0/mlflow/users/permissions/list"),
            get(list_permissions),
        )
        .route(
            &p("/3.0/mlflow/users/permissions/grant"),
            post(grant_permission),
        )
        .route(
            &p("/3.0/mlflow/users/permissions/revoke"),
            post(revoke_permission),
        )
        .route(&p("/3.0/mlflow/users/permissions/get"), get(get_permission))
        .route(&p("/3.0/mlflow/roles/create"), post(create_role))
        .route(&p("/3.0/mlflow/roles/get"), get(get_role))
        .route(&p("/3.0/mlflow/roles/list"), get(list_roles))
        .route(&p("/3.0/mlflow/roles/update"), patch(update_role))
        .route(&p("/3.0/mlflow/roles/delete"), delete(delete_role))
        .route(
            &p("/3.0/mlflow/roles/permissions/add"),
            post(add_role_permission),
        )
        .route(
            &p("/3.0/mlflow/roles/permissions/remove"),
            delete(remove_role_permission),
        )
        .route(
            &p("/3.0/mlflow/roles/permissions/list"),
            get(list_role_permissions),
        )
        .route(
            &p("/3.0/mlflow/roles/permissions/update"),
            patch(update_role_permission),
        )
        .route(&p("/3.0/mlflow/roles/assign"), post(assign_role))
        .route(&p("/3.0/mlflow/roles/unassign"), delete(unassign_role))
        .route(&p("/3.0/mlflow/users/roles/list"), get(list_user_roles))
        .route(&p("/3.0/mlflow/roles/users/list"), get(list_role_users))
}

/// Every auth route: MLflow's (under `/api/` and `/ajax-api/`) and Sextant's session and token
/// endpoints. Served with auth off too, answering that auth is not enabled.
pub fn routes() -> Router<AppState> {
    Router::new()
        .merge(mlflow_auth_routes("api"))
        .merge(mlflow_auth_routes("ajax-api"))
        .route(
            "/api/sextant/v1/session",
            get(get_session).post(create_session).delete(delete_session),
        )
        .route(
            "/api/sextant/v1/tokens",
            get(list_tokens).post(create_token),
        )
        .route("/api/sextant/v1/tokens/{id}", delete(delete_token))
}
