//! The auth layer: authenticate, authorize through [`super::table`], filter searches, and
//! record the creator of a new experiment or model as its manager.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::Value;
use sextant_auth::{Capability, Grants, Identity, Permission, ResourceType, resolve};

use super::table::{self, After, Filter, Loc, Rule};
use super::{AuthState, VERIFIED_METHOD_HEADER, VERIFIED_USER_HEADER, forbidden};
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

/// Largest body the layer reads to find the resource a request is about (MLflow's JSON API).
const MAX_INSPECTED_BODY: usize = 32 * 1024 * 1024;
/// Largest search response the layer filters.
const MAX_FILTERED_RESPONSE: usize = 256 * 1024 * 1024;

/// The auth layer (outermost after the guard). Without auth it only removes the internal
/// identity headers a client might send.
pub async fn layer(State(app): State<AppState>, mut req: Request, next: Next) -> Response {
    let headers = req.headers_mut();
    headers.remove(VERIFIED_USER_HEADER);
    headers.remove(VERIFIED_METHOD_HEADER);
    let Some(auth) = app.auth.clone() else {
        return next.run(req).await;
    };
    // With auth on, the caller's name comes from their credentials only.
    req.headers_mut().remove(crate::USER_HEADER);
    let method = req.method().clone();
    let path = req.uri().path().to_owned();
    if table::is_public(&method, &path) {
        return next.run(req).await;
    }
    let address = req
        .extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map_or_else(|| "unknown".to_owned(), |c| c.0.ip().to_string());
    let identity = match auth.authenticate(req.headers(), &address).await {
        Ok(Some(i)) => i,
        Ok(None) => return unauthenticated_page_or_api(&method, req.uri(), req.headers()),
        Err(f) => return super::failure_response(f, req.headers()),
    };
    if let (Ok(u), Ok(m)) = (
        HeaderValue::from_str(&identity.username),
        HeaderValue::from_str(identity.method.actor_source()),
    ) {
        req.headers_mut().insert(VERIFIED_USER_HEADER, u);
        req.headers_mut().insert(VERIFIED_METHOD_HEADER, m);
    } else {
        return forbidden("This username cannot be carried in an HTTP header.");
    }
    req.extensions_mut().insert(identity.clone());

    let Some((endpoint, captures)) = table::lookup(method.as_str(), &path) else {
        if identity.is_admin || is_ui_page(&method, &path) {
            return next.run(req).await;
        }
        return forbidden(&format!(
            "Permission denied: {method} {path} has no permission mapping; only admins may \
             call it."
        ));
    };

    // The request's fields: path captures, the query string, and the JSON body when a rule or
    // an after-step reads it.
    let needs_body = needs_fields(endpoint.rule, endpoint.after)
        && method != Method::GET
        && !path.contains("/mlflow-artifacts/");
    let (req, msg) = match read_fields(req, needs_body).await {
        Ok(x) => x,
        Err(r) => return *r,
    };
    let ctx = Ctx {
        app: &app,
        auth: &auth,
        identity: &identity,
        captures: &captures,
        msg: &msg,
    };
    if !identity.is_admin {
        if let Err(r) = ctx.authorize(endpoint.rule).await {
            return *r;
        }
    }
    let response = next.run(req).await;
    if !response.status().is_success() {
        return response;
    }
    let response = match endpoint.rule {
        Rule::Filtered(f) if !identity.is_admin => ctx.filter(f, response).await,
        _ => response,
    };
    ctx.after(endpoint.after, response).await
}

fn is_ui_page(method: &Method, path: &str) -> bool {
    (*method == Method::GET || *method == Method::HEAD)
        && !path.starts_with("/api/")
        && !path.starts_with("/ajax-api/")
        && !path.starts_with("/get-artifact")
        && !path.starts_with("/model-versions/")
}

/// A browser asking for a page is sent to the login form; everything else gets MLflow's 401.
fn unauthenticated_page_or_api(
    method: &Method,
    uri: &axum::http::Uri,
    headers: &HeaderMap,
) -> Response {
    let wants_html = headers
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|a| a.contains("text/html"));
    if is_ui_page(method, uri.path()) && wants_html {
        let next = uri
            .path_and_query()
            .map_or("/", axum::http::uri::PathAndQuery::as_str);
        let target = format!(
            "/login?next={}",
            serde_urlencoded::to_string([("", next)])
                .unwrap_or_default()
                .trim_start_matches('=')
        );
        return Redirect::to(&target).into_response();
    }
    super::unauthenticated(headers)
}

