//! The model registry: registered models, their versions and aliases (serialised as MLflow's
//! registry API puts them on the wire), and Sextant's review layer on top — review state,
//! automated check results, protected aliases and the append-only audit log.

use serde::{Deserialize, Serialize};

use crate::Tag;

/// An alias of a registered model and the version it points at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelAlias {
    pub alias: String,
    /// The version number, as a string (MLflow's wire form).
    pub version: String,
}

/// A registered model, as MLflow's `registered-models/*` endpoints return it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RegisteredModel {
    pub name: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// The newest version in each stage.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub latest_versions: Vec<ModelVersion>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<ModelAlias>,
}

/// A model version, as MLflow's `model-versions/*` endpoints return it. The review state is
/// not part of MLflow's shape; it is served by Sextant's own API ([`VersionReview`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelVersion {
    pub name: String,
    /// The version number, as a string (MLflow's wire form).
    pub version: String,
    pub creation_timestamp: i64,
    pub last_updated_timestamp: i64,
    pub current_stage: String,
    pub description: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub run_id: String,
    pub status: String,
    pub run_link: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<Tag>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub aliases: Vec<String>,
    /// The MLflow 3 logged model behind this version, if it was registered from one. Kept for
    /// resolving the download URI; not sent on MLflow's endpoints.
    #[serde(skip)]
    pub model_id: Option<String>,
}

/// MLflow's legacy stages.
pub const STAGES: [&str; 4] = ["None", "Staging", "Production", "Archived"];

/// Canonical spelling of a stage name given in any case, as MLflow accepts it.
pub fn canonical_stage(s: &str) -> Option<&'static str> {
    STAGES.iter().copied().find(|c| c.eq_ignore_ascii_case(s))
}

/// Where a version stands in review.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReviewStatus {
    /// Every new version starts here.
    PendingReview,
    Approved,
    Rejected,
}

impl ReviewStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::PendingReview => "pending_review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "pending_review" => Some(Self::PendingReview),
            "approved" => Some(Self::Approved),
            "rejected" => Some(Self::Rejected),
            _ => None,
        }
    }

    /// How people read it ("pending review").
    pub fn label(self) -> &'static str {
        match self {
            Self::PendingReview => "pending review",
            Self::Approved => "approved",
            Self::Rejected => "rejected",
        }
    }
}

/// A reviewer's decision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Approve,
    Reject,
}

/// The latest result of one automated check on a version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckResult {
    pub name: String,
    pub passed: bool,
    #[serde(default)]
    pub details: String,
    pub recorded_by: String,
    pub recorded_at: i64,
}

/// The review record of one version.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionReview {
    pub name: String,
    pub version: String,
    pub status: ReviewStatus,
    /// Who decided, when and why (absent while pending).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_by: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_at: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// True when the approval overrode failed checks.
    #[serde(default)]
    pub overrode_failed_checks: bool,
    /// Artifact path of the review report, relative to the version's run artifacts.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub report: Option<String>,
    /// The latest result of each check.
    #[serde(default)]
    pub checks: Vec<CheckResult>,
    /// The files approved, with their SHA-256 digests, recorded when the version was approved
    /// (absent before approval, and for a version whose files this server does not store).
    /// `sextant serve` refuses a version whose files differ.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approved_files: Option<FileManifest>,
}

/// The files under a version's model artifacts and their SHA-256 digests, as approved.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileManifest {
    /// The artifact-store path the files are under (e.g. `1/models/m-abc/artifacts`).
    pub root: String,
    /// Every file, paths relative to `root`, sorted by path.
    pub files: Vec<FileDigest>,
    /// SHA-256 of the manifest's lines (`<sha256>  <path>\n`, as `sha256sum` prints them, in
    /// path order): one value naming the whole set of files.
    pub digest: String,
}

/// One approved file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileDigest {
    /// Relative to the manifest's root, `/`-separated.
    pub path: String,
    /// Lowercase hex SHA-256 of the file's bytes.
    pub sha256: String,
    pub size: u64,
}

impl FileManifest {
    /// The manifest as `sha256sum` lines, in path order; [`FileManifest::digest`] hashes this.
    pub fn lines(&self) -> String {
        let mut out = String::new();
        for f in &self.files {
            out.push_str(&f.sha256);
            out.push_str("  ");
            out.push_str(&f.path);
            out.push('\n');
        }
        out
    }

    /// The recorded file at `path`, if any.
    pub fn file(&self, path: &str) -> Option<&FileDigest> {
        self.files.iter().find(|f| f.path == path)
    }
}

/// Who did something, and how we know. `source` says where the identity came from
/// (`header`, `config`, later an authentication layer's `token`), so authentication can plug in
/// without rewriting the stored records.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Actor {
    pub name: String,
    pub source: String,
}

impl Actor {
    pub fn new(name: impl Into<String>, source: impl Into<String>) -> Self {
        Self {
            name: name.into(),
            source: source.into(),
        }
    }

    /// Whether an authentication layer vouched for this identity (source `auth:basic`,
    /// `auth:token`, `auth:session`, ...), rather than a header or a local setting anyone can
    /// choose. Separation of duties is enforced for verified actors only.
    pub fn is_verified(&self) -> bool {
        self.source.starts_with("auth:")
    }
}

/// One entry of the append-only registry audit log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    /// Increasing with time: the log's order.
    pub id: i64,
    pub timestamp: i64,
    /// The model's name when the entry was written.
    pub model: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
    /// `create_model`, `create_version`, `approve`, `reject`, `record_check`, `set_report`,
    /// `set_alias`, `delete_alias`, `protect_alias`, `unprotect_alias`, `transition_stage`,
    /// `delete_version`, `rename_model`, `delete_model`.
    pub action: String,
    pub actor: String,
    pub actor_source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
    /// Action-specific facts (alias, previous version, override, ...).
    #[serde(default)]
    pub details: serde_json::Value,
}
