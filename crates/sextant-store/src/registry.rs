//! The model registry store: MLflow's registered models, versions, tags and aliases, and
//! Sextant's review layer (review state, check results, protected aliases, audit log).
//!
//! The rules that need the database to check live here, inside the transaction that writes:
//! a protected alias only ever points at an approved version, a version whose recorded checks
//! failed is approved only with an explicit override, and every decision and alias move is
//! appended to the audit log in the same transaction as the change itself.

use std::collections::HashMap;

use sextant_search::{Condition, ModelVersionField, OrderBy, RegisteredModelField};
use sextant_types::registry::{
    Actor, AuditEntry, CheckResult, Decision, FileManifest, ModelAlias, ModelVersion,
    RegisteredModel, ReviewStatus, VersionReview,
};
use sextant_types::{Tag, now_millis};

use crate::db::{Db, Dialect, Row, Tx, Value, placeholders};
use crate::sql_store::page;
use crate::{Page, Result, SqlStore, StoreError, search_sql};

/// A registered-model search, already parsed and validated.
#[derive(Debug, Clone)]
pub struct RegisteredModelSearch {
    pub filter: Vec<Condition<RegisteredModelField>>,
    pub order_by: Vec<OrderBy<RegisteredModelField>>,
    pub max_results: u64,
    pub offset: u64,
}

/// A model-version search, already parsed and validated.
#[derive(Debug, Clone)]
pub struct ModelVersionSearch {
    pub filter: Vec<Condition<ModelVersionField>>,
    pub order_by: Vec<OrderBy<ModelVersionField>>,
    pub max_results: u64,
    pub offset: u64,
}

/// A new model version, as the registry service hands it to the store.
#[derive(Debug, Clone)]
pub struct NewModelVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: String,
    pub description: String,
    pub tags: Vec<Tag>,
    pub model_id: Option<String>,
}

/// An approved version and the artifact-store path its approved files are under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApprovedFiles {
    pub name: String,
    pub version: i64,
    pub root: String,
}

/// A version with its review state, for listings.
#[derive(Debug, Clone)]
pub struct VersionSummary {
    pub version: ModelVersion,
    pub review: ReviewStatus,
}

/// The registry store. All methods are transactional.
#[async_trait::async_trait]
pub trait RegistryStore: Send + Sync + 'static {
    async fn create_registered_model(
        &self,
        name: &str,
        description: &str,
        tags: &[Tag],
        actor: &Actor,
    ) -> Result<RegisteredModel>;
    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel>;
    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<RegisteredModel>;
    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel>;
    async fn delete_registered_model(&self, name: &str, actor: &Actor) -> Result<()>;
    async fn search_registered_models(
        &self,
        search: RegisteredModelSearch,
    ) -> Result<Page<RegisteredModel>>;
    async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()>;
    async fn delete_registered_model_tag(&self, name: &str, key: &str) -> Result<()>;
    /// The newest version in each of `stages` (every stage when empty).
    async fn get_latest_versions(&self, name: &str, stages: &[String])
    -> Result<Vec<ModelVersion>>;

    async fn create_model_version(
        &self,
        new: NewModelVersion,
        actor: &Actor,
    ) -> Result<ModelVersion>;
    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion>;
    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion>;
    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
        actor: &Actor,
    ) -> Result<ModelVersion>;
    async fn delete_model_version(&self, name: &str, version: i64, actor: &Actor) -> Result<()>;
    async fn search_model_versions(&self, search: ModelVersionSearch)
    -> Result<Page<ModelVersion>>;
    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &Tag) -> Result<()>;
    async fn delete_model_version_tag(&self, name: &str, version: i64, key: &str) -> Result<()>;

    /// Point `alias` at `version`. Refused when the alias is protected and the version is not
    /// approved. Audited.
    async fn set_alias(&self, name: &str, alias: &str, version: i64, actor: &Actor) -> Result<()>;
    async fn delete_alias(&self, name: &str, alias: &str, actor: &Actor) -> Result<()>;
    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion>;

    // --- review
    async fn list_versions(&self, name: &str) -> Result<Vec<VersionSummary>>;
    async fn get_review(&self, name: &str, version: i64) -> Result<VersionReview>;
    /// Approve or reject a version. An approval records `approved_files` (the digest of the
    /// version's files, computed by the service) on the version and in the audit entry;
    /// a verified actor may not review a version they authored unless the model's
    /// [`ALLOW_SELF_REVIEW_TAG`] is `true`.
    #[expect(clippy::too_many_arguments, reason = "one review decision's inputs")]
    async fn decide_review(
        &self,
        name: &str,
        version: i64,
        decision: Decision,
        comment: &str,
        override_failed_checks: bool,
        approved_files: Option<&FileManifest>,
        actor: &Actor,
    ) -> Result<VersionReview>;
    /// The live approved versions whose approved files are at, under or above the artifact
    /// path `path` (a write there would change what was approved).
    async fn approved_versions_touching(&self, path: &str) -> Result<Vec<ApprovedFiles>>;
    async fn record_check(
        &self,
        name: &str,
        version: i64,
        check: &str,
        passed: bool,
        details: &str,
        actor: &Actor,
    ) -> Result<VersionReview>;
    async fn set_review_report(
        &self,
        name: &str,
        version: i64,
        path: &str,
        actor: &Actor,
    ) -> Result<VersionReview>;
    async fn set_alias_protection(
        &self,
        name: &str,
        alias: &str,
        protected: bool,
        actor: &Actor,
    ) -> Result<()>;
    async fn protected_aliases(&self, name: &str) -> Result<Vec<String>>;
    /// The audit log of a model (of one version when given), oldest first.
    async fn audit_log(&self, name: &str, version: Option<i64>) -> Result<Vec<AuditEntry>>;
}

// ----------------------------------------------------------------------------- helpers

fn model_not_found(name: &str) -> StoreError {
    StoreError::NotFound(format!("Registered Model with name={name} not found"))
}

fn version_not_found(name: &str, version: i64) -> StoreError {
    StoreError::NotFound(format!(
        "Model Version (name={name}, version={version}) not found"
    ))
}

