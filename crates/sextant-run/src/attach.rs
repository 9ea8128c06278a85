//! Which run a command records into: a new one, an existing one (`--run-id`), or the one a
//! stable key names (`--run-key`), created on first use — exactly one even when several
//! machines start at the same moment.
//!
//! MLflow's API has no unique constraint on tags, so a key cannot be claimed with a tag. It has
//! one on experiment names: creating an experiment whose name exists fails with
//! `RESOURCE_ALREADY_EXISTS`, atomically, on `sextant server` and on `mlflow server` alike. A key
//! is claimed by creating the experiment `.sextant/run-keys/<experiment id>/<key>` with the
//! winning run's id in its tag `sextant.run_id`, in the same request:
//!
//! 1. if the claim exists, attach to the run it names;
//! 2. else create a candidate run and try to create the claim naming it;
//! 3. the one creation that succeeds wins; every other process deletes its candidate and
//!    attaches to the run the claim names.
//!
//! The claim experiment is then marked deleted so it stays out of experiment lists; a deleted
//! experiment keeps its name, so the claim holds (until someone purges deleted experiments).

use sextant_client::{Client, ClientError, LifecycleStage, NewRun, Run, Tag};

use crate::RunError;

/// Where a command's records go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A new run.
    New,
    /// An existing run, by id.
    RunId(String),
    /// The run a stable key names (created on first use).
    RunKey(String),
}

/// The tag on a claim experiment naming the run its key resolves to.
pub const CLAIM_RUN_TAG: &str = "sextant.run_id";
/// The tag on a run saying which key it was created for.
pub const RUN_KEY_TAG: &str = "sextant.run_key";

/// The claim experiment's name for `key` in experiment `experiment_id`.
pub fn claim_name(experiment_id: &str, key: &str) -> String {
    format!(".sextant/run-keys/{experiment_id}/{key}")
}

/// An existing run to attach to: it must exist and not be deleted.
pub fn existing(client: &Client, run_id: &str) -> Result<Run, RunError> {
    let run = client.get_run(run_id).map_err(|e| {
        if e.is_not_found() {
            RunError::NoSuchRun {
                run_id: run_id.to_owned(),
                server: client.base_url().to_owned(),
            }
        } else {
            e.into()
        }
    })?;
    if run.info.lifecycle_stage == LifecycleStage::Deleted {
        return Err(RunError::DeletedRun {
            run_id: run_id.to_owned(),
        });
    }
    Ok(run)
}

fn claimed_run(
    client: &Client,
    key: &str,
    claim: &sextant_client::Experiment,
) -> Result<Run, RunError> {
    let run_id = claim
        .tags
        .iter()
        .find(|t| t.key == CLAIM_RUN_TAG)
        .map(|t| t.value.clone())
        .ok_or_else(|| RunError::StaleRunKey {
            key: key.to_owned(),
            run_id: "(none: the claim has no sextant.run_id tag)".into(),
        })?;
    match existing(client, &run_id) {
        Ok(run) => Ok(run),
        Err(RunError::NoSuchRun { .. } | RunError::DeletedRun { .. }) => {
            Err(RunError::StaleRunKey {
                key: key.to_owned(),
                run_id,
            })
        }
        Err(e) => Err(e),
    }
}

/// The run `key` names in the experiment of `new`, created from `new` on first use. Returns
/// the run and whether this call created it.
pub fn resolve_key(client: &Client, key: &str, new: &NewRun) -> Result<(Run, bool), RunError> {
    let name = claim_name(&new.experiment_id, key);
    if let Some(claim) = client.get_experiment_by_name(&name)? {
        return Ok((claimed_run(client, key, &claim)?, false));
    }
    let mut candidate = new.clone();
    candidate.tags.push(Tag::new(RUN_KEY_TAG, key));
    let mine = client.create_run(&candidate)?;
    let tags = [
        Tag::new(CLAIM_RUN_TAG, mine.info.run_id.clone()),
        Tag::new(RUN_KEY_TAG, key),
        Tag::new("sextant.experiment_id", new.experiment_id.clone()),
    ];
    match client.create_experiment(&name, &tags) {
        Ok(claim_id) => {
            if let Err(e) = client.delete_experiment(&claim_id) {
                tracing::debug!(%e, "could not hide the run-key claim experiment");
            }
            Ok((mine, true))
        }
        Err(e) if e.is_already_exists() => {
            drop_candidate(client, &mine);
            let claim = client
                .get_experiment_by_name(&name)?
                .ok_or(RunError::Client(e))?;
            Ok((claimed_run(client, key, &claim)?, false))
        }
        Err(e) => {
            drop_candidate(client, &mine);
            Err(e.into())
        }
    }
}

fn drop_candidate(client: &Client, run: &Run) {
    if let Err(e) = client.delete_run(&run.info.run_id) {
        tracing::warn!(run_id = %run.info.run_id, %e, "could not delete a run that lost the run-key race");
    }
}

/// Whether an error means the server could not be reached at all.
pub fn is_unreachable(e: &RunError) -> bool {
    matches!(e, RunError::Client(ClientError::Unreachable { .. }))
}