fn needs_fields(rule: Rule, after: After) -> bool {
    let loc_field = |l: Loc| {
        matches!(
            l,
            Loc::Field(_)
                | Loc::FieldOr(..)
                | Loc::Fields(_)
                | Loc::ExperimentName(_)
                | Loc::Run
                | Loc::Runs(_)
                | Loc::ArtifactField(_)
        )
    };
    let by_rule = match rule {
        Rule::Experiment(_, l) | Rule::Model(_, l) => loc_field(l),
        Rule::Alias(m, a) => loc_field(m) || loc_field(a),
        Rule::ModelTag(_) => true,
        Rule::SelfOrAdmin(_) | Rule::ManageResource => true,
        Rule::Authenticated | Rule::Admin | Rule::Filtered(_) => false,
    };
    by_rule
        || matches!(
            after,
            After::GrantModelCreator | After::RenameModel | After::DeleteModel
        )
}

async fn read_fields(req: Request, with_body: bool) -> Result<(Request, Msg), Rejection> {
    let query = req.uri().query().unwrap_or("").to_owned();
    if !with_body {
        let msg = Msg::from_query(&query).unwrap_or_default();
        return Ok((req, msg));
    }
    let (parts, body) = req.into_parts();
    let bytes: Bytes = match axum::body::to_bytes(body, MAX_INSPECTED_BODY).await {
        Ok(b) => b,
        Err(_) => {
            return Err(reject(ApiError::invalid(format!(
                "The request body is larger than {MAX_INSPECTED_BODY} bytes."
            ))));
        }
    };
    let msg = if bytes.iter().all(u8::is_ascii_whitespace) {
        Msg::from_query(&query).unwrap_or_default()
    } else {
        // Only the fields the table reads are kept; the rest (a log-batch's thousand metrics)
        // is skipped without building a JSON tree. A malformed body is the handler's to
        // report, with MLflow's message.
        serde_json::from_slice::<LocatorFields>(&bytes)
            .ok()
            .and_then(|f| serde_json::to_vec(&f).ok())
            .and_then(|small| Msg::from_json(&small).ok())
            .unwrap_or_default()
    };
    Ok((Request::from_parts(parts, Body::from(bytes)), msg))
}

/// The request fields that the table's locators, rules and after-steps read.
#[derive(Debug, Default, serde::Deserialize, serde::Serialize)]
struct LocatorFields {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    experiment_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    experiment_name: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_id: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_uuid: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    run_ids: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    name: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    new_name: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    alias: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    path: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    username: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_type: Option<Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    resource_id: Option<Value>,
}

struct Ctx<'a> {
    app: &'a AppState,
    auth: &'a Arc<AuthState>,
    identity: &'a Identity,
    captures: &'a HashMap<String, String>,
    msg: &'a Msg,
}

/// Why a request is refused before it reaches a handler (boxed: a `Response` is large).
type Rejection = Box<Response>;

fn reject(e: impl IntoResponse) -> Rejection {
    Box::new(e.into_response())
}

fn refuse(message: &str) -> Rejection {
    Box::new(forbidden(message))
}

fn denied(what: &str, needed: Capability, have: Permission) -> Rejection {
    refuse(&format!(
        "Permission denied: {what} needs {} ({}), you have {have}.",
        needed.minimum(),
        needed.as_str()
    ))
}

