//! The registry service: MLflow's model registry rules (names, versions, stages, aliases, tags,
//! where a version's files are), and Sextant's review workflow on top of them.

use std::sync::Arc;

use futures::StreamExt;
use sextant_artifacts::ArtifactStore;
use sextant_search as search;
use sextant_store::{
    MetadataStore, ModelVersionSearch, NewModelVersion, Page, RegisteredModelSearch, RegistryStore,
    Store, VersionSummary,
};
use sextant_types::Tag;
use sextant_types::registry::{
    Actor, AuditEntry, Decision, FileDigest, FileManifest, ModelVersion, RegisteredModel,
    VersionReview, canonical_stage,
};

use crate::tracking::{SearchRequest, parse_order_by};
use crate::validation::{self as v, MAX_ENTITY_KEY_LENGTH};
use crate::{CoreError, Result};

/// MLflow's limits for registry searches.
pub const REGISTERED_MODELS_DEFAULT_PAGE: u64 = 100;
pub const REGISTERED_MODELS_MAX_PAGE: u64 = 1000;
pub const MODEL_VERSIONS_DEFAULT_PAGE: u64 = 10_000;
pub const MODEL_VERSIONS_MAX_PAGE: u64 = 200_000;
/// Registry tag values may be long (model cards); MLflow allows 100,000 characters.
pub const MAX_REGISTRY_TAG_VALUE: usize = 100_000;
pub const MAX_ALIAS_LENGTH: usize = 255;
pub const MAX_COMMENT_LENGTH: usize = 10_000;

fn invalid(msg: impl Into<String>) -> CoreError {
    CoreError::InvalidParameter(msg.into())
}

/// A model version number as the API gives it (a string of digits).
pub fn parse_version(s: &str) -> Result<i64> {
    s.trim()
        .parse::<i64>()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| {
            invalid(format!(
                "Parameter 'version' must be a positive integer, got '{s}'."
            ))
        })
}

pub fn validate_model_name(name: &str) -> Result<()> {
    if name.is_empty() {
        return Err(invalid(v::missing_value("name")));
    }
    v::check_len("name", name, 500)
}

/// MLflow's alias rules: `^[\w\-]*$`, at most 255 characters, `latest` and `v<N>` reserved.
pub fn validate_alias(alias: &str) -> Result<()> {
    if alias.is_empty() {
        return Err(invalid(v::missing_value("alias")));
    }
    if alias.chars().count() > MAX_ALIAS_LENGTH {
        return Err(invalid(format!(
            "Alias name '{alias}' exceeds the maximum length of {MAX_ALIAS_LENGTH} characters."
        )));
    }
    if !alias
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '-')
    {
        return Err(invalid(format!(
            "Invalid alias name: '{alias}'. Names may only contain alphanumerics, underscores \
             (_), and dashes (-)."
        )));
    }
    let lower = alias.to_lowercase();
    let version_like =
        lower.len() > 1 && lower.starts_with('v') && lower[1..].chars().all(|c| c.is_ascii_digit());
    if lower == "latest" || version_like {
        return Err(invalid(format!(
            "'{alias}' alias name (case insensitive) is not allowed: 'latest' and 'v<number>' \
             are reserved."
        )));
    }
    Ok(())
}

fn validate_registry_tag(t: &Tag) -> Result<()> {
    v::validate_key("Tag key", &t.key, "key")?;
    if t.key.chars().count() > MAX_ENTITY_KEY_LENGTH {
        return Err(invalid(v::exceeds_maximum_length(
            "key",
            MAX_ENTITY_KEY_LENGTH,
        )));
    }
    v::check_len("value", &t.value, MAX_REGISTRY_TAG_VALUE)
}

fn page_size(requested: Option<u64>, default: u64, max: u64) -> Result<u64> {
    match requested {
        None => Ok(default),
        Some(0) => Err(invalid(
            "Invalid value 0 for parameter 'max_results' supplied. It must be a positive integer.",
        )),
        Some(n) if n > max => Err(invalid(format!(
            "Invalid value {n} for parameter 'max_results' supplied. It must be at most {max}, \
             but got value {n}"
        ))),
        Some(n) => Ok(n),
    }
}

/// A new version as the API gives it.
#[derive(Debug, Clone, Default)]
pub struct CreateVersion {
    pub name: String,
    pub source: String,
    pub run_id: Option<String>,
    pub run_link: Option<String>,
    pub description: Option<String>,
    pub tags: Vec<Tag>,
    pub model_id: Option<String>,
}

