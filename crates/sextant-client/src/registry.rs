//! Sextant's registry review API (`/api/sextant/v1/models/...`, described in
//! `crates/sextant-server/openapi.yaml`): the models with their review counts, one model's
//! versions with review state, review decisions, check results, review reports, protected
//! aliases, promotion and the audit log — typed, for `sextant models` and tests.

use serde::{Deserialize, Serialize};
use serde_json::json;
use sextant_types::registry::{
    AuditEntry, Decision, ModelVersion, RegisteredModel, ReviewStatus, VersionReview,
};

use crate::{Client, Result, encode_segment as seg};

/// One alias of a model in the list, and whether it is protected.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AliasSummary {
    pub alias: String,
    pub version: String,
    #[serde(default)]
    pub protected: bool,
}

/// One registered model with its review counts, as `GET /models` lists it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelSummary {
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub creation_timestamp: i64,
    #[serde(default)]
    pub last_updated_timestamp: i64,
    #[serde(default)]
    pub latest_version: Option<String>,
    /// How many versions.
    #[serde(default)]
    pub versions: u64,
    #[serde(default)]
    pub pending_review: u64,
    #[serde(default)]
    pub approved: u64,
    #[serde(default)]
    pub rejected: u64,
    #[serde(default)]
    pub aliases: Vec<AliasSummary>,
    #[serde(default)]
    pub protected_aliases: Vec<String>,
}

/// A version of a model with its review status.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct VersionWithReview {
    #[serde(flatten)]
    pub version: ModelVersion,
    pub review_status: ReviewStatus,
}

/// One model, its versions with review state and its protected aliases (`GET /models/{name}`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ModelDetails {
    pub model: RegisteredModel,
    #[serde(default)]
    pub versions: Vec<VersionWithReview>,
    #[serde(default)]
    pub protected_aliases: Vec<String>,
}

#[derive(Deserialize)]
struct Models {
    #[serde(default)]
    models: Vec<ModelSummary>,
}

#[derive(Deserialize)]
struct Review {
    review: VersionReview,
}

#[derive(Deserialize)]
struct Promoted {
    model_version: ModelVersion,
}

#[derive(Deserialize)]
struct Protected {
    #[serde(default)]
    protected_aliases: Vec<String>,
}

#[derive(Deserialize)]
struct Audit {
    #[serde(default)]
    entries: Vec<AuditEntry>,
}

impl Client {
    /// Every registered model with its review counts and aliases.
    pub fn list_models(&self) -> Result<Vec<ModelSummary>> {
        Ok(self
            .sextant_call::<Models>("GET", "models", &[], None)?
            .models)
    }

    /// One model with its versions' review state and its protected aliases.
    pub fn show_model(&self, name: &str) -> Result<ModelDetails> {
        self.sextant_call("GET", &format!("models/{}", seg(name)), &[], None)
    }

    /// The review record of a version.
    pub fn get_review(&self, name: &str, version: &str) -> Result<VersionReview> {
        let path = format!("models/{}/versions/{}/review", seg(name), seg(version));
        Ok(self.sextant_call::<Review>("GET", &path, &[], None)?.review)
    }

    /// Approve or reject a version, with a comment saying why.
    pub fn decide(
        &self,
        name: &str,
        version: &str,
        decision: Decision,
        comment: &str,
        override_failed_checks: bool,
    ) -> Result<VersionReview> {
        let path = format!("models/{}/versions/{}/review", seg(name), seg(version));
        let body = json!({
            "decision": decision,
            "comment": comment,
            "override_failed_checks": override_failed_checks,
        });
        Ok(self
            .sextant_call::<Review>("POST", &path, &[], Some(&body))?
            .review)
    }

    /// Record the result of an automated check on a version.
    pub fn record_check(
        &self,
        name: &str,
        version: &str,
        check: &str,
        passed: bool,
        details: &str,
    ) -> Result<VersionReview> {
        let path = format!("models/{}/versions/{}/checks", seg(name), seg(version));
        let body = json!({ "name": check, "passed": passed, "details": details });
        Ok(self
            .sextant_call::<Review>("POST", &path, &[], Some(&body))?
            .review)
    }

    /// Link an artifact of the version's run (`path` inside its artifacts) as its review report.
    pub fn set_report(&self, name: &str, version: &str, report: &str) -> Result<VersionReview> {
        let path = format!("models/{}/versions/{}/report", seg(name), seg(version));
        let body = json!({ "path": report });
        Ok(self
            .sextant_call::<Review>("PUT", &path, &[], Some(&body))?
            .review)
    }

    /// Point `alias` at `version` (a protected alias only takes an approved version); the
    /// version it now points at.
    pub fn promote(&self, name: &str, alias: &str, version: &str) -> Result<ModelVersion> {
        let path = format!("models/{}/aliases/{}", seg(name), seg(alias));
        let body = json!({ "version": version });
        Ok(self
            .sextant_call::<Promoted>("PUT", &path, &[], Some(&body))?
            .model_version)
    }

    /// Protect `alias` (or lift its protection); the model's protected aliases afterwards.
    pub fn protect_alias(&self, name: &str, alias: &str, protect: bool) -> Result<Vec<String>> {
        let path = format!("models/{}/protected-aliases/{}", seg(name), seg(alias));
        let method = if protect { "PUT" } else { "DELETE" };
        Ok(self
            .sextant_call::<Protected>(method, &path, &[], None)?
            .protected_aliases)
    }

    /// The model's audit log (only `version`'s entries if given), oldest first.
    pub fn audit_log(&self, name: &str, version: Option<&str>) -> Result<Vec<AuditEntry>> {
        let path = format!("models/{}/audit", seg(name));
        let query: Vec<(&str, &str)> = version.map(|v| ("version", v)).into_iter().collect();
        Ok(self
            .sextant_call::<Audit>("GET", &path, &query, None)?
            .entries)
    }
}