/// The internal key of a model by name.
fn model_key_tx(tx: &mut dyn Tx, name: &str) -> Result<String> {
    tx.query_opt(
        "SELECT model_key FROM registered_models WHERE name = ?",
        &[name.into()],
    )?
    .ok_or_else(|| model_not_found(name))?
    .str(0)
}

/// The internal key of a model by name, with the model's row locked until the transaction
/// ends. Every registry write takes this lock first, so the rules that read then write
/// (a protected alias only on an approved version, the next version number, deletion rules)
/// cannot interleave on PostgreSQL under READ COMMITTED; SQLite's single writer already
/// serializes them. One lock, always taken first: no lock-order deadlock between writes.
fn lock_model_tx(tx: &mut dyn Tx, name: &str) -> Result<String> {
    let sql = match tx.dialect() {
        Dialect::Postgres => "SELECT model_key FROM registered_models WHERE name = ? FOR UPDATE",
        Dialect::Sqlite => "SELECT model_key FROM registered_models WHERE name = ?",
    };
    tx.query_opt(sql, &[name.into()])?
        .ok_or_else(|| model_not_found(name))?
        .str(0)
}

/// The registered-model tag that lets a version's author review it (set by the model's
/// managers; off by default).
pub const ALLOW_SELF_REVIEW_TAG: &str = "sextant.allow_self_review";

/// Fails unless the (live) version exists.
fn version_exists_tx(tx: &mut dyn Tx, key: &str, name: &str, version: i64) -> Result<()> {
    tx.query_opt(
        "SELECT 1 FROM model_versions WHERE model_key = ? AND version = ? AND deleted = 0",
        &[key.into(), version.into()],
    )?
    .map(|_| ())
    .ok_or_else(|| version_not_found(name, version))
}

fn review_status_tx(tx: &mut dyn Tx, key: &str, version: i64) -> Result<ReviewStatus> {
    let s = tx
        .query_opt(
            "SELECT review_status FROM model_versions WHERE model_key = ? AND version = ?",
            &[key.into(), version.into()],
        )?
        .ok_or_else(|| StoreError::Internal(format!("version {version} vanished")))?
        .str(0)?;
    ReviewStatus::parse(&s)
        .ok_or_else(|| StoreError::Internal(format!("unknown review status '{s}'")))
}

fn touch_model_tx(tx: &mut dyn Tx, key: &str, now: i64) -> Result<()> {
    tx.exec(
        "UPDATE registered_models SET last_updated_time = ? WHERE model_key = ?",
        &[now.into(), key.into()],
    )?;
    Ok(())
}

#[expect(clippy::too_many_arguments, reason = "one audit row's columns")]
fn audit_tx(
    tx: &mut dyn Tx,
    key: &str,
    name: &str,
    version: Option<i64>,
    action: &str,
    actor: &Actor,
    comment: Option<&str>,
    details: serde_json::Value,
) -> Result<()> {
    tx.exec(
        "INSERT INTO registry_audit (timestamp, model_key, model_name, version, action, actor, \
         actor_source, comment, details) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        &[
            now_millis().into(),
            key.into(),
            name.into(),
            version.into(),
            action.into(),
            actor.name.as_str().into(),
            actor.source.as_str().into(),
            comment.into(),
            details.to_string().into(),
        ],
    )?;
    Ok(())
}

fn version_from_row(r: &Row) -> Result<(String, ModelVersion)> {
    Ok((
        r.str(0)?,
        ModelVersion {
            name: r.str(1)?,
            version: r.i64(2)?.to_string(),
            creation_timestamp: r.i64(3)?,
            last_updated_timestamp: r.i64(4)?,
            description: r.str(5)?,
            current_stage: r.str(6)?,
            source: r.str(7)?,
            run_id: r.opt_str(8)?.unwrap_or_default(),
            run_link: r.str(9)?,
            status: r.str(10)?,
            model_id: r.opt_str(11)?,
            tags: vec![],
            aliases: vec![],
        },
    ))
}

/// Fill in the tags and aliases of versions (bulk: one query per table).
fn decorate_versions(tx: &mut dyn Tx, versions: &mut [(String, ModelVersion)]) -> Result<()> {
    if versions.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&str> = versions.iter().map(|(k, _)| k.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let key_vals: Vec<Value> = keys.iter().map(|k| Value::from(*k)).collect();
    let mut tags: HashMap<(String, i64), Vec<Tag>> = HashMap::new();
    for r in tx.query(
        &format!(
            "SELECT model_key, version, key, value FROM model_version_tags \
             WHERE model_key IN ({}) ORDER BY key",
            placeholders(keys.len())
        ),
        &key_vals,
    )? {
        tags.entry((r.str(0)?, r.i64(1)?))
            .or_default()
            .push(Tag::new(r.str(2)?, r.str(3)?));
    }
    let mut aliases: HashMap<(String, i64), Vec<String>> = HashMap::new();
    for r in tx.query(
        &format!(
            "SELECT model_key, version, alias FROM registered_model_aliases \
             WHERE model_key IN ({}) ORDER BY alias",
            placeholders(keys.len())
        ),
        &key_vals,
    )? {
        aliases
            .entry((r.str(0)?, r.i64(1)?))
            .or_default()
            .push(r.str(2)?);
    }
    for (k, v) in versions.iter_mut() {
        let n: i64 = v.version.parse().unwrap_or(0);
        let id = (k.clone(), n);
        v.tags = tags.remove(&id).unwrap_or_default();
        v.aliases = aliases.remove(&id).unwrap_or_default();
    }
    Ok(())
}

fn get_version_tx(tx: &mut dyn Tx, name: &str, version: i64) -> Result<ModelVersion> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {} FROM model_versions mv JOIN registered_models rm \
                 ON rm.model_key = mv.model_key \
                 WHERE rm.name = ? AND mv.version = ? AND mv.deleted = 0",
                search_sql::MODEL_VERSION_COLUMNS
            ),
            &[name.into(), version.into()],
        )?
        .ok_or_else(|| {
            if model_key_tx(tx, name).is_err() {
                model_not_found(name)
            } else {
                version_not_found(name, version)
            }
        })?;
    let mut v = vec![version_from_row(&row)?];
    decorate_versions(tx, &mut v)?;
    Ok(v.pop().map(|(_, v)| v).unwrap_or_else(|| unreachable!()))
}