impl Ctx<'_> {
    fn user(&self) -> &str {
        &self.identity.username
    }

    fn field(&self, name: &str) -> Result<Option<String>, Rejection> {
        self.msg
            .opt_str(name)
            .map(|v| v.filter(|s| !s.is_empty()))
            .map_err(reject)
    }

    fn required(&self, name: &str) -> Result<String, Rejection> {
        self.msg.str(name).map_err(reject)
    }

    /// The ids (experiment ids, or model names) a locator names.
    async fn ids(&self, loc: Loc) -> Result<Vec<String>, Rejection> {
        Ok(match loc {
            Loc::Field(f) => vec![self.required(f)?],
            Loc::FieldOr(f, d) => vec![self.field(f)?.unwrap_or_else(|| d.to_owned())],
            Loc::Fields(f) => self.msg.str_list(f).map_err(reject)?,
            Loc::Path(f) => vec![self.captures.get(f).cloned().unwrap_or_default()],
            Loc::ExperimentName(f) => {
                let name = self.required(f)?;
                match self.app.tracking.get_experiment_by_name(&name).await {
                    Ok(e) => vec![e.experiment_id],
                    // The handler answers MLflow's 404.
                    Err(_) => vec![],
                }
            }
            Loc::Run => {
                let run = self.msg.run_id().map_err(reject)?;
                self.run_experiment(&run).await.into_iter().collect()
            }
            Loc::RunPath(f) => {
                let run = self.captures.get(f).cloned().unwrap_or_default();
                self.run_experiment(&run).await.into_iter().collect()
            }
            Loc::Runs(f) => {
                let mut out = Vec::new();
                for run in self.msg.str_list(f).map_err(reject)? {
                    out.extend(self.run_experiment(&run).await);
                }
                out
            }
            Loc::LoggedModelPath(f) => {
                let id = self.captures.get(f).cloned().unwrap_or_default();
                self.logged_model_experiment(&id)
                    .await
                    .into_iter()
                    .collect()
            }
            Loc::ArtifactPath(f) => vec![artifact_experiment(
                self.captures.get(f).map_or("", String::as_str),
            )?],
            Loc::ArtifactField(f) => {
                vec![artifact_experiment(&self.field(f)?.unwrap_or_default())?]
            }
        })
    }

    async fn run_experiment(&self, run_id: &str) -> Option<String> {
        if let Some(e) = self.auth.cached_run_experiment(run_id) {
            return Some(e);
        }
        // An unknown run: the handler answers MLflow's 404.
        let run = self.app.tracking.get_run(run_id).await.ok()?;
        self.auth
            .remember_run_experiment(run_id, &run.info.experiment_id);
        Some(run.info.experiment_id)
    }

    async fn logged_model_experiment(&self, id: &str) -> Option<String> {
        if let Some(e) = self.auth.cached_model_experiment(id) {
            return Some(e);
        }
        let m = self.app.tracking.get_logged_model(id, true).await.ok()?;
        self.auth
            .remember_model_experiment(id, &m.info.experiment_id);
        Some(m.info.experiment_id)
    }

    async fn experiment_permission(&self, id: &str) -> Result<Permission, Rejection> {
        let g = self
            .auth
            .grants(self.user(), ResourceType::Experiment, Some(id))
            .await
            .map_err(|e| reject(ApiError::from(e)))?;
        let name = self.experiment_name_if_needed(&g.roles, id).await;
        Ok(resolve(
            &g.for_resource(id),
            id,
            name.as_deref().unwrap_or(id),
            self.auth.default_permission(),
        ))
    }

    /// An experiment's name, looked up only when a role grant names experiments by name.
    async fn experiment_name_if_needed(
        &self,
        roles: &[(String, Permission)],
        id: &str,
    ) -> Option<String> {
        if roles.iter().all(|(p, _)| p == "*" || p == id) {
            return None;
        }
        self.app
            .tracking
            .get_experiment(id)
            .await
            .ok()
            .map(|e| e.name)
    }

    async fn model_permission(&self, name: &str) -> Result<Permission, Rejection> {
        let g = self
            .auth
            .grants(self.user(), ResourceType::RegisteredModel, Some(name))
            .await
            .map_err(|e| reject(ApiError::from(e)))?;
        Ok(resolve(
            &g.for_resource(name),
            name,
            name,
            self.auth.default_permission(),
        ))
    }

    async fn authorize(&self, rule: Rule) -> Result<(), Rejection> {
        match rule {
            Rule::Authenticated | Rule::Filtered(_) => Ok(()),
            Rule::Admin => Err(refuse("Permission denied: only admins may do this.")),
            Rule::SelfOrAdmin(f) => {
                if self.field(f)?.as_deref() == Some(self.user()) {
                    Ok(())
                } else {
                    Err(refuse(
                        "Permission denied: only the user themself or an admin may do this.",
                    ))
                }
            }
            Rule::Experiment(cap, loc) => {
                for id in self.ids(loc).await? {
                    let p = self.experiment_permission(&id).await?;
                    if !p.allows(cap) {
                        return Err(denied(&format!("experiment {id}"), cap, p));
                    }
                }
                Ok(())
            }
            Rule::Model(cap, loc) => {
                for name in self.ids(loc).await? {
                    let p = self.model_permission(&name).await?;
                    if !p.allows(cap) {
                        return Err(denied(&format!("registered model '{name}'"), cap, p));
                    }
                }
                Ok(())
            }
            Rule::ModelTag(model) => {
                // The tag that lifts separation of duties is the owners' decision: MANAGE.
                let key = self.field("key")?.unwrap_or_default();
                let cap = if key == sextant_store::registry::ALLOW_SELF_REVIEW_TAG {
                    Capability::Manage
                } else {
                    Capability::Update
                };
                for name in self.ids(model).await? {
                    let p = self.model_permission(&name).await?;
                    if !p.allows(cap) {
                        return Err(denied(&format!("registered model '{name}'"), cap, p));
                    }
                }
                Ok(())
            }
            Rule::Alias(model, alias) => {
                let Some(name) = self.ids(model).await?.pop() else {
                    return Ok(());
                };
                let alias = match alias {
                    Loc::Path(f) => self.captures.get(f).cloned().unwrap_or_default(),
                    Loc::Field(f) => self.field(f)?.unwrap_or_default(),
                    _ => String::new(),
                };
                let p = self.model_permission(&name).await?;
                if !p.allows(Capability::Update) {
                    return Err(denied(
                        &format!("registered model '{name}'"),
                        Capability::Update,
                        p,
                    ));
                }
                let protected = self
                    .app
                    .registry
                    .protected_aliases(&name)
                    .await
                    .unwrap_or_default();
                if protected.contains(&alias) && !p.allows(Capability::Manage) {
                    return Err(denied(
                        &format!("moving protected alias '{alias}' of '{name}'"),
                        Capability::Manage,
                        p,
                    ));
                }
                Ok(())
            }
            Rule::ManageResource => {
                let rtype = ResourceType::parse(&self.required("resource_type")?)
                    .map_err(|e| reject(ApiError::invalid(e.to_string())))?;
                let id = self.required("resource_id")?;
                if id == "*" {
                    return Err(refuse(
                        "Permission denied: only admins may grant on every resource ('*').",
                    ));
                }
                let p = match rtype {
                    ResourceType::Experiment => self.experiment_permission(&id).await?,
                    ResourceType::RegisteredModel => self.model_permission(&id).await?,
                };
                if p.can_manage() {
                    Ok(())
                } else {
                    Err(denied(
                        &format!("granting on {} {id}", rtype.as_str()),
                        Capability::Manage,
                        p,
                    ))
                }
            }
        }
    }

    /// Keep only the search results the caller may read.
    async fn filter(&self, filter: Filter, response: Response) -> Response {
        let (parts, body) = response.into_parts();
        let Ok(bytes) = axum::body::to_bytes(body, MAX_FILTERED_RESPONSE).await else {
            return forbidden("Permission denied: the result is too large to filter.");
        };
        let Ok(mut v) = serde_json::from_slice::<Value>(&bytes) else {
            return Response::from_parts(parts, Body::from(bytes));
        };
        let (key, rtype) = match filter {
            Filter::Experiments => ("experiments", ResourceType::Experiment),
            Filter::Runs => ("runs", ResourceType::Experiment),
            Filter::LoggedModels => ("models", ResourceType::Experiment),
            Filter::RegisteredModels => ("registered_models", ResourceType::RegisteredModel),
            Filter::ModelVersions => ("model_versions", ResourceType::RegisteredModel),
            Filter::SextantModels => ("models", ResourceType::RegisteredModel),
        };
        let grants = match self.auth.grants(self.user(), rtype, None).await {
            Ok(g) => g,
            Err(e) => return ApiError::from(e).into_response(),
        };
        let default = self.auth.default_permission();
        let mut names: HashMap<String, Option<String>> = HashMap::new();
        if let Some(items) = v.get_mut(key).and_then(Value::as_array_mut) {
            let mut kept = Vec::with_capacity(items.len());
            for item in items.drain(..) {
                let (id, name) = item_resource(filter, &item);
                let Some(id) = id else { continue };
                let name = match (rtype, name) {
                    (_, Some(n)) => Some(n),
                    (ResourceType::Experiment, None) => {
                        if !names.contains_key(&id) {
                            let n = self.experiment_name_if_needed(&grants.roles, &id).await;
                            names.insert(id.clone(), n);
                        }
                        names.get(&id).cloned().flatten()
                    }
                    (ResourceType::RegisteredModel, None) => None,
                };
                let g: Grants = grants.for_resource(&id);
                if resolve(&g, &id, name.as_deref().unwrap_or(&id), default).can_read() {
                    kept.push(item);
                }
            }
            *items = kept;
        }
        let mut parts = parts;
        parts.headers.remove(header::CONTENT_LENGTH);
        let body = serde_json::to_vec(&v).unwrap_or_default();
        Response::from_parts(parts, Body::from(body))
    }

    async fn after(&self, after: After, response: Response) -> Response {
        let store = &self.auth.store;
        let result = match after {
            After::Nothing => return response,
            After::GrantExperimentCreator => {
                let (parts, body) = response.into_parts();
                let Ok(bytes) = axum::body::to_bytes(body, MAX_INSPECTED_BODY).await else {
                    return StatusCode::INTERNAL_SERVER_ERROR.into_response();
                };
                let id = serde_json::from_slice::<Value>(&bytes).ok().and_then(|v| {
                    v.get("experiment_id")
                        .and_then(Value::as_str)
                        .map(str::to_owned)
                });
                let r = match id {
                    Some(id) => {
                        store
                            .set_user_permission(
                                self.user(),
                                ResourceType::Experiment,
                                &id,
                                Permission::Manage,
                            )
                            .await
                    }
                    None => Ok(()),
                };
                if let Err(e) = r {
                    tracing::error!(error = %e, "cannot grant MANAGE to an experiment's creator");
                }
                return Response::from_parts(parts, Body::from(bytes));
            }
            After::GrantModelCreator => match self.field("name") {
                Ok(Some(name)) => {
                    store
                        .set_user_permission(
                            self.user(),
                            ResourceType::RegisteredModel,
                            &name,
                            Permission::Manage,
                        )
                        .await
                }
                _ => Ok(()),
            },
            After::RenameModel => match (self.field("name"), self.field("new_name")) {
                (Ok(Some(old)), Ok(Some(new))) => {
                    store
                        .rename_resource_grants(ResourceType::RegisteredModel, &old, &new)
                        .await
                }
                _ => Ok(()),
            },
            After::DeleteModel => match self.field("name") {
                Ok(Some(name)) => {
                    store
                        .delete_resource_grants(ResourceType::RegisteredModel, &name)
                        .await
                }
                _ => Ok(()),
            },
        };
        if let Err(e) = result {
            tracing::error!(error = %e, ?after, "cannot update grants after a change");
        }
        response
    }
}