/// The model registry and its review workflow.
#[derive(Clone)]
pub struct RegistryService {
    store: Arc<dyn Store>,
    /// Where versions' files are (the `mlflow-artifacts:` store): approval records their
    /// digests, and writes under approved files are refused.
    artifacts: Arc<dyn ArtifactStore>,
}

impl RegistryService {
    pub fn new(store: Arc<dyn Store>, artifacts: Arc<dyn ArtifactStore>) -> Self {
        Self { store, artifacts }
    }

    fn registry(&self) -> &dyn RegistryStore {
        &*self.store
    }

    fn tracking(&self) -> &dyn MetadataStore {
        &*self.store
    }

    // --- registered models

    pub async fn create_model(
        &self,
        name: &str,
        description: &str,
        tags: Vec<Tag>,
        actor: &Actor,
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        for t in &tags {
            validate_registry_tag(t)?;
        }
        Ok(self
            .registry()
            .create_registered_model(name, description, &tags, actor)
            .await?)
    }

    pub async fn get_model(&self, name: &str) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        Ok(self.registry().get_registered_model(name).await?)
    }

    pub async fn rename_model(
        &self,
        name: &str,
        new_name: &str,
        actor: &Actor,
    ) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        if new_name.is_empty() {
            return Err(invalid(v::missing_value("new_name")));
        }
        v::check_len("new_name", new_name, 500)?;
        Ok(self
            .registry()
            .rename_registered_model(name, new_name, actor)
            .await?)
    }

    pub async fn update_model(&self, name: &str, description: &str) -> Result<RegisteredModel> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .update_registered_model(name, description)
            .await?)
    }

    pub async fn delete_model(&self, name: &str, actor: &Actor) -> Result<()> {
        validate_model_name(name)?;
        Ok(self.registry().delete_registered_model(name, actor).await?)
    }

    pub async fn search_models(&self, req: SearchRequest) -> Result<Page<RegisteredModel>> {
        let max = page_size(
            req.max_results,
            REGISTERED_MODELS_DEFAULT_PAGE,
            REGISTERED_MODELS_MAX_PAGE,
        )?;
        let filter = search::parse_registered_model_filter(&req.filter)?;
        let order_by = parse_order_by(&req.order_by, search::parse_registered_model_order_by)?;
        Ok(self
            .registry()
            .search_registered_models(RegisteredModelSearch {
                filter,
                order_by,
                max_results: max,
                offset: req.offset,
            })
            .await?)
    }

    pub async fn set_model_tag(&self, name: &str, tag: Tag) -> Result<()> {
        validate_model_name(name)?;
        validate_registry_tag(&tag)?;
        Ok(self.registry().set_registered_model_tag(name, &tag).await?)
    }

    pub async fn delete_model_tag(&self, name: &str, key: &str) -> Result<()> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .delete_registered_model_tag(name, key)
            .await?)
    }

    pub async fn latest_versions(
        &self,
        name: &str,
        stages: &[String],
    ) -> Result<Vec<ModelVersion>> {
        validate_model_name(name)?;
        let stages = stages
            .iter()
            .map(|s| stage(s).map(str::to_owned))
            .collect::<Result<Vec<_>>>()?;
        Ok(self.registry().get_latest_versions(name, &stages).await?)
    }

    // --- model versions

    /// Register a version. Its run comes from the request, else from a `runs:/<id>/...`
    /// source, else from the logged model it was registered from.
    pub async fn create_version(&self, req: CreateVersion, actor: &Actor) -> Result<ModelVersion> {
        validate_model_name(&req.name)?;
        if req.source.is_empty() {
            return Err(invalid(v::missing_value("source")));
        }
        for t in &req.tags {
            validate_registry_tag(t)?;
        }
        let mut run_id = req.run_id.filter(|r| !r.is_empty());
        if run_id.is_none() {
            run_id = runs_uri_run_id(&req.source).map(str::to_owned);
        }
        let model_id = req
            .model_id
            .filter(|m| !m.is_empty())
            .or_else(|| logged_model_id_of(&req.source).map(str::to_owned));
        if let Some(mid) = &model_id {
            let lm = self.tracking().get_logged_model(mid, false).await?;
            if run_id.is_none() {
                run_id = lm.info.source_run_id.clone().filter(|r| !r.is_empty());
            }
        }
        Ok(self
            .registry()
            .create_model_version(
                NewModelVersion {
                    name: req.name,
                    source: req.source,
                    run_id,
                    run_link: req.run_link.unwrap_or_default(),
                    description: req.description.unwrap_or_default(),
                    tags: req.tags,
                    model_id,
                },
                actor,
            )
            .await?)
    }

    pub async fn get_version(&self, name: &str, version: &str) -> Result<ModelVersion> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .get_model_version(name, parse_version(version)?)
            .await?)
    }

    pub async fn update_version(
        &self,
        name: &str,
        version: &str,
        description: &str,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .update_model_version(name, parse_version(version)?, description)
            .await?)
    }

    pub async fn transition_stage(
        &self,
        name: &str,
        version: &str,
        to: &str,
        archive_existing: bool,
        actor: &Actor,
    ) -> Result<ModelVersion> {
        validate_model_name(name)?;
        let to = stage(to)?;
        Ok(self
            .registry()
            .transition_model_version_stage(
                name,
                parse_version(version)?,
                to,
                archive_existing,
                actor,
            )
            .await?)
    }

    pub async fn delete_version(&self, name: &str, version: &str, actor: &Actor) -> Result<()> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .delete_model_version(name, parse_version(version)?, actor)
            .await?)
    }

    pub async fn search_versions(&self, req: SearchRequest) -> Result<Page<ModelVersion>> {
        let max = page_size(
            req.max_results,
            MODEL_VERSIONS_DEFAULT_PAGE,
            MODEL_VERSIONS_MAX_PAGE,
        )?;
        let filter = search::parse_model_version_filter(&req.filter)?;
        let order_by = parse_order_by(&req.order_by, search::parse_model_version_order_by)?;
        Ok(self
            .registry()
            .search_model_versions(ModelVersionSearch {
                filter,
                order_by,
                max_results: max,
                offset: req.offset,
            })
            .await?)
    }

    pub async fn set_version_tag(&self, name: &str, version: &str, tag: Tag) -> Result<()> {
        validate_model_name(name)?;
        validate_registry_tag(&tag)?;
        Ok(self
            .registry()
            .set_model_version_tag(name, parse_version(version)?, &tag)
            .await?)
    }

    pub async fn delete_version_tag(&self, name: &str, version: &str, key: &str) -> Result<()> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .delete_model_version_tag(name, parse_version(version)?, key)
            .await?)
    }

    /// Where a version's files are: the logged model's artifacts when it was registered from
    /// one; otherwise the source itself, as MLflow answers (a client resolves a `runs:/` URI
    /// through the run).
    pub async fn download_uri(&self, name: &str, version: &str) -> Result<String> {
        let mv = self.get_version(name, version).await?;
        if let Some(mid) = &mv.model_id {
            if let Ok(lm) = self.tracking().get_logged_model(mid, true).await {
                return Ok(lm.info.artifact_uri);
            }
        }
        Ok(mv.source)
    }

    // --- aliases

    pub async fn set_alias(
        &self,
        name: &str,
        alias: &str,
        version: &str,
        actor: &Actor,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_alias(alias)?;
        Ok(self
            .registry()
            .set_alias(name, alias, parse_version(version)?, actor)
            .await?)
    }

    pub async fn delete_alias(&self, name: &str, alias: &str, actor: &Actor) -> Result<()> {
        validate_model_name(name)?;
        if alias.is_empty() {
            return Err(invalid(v::missing_value("alias")));
        }
        Ok(self.registry().delete_alias(name, alias, actor).await?)
    }

    pub async fn version_by_alias(&self, name: &str, alias: &str) -> Result<ModelVersion> {
        validate_model_name(name)?;
        if alias.is_empty() {
            return Err(invalid(v::missing_value("alias")));
        }
        Ok(self.registry().get_version_by_alias(name, alias).await?)
    }

    // --- review

    pub async fn list_versions(&self, name: &str) -> Result<Vec<VersionSummary>> {
        validate_model_name(name)?;
        Ok(self.registry().list_versions(name).await?)
    }

    pub async fn review(&self, name: &str, version: &str) -> Result<VersionReview> {
        validate_model_name(name)?;
        Ok(self
            .registry()
            .get_review(name, parse_version(version)?)
            .await?)
    }

    /// Approve or reject a version. A comment is required: the audit log says why.
    pub async fn decide(
        &self,
        name: &str,
        version: &str,
        decision: Decision,
        comment: &str,
        override_failed_checks: bool,
        actor: &Actor,
    ) -> Result<VersionReview> {
        validate_model_name(name)?;
        let comment = comment.trim();
        if comment.is_empty() {
            return Err(invalid(
                "A review decision needs a comment saying why (e.g. -m \"metrics match the \
                 baseline\").",
            ));
        }
        v::check_len("comment", comment, MAX_COMMENT_LENGTH)?;
        let number = parse_version(version)?;
        // What is approved is what is served: the digest of every file of the version, taken
        // now and recorded with the approval (and in its audit entry).
        let files = match decision {
            Decision::Approve => self.version_files(name, version).await?,
            Decision::Reject => None,
        };
        Ok(self
            .registry()
            .decide_review(
                name,
                number,
                decision,
                comment,
                override_failed_checks,
                files.as_ref(),
                actor,
            )
            .await?)
    }

    /// The artifact-store path of a version's files, when this server stores them: its
    /// logged model's artifacts (`models:/m-...`), a path in its run's artifacts
    /// (`runs:/<id>/path`), or an `mlflow-artifacts:` location. `None` for files elsewhere
    /// (`s3://...` written directly, a local path).
    pub async fn version_files_root(&self, name: &str, version: &str) -> Result<Option<String>> {
        let uri = self.download_uri(name, version).await?;
        if let Some(rest) = uri.strip_prefix("runs:/") {
            let (run_id, path) = rest.split_once('/').unwrap_or((rest, ""));
            let run = self.tracking().get_run(run_id).await?;
            return Ok(store_path_of(&run.info.artifact_uri).map(|root| join_path(&root, path)));
        }
        Ok(store_path_of(&uri))
    }

    /// Every file of a version with its SHA-256, or `None` when its files are not in this
    /// server's artifact store.
    pub async fn version_files(&self, name: &str, version: &str) -> Result<Option<FileManifest>> {
        let Some(root) = self.version_files_root(name, version).await? else {
            tracing::warn!(
                model = name,
                version,
                "approving a version whose files this server does not store: no digest recorded"
            );
            return Ok(None);
        };
        Ok(Some(manifest_of(&*self.artifacts, &root).await?))
    }

    /// Refuse a write (upload, delete, multipart) at the artifact path `path` when it would
    /// change the files of an approved version.
    pub async fn check_artifact_write(&self, path: &str) -> Result<()> {
        let hits = self.registry().approved_versions_touching(path).await?;
        let Some(first) = hits.first() else {
            return Ok(());
        };
        let path = path.trim_matches('/');
        Err(CoreError::Conflict(format!(
            "Artifact path '{path}' would change the approved files of version {} of registered \
             model '{}' (files under '{}'): what was approved is what is served, so approved \
             files never change. Log the new files and register them as a new version, or \
             reject version {} first (the audit log records both).",
            first.version, first.name, first.root, first.version
        )))
    }

    pub async fn record_check(
        &self,
        name: &str,
        version: &str,
        check: &str,
        passed: bool,
        details: &str,
        actor: &Actor,
    ) -> Result<VersionReview> {
        validate_model_name(name)?;
        if check.trim().is_empty() {
            return Err(invalid(v::missing_value("check")));
        }
        v::check_len("check", check, MAX_ENTITY_KEY_LENGTH)?;
        v::check_len("details", details, MAX_COMMENT_LENGTH)?;
        Ok(self
            .registry()
            .record_check(
                name,
                parse_version(version)?,
                check.trim(),
                passed,
                details,
                actor,
            )
            .await?)
    }

    /// Link a review report: an artifact of the version's run, by its path in the run's
    /// artifacts. The path is checked against the run's artifact listing by the caller that
    /// has the artifact store (the server); here it must be a clean relative path.
    pub async fn set_report(
        &self,
        name: &str,
        version: &str,
        path: &str,
        actor: &Actor,
    ) -> Result<VersionReview> {
        validate_model_name(name)?;
        let path = path.trim().trim_start_matches('/');
        if path.is_empty() {
            return Err(invalid(v::missing_value("path")));
        }
        if path.split('/').any(|seg| seg == ".." || seg == ".") {
            return Err(invalid(format!(
                "Report path '{path}' must be a plain path inside the run's artifacts."
            )));
        }
        let mv = self.get_version(name, version).await?;
        if mv.run_id.is_empty() {
            return Err(invalid(format!(
                "Version {version} of registered model '{name}' has no run, so it has no run \
                 artifacts to link as a report."
            )));
        }
        Ok(self
            .registry()
            .set_review_report(name, parse_version(version)?, path, actor)
            .await?)
    }

    pub async fn protect_alias(
        &self,
        name: &str,
        alias: &str,
        protected: bool,
        actor: &Actor,
    ) -> Result<()> {
        validate_model_name(name)?;
        validate_alias(alias)?;
        Ok(self
            .registry()
            .set_alias_protection(name, alias, protected, actor)
            .await?)
    }

    pub async fn protected_aliases(&self, name: &str) -> Result<Vec<String>> {
        validate_model_name(name)?;
        Ok(self.registry().protected_aliases(name).await?)
    }

    pub async fn audit_log(&self, name: &str, version: Option<&str>) -> Result<Vec<AuditEntry>> {
        validate_model_name(name)?;
        let version = version.map(parse_version).transpose()?;
        Ok(self.registry().audit_log(name, version).await?)
    }

    /// The run a version was trained in, for linking reports (if it has one).
    pub async fn version_run_artifact_uri(&self, name: &str, version: &str) -> Result<String> {
        let mv = self.get_version(name, version).await?;
        if mv.run_id.is_empty() {
            return Err(invalid(format!(
                "Version {version} of registered model '{name}' has no run."
            )));
        }
        Ok(self.tracking().get_run(&mv.run_id).await?.info.artifact_uri)
    }
}