/// The newest live version of a model in each stage, in version order.
fn latest_versions_tx(tx: &mut dyn Tx, key: &str, stages: &[String]) -> Result<Vec<ModelVersion>> {
    let rows = tx.query(
        &format!(
            "SELECT {} FROM model_versions mv JOIN registered_models rm \
             ON rm.model_key = mv.model_key \
             WHERE mv.model_key = ? AND mv.deleted = 0 AND mv.version = (\
               SELECT MAX(m2.version) FROM model_versions m2 WHERE m2.model_key = mv.model_key \
               AND m2.deleted = 0 AND m2.current_stage = mv.current_stage) \
             ORDER BY mv.version",
            search_sql::MODEL_VERSION_COLUMNS
        ),
        &[key.into()],
    )?;
    let mut out = rows
        .iter()
        .map(version_from_row)
        .collect::<Result<Vec<_>>>()?;
    if !stages.is_empty() {
        out.retain(|(_, v)| {
            stages
                .iter()
                .any(|s| s.eq_ignore_ascii_case(&v.current_stage))
        });
    }
    decorate_versions(tx, &mut out)?;
    Ok(out.into_iter().map(|(_, v)| v).collect())
}

fn model_from_row(tx: &mut dyn Tx, r: &Row) -> Result<RegisteredModel> {
    let key = r.str(0)?;
    let tags = tx
        .query(
            "SELECT key, value FROM registered_model_tags WHERE model_key = ? ORDER BY key",
            &[key.as_str().into()],
        )?
        .iter()
        .map(|t| Ok(Tag::new(t.str(0)?, t.str(1)?)))
        .collect::<Result<Vec<_>>>()?;
    let aliases = tx
        .query(
            "SELECT alias, version FROM registered_model_aliases WHERE model_key = ? \
             ORDER BY alias",
            &[key.as_str().into()],
        )?
        .iter()
        .map(|a| {
            Ok(ModelAlias {
                alias: a.str(0)?,
                version: a.i64(1)?.to_string(),
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(RegisteredModel {
        name: r.str(1)?,
        creation_timestamp: r.i64(2)?,
        last_updated_timestamp: r.i64(3)?,
        description: r.str(4)?,
        latest_versions: latest_versions_tx(tx, &key, &[])?,
        tags,
        aliases,
    })
}

fn get_model_tx(tx: &mut dyn Tx, name: &str) -> Result<RegisteredModel> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {} FROM registered_models rm WHERE rm.name = ?",
                search_sql::REGISTERED_MODEL_COLUMNS
            ),
            &[name.into()],
        )?
        .ok_or_else(|| model_not_found(name))?;
    model_from_row(tx, &row)
}

fn is_protected_tx(tx: &mut dyn Tx, key: &str, alias: &str) -> Result<bool> {
    Ok(tx
        .query_opt(
            "SELECT 1 FROM protected_aliases WHERE model_key = ? AND alias = ?",
            &[key.into(), alias.into()],
        )?
        .is_some())
}

fn alias_target_tx(tx: &mut dyn Tx, key: &str, alias: &str) -> Result<Option<i64>> {
    tx.query_opt(
        "SELECT version FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
        &[key.into(), alias.into()],
    )?
    .map(|r| r.i64(0))
    .transpose()
}

fn review_tx(tx: &mut dyn Tx, key: &str, name: &str, version: i64) -> Result<VersionReview> {
    let r = tx
        .query_opt(
            "SELECT review_status, review_actor, review_time, review_comment, review_override, \
             review_report, approved_files FROM model_versions \
             WHERE model_key = ? AND version = ? AND deleted = 0",
            &[key.into(), version.into()],
        )?
        .ok_or_else(|| version_not_found(name, version))?;
    let status_s = r.str(0)?;
    let status = ReviewStatus::parse(&status_s)
        .ok_or_else(|| StoreError::Internal(format!("unknown review status '{status_s}'")))?;
    let checks = tx
        .query(
            "SELECT check_name, passed, details, recorded_by, recorded_at FROM \
             model_version_checks WHERE model_key = ? AND version = ? ORDER BY check_name",
            &[key.into(), version.into()],
        )?
        .iter()
        .map(|c| {
            Ok(CheckResult {
                name: c.str(0)?,
                passed: c.i64(1)? != 0,
                details: c.str(2)?,
                recorded_by: c.str(3)?,
                recorded_at: c.i64(4)?,
            })
        })
        .collect::<Result<Vec<_>>>()?;
    Ok(VersionReview {
        name: name.to_owned(),
        version: version.to_string(),
        status,
        decided_by: r.opt_str(1)?,
        decided_at: r.opt_i64(2)?,
        comment: r.opt_str(3)?,
        overrode_failed_checks: r.i64(4)? != 0,
        report: r.opt_str(5)?,
        checks,
        approved_files: r
            .opt_str(6)?
            .map(|j| {
                serde_json::from_str::<FileManifest>(&j).map_err(|e| {
                    StoreError::Internal(format!(
                        "the approved files of version {version} are unreadable: {e}"
                    ))
                })
            })
            .transpose()?,
    })
}

/// Separation of duties: a verified actor may not approve or reject a version they authored
/// (created, or whose run they own), unless the model's [`ALLOW_SELF_REVIEW_TAG`] is `true`.
/// Returns what allowed a self-review (the tag), `None` when it is not one.
fn self_review_tx(
    tx: &mut dyn Tx,
    key: &str,
    name: &str,
    version: i64,
    decision: Decision,
    actor: &Actor,
) -> Result<Option<&'static str>> {
    if !actor.is_verified() {
        return Ok(None);
    }
    let r = tx
        .query_opt(
            "SELECT mv.user_id, r.user_id FROM model_versions mv \
             LEFT JOIN runs r ON r.run_uuid = mv.run_id \
             WHERE mv.model_key = ? AND mv.version = ? AND mv.deleted = 0",
            &[key.into(), version.into()],
        )?
        .ok_or_else(|| version_not_found(name, version))?;
    let (creator, run_user) = (r.opt_str(0)?, r.opt_str(1)?);
    let role = if creator.as_deref() == Some(actor.name.as_str()) {
        "registered"
    } else if run_user.as_deref() == Some(actor.name.as_str()) {
        "trained (its run's user)"
    } else {
        return Ok(None);
    };
    let allowed = tx
        .query_opt(
            "SELECT value FROM registered_model_tags WHERE model_key = ? AND key = ?",
            &[key.into(), ALLOW_SELF_REVIEW_TAG.into()],
        )?
        .map(|r| r.str(0))
        .transpose()?
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if allowed {
        return Ok(Some(ALLOW_SELF_REVIEW_TAG));
    }
    let verb = match decision {
        Decision::Approve => "approve",
        Decision::Reject => "reject",
    };
    Err(StoreError::PermissionDenied(format!(
        "User '{}' {role} version {version} of registered model '{name}' and cannot {verb} it: \
         a version is reviewed by someone other than its author (separation of duties). Ask \
         another reviewer, or have the model's managers allow self-review with the tag \
         {ALLOW_SELF_REVIEW_TAG}=true, which the audit log records.",
        actor.name
    )))
}