/// The experiment id an artifact path belongs to: its first segment, which must be an
/// experiment id (MLflow's `mlflow-artifacts:/<experiment id>/...` layout).
fn artifact_experiment(path: &str) -> Result<String, Rejection> {
    let first = path.trim_start_matches('/').split('/').next().unwrap_or("");
    if !first.is_empty() && first.bytes().all(|b| b.is_ascii_digit()) {
        Ok(first.to_owned())
    } else {
        Err(refuse(
            "Permission denied: this artifact path is not under an experiment; only admins may \
             reach it.",
        ))
    }
}

/// `(id, name)` of the resource a search result item belongs to.
fn item_resource(filter: Filter, item: &Value) -> (Option<String>, Option<String>) {
    let s = |v: Option<&Value>| v.and_then(Value::as_str).map(str::to_owned);
    match filter {
        Filter::Experiments => (s(item.get("experiment_id")), s(item.get("name"))),
        Filter::Runs => (
            s(item.get("info").and_then(|i| i.get("experiment_id"))),
            None,
        ),
        Filter::LoggedModels => (
            s(item.get("info").and_then(|i| i.get("experiment_id"))),
            None,
        ),
        Filter::RegisteredModels | Filter::ModelVersions | Filter::SextantModels => {
            let n = s(item.get("name"));
            (n.clone(), n)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every field the table reads from a JSON body survives the partial parse.
    #[test]
    fn the_partial_parse_keeps_every_field_the_table_reads() {
        let mut names = vec![
            "name",
            "new_name",
            "resource_type",
            "resource_id",
            "run_uuid",
        ];
        let mut add = |l: Loc| match l {
            Loc::Field(f)
            | Loc::FieldOr(f, _)
            | Loc::Fields(f)
            | Loc::ExperimentName(f)
            | Loc::Runs(f)
            | Loc::ArtifactField(f) => names.push(f),
            Loc::Run => names.push("run_id"),
            Loc::Path(_) | Loc::RunPath(_) | Loc::LoggedModelPath(_) | Loc::ArtifactPath(_) => {}
        };
        for ep in table::TABLE {
            match ep.rule {
                Rule::Experiment(_, l) | Rule::Model(_, l) => add(l),
                Rule::ModelTag(m) => {
                    add(m);
                    add(Loc::Field("key"));
                }
                Rule::Alias(m, a) => {
                    add(m);
                    add(a);
                }
                Rule::SelfOrAdmin(f) => add(Loc::Field(f)),
                Rule::Authenticated | Rule::Admin | Rule::ManageResource | Rule::Filtered(_) => {}
            }
        }
        let mut body = serde_json::Map::new();
        for n in &names {
            body.insert((*n).to_owned(), Value::String(format!("v-{n}")));
        }
        body.insert(
            "metrics".into(),
            serde_json::json!([{"key": "m", "value": 1}]),
        );
        let bytes = serde_json::to_vec(&body).expect("json");
        let kept: LocatorFields = serde_json::from_slice(&bytes).expect("parse");
        let kept = serde_json::to_value(&kept).expect("json");
        for n in names {
            assert_eq!(kept[n], format!("v-{n}"), "field {n} is dropped");
        }
        assert!(kept.get("metrics").is_none());
    }
}