/// The store path behind an `mlflow-artifacts:/...` URI, as the artifact proxy maps it.
fn store_path_of(uri: &str) -> Option<String> {
    let rest = uri
        .strip_prefix("mlflow-artifacts://")
        .map(|r| r.split_once('/').map_or("", |(_, p)| p))
        .or_else(|| uri.strip_prefix("mlflow-artifacts:"))?;
    Some(rest.trim_matches('/').to_owned())
}

fn join_path(root: &str, rel: &str) -> String {
    let rel = rel.trim_matches('/');
    match (root.is_empty(), rel.is_empty()) {
        (_, true) => root.to_owned(),
        (true, false) => rel.to_owned(),
        (false, false) => format!("{root}/{rel}"),
    }
}

/// Lowercase hex.
fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// The SHA-256 of `lines` (a manifest's `sha256sum` lines).
pub fn manifest_digest(files: &[FileDigest]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for f in files {
        h.update(f.sha256.as_bytes());
        h.update(b"  ");
        h.update(f.path.as_bytes());
        h.update(b"\n");
    }
    hex(&h.finalize())
}

/// Hash every file under `root` in the artifact store (streamed: flat memory whatever the
/// size), paths relative to `root`, sorted.
pub async fn manifest_of(artifacts: &dyn ArtifactStore, root: &str) -> Result<FileManifest> {
    use sha2::Digest;
    let mut files = Vec::new();
    let mut dirs = vec![String::new()];
    while let Some(rel) = dirs.pop() {
        for entry in artifacts
            .list(&join_path(root, &rel))
            .await
            .map_err(CoreError::Artifacts)?
        {
            let child = join_path(&rel, &entry.path);
            if entry.is_dir {
                dirs.push(child);
                continue;
            }
            let download = artifacts
                .get(&join_path(root, &child))
                .await
                .map_err(CoreError::Artifacts)?;
            let mut body = download.body;
            let mut h = sha2::Sha256::new();
            let mut size = 0u64;
            while let Some(chunk) = body.next().await {
                let chunk = chunk.map_err(|e| CoreError::Artifacts(e.into()))?;
                size += chunk.len() as u64;
                h.update(&chunk);
            }
            files.push(FileDigest {
                path: child,
                sha256: hex(&h.finalize()),
                size,
            });
        }
    }
    files.sort_by(|a, b| a.path.cmp(&b.path));
    let digest = manifest_digest(&files);
    Ok(FileManifest {
        root: root.to_owned(),
        files,
        digest,
    })
}