/// The protected aliases that point at `version`.
fn protected_aliases_on_tx(tx: &mut dyn Tx, key: &str, version: i64) -> Result<Vec<String>> {
    tx.query(
        "SELECT a.alias FROM registered_model_aliases a JOIN protected_aliases p \
         ON p.model_key = a.model_key AND p.alias = a.alias \
         WHERE a.model_key = ? AND a.version = ? ORDER BY a.alias",
        &[key.into(), version.into()],
    )?
    .iter()
    .map(|r| r.str(0))
    .collect()
}

fn quoted_list(items: &[String]) -> String {
    items
        .iter()
        .map(|a| format!("'{a}'"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `path` and every directory above it (`a/b/c` -> `a`, `a/b`, `a/b/c`), normalised.
fn path_and_ancestors(path: &str) -> Vec<String> {
    let segs: Vec<&str> = path
        .split('/')
        .filter(|s| !s.is_empty() && *s != ".")
        .collect();
    (1..=segs.len()).map(|n| segs[..n].join("/")).collect()
}

fn protected_alias_refusal(
    name: &str,
    alias: &str,
    version: i64,
    status: ReviewStatus,
) -> StoreError {
    StoreError::InvalidState(format!(
        "Alias '{alias}' of registered model '{name}' is protected: it may only point at an \
         approved version, and version {version} is {}. Approve version {version} first \
         (sextant models review {name} {version} --approve -m ...).",
        status.label()
    ))
}

// ----------------------------------------------------------------------------- the store

#[async_trait::async_trait]
impl<D: Db> RegistryStore for SqlStore<D> {
    async fn create_registered_model(
        &self,
        name: &str,
        description: &str,
        tags: &[Tag],
        actor: &Actor,
    ) -> Result<RegisteredModel> {
        let (name, description, tags, actor) = (
            name.to_owned(),
            description.to_owned(),
            tags.to_vec(),
            actor.clone(),
        );
        self.write_retrying(move |tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM registered_models WHERE name = ?",
                    &[name.as_str().into()],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Registered Model (name={name}) already exists."
                )));
            }
            let key = uuid::Uuid::new_v4().simple().to_string();
            let now = now_millis();
            tx.exec(
                "INSERT INTO registered_models (model_key, name, creation_time, \
                 last_updated_time, description) VALUES (?, ?, ?, ?, ?)",
                &[
                    key.as_str().into(),
                    name.as_str().into(),
                    now.into(),
                    now.into(),
                    description.as_str().into(),
                ],
            )?;
            for t in &tags {
                tx.exec(
                    "INSERT INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value",
                    &[
                        key.as_str().into(),
                        t.key.as_str().into(),
                        t.value.as_str().into(),
                    ],
                )?;
            }
            audit_tx(
                tx,
                &key,
                &name,
                None,
                "create_model",
                &actor,
                None,
                serde_json::json!({}),
            )?;
            get_model_tx(tx, &name)
        })
        .await
    }

    async fn get_registered_model(&self, name: &str) -> Result<RegisteredModel> {
        let name = name.to_owned();
        self.read(move |tx| get_model_tx(tx, &name)).await
    }

    async fn rename_registered_model(
        &self,
        name: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<RegisteredModel> {
        let (name, new_name, actor) = (name.to_owned(), new_name.to_owned(), actor.clone());
        self.write_retrying(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            if name != new_name
                && tx
                    .query_opt(
                        "SELECT 1 FROM registered_models WHERE name = ?",
                        &[new_name.as_str().into()],
                    )?
                    .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Registered Model (name={new_name}) already exists."
                )));
            }
            tx.exec(
                "UPDATE registered_models SET name = ?, last_updated_time = ? WHERE model_key = ?",
                &[
                    new_name.as_str().into(),
                    now_millis().into(),
                    key.as_str().into(),
                ],
            )?;
            audit_tx(
                tx,
                &key,
                &new_name,
                None,
                "rename_model",
                &actor,
                None,
                serde_json::json!({ "old_name": name }),
            )?;
            get_model_tx(tx, &new_name)
        })
        .await
    }

    async fn update_registered_model(
        &self,
        name: &str,
        description: &str,
    ) -> Result<RegisteredModel> {
        let (name, description) = (name.to_owned(), description.to_owned());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            tx.exec(
                "UPDATE registered_models SET description = ?, last_updated_time = ? \
                 WHERE model_key = ?",
                &[
                    description.as_str().into(),
                    now_millis().into(),
                    key.as_str().into(),
                ],
            )?;
            get_model_tx(tx, &name)
        })
        .await
    }

    async fn delete_registered_model(&self, name: &str, actor: &Actor) -> Result<()> {
        let (name, actor) = (name.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            let protected: Vec<String> = tx
                .query(
                    "SELECT alias FROM protected_aliases WHERE model_key = ? ORDER BY alias",
                    &[key.as_str().into()],
                )?
                .iter()
                .map(|r| r.str(0))
                .collect::<Result<_>>()?;
            if !protected.is_empty() {
                return Err(StoreError::InvalidState(format!(
                    "Registered model '{name}' cannot be deleted while it has protected \
                     aliases ({}): a protected alias is what production serves. Unprotect them \
                     first (sextant models unprotect {name} ALIAS), which the audit log records.",
                    quoted_list(&protected)
                )));
            }
            let versions: Vec<i64> = tx
                .query(
                    "SELECT version FROM model_versions WHERE model_key = ? AND deleted = 0 \
                     ORDER BY version",
                    &[key.as_str().into()],
                )?
                .iter()
                .map(|r| r.i64(0))
                .collect::<Result<_>>()?;
            for table in [
                "registered_model_tags",
                "model_version_tags",
                "registered_model_aliases",
                "protected_aliases",
                "model_version_checks",
                "model_versions",
                "registered_models",
            ] {
                tx.exec(
                    &format!("DELETE FROM {table} WHERE model_key = ?"),
                    &[key.as_str().into()],
                )?;
            }
            // The audit log keeps the model's history (it is keyed by the model's identity),
            // readable by the model's last name once the model is gone.
            audit_tx(
                tx,
                &key,
                &name,
                None,
                "delete_model",
                &actor,
                None,
                serde_json::json!({
                    "versions": versions.iter().map(i64::to_string).collect::<Vec<_>>(),
                }),
            )
        })
        .await
    }

    async fn search_registered_models(
        &self,
        search: RegisteredModelSearch,
    ) -> Result<Page<RegisteredModel>> {
        self.read(move |tx| {
            let sql = search_sql::registered_models(tx.dialect(), &search);
            let rows = tx.query(&sql.text, &sql.params)?;
            let max = usize::try_from(search.max_results).unwrap_or(usize::MAX);
            let mut models = Vec::with_capacity(rows.len().min(max + 1));
            for (i, r) in rows.iter().enumerate() {
                if i < max {
                    models.push(model_from_row(tx, r)?);
                } else {
                    // Only its presence matters: there is a next page.
                    models.push(RegisteredModel {
                        name: String::new(),
                        creation_timestamp: 0,
                        last_updated_timestamp: 0,
                        description: String::new(),
                        latest_versions: vec![],
                        tags: vec![],
                        aliases: vec![],
                    });
                }
            }
            Ok(page(models, search.max_results, search.offset))
        })
        .await
    }

    async fn set_registered_model_tag(&self, name: &str, tag: &Tag) -> Result<()> {
        let (name, tag) = (name.to_owned(), tag.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            tx.exec(
                "INSERT INTO registered_model_tags (model_key, key, value) VALUES (?, ?, ?) \
                 ON CONFLICT (model_key, key) DO UPDATE SET value = excluded.value",
                &[
                    key.as_str().into(),
                    tag.key.as_str().into(),
                    tag.value.as_str().into(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_registered_model_tag(&self, name: &str, tag_key: &str) -> Result<()> {
        let (name, tag_key) = (name.to_owned(), tag_key.to_owned());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            tx.exec(
                "DELETE FROM registered_model_tags WHERE model_key = ? AND key = ?",
                &[key.as_str().into(), tag_key.as_str().into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn get_latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        let (name, stages) = (name.to_owned(), stages.to_vec());
        self.read(move |tx| {
            let key = model_key_tx(tx, &name)?;
            latest_versions_tx(tx, &key, &stages)
        })
        .await
    }

    async fn create_model_version(
        &self,
        new: NewModelVersion,
        actor: &Actor,
    ) -> Result<ModelVersion> {
        let actor = actor.clone();
        self.write_retrying(move |tx| {
            let key = lock_model_tx(tx, &new.name)?;
            let version = tx
                .query_opt(
                    "SELECT COALESCE(MAX(version), 0) + 1 FROM model_versions WHERE model_key = ?",
                    &[key.as_str().into()],
                )?
                .map_or(Ok(1), |r| r.i64(0))?;
            let now = now_millis();
            tx.exec(
                "INSERT INTO model_versions (model_key, version, creation_time, \
                 last_updated_time, description, user_id, user_source, current_stage, source, \
                 run_id, run_link, status, model_id) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, 'None', ?, ?, ?, 'READY', ?)",
                &[
                    key.as_str().into(),
                    version.into(),
                    now.into(),
                    now.into(),
                    new.description.as_str().into(),
                    actor.name.as_str().into(),
                    actor.source.as_str().into(),
                    new.source.as_str().into(),
                    new.run_id.clone().into(),
                    new.run_link.as_str().into(),
                    new.model_id.clone().into(),
                ],
            )?;
            for t in &new.tags {
                tx.exec(
                    "INSERT INTO model_version_tags (model_key, version, key, value) \
                     VALUES (?, ?, ?, ?) ON CONFLICT (model_key, version, key) \
                     DO UPDATE SET value = excluded.value",
                    &[
                        key.as_str().into(),
                        version.into(),
                        t.key.as_str().into(),
                        t.value.as_str().into(),
                    ],
                )?;
            }
            touch_model_tx(tx, &key, now)?;
            audit_tx(
                tx,
                &key,
                &new.name,
                Some(version),
                "create_version",
                &actor,
                None,
                serde_json::json!({
                    "source": new.source,
                    "run_id": new.run_id,
                    "model_id": new.model_id,
                    "review_status": ReviewStatus::PendingReview.as_str(),
                }),
            )?;
            get_version_tx(tx, &new.name, version)
        })
        .await
    }

    async fn get_model_version(&self, name: &str, version: i64) -> Result<ModelVersion> {
        let name = name.to_owned();
        self.read(move |tx| get_version_tx(tx, &name, version))
            .await
    }

    async fn update_model_version(
        &self,
        name: &str,
        version: i64,
        description: &str,
    ) -> Result<ModelVersion> {
        let (name, description) = (name.to_owned(), description.to_owned());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            tx.exec(
                "UPDATE model_versions SET description = ?, last_updated_time = ? \
                 WHERE model_key = ? AND version = ?",
                &[
                    description.as_str().into(),
                    now_millis().into(),
                    key.as_str().into(),
                    version.into(),
                ],
            )?;
            get_version_tx(tx, &name, version)
        })
        .await
    }

    async fn transition_model_version_stage(
        &self,
        name: &str,
        version: i64,
        stage: &str,
        archive_existing: bool,
        actor: &Actor,
    ) -> Result<ModelVersion> {
        let (name, stage, actor) = (name.to_owned(), stage.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            let now = now_millis();
            let mut archived = Vec::new();
            if archive_existing && (stage == "Staging" || stage == "Production") {
                for r in tx.query(
                    "SELECT version FROM model_versions WHERE model_key = ? AND deleted = 0 \
                     AND current_stage = ? AND version <> ?",
                    &[key.as_str().into(), stage.as_str().into(), version.into()],
                )? {
                    archived.push(r.i64(0)?);
                }
                tx.exec(
                    "UPDATE model_versions SET current_stage = 'Archived', last_updated_time = ? \
                     WHERE model_key = ? AND deleted = 0 AND current_stage = ? AND version <> ?",
                    &[
                        now.into(),
                        key.as_str().into(),
                        stage.as_str().into(),
                        version.into(),
                    ],
                )?;
            }
            tx.exec(
                "UPDATE model_versions SET current_stage = ?, last_updated_time = ? \
                 WHERE model_key = ? AND version = ?",
                &[
                    stage.as_str().into(),
                    now.into(),
                    key.as_str().into(),
                    version.into(),
                ],
            )?;
            touch_model_tx(tx, &key, now)?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                "transition_stage",
                &actor,
                None,
                serde_json::json!({ "stage": stage, "archived_versions": archived }),
            )?;
            get_version_tx(tx, &name, version)
        })
        .await
    }

    async fn delete_model_version(&self, name: &str, version: i64, actor: &Actor) -> Result<()> {
        let (name, actor) = (name.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            let guarded = protected_aliases_on_tx(tx, &key, version)?;
            if !guarded.is_empty() {
                return Err(StoreError::InvalidState(format!(
                    "Version {version} of registered model '{name}' cannot be deleted: the \
                     protected alias(es) {} point at it. Move the alias to another approved \
                     version, or unprotect it, first.",
                    quoted_list(&guarded)
                )));
            }
            let aliases: Vec<String> = tx
                .query(
                    "SELECT alias FROM registered_model_aliases WHERE model_key = ? AND version = ?",
                    &[key.as_str().into(), version.into()],
                )?
                .iter()
                .map(|r| r.str(0))
                .collect::<Result<_>>()?;
            for table in [
                "model_version_tags",
                "registered_model_aliases",
                "model_version_checks",
            ] {
                tx.exec(
                    &format!("DELETE FROM {table} WHERE model_key = ? AND version = ?"),
                    &[key.as_str().into(), version.into()],
                )?;
            }
            let now = now_millis();
            tx.exec(
                "UPDATE model_versions SET deleted = 1, current_stage = 'Deleted_Internal', \
                 last_updated_time = ? WHERE model_key = ? AND version = ?",
                &[now.into(), key.as_str().into(), version.into()],
            )?;
            touch_model_tx(tx, &key, now)?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                "delete_version",
                &actor,
                None,
                serde_json::json!({ "removed_aliases": aliases }),
            )
        })
        .await
    }

    async fn search_model_versions(
        &self,
        search: ModelVersionSearch,
    ) -> Result<Page<ModelVersion>> {
        self.read(move |tx| {
            let sql = search_sql::model_versions(tx.dialect(), &search);
            let rows = tx.query(&sql.text, &sql.params)?;
            let mut versions = rows
                .iter()
                .map(version_from_row)
                .collect::<Result<Vec<_>>>()?;
            decorate_versions(tx, &mut versions)?;
            Ok(page(
                versions.into_iter().map(|(_, v)| v).collect(),
                search.max_results,
                search.offset,
            ))
        })
        .await
    }

    async fn set_model_version_tag(&self, name: &str, version: i64, tag: &Tag) -> Result<()> {
        let (name, tag) = (name.to_owned(), tag.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            tx.exec(
                "INSERT INTO model_version_tags (model_key, version, key, value) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (model_key, version, key) \
                 DO UPDATE SET value = excluded.value",
                &[
                    key.as_str().into(),
                    version.into(),
                    tag.key.as_str().into(),
                    tag.value.as_str().into(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_model_version_tag(
        &self,
        name: &str,
        version: i64,
        tag_key: &str,
    ) -> Result<()> {
        let (name, tag_key) = (name.to_owned(), tag_key.to_owned());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            tx.exec(
                "DELETE FROM model_version_tags WHERE model_key = ? AND version = ? AND key = ?",
                &[key.as_str().into(), version.into(), tag_key.as_str().into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_alias(&self, name: &str, alias: &str, version: i64, actor: &Actor) -> Result<()> {
        let (name, alias, actor) = (name.to_owned(), alias.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            let protected = is_protected_tx(tx, &key, &alias)?;
            let status = review_status_tx(tx, &key, version)?;
            let previous = alias_target_tx(tx, &key, &alias)?;
            if protected && status != ReviewStatus::Approved {
                return Err(protected_alias_refusal(&name, &alias, version, status));
            }
            tx.exec(
                "INSERT INTO registered_model_aliases (model_key, alias, version) VALUES (?, ?, ?) \
                 ON CONFLICT (model_key, alias) DO UPDATE SET version = excluded.version",
                &[key.as_str().into(), alias.as_str().into(), version.into()],
            )?;
            touch_model_tx(tx, &key, now_millis())?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                "set_alias",
                &actor,
                None,
                serde_json::json!({
                    "alias": alias,
                    "previous_version": previous.map(|v| v.to_string()),
                    "protected": protected,
                    "review_status": status.as_str(),
                }),
            )
        })
        .await
    }

    async fn delete_alias(&self, name: &str, alias: &str, actor: &Actor) -> Result<()> {
        let (name, alias, actor) = (name.to_owned(), alias.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            let Some(previous) = alias_target_tx(tx, &key, &alias)? else {
                // MLflow answers a delete of a missing alias with success.
                return Ok(());
            };
            tx.exec(
                "DELETE FROM registered_model_aliases WHERE model_key = ? AND alias = ?",
                &[key.as_str().into(), alias.as_str().into()],
            )?;
            touch_model_tx(tx, &key, now_millis())?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(previous),
                "delete_alias",
                &actor,
                None,
                serde_json::json!({ "alias": alias }),
            )
        })
        .await
    }

    async fn get_version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        let (name, alias) = (name.to_owned(), alias.to_owned());
        self.read(move |tx| {
            let key = model_key_tx(tx, &name)?;
            let version = alias_target_tx(tx, &key, &alias)?.ok_or_else(|| {
                StoreError::InvalidState(format!("Registered model alias {alias} not found."))
            })?;
            get_version_tx(tx, &name, version)
        })
        .await
    }

    async fn list_versions(&self, name: &str) -> Result<Vec<VersionSummary>> {
        let name = name.to_owned();
        self.read(move |tx| {
            let key = model_key_tx(tx, &name)?;
            let rows = tx.query(
                &format!(
                    "SELECT {}, mv.review_status FROM model_versions mv JOIN registered_models rm \
                     ON rm.model_key = mv.model_key WHERE mv.model_key = ? AND mv.deleted = 0 \
                     ORDER BY mv.version",
                    search_sql::MODEL_VERSION_COLUMNS
                ),
                &[key.as_str().into()],
            )?;
            let mut versions = rows
                .iter()
                .map(version_from_row)
                .collect::<Result<Vec<_>>>()?;
            let statuses = rows
                .iter()
                .map(|r| {
                    let s = r.str(13)?;
                    ReviewStatus::parse(&s)
                        .ok_or_else(|| StoreError::Internal(format!("unknown review status '{s}'")))
                })
                .collect::<Result<Vec<_>>>()?;
            decorate_versions(tx, &mut versions)?;
            Ok(versions
                .into_iter()
                .zip(statuses)
                .map(|((_, version), review)| VersionSummary { version, review })
                .collect())
        })
        .await
    }

    async fn get_review(&self, name: &str, version: i64) -> Result<VersionReview> {
        let name = name.to_owned();
        self.read(move |tx| {
            let key = model_key_tx(tx, &name)?;
            review_tx(tx, &key, &name, version)
        })
        .await
    }

    async fn decide_review(
        &self,
        name: &str,
        version: i64,
        decision: Decision,
        comment: &str,
        override_failed_checks: bool,
        approved_files: Option<&FileManifest>,
        actor: &Actor,
    ) -> Result<VersionReview> {
        let (name, comment, actor) = (name.to_owned(), comment.to_owned(), actor.clone());
        let files = approved_files.cloned();
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            let before = review_tx(tx, &key, &name, version)?;
            let self_review = self_review_tx(tx, &key, &name, version, decision, &actor)?;
            let failed: Vec<String> = before
                .checks
                .iter()
                .filter(|c| !c.passed)
                .map(|c| c.name.clone())
                .collect();
            let overriding = decision == Decision::Approve && !failed.is_empty();
            if overriding && !override_failed_checks {
                return Err(StoreError::InvalidState(format!(
                    "Version {version} of registered model '{name}' cannot be approved: its \
                     recorded checks failed ({}). Fix the model, or approve with an explicit \
                     override (--override-failed-checks), which the audit log records.",
                    failed.join(", ")
                )));
            }
            if decision == Decision::Reject {
                let guarded = protected_aliases_on_tx(tx, &key, version)?;
                if !guarded.is_empty() {
                    return Err(StoreError::InvalidState(format!(
                        "Version {version} of registered model '{name}' cannot be rejected while \
                         the protected alias(es) {} point at it: protected aliases may only \
                         point at approved versions. Move the alias first.",
                        quoted_list(&guarded)
                    )));
                }
            }
            let status = match decision {
                Decision::Approve => ReviewStatus::Approved,
                Decision::Reject => ReviewStatus::Rejected,
            };
            let now = now_millis();
            // An approval records what was approved; a rejection releases the files.
            let (files_json, root) = match (decision, &files) {
                (Decision::Approve, Some(f)) => (
                    Some(serde_json::to_string(f).map_err(|e| {
                        StoreError::Internal(format!("cannot encode the manifest: {e}"))
                    })?),
                    Some(f.root.clone()),
                ),
                _ => (None, None),
            };
            tx.exec(
                "UPDATE model_versions SET review_status = ?, review_actor = ?, \
                 review_actor_source = ?, review_time = ?, review_comment = ?, \
                 review_override = ?, approved_files = ?, approved_root = ? \
                 WHERE model_key = ? AND version = ?",
                &[
                    status.as_str().into(),
                    actor.name.as_str().into(),
                    actor.source.as_str().into(),
                    now.into(),
                    comment.as_str().into(),
                    i64::from(overriding).into(),
                    files_json.into(),
                    root.into(),
                    key.as_str().into(),
                    version.into(),
                ],
            )?;
            let action = match decision {
                Decision::Approve => "approve",
                Decision::Reject => "reject",
            };
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                action,
                &actor,
                Some(&comment),
                {
                    let mut d = serde_json::json!({
                        "previous_status": before.status.as_str(),
                        "overrode_failed_checks": overriding,
                        "failed_checks": failed,
                    });
                    if let Some(by) = self_review {
                        d["self_review"] = serde_json::json!(true);
                        d["self_review_allowed_by"] = serde_json::json!(by);
                    }
                    if decision == Decision::Approve {
                        d["files"] = match &files {
                            Some(f) => serde_json::json!({
                                "root": f.root,
                                "digest": f.digest,
                                "count": f.files.len(),
                                "manifest": f.files,
                            }),
                            None => serde_json::Value::Null,
                        };
                    }
                    d
                },
            )?;
            review_tx(tx, &key, &name, version)
        })
        .await
    }

    async fn record_check(
        &self,
        name: &str,
        version: i64,
        check: &str,
        passed: bool,
        details: &str,
        actor: &Actor,
    ) -> Result<VersionReview> {
        let (name, check, details, actor) = (
            name.to_owned(),
            check.to_owned(),
            details.to_owned(),
            actor.clone(),
        );
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            tx.exec(
                "INSERT INTO model_version_checks (model_key, version, check_name, passed, \
                 details, recorded_by, recorded_at) VALUES (?, ?, ?, ?, ?, ?, ?) \
                 ON CONFLICT (model_key, version, check_name) DO UPDATE SET \
                 passed = excluded.passed, details = excluded.details, \
                 recorded_by = excluded.recorded_by, recorded_at = excluded.recorded_at",
                &[
                    key.as_str().into(),
                    version.into(),
                    check.as_str().into(),
                    i64::from(passed).into(),
                    details.as_str().into(),
                    actor.name.as_str().into(),
                    now_millis().into(),
                ],
            )?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                "record_check",
                &actor,
                None,
                serde_json::json!({ "check": check, "passed": passed, "details": details }),
            )?;
            review_tx(tx, &key, &name, version)
        })
        .await
    }

    async fn set_review_report(
        &self,
        name: &str,
        version: i64,
        path: &str,
        actor: &Actor,
    ) -> Result<VersionReview> {
        let (name, path, actor) = (name.to_owned(), path.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            version_exists_tx(tx, &key, &name, version)?;
            tx.exec(
                "UPDATE model_versions SET review_report = ? WHERE model_key = ? AND version = ?",
                &[path.as_str().into(), key.as_str().into(), version.into()],
            )?;
            audit_tx(
                tx,
                &key,
                &name,
                Some(version),
                "set_report",
                &actor,
                None,
                serde_json::json!({ "report": path }),
            )?;
            review_tx(tx, &key, &name, version)
        })
        .await
    }

    async fn set_alias_protection(
        &self,
        name: &str,
        alias: &str,
        protected: bool,
        actor: &Actor,
    ) -> Result<()> {
        let (name, alias, actor) = (name.to_owned(), alias.to_owned(), actor.clone());
        self.write(move |tx| {
            let key = lock_model_tx(tx, &name)?;
            let was = is_protected_tx(tx, &key, &alias)?;
            if was == protected {
                return Ok(());
            }
            if protected {
                if let Some(v) = alias_target_tx(tx, &key, &alias)? {
                    let status = review_status_tx(tx, &key, v)?;
                    if status != ReviewStatus::Approved {
                        return Err(StoreError::InvalidState(format!(
                            "Cannot protect alias '{alias}' of registered model '{name}': it \
                             points at version {v}, which is {}. Protected aliases may only \
                             point at approved versions; approve version {v} or move the alias \
                             first.",
                            status.label()
                        )));
                    }
                }
                tx.exec(
                    "INSERT INTO protected_aliases (model_key, alias, created_by, created_time) \
                     VALUES (?, ?, ?, ?)",
                    &[
                        key.as_str().into(),
                        alias.as_str().into(),
                        actor.name.as_str().into(),
                        now_millis().into(),
                    ],
                )?;
            } else {
                tx.exec(
                    "DELETE FROM protected_aliases WHERE model_key = ? AND alias = ?",
                    &[key.as_str().into(), alias.as_str().into()],
                )?;
            }
            audit_tx(
                tx,
                &key,
                &name,
                None,
                if protected {
                    "protect_alias"
                } else {
                    "unprotect_alias"
                },
                &actor,
                None,
                serde_json::json!({ "alias": alias }),
            )
        })
        .await
    }

    async fn approved_versions_touching(&self, path: &str) -> Result<Vec<ApprovedFiles>> {
        let chain = path_and_ancestors(path);
        let Some(full) = chain.last().cloned() else {
            return Ok(vec![]);
        };
        self.read(move |tx| {
            let mut params: Vec<Value> = chain.iter().map(Value::from).collect();
            let prefix = format!("{full}/");
            let len = i64::try_from(prefix.chars().count())
                .map_err(|_| StoreError::Internal("path too long".into()))?;
            params.push(len.into());
            params.push(prefix.into());
            let rows = tx.query(
                &format!(
                    "SELECT rm.name, mv.version, mv.approved_root FROM model_versions mv \
                     JOIN registered_models rm ON rm.model_key = mv.model_key \
                     WHERE mv.deleted = 0 AND mv.review_status = 'approved' \
                     AND mv.approved_root IS NOT NULL \
                     AND (mv.approved_root IN ({}) OR substr(mv.approved_root, 1, ?) = ?) \
                     ORDER BY rm.name, mv.version",
                    placeholders(chain.len())
                ),
                &params,
            )?;
            rows.iter()
                .map(|r| {
                    Ok(ApprovedFiles {
                        name: r.str(0)?,
                        version: r.i64(1)?,
                        root: r.str(2)?,
                    })
                })
                .collect()
        })
        .await
    }

    async fn protected_aliases(&self, name: &str) -> Result<Vec<String>> {
        let name = name.to_owned();
        self.read(move |tx| {
            let key = model_key_tx(tx, &name)?;
            tx.query(
                "SELECT alias FROM protected_aliases WHERE model_key = ? ORDER BY alias",
                &[key.as_str().into()],
            )?
            .iter()
            .map(|r| r.str(0))
            .collect()
        })
        .await
    }

    async fn audit_log(&self, name: &str, version: Option<i64>) -> Result<Vec<AuditEntry>> {
        let name = name.to_owned();
        self.read(move |tx| {
            let key = match model_key_tx(tx, &name) {
                Ok(k) => k,
                // A deleted model's log stays readable by the name it had when deleted (the
                // latest model of that name, when several were deleted).
                Err(StoreError::NotFound(m)) => tx
                    .query_opt(
                        "SELECT model_key FROM registry_audit WHERE model_name = ? \
                         AND action = 'delete_model' ORDER BY id DESC LIMIT 1",
                        &[name.as_str().into()],
                    )?
                    .ok_or(StoreError::NotFound(m))?
                    .str(0)?,
                Err(e) => return Err(e),
            };
            let mut sql = "SELECT id, timestamp, model_name, version, action, actor, \
                           actor_source, comment, details FROM registry_audit WHERE model_key = ?"
                .to_owned();
            let mut params: Vec<Value> = vec![key.as_str().into()];
            if let Some(v) = version {
                sql.push_str(" AND version = ?");
                params.push(v.into());
            }
            sql.push_str(" ORDER BY id");
            tx.query(&sql, &params)?
                .iter()
                .map(|r| {
                    Ok(AuditEntry {
                        id: r.i64(0)?,
                        timestamp: r.i64(1)?,
                        model: r.str(2)?,
                        version: r.opt_i64(3)?.map(|v| v.to_string()),
                        action: r.str(4)?,
                        actor: r.str(5)?,
                        actor_source: r.str(6)?,
                        comment: r.opt_str(7)?,
                        details: serde_json::from_str(&r.str(8)?)
                            .unwrap_or(serde_json::Value::Null),
                    })
                })
                .collect()
        })
        .await
    }
}
