//! The one endpoint -> permission table.
//!
//! Every route the server serves with auth on is listed here with what it needs. The layer
//! ([`super::middleware`]) looks a request up by method and path (`/ajax-api/` is treated as
//! `/api/`); a request that matches no entry is refused for everyone but admins. Runs inherit
//! their experiment's permission, logged models and artifact paths their experiment's, model
//! versions and aliases their registered model's. `docs/security.md` carries the table that
//! [`markdown`] renders, and a test keeps the two equal.

use std::collections::HashMap;

use sextant_auth::Capability;

/// Where the resource a request is about is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Loc {
    /// A request field (query string or JSON body) holding the id.
    Field(&'static str),
    /// A request field holding the id, with a default when absent.
    FieldOr(&'static str, &'static str),
    /// Every value of a list field (each must pass).
    Fields(&'static str),
    /// A path segment holding the id.
    Path(&'static str),
    /// A request field holding an experiment's name.
    ExperimentName(&'static str),
    /// `run_id` (or the legacy `run_uuid`): the run's experiment.
    Run,
    /// A path segment holding a run id: the run's experiment.
    RunPath(&'static str),
    /// Every run id of a list field: each run's experiment.
    Runs(&'static str),
    /// A path segment holding a logged model id: the model's experiment.
    LoggedModelPath(&'static str),
    /// An artifact path (path segment) whose first segment is the experiment id.
    ArtifactPath(&'static str),
    /// An artifact path in a query field whose first segment is the experiment id.
    ArtifactField(&'static str),
}

/// Which response items a search keeps: those the caller may read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Filter {
    Experiments,
    RegisteredModels,
    ModelVersions,
    Runs,
    LoggedModels,
    /// Sextant's `/models` listing.
    SextantModels,
}

/// What a request needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rule {
    /// Any signed-in user.
    Authenticated,
    /// Admins only.
    Admin,
    /// The user named by this field, or an admin.
    SelfOrAdmin(&'static str),
    /// A capability on an experiment.
    Experiment(Capability, Loc),
    /// A capability on a registered model.
    Model(Capability, Loc),
    /// Moving or removing an alias: `can_update` on the model, and `can_manage` when the alias
    /// is protected. (model, alias)
    Alias(Loc, Loc),
    /// Setting a registered model's tag: `can_update`, and `can_manage` for the tag that lets
    /// a version's author review it (`sextant.allow_self_review`).
    ModelTag(Loc),
    /// `MANAGE` on the resource named by `resource_type` and `resource_id` (admins only for `*`).
    ManageResource,
    /// Any signed-in user; the response keeps only what they may read.
    Filtered(Filter),
}

/// What happens after a successful request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum After {
    Nothing,
    /// The creator gets `MANAGE` on the new experiment.
    GrantExperimentCreator,
    /// The creator gets `MANAGE` on the new registered model.
    GrantModelCreator,
    /// Grants on a renamed registered model follow it.
    RenameModel,
    /// Grants on a deleted registered model go with it.
    DeleteModel,
}

/// One row of the table.
#[derive(Debug, Clone, Copy)]
pub struct Endpoint {
    /// `GET`, `POST`, ... or several joined by `|`.
    pub methods: &'static str,
    /// The path, `/api/...` form; `{x}` matches one segment, `{*x}` the rest.
    pub path: &'static str,
    pub rule: Rule,
    pub after: After,
}

use After::{DeleteModel, GrantExperimentCreator, GrantModelCreator, Nothing, RenameModel};
use Capability::{Delete, Manage, Read, Update};
use Rule::{
    Admin, Alias, Authenticated, Experiment, Filtered, ManageResource, Model, ModelTag, SelfOrAdmin,
};

const fn e(methods: &'static str, path: &'static str, rule: Rule) -> Endpoint {
    Endpoint {
        methods,
        path,
        rule,
        after: Nothing,
    }
}

const fn ea(methods: &'static str, path: &'static str, rule: Rule, after: After) -> Endpoint {
    Endpoint {
        methods,
        path,
        rule,
        after,
    }
}

const EXP_ID: Loc = Loc::Field("experiment_id");
const NAME: Loc = Loc::Field("name");

macro_rules! p {
    ($lit:literal) => {
        concat!("/api/2.0/mlflow", $lit)
    };
}

/// The table. Order matters only where paths overlap (the first match wins).
pub static TABLE: &[Endpoint] = &[
    // --- experiments
    ea(
        "POST",
        p!("/experiments/create"),
        Authenticated,
        GrantExperimentCreator,
    ),
    e("GET", p!("/experiments/get"), Experiment(Read, EXP_ID)),
    e(
        "GET",
        p!("/experiments/get-by-name"),
        Experiment(Read, Loc::ExperimentName("experiment_name")),
    ),
    e(
        "GET|POST",
        p!("/experiments/search"),
        Filtered(Filter::Experiments),
    ),
    e(
        "POST",
        p!("/experiments/update"),
        Experiment(Update, EXP_ID),
    ),
    e(
        "POST",
        p!("/experiments/delete"),
        Experiment(Delete, EXP_ID),
    ),
    e(
        "POST",
        p!("/experiments/restore"),
        Experiment(Delete, EXP_ID),
    ),
    e(
        "POST",
        p!("/experiments/set-experiment-tag"),
        Experiment(Update, EXP_ID),
    ),
    e(
        "POST",
        p!("/experiments/delete-experiment-tag"),
        Experiment(Update, EXP_ID),
    ),
    // --- runs
    e(
        "POST",
        p!("/runs/create"),
        Experiment(Update, Loc::FieldOr("experiment_id", "0")),
    ),
    e("GET", p!("/runs/get"), Experiment(Read, Loc::Run)),
    e("POST", p!("/runs/update"), Experiment(Update, Loc::Run)),
    e("POST", p!("/runs/delete"), Experiment(Delete, Loc::Run)),
    e("POST", p!("/runs/restore"), Experiment(Delete, Loc::Run)),
    e("GET|POST", p!("/runs/search"), Filtered(Filter::Runs)),
    e("POST", p!("/runs/log-metric"), Experiment(Update, Loc::Run)),
    e(
        "POST",
        p!("/runs/log-parameter"),
        Experiment(Update, Loc::Run),
    ),
    e("POST", p!("/runs/set-tag"), Experiment(Update, Loc::Run)),
    e("POST", p!("/runs/delete-tag"), Experiment(Update, Loc::Run)),
    e("POST", p!("/runs/log-batch"), Experiment(Update, Loc::Run)),
    e("POST", p!("/runs/log-inputs"), Experiment(Update, Loc::Run)),
    e("POST", p!("/runs/outputs"), Experiment(Update, Loc::Run)),
    e(
        "GET",
        p!("/metrics/get-history"),
        Experiment(Read, Loc::Run),
    ),
    e(
        "GET",
        p!("/metrics/get-history-bulk"),
        Experiment(Read, Loc::Runs("run_id")),
    ),
    e(
        "GET",
        p!("/metrics/get-history-bulk-interval"),
        Experiment(Read, Loc::Runs("run_ids")),
    ),
    e("GET", p!("/artifacts/list"), Experiment(Read, Loc::Run)),
    // --- logged models (MLflow 3)
    e("POST", p!("/logged-models"), Experiment(Update, EXP_ID)),
    e(
        "POST",
        p!("/logged-models/search"),
        Filtered(Filter::LoggedModels),
    ),
    e(
        "GET",
        p!("/logged-models/{model_id}"),
        Experiment(Read, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "PATCH",
        p!("/logged-models/{model_id}"),
        Experiment(Update, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "DELETE",
        p!("/logged-models/{model_id}"),
        Experiment(Delete, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "PATCH",
        p!("/logged-models/{model_id}/tags"),
        Experiment(Update, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "DELETE",
        p!("/logged-models/{model_id}/tags/{key}"),
        Experiment(Update, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "POST",
        p!("/logged-models/{model_id}/params"),
        Experiment(Update, Loc::LoggedModelPath("model_id")),
    ),
    e(
        "POST",
        p!("/logged-models/{model_id}/metrics"),
        Experiment(Update, Loc::LoggedModelPath("model_id")),
    ),
    // --- registered models and versions
    ea(
        "POST",
        p!("/registered-models/create"),
        Authenticated,
        GrantModelCreator,
    ),
    e("GET", p!("/registered-models/get"), Model(Read, NAME)),
    ea(
        "POST",
        p!("/registered-models/rename"),
        Model(Update, NAME),
        RenameModel,
    ),
    e(
        "PATCH",
        p!("/registered-models/update"),
        Model(Update, NAME),
    ),
    ea(
        "DELETE",
        p!("/registered-models/delete"),
        Model(Delete, NAME),
        DeleteModel,
    ),
    e(
        "GET|POST",
        p!("/registered-models/search"),
        Filtered(Filter::RegisteredModels),
    ),
    e(
        "GET|POST",
        p!("/registered-models/get-latest-versions"),
        Model(Read, NAME),
    ),
    e("POST", p!("/registered-models/set-tag"), ModelTag(NAME)),
    e(
        "DELETE",
        p!("/registered-models/delete-tag"),
        Model(Update, NAME),
    ),
    e(
        "POST|DELETE",
        p!("/registered-models/alias"),
        Alias(NAME, Loc::Field("alias")),
    ),
    e("GET", p!("/registered-models/alias"), Model(Read, NAME)),
    e("POST", p!("/model-versions/create"), Model(Update, NAME)),
    e("GET", p!("/model-versions/get"), Model(Read, NAME)),
    e("PATCH", p!("/model-versions/update"), Model(Update, NAME)),
    e("DELETE", p!("/model-versions/delete"), Model(Delete, NAME)),
    e(
        "GET|POST",
        p!("/model-versions/search"),
        Filtered(Filter::ModelVersions),
    ),
    e(
        "GET",
        p!("/model-versions/get-download-uri"),
        Model(Read, NAME),
    ),
    e(
        "POST",
        p!("/model-versions/transition-stage"),
        Model(Update, NAME),
    ),
    e("POST", p!("/model-versions/set-tag"), Model(Update, NAME)),
    e(
        "DELETE",
        p!("/model-versions/delete-tag"),
        Model(Update, NAME),
    ),
    // --- the artifact proxy: the path's first segment is the experiment id
    e(
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts",
        Experiment(Read, Loc::ArtifactField("path")),
    ),
    e(
        "GET",
        "/api/2.0/mlflow-artifacts/artifacts/{*path}",
        Experiment(Read, Loc::ArtifactPath("path")),
    ),
    e(
        "PUT",
        "/api/2.0/mlflow-artifacts/artifacts/{*path}",
        Experiment(Update, Loc::ArtifactPath("path")),
    ),
    e(
        "DELETE",
        "/api/2.0/mlflow-artifacts/artifacts/{*path}",
        Experiment(Delete, Loc::ArtifactPath("path")),
    ),
    e(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/create/{*path}",
        Experiment(Update, Loc::ArtifactPath("path")),
    ),
    e(
        "PUT",
        "/api/2.0/mlflow-artifacts/mpu/upload/{*path}",
        Experiment(Update, Loc::ArtifactPath("path")),
    ),
    e(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/complete/{*path}",
        Experiment(Update, Loc::ArtifactPath("path")),
    ),
    e(
        "POST",
        "/api/2.0/mlflow-artifacts/mpu/abort/{*path}",
        Experiment(Update, Loc::ArtifactPath("path")),
    ),
    // --- Sextant's API: review, protected aliases, audit, the UI's summaries
    e("GET", "/api/sextant/v1/openapi.yaml", Authenticated),
    e(
        "GET",
        "/api/sextant/v1/models",
        Filtered(Filter::SextantModels),
    ),
    e(
        "GET",
        "/api/sextant/v1/models/{name}",
        Model(Read, Loc::Path("name")),
    ),
    e(
        "GET",
        "/api/sextant/v1/models/{name}/versions/{version}/review",
        Model(Read, Loc::Path("name")),
    ),
    e(
        "POST",
        "/api/sextant/v1/models/{name}/versions/{version}/review",
        Model(Manage, Loc::Path("name")),
    ),
    e(
        "POST",
        "/api/sextant/v1/models/{name}/versions/{version}/checks",
        Model(Update, Loc::Path("name")),
    ),
    e(
        "PUT",
        "/api/sextant/v1/models/{name}/versions/{version}/report",
        Model(Update, Loc::Path("name")),
    ),
    e(
        "PUT|DELETE",
        "/api/sextant/v1/models/{name}/aliases/{alias}",
        Alias(Loc::Path("name"), Loc::Path("alias")),
    ),
    e(
        "PUT|DELETE",
        "/api/sextant/v1/models/{name}/protected-aliases/{alias}",
        Model(Manage, Loc::Path("name")),
    ),
    e(
        "GET",
        "/api/sextant/v1/models/{name}/audit",
        Model(Read, Loc::Path("name")),
    ),
    e(
        "GET",
        "/api/sextant/v1/runs/{run_id}/chart",
        Experiment(Read, Loc::RunPath("run_id")),
    ),
    e(
        "GET",
        "/api/sextant/v1/experiments/summary",
        Experiment(Read, Loc::Fields("experiment_id")),
    ),
    e("GET|POST", "/api/sextant/v1/tokens", Authenticated),
    e("DELETE", "/api/sextant/v1/tokens/{id}", Authenticated),
    // --- MLflow 3.17's auth API
    e("POST", p!("/users/create"), Admin),
    e("GET", p!("/users/get"), SelfOrAdmin("username")),
    e("GET", p!("/users/current"), Authenticated),
    e(
        "PATCH",
        p!("/users/update-password"),
        SelfOrAdmin("username"),
    ),
    e("PATCH", p!("/users/update-admin"), Admin),
    e("DELETE", p!("/users/delete"), Admin),
    e("GET", p!("/users/list"), Admin),
    e(
        "POST",
        p!("/experiments/permissions/create"),
        Experiment(Manage, EXP_ID),
    ),
    e(
        "GET",
        p!("/experiments/permissions/get"),
        Experiment(Manage, EXP_ID),
    ),
    e(
        "PATCH",
        p!("/experiments/permissions/update"),
        Experiment(Manage, EXP_ID),
    ),
    e(
        "DELETE",
        p!("/experiments/permissions/delete"),
        Experiment(Manage, EXP_ID),
    ),
    e(
        "POST",
        p!("/registered-models/permissions/create"),
        Model(Manage, NAME),
    ),
    e(
        "GET",
        p!("/registered-models/permissions/get"),
        Model(Manage, NAME),
    ),
    e(
        "PATCH",
        p!("/registered-models/permissions/update"),
        Model(Manage, NAME),
    ),
    e(
        "DELETE",
        p!("/registered-models/permissions/delete"),
        Model(Manage, NAME),
    ),
    e(
        "GET",
        "/api/3.0/mlflow/users/current/permissions",
        Authenticated,
    ),
    e(
        "GET",
        "/api/3.0/mlflow/users/permissions/list",
        SelfOrAdmin("username"),
    ),
    e(
        "POST",
        "/api/3.0/mlflow/users/permissions/grant",
        ManageResource,
    ),
    e(
        "POST",
        "/api/3.0/mlflow/users/permissions/revoke",
        ManageResource,
    ),
    e(
        "GET",
        "/api/3.0/mlflow/users/permissions/get",
        SelfOrAdmin("username"),
    ),
    e("POST", "/api/3.0/mlflow/roles/create", Admin),
    e("GET", "/api/3.0/mlflow/roles/get", Admin),
    e("GET", "/api/3.0/mlflow/roles/list", Admin),
    e("PATCH", "/api/3.0/mlflow/roles/update", Admin),
    e("DELETE", "/api/3.0/mlflow/roles/delete", Admin),
    e("POST", "/api/3.0/mlflow/roles/permissions/add", Admin),
    e("DELETE", "/api/3.0/mlflow/roles/permissions/remove", Admin),
    e("GET", "/api/3.0/mlflow/roles/permissions/list", Admin),
    e("PATCH", "/api/3.0/mlflow/roles/permissions/update", Admin),
    e("POST", "/api/3.0/mlflow/roles/assign", Admin),
    e("DELETE", "/api/3.0/mlflow/roles/unassign", Admin),
    e(
        "GET",
        "/api/3.0/mlflow/users/roles/list",
        SelfOrAdmin("username"),
    ),
    e("GET", "/api/3.0/mlflow/roles/users/list", Admin),
];

/// Paths served without credentials (with auth on): health, version, MLflow's public
/// server-info, the session endpoints and the UI's login page and code assets (no data).
pub fn is_public(method: &axum::http::Method, path: &str) -> bool {
    use axum::http::Method;
    let path = normalize(path);
    let get = *method == Method::GET || *method == Method::HEAD;
    match path.as_str() {
        "/health" | "/version" | "/api/3.0/mlflow/server-info" => true,
        "/api/sextant/v1/session" => true,
        "/login" => get,
        p if get && !p.starts_with("/api/") => [".js", ".css", ".svg", ".ico", ".woff2"]
            .iter()
            .any(|ext| p.ends_with(ext)),
        _ => false,
    }
}

/// `/ajax-api/...` is the same API as `/api/...`.
pub fn normalize(path: &str) -> String {
    match path.strip_prefix("/ajax-api/") {
        Some(rest) => format!("/api/{rest}"),
        None => path.to_owned(),
    }
}

/// The entry for a request and the path segments it captured.
pub fn lookup(method: &str, path: &str) -> Option<(&'static Endpoint, HashMap<String, String>)> {
    let path = normalize(path);
    TABLE.iter().find_map(|ep| {
        if !ep.methods.split('|').any(|m| m == method) {
            return None;
        }
        match_path(ep.path, &path).map(|caps| (ep, caps))
    })
}

fn match_path(pattern: &str, path: &str) -> Option<HashMap<String, String>> {
    let mut caps = HashMap::new();
    let mut pat = pattern.split('/');
    let mut segs = path.split('/');
    loop {
        match (pat.next(), segs.next()) {
            (None, None) => return Some(caps),
            (Some(p), Some(s)) if p.starts_with("{*") => {
                let rest: Vec<&str> = std::iter::once(s).chain(segs).collect();
                let rest = rest.join("/");
                if rest.is_empty() {
                    return None;
                }
                caps.insert(p[2..p.len() - 1].to_owned(), rest);
                return Some(caps);
            }
            (Some(p), Some(s)) if p.starts_with('{') => {
                if s.is_empty() {
                    return None;
                }
                caps.insert(p[1..p.len() - 1].to_owned(), s.to_owned());
            }
            (Some(p), Some(s)) if p == s => {}
            _ => return None,
        }
    }
}

fn loc_text(l: Loc) -> String {
    match l {
        Loc::Field(f) => format!("`{f}`"),
        Loc::FieldOr(f, d) => format!("`{f}` (default `{d}`)"),
        Loc::Fields(f) => format!("each `{f}`"),
        Loc::Path(f) => format!("path `{{{f}}}`"),
        Loc::ExperimentName(f) => format!("experiment named by `{f}`"),
        Loc::Run => "run's experiment (`run_id`)".into(),
        Loc::RunPath(f) => format!("run's experiment (path `{{{f}}}`)"),
        Loc::Runs(f) => format!("each run's experiment (`{f}`)"),
        Loc::LoggedModelPath(f) => format!("logged model's experiment (path `{{{f}}}`)"),
        Loc::ArtifactPath(_) | Loc::ArtifactField(_) => {
            "experiment of the artifact path (first segment)".into()
        }
    }
}

fn cap_text(c: Capability) -> &'static str {
    match c {
        Read => "READ",
        Capability::Use => "USE",
        Update => "EDIT",
        Delete | Manage => "MANAGE",
    }
}

/// The table as markdown, for `docs/security.md`.
pub fn markdown() -> String {
    let mut s = String::from("| Method | Path | Needs | On |\n|---|---|---|---|\n");
    for ep in TABLE {
        let (needs, on) = match ep.rule {
            Authenticated => ("signed in".to_owned(), "—".to_owned()),
            Admin => ("admin".to_owned(), "—".to_owned()),
            SelfOrAdmin(f) => ("the user themself, or admin".to_owned(), format!("`{f}`")),
            Experiment(c, l) => (
                cap_text(c).to_owned(),
                format!("experiment: {}", loc_text(l)),
            ),
            Model(c, l) => (
                cap_text(c).to_owned(),
                format!("registered model: {}", loc_text(l)),
            ),
            ModelTag(m) => (
                "EDIT; MANAGE for `sextant.allow_self_review`".to_owned(),
                format!("registered model: {}", loc_text(m)),
            ),
            Alias(m, _) => (
                "EDIT; MANAGE if the alias is protected".to_owned(),
                format!("registered model: {}", loc_text(m)),
            ),
            ManageResource => (
                "MANAGE (admin for `*`)".to_owned(),
                "`resource_type`, `resource_id`".to_owned(),
            ),
            Filtered(_) => (
                "signed in; results filtered to READ".to_owned(),
                "each result".to_owned(),
            ),
        };
        let after = match ep.after {
            Nothing => "",
            GrantExperimentCreator | GrantModelCreator => "; creator gets MANAGE",
            RenameModel => "; grants follow the rename",
            DeleteModel => "; grants are removed",
        };
        s.push_str(&format!(
            "| {} | `{}` | {needs}{after} | {on} |\n",
            ep.methods.replace('|', ", "),
            ep.path
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_match_with_captures() {
        let (ep, caps) = lookup("GET", "/ajax-api/2.0/mlflow/logged-models/m-1").expect("match");
        assert_eq!(ep.path, p!("/logged-models/{model_id}"));
        assert_eq!(caps.get("model_id").map(String::as_str), Some("m-1"));
        let (_, caps) = lookup(
            "PUT",
            "/api/2.0/mlflow-artifacts/artifacts/3/abc/artifacts/x.txt",
        )
        .expect("match");
        assert_eq!(
            caps.get("path").map(String::as_str),
            Some("3/abc/artifacts/x.txt")
        );
        assert!(
            lookup("GET", "/api/2.0/mlflow/runs/create").is_none(),
            "method matters"
        );
        assert!(lookup("GET", "/api/2.0/mlflow/nope").is_none());
        assert!(lookup("GET", "/api/2.0/mlflow-artifacts/artifacts/").is_none());
    }

    #[test]
    fn public_paths() {
        use axum::http::Method;
        assert!(is_public(&Method::GET, "/health"));
        assert!(is_public(&Method::POST, "/api/sextant/v1/session"));
        assert!(is_public(&Method::GET, "/app.js"));
        assert!(!is_public(
            &Method::GET,
            "/api/2.0/mlflow-artifacts/artifacts/0/x.js"
        ));
        assert!(!is_public(&Method::GET, "/"));
        assert!(!is_public(&Method::POST, "/login"));
    }

    /// docs/security.md carries exactly the table the server enforces.
    #[test]
    fn the_docs_show_this_table() {
        let doc = include_str!("../../../../docs/security.md");
        assert!(
            doc.contains(&markdown()),
            "docs/security.md's endpoint table is stale; paste this:\n{}",
            markdown()
        );
    }
}