/// The canonical stage name, or MLflow's error.
fn stage(s: &str) -> Result<&'static str> {
    canonical_stage(s).ok_or_else(|| {
        invalid(format!(
            "Invalid Model Version stage: {s}. Value must be one of None, Staging, Production, \
             Archived."
        ))
    })
}

/// The run id of a `runs:/<run_id>/path` URI.
fn runs_uri_run_id(source: &str) -> Option<&str> {
    let rest = source.strip_prefix("runs:/")?;
    let id = rest.split('/').next()?;
    (!id.is_empty()).then_some(id)
}

/// The logged-model id of a `models:/m-<id>` URI.
fn logged_model_id_of(source: &str) -> Option<&str> {
    let rest = source.strip_prefix("models:/")?;
    let id = rest.split('/').next()?;
    id.starts_with("m-").then_some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aliases_follow_mlflow_rules() {
        assert!(validate_alias("champion").is_ok());
        assert!(validate_alias("prod-2_b").is_ok());
        assert!(validate_alias("latest").is_err());
        assert!(validate_alias("V3").is_err());
        assert!(validate_alias("v").is_ok());
        assert!(validate_alias("a b").is_err());
        assert!(validate_alias(&"a".repeat(256)).is_err());
    }

    #[test]
    fn versions_are_positive_integers() {
        assert_eq!(parse_version("3").unwrap(), 3);
        assert!(parse_version("0").is_err());
        assert!(parse_version("x").is_err());
    }

    fn body(bytes: &'static [u8]) -> sextant_artifacts::ByteStream {
        Box::pin(futures::stream::iter([Ok(bytes::Bytes::from_static(
            bytes,
        ))]))
    }

    #[tokio::test]
    async fn a_manifest_hashes_every_file_under_its_root() {
        use sha2::Digest;
        let store =
            sextant_artifacts::ObjectArtifactStore::open(&sextant_artifacts::StoreLocation::Memory)
                .expect("memory store");
        let files: [(&str, &[u8]); 3] = [
            ("m/model.onnx", b"weights"),
            ("m/MLmodel", b"flavors"),
            ("m/sub/deep/x.bin", b""),
        ];
        for (p, b) in files {
            store.put(p, body(b)).await.expect("put");
        }
        store.put("m2/other", body(b"no")).await.expect("put");
        store.put("mx", body(b"no")).await.expect("put");
        let m = manifest_of(&store, "m").await.expect("manifest");
        assert_eq!(m.root, "m");
        let mut want: Vec<(String, String, u64)> = files
            .iter()
            .map(|(p, b)| {
                (
                    p.trim_start_matches("m/").to_owned(),
                    hex(&sha2::Sha256::digest(b)),
                    b.len() as u64,
                )
            })
            .collect();
        want.sort();
        let got: Vec<(String, String, u64)> = m
            .files
            .iter()
            .map(|f| (f.path.clone(), f.sha256.clone(), f.size))
            .collect();
        assert_eq!(got, want);
        assert_eq!(m.digest, hex(&sha2::Sha256::digest(m.lines().as_bytes())));
        // Any change of any byte changes the digest.
        store.put("m/MLmodel", body(b"flavorz")).await.expect("put");
        let changed = manifest_of(&store, "m").await.expect("manifest");
        assert_ne!(changed.digest, m.digest);
        assert_eq!(
            manifest_of(&store, "nothing").await.expect("empty").files,
            vec![]
        );
    }

    #[test]
    fn store_paths_of_sources() {
        assert_eq!(
            store_path_of("mlflow-artifacts:/1/models/m-1/artifacts").as_deref(),
            Some("1/models/m-1/artifacts")
        );
        assert_eq!(
            store_path_of("mlflow-artifacts://h:5000/1/x").as_deref(),
            Some("1/x")
        );
        assert_eq!(store_path_of("s3://bucket/x"), None);
        assert_eq!(join_path("1/r/artifacts", "/model/"), "1/r/artifacts/model");
        assert_eq!(join_path("1/r/artifacts", ""), "1/r/artifacts");
    }

    #[test]
    fn sources_name_their_run_or_model() {
        assert_eq!(runs_uri_run_id("runs:/abc/model"), Some("abc"));
        assert_eq!(logged_model_id_of("models:/m-123"), Some("m-123"));
        assert_eq!(logged_model_id_of("models:/name/1"), None);
        assert_eq!(stage("production").unwrap(), "Production");
        assert!(stage("prod").is_err());
    }
}
