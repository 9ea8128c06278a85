//! [`SqlStore`]: the one implementation of [`MetadataStore`], over either SQL backend.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use sextant_types::{
    Dataset, DatasetInput, Experiment, LifecycleStage, LoggedModel, LoggedModelData,
    LoggedModelInfo, LoggedModelMetric, LoggedModelStatus, Metric, ModelInput, ModelOutput, Param,
    Run, RunData, RunInfo, RunInputs, RunOutputs, RunStatus, Tag, WireF64, now_millis,
};

use crate::db::{CancelSlot, Db, Row, Tx, Value, placeholders, with_cancel_slot};
use crate::search_sql::{self, EXPERIMENT_COLUMNS, LOGGED_MODEL_COLUMNS, RUN_COLUMNS};
use crate::{
    ExperimentRunStats, ExperimentSearch, HistoryCursor, HistoryPage, LoggedModelSearch,
    MetadataStore, NewLoggedModel, NewRun, Page, ParamChange, Result, RunSearch, RunUpdate,
    StoreError,
};

/// The largest finite double: the SQL store keeps ±inf as ±this, as MLflow's does.
const CLAMP: f64 = f64::MAX;

/// MLflow's system tag holding a run's name.
const RUN_NAME_TAG: &str = "mlflow.runName";

/// The active runs of one experiment: one aggregate over the `runs_by_experiment` range.
pub(crate) const RUN_STATS_SQL: &str = "SELECT COUNT(*), MAX(start_time), MAX(end_time) \
     FROM runs WHERE experiment_id = ? AND lifecycle_stage = 'active'";

/// Rows per multi-row INSERT.
const INSERT_CHUNK: usize = 100;

/// The metadata store over a SQL backend.
pub struct SqlStore<D: Db> {
    db: Arc<D>,
    artifact_root: String,
}

fn join_uri(root: &str, tail: &str) -> String {
    format!("{}/{}", root.trim_end_matches('/'), tail)
}

/// How a metric value is stored: NaN as 0 with a flag, ±inf clamped.
fn stored_value(v: f64) -> (f64, i64) {
    if v.is_nan() {
        (0.0, 1)
    } else if v.is_infinite() {
        (if v > 0.0 { CLAMP } else { -CLAMP }, 0)
    } else {
        (v, 0)
    }
}

fn loaded_value(v: f64, is_nan: i64) -> WireF64 {
    WireF64(if is_nan != 0 { f64::NAN } else { v })
}

fn run_not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Run with id={id} not found"))
}

fn experiment_not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("No Experiment with id={id} exists"))
}

fn logged_model_not_found(id: &str) -> StoreError {
    StoreError::NotFound(format!("Logged model with ID '{id}' not found."))
}

fn parse_experiment_id(id: &str) -> Result<i64> {
    id.trim()
        .parse::<i64>()
        .map_err(|_| experiment_not_found(id))
}

fn experiment_from_row(r: &Row) -> Result<Experiment> {
    Ok(Experiment {
        experiment_id: r.str(0)?,
        name: r.str(1)?,
        artifact_location: r.str(2)?,
        lifecycle_stage: LifecycleStage::parse(&r.str(3)?).unwrap_or(LifecycleStage::Active),
        creation_time: r.i64(4)?,
        last_update_time: r.i64(5)?,
        tags: Vec::new(),
    })
}

fn run_info_from_row(r: &Row) -> Result<RunInfo> {
    let id = r.str(0)?;
    Ok(RunInfo {
        run_uuid: id.clone(),
        experiment_id: r.str(1)?,
        run_name: r.str(2)?,
        user_id: r.str(3)?,
        status: RunStatus::parse(&r.str(4)?).unwrap_or(RunStatus::Running),
        start_time: r.opt_i64(5)?,
        end_time: r.opt_i64(6)?,
        artifact_uri: r.str(7)?,
        lifecycle_stage: LifecycleStage::parse(&r.str(8)?).unwrap_or(LifecycleStage::Active),
        run_id: id,
    })
}

fn logged_model_info_from_row(r: &Row) -> Result<LoggedModelInfo> {
    Ok(LoggedModelInfo {
        model_id: r.str(0)?,
        experiment_id: r.str(1)?,
        name: r.str(2)?,
        artifact_uri: r.str(3)?,
        status: LoggedModelStatus::parse(&r.str(4)?).unwrap_or(LoggedModelStatus::Unspecified),
        status_message: r.opt_str(5)?,
        model_type: r.str(6)?,
        source_run_id: r.opt_str(7)?,
        creation_timestamp_ms: r.i64(8)?,
        last_updated_timestamp_ms: r.i64(9)?,
        tags: Vec::new(),
    })
}

fn get_experiment_tx(tx: &mut dyn Tx, id: i64) -> Result<Option<Experiment>> {
    let Some(row) = tx.query_opt(
        &format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments e WHERE e.experiment_id = ?"),
        &[Value::I64(id)],
    )?
    else {
        return Ok(None);
    };
    let mut exp = experiment_from_row(&row)?;
    exp.tags = experiment_tags(tx, id)?;
    Ok(Some(exp))
}

fn experiment_tags(tx: &mut dyn Tx, id: i64) -> Result<Vec<Tag>> {
    tx.query(
        "SELECT key, value FROM experiment_tags WHERE experiment_id = ? ORDER BY key",
        &[Value::I64(id)],
    )?
    .iter()
    .map(|r| Ok(Tag::new(r.str(0)?, r.str(1)?)))
    .collect()
}

fn touch_experiment(tx: &mut dyn Tx, id: i64) -> Result<()> {
    tx.exec(
        "UPDATE experiments SET last_update_time = ? WHERE experiment_id = ?",
        &[Value::I64(now_millis()), Value::I64(id)],
    )?;
    Ok(())
}

fn run_info_tx(tx: &mut dyn Tx, run_id: &str) -> Result<RunInfo> {
    let row = tx
        .query_opt(
            &format!("SELECT {RUN_COLUMNS} FROM runs r WHERE r.run_uuid = ?"),
            &[run_id.into()],
        )?
        .ok_or_else(|| run_not_found(run_id))?;
    run_info_from_row(&row)
}

/// The run, which must exist and be active (MLflow refuses writes to deleted runs).
fn active_run_tx(tx: &mut dyn Tx, run_id: &str) -> Result<RunInfo> {
    let info = run_info_tx(tx, run_id)?;
    if info.lifecycle_stage != LifecycleStage::Active {
        return Err(StoreError::InvalidState(format!(
            "The run {run_id} must be in the 'active' state. Current state is deleted."
        )));
    }
    Ok(info)
}

/// Load data, inputs and outputs for a set of runs, keeping their order.
fn load_runs(tx: &mut dyn Tx, infos: Vec<RunInfo>) -> Result<Vec<Run>> {
    let mut runs: Vec<Run> = infos
        .into_iter()
        .map(|info| Run {
            info,
            data: RunData::default(),
            inputs: RunInputs::default(),
            outputs: RunOutputs::default(),
        })
        .collect();
    let index: HashMap<String, usize> = runs
        .iter()
        .enumerate()
        .map(|(i, r)| (r.info.run_id.clone(), i))
        .collect();
    for chunk in runs
        .iter()
        .map(|r| r.info.run_id.clone())
        .collect::<Vec<_>>()
        .chunks(500)
    {
        let ids: Vec<Value> = chunk.iter().map(Value::from).collect();
        let ph = placeholders(ids.len());
        for r in tx.query(
            &format!(
                "SELECT run_uuid, key, value, timestamp, step, is_nan FROM latest_metrics \
                 WHERE run_uuid IN ({ph}) ORDER BY run_uuid, key"
            ),
            &ids,
        )? {
            if let Some(&i) = index.get(&r.str(0)?) {
                runs[i].data.metrics.push(Metric {
                    key: r.str(1)?,
                    value: loaded_value(r.f64(2)?, r.i64(5)?),
                    timestamp: r.i64(3)?,
                    step: r.i64(4)?,
                    dataset_name: None,
                    dataset_digest: None,
                    model_id: None,
                    run_id: None,
                });
            }
        }
        for (table, is_param) in [("params", true), ("tags", false)] {
            for r in tx.query(
                &format!(
                    "SELECT run_uuid, key, value FROM {table} WHERE run_uuid IN ({ph}) \
                     ORDER BY run_uuid, key"
                ),
                &ids,
            )? {
                if let Some(&i) = index.get(&r.str(0)?) {
                    let t = Tag::new(r.str(1)?, r.str(2)?);
                    if is_param {
                        runs[i].data.params.push(t);
                    } else {
                        runs[i].data.tags.push(t);
                    }
                }
            }
        }
        let mut input_tags: HashMap<(String, String), Vec<Tag>> = HashMap::new();
        for r in tx.query(
            &format!(
                "SELECT run_uuid, dataset_uuid, key, value FROM run_dataset_input_tags \
                 WHERE run_uuid IN ({ph}) ORDER BY key"
            ),
            &ids,
        )? {
            input_tags
                .entry((r.str(0)?, r.str(1)?))
                .or_default()
                .push(Tag::new(r.str(2)?, r.str(3)?));
        }
        for r in tx.query(
            &format!(
                "SELECT di.run_uuid, di.dataset_uuid, ds.name, ds.digest, ds.source_type, \
                 ds.source, ds.schema, ds.profile FROM run_dataset_inputs di JOIN datasets ds \
                 ON ds.dataset_uuid = di.dataset_uuid WHERE di.run_uuid IN ({ph}) \
                 ORDER BY di.run_uuid, di.seq"
            ),
            &ids,
        )? {
            let run_id = r.str(0)?;
            if let Some(&i) = index.get(&run_id) {
                let tags = input_tags.remove(&(run_id, r.str(1)?)).unwrap_or_default();
                runs[i].inputs.dataset_inputs.push(DatasetInput {
                    tags,
                    dataset: Dataset {
                        name: r.str(2)?,
                        digest: r.str(3)?,
                        source_type: r.str(4)?,
                        source: r.str(5)?,
                        schema: r.opt_str(6)?,
                        profile: r.opt_str(7)?,
                    },
                });
            }
        }
        for r in tx.query(
            &format!(
                "SELECT run_uuid, model_id FROM run_model_inputs WHERE run_uuid IN ({ph}) \
                 ORDER BY model_id"
            ),
            &ids,
        )? {
            if let Some(&i) = index.get(&r.str(0)?) {
                runs[i].inputs.model_inputs.push(ModelInput {
                    model_id: r.str(1)?,
                });
            }
        }
        for r in tx.query(
            &format!(
                "SELECT run_uuid, model_id, step FROM run_model_outputs WHERE run_uuid IN ({ph}) \
                 ORDER BY step, model_id"
            ),
            &ids,
        )? {
            if let Some(&i) = index.get(&r.str(0)?) {
                runs[i].outputs.model_outputs.push(ModelOutput {
                    model_id: r.str(1)?,
                    step: r.i64(2)?,
                });
            }
        }
    }
    Ok(runs)
}

fn get_run_tx(tx: &mut dyn Tx, run_id: &str) -> Result<Run> {
    let info = run_info_tx(tx, run_id)?;
    load_runs(tx, vec![info])?
        .pop()
        .ok_or_else(|| run_not_found(run_id))
}

/// Upsert run tags; a `mlflow.runName` tag renames the run, as in MLflow.
fn set_run_tags_tx(tx: &mut dyn Tx, run_id: &str, tags: &[Tag]) -> Result<()> {
    for t in tags {
        tx.exec(
            "INSERT INTO tags (run_uuid, key, value) VALUES (?, ?, ?) \
             ON CONFLICT (run_uuid, key) DO UPDATE SET value = excluded.value",
            &[
                run_id.into(),
                t.key.as_str().into(),
                t.value.as_str().into(),
            ],
        )?;
        if t.key == RUN_NAME_TAG {
            tx.exec(
                "UPDATE runs SET name = ? WHERE run_uuid = ?",
                &[t.value.as_str().into(), run_id.into()],
            )?;
        }
    }
    Ok(())
}

/// Insert params, refusing to change one already logged with another value.
fn log_params_tx(tx: &mut dyn Tx, run_id: &str, params: &[Param]) -> Result<()> {
    if params.is_empty() {
        return Ok(());
    }
    // In key order, so concurrent batches with overlapping keys lock them in one order
    // (PostgreSQL: no deadlock between two writers of the same params).
    let mut sorted: Vec<&Param> = params.iter().collect();
    sorted.sort_by(|a, b| a.key.cmp(&b.key));
    for chunk in sorted.chunks(INSERT_CHUNK) {
        let keys: Vec<Value> = std::iter::once(Value::from(run_id))
            .chain(chunk.iter().map(|p| Value::from(p.key.as_str())))
            .collect();
        let existing = tx.query(
            &format!(
                "SELECT key, value FROM params WHERE run_uuid = ? AND key IN ({})",
                placeholders(chunk.len())
            ),
            &keys,
        )?;
        let existing: HashMap<String, String> = existing
            .iter()
            .map(|r| Ok((r.str(0)?, r.str(1)?)))
            .collect::<Result<_>>()?;
        let changes: Vec<ParamChange> = chunk
            .iter()
            .filter_map(|p| {
                let old = existing.get(&p.key)?;
                (*old != p.value).then(|| ParamChange {
                    key: p.key.clone(),
                    old_value: old.clone(),
                    new_value: p.value.clone(),
                })
            })
            .collect();
        if !changes.is_empty() {
            return Err(StoreError::ParamsChanged {
                run_id: run_id.to_owned(),
                changes,
            });
        }
        let mut vals = Vec::with_capacity(chunk.len() * 3);
        for p in chunk {
            vals.push(Value::from(run_id));
            vals.push(p.key.as_str().into());
            vals.push(p.value.as_str().into());
        }
        let rows = vec!["(?, ?, ?)"; chunk.len()].join(", ");
        let inserted = tx.exec(
            &format!(
                "INSERT INTO params (run_uuid, key, value) VALUES {rows} ON CONFLICT DO NOTHING"
            ),
            &vals,
        )?;
        // A concurrent writer may have inserted some of these keys between the check above and
        // this insert (PostgreSQL, READ COMMITTED: the insert waited for it and skipped the
        // key). Read the keys again — a new statement sees what committed — and refuse a value
        // that differs, rather than acknowledging a write that was dropped.
        let expected_new = chunk.len().saturating_sub(existing.len());
        if usize::try_from(inserted).unwrap_or(usize::MAX) < expected_new {
            let now: HashMap<String, String> = tx
                .query(
                    &format!(
                        "SELECT key, value FROM params WHERE run_uuid = ? AND key IN ({})",
                        placeholders(chunk.len())
                    ),
                    &keys,
                )?
                .iter()
                .map(|r| Ok((r.str(0)?, r.str(1)?)))
                .collect::<Result<_>>()?;
            let changes: Vec<ParamChange> = chunk
                .iter()
                .filter_map(|p| {
                    let old = now.get(&p.key)?;
                    (*old != p.value).then(|| ParamChange {
                        key: p.key.clone(),
                        old_value: old.clone(),
                        new_value: p.value.clone(),
                    })
                })
                .collect();
            if !changes.is_empty() {
                return Err(StoreError::ParamsChanged {
                    run_id: run_id.to_owned(),
                    changes,
                });
            }
        }
    }
    Ok(())
}

/// The series id of each of `keys` of a run, creating the missing ones.
fn series_ids<'k>(
    tx: &mut dyn Tx,
    run_id: &str,
    keys: &[&'k str],
) -> Result<HashMap<&'k str, i64>> {
    let mut ids = HashMap::with_capacity(keys.len());
    let lookup = |tx: &mut dyn Tx, want: &[&'k str], ids: &mut HashMap<&'k str, i64>| {
        for chunk in want.chunks(INSERT_CHUNK) {
            let params: Vec<Value> = std::iter::once(Value::from(run_id))
                .chain(chunk.iter().map(|k| Value::from(*k)))
                .collect();
            let rows = tx.query(
                &format!(
                    "SELECT key, series_id FROM metric_series WHERE run_uuid = ? AND key IN ({})",
                    placeholders(chunk.len())
                ),
                &params,
            )?;
            for r in rows {
                let key = r.str(0)?;
                if let Some(k) = chunk.iter().find(|k| **k == key) {
                    ids.insert(*k, r.i64(1)?);
                }
            }
        }
        Ok::<(), StoreError>(())
    };
    lookup(tx, keys, &mut ids)?;
    let missing: Vec<&'k str> = keys
        .iter()
        .copied()
        .filter(|k| !ids.contains_key(k))
        .collect();
    if !missing.is_empty() {
        for k in &missing {
            tx.exec(
                "INSERT INTO metric_series (run_uuid, key) VALUES (?, ?) \
                 ON CONFLICT (run_uuid, key) DO NOTHING",
                &[run_id.into(), (*k).into()],
            )?;
        }
        lookup(tx, &missing, &mut ids)?;
    }
    if ids.len() != keys.len() {
        return Err(StoreError::Internal(format!(
            "metric series of run {run_id} could not be created"
        )));
    }
    Ok(ids)
}

fn log_metrics_tx(tx: &mut dyn Tx, run_id: &str, metrics: &[Metric]) -> Result<()> {
    if metrics.is_empty() {
        return Ok(());
    }
    let mut keys: Vec<&str> = metrics.iter().map(|m| m.key.as_str()).collect();
    keys.sort_unstable();
    keys.dedup();
    let series = series_ids(tx, run_id, &keys)?;
    // The latest point per key in this batch: max (step, timestamp, value).
    let mut latest: BTreeMap<&str, (i64, i64, f64, i64)> = BTreeMap::new();
    for chunk in metrics.chunks(INSERT_CHUNK) {
        let mut vals = Vec::with_capacity(chunk.len() * 8);
        for m in chunk {
            let (v, nan) = stored_value(m.value.0);
            vals.push(Value::I64(series[m.key.as_str()]));
            vals.push(Value::I64(m.timestamp));
            vals.push(Value::I64(m.step));
            vals.push(Value::F64(v));
            vals.push(Value::I64(nan));
            vals.push(m.dataset_name.clone().into());
            vals.push(m.dataset_digest.clone().into());
            vals.push(m.model_id.clone().into());
            let cand = (m.step, m.timestamp, v, nan);
            latest
                .entry(m.key.as_str())
                .and_modify(|cur| {
                    if (cand.0, cand.1, cand.2) > (cur.0, cur.1, cur.2) {
                        *cur = cand;
                    }
                })
                .or_insert(cand);
        }
        let rows = vec!["(?, ?, ?, ?, ?, ?, ?, ?)"; chunk.len()].join(", ");
        tx.exec(
            &format!(
                "INSERT INTO metric_points (series_id, timestamp, step, value, is_nan, \
                 dataset_name, dataset_digest, model_id) VALUES {rows} ON CONFLICT DO NOTHING"
            ),
            &vals,
        )?;
    }
    for (key, (step, ts, v, nan)) in latest {
        tx.exec(
            "INSERT INTO latest_metrics (run_uuid, key, step, timestamp, value, is_nan) \
             VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (run_uuid, key) DO UPDATE SET \
             step = excluded.step, timestamp = excluded.timestamp, value = excluded.value, \
             is_nan = excluded.is_nan WHERE (excluded.step, excluded.timestamp, excluded.value) \
             > (latest_metrics.step, latest_metrics.timestamp, latest_metrics.value)",
            &[
                run_id.into(),
                key.into(),
                Value::I64(step),
                Value::I64(ts),
                Value::F64(v),
                Value::I64(nan),
            ],
        )?;
    }
    Ok(())
}

fn logged_model_tx(tx: &mut dyn Tx, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
    let row = tx
        .query_opt(
            &format!(
                "SELECT {LOGGED_MODEL_COLUMNS}, lm.lifecycle_stage FROM logged_models lm \
                 WHERE lm.model_id = ?"
            ),
            &[model_id.into()],
        )?
        .ok_or_else(|| logged_model_not_found(model_id))?;
    if !allow_deleted && row.str(10)? != "active" {
        return Err(logged_model_not_found(model_id));
    }
    let info = logged_model_info_from_row(&row)?;
    let mut models = load_logged_models(tx, vec![info])?;
    models.pop().ok_or_else(|| logged_model_not_found(model_id))
}

fn load_logged_models(tx: &mut dyn Tx, infos: Vec<LoggedModelInfo>) -> Result<Vec<LoggedModel>> {
    let mut models: Vec<LoggedModel> = infos
        .into_iter()
        .map(|info| LoggedModel {
            info,
            data: LoggedModelData::default(),
        })
        .collect();
    let index: HashMap<String, usize> = models
        .iter()
        .enumerate()
        .map(|(i, m)| (m.info.model_id.clone(), i))
        .collect();
    let ids: Vec<Value> = models
        .iter()
        .map(|m| Value::from(m.info.model_id.as_str()))
        .collect();
    for chunk in ids.chunks(500) {
        let ph = placeholders(chunk.len());
        for r in tx.query(
            &format!(
                "SELECT model_id, key, value FROM logged_model_tags WHERE model_id IN ({ph}) \
                 ORDER BY key"
            ),
            chunk,
        )? {
            if let Some(&i) = index.get(&r.str(0)?) {
                models[i].info.tags.push(Tag::new(r.str(1)?, r.str(2)?));
            }
        }
        for r in tx.query(
            &format!(
                "SELECT model_id, key, value FROM logged_model_params WHERE model_id IN ({ph}) \
                 ORDER BY key"
            ),
            chunk,
        )? {
            if let Some(&i) = index.get(&r.str(0)?) {
                models[i].data.params.push(Tag::new(r.str(1)?, r.str(2)?));
            }
        }
        for r in tx.query(
            &format!(
                "SELECT model_id, key, value, is_nan, timestamp, step, run_id, dataset_name, \
                 dataset_digest FROM logged_model_metrics WHERE model_id IN ({ph}) \
                 ORDER BY key, step, timestamp"
            ),
            chunk,
        )? {
            let model_id = r.str(0)?;
            if let Some(&i) = index.get(&model_id) {
                models[i].data.metrics.push(LoggedModelMetric {
                    key: r.str(1)?,
                    value: loaded_value(r.f64(2)?, r.i64(3)?),
                    timestamp: r.i64(4)?,
                    step: r.i64(5)?,
                    run_id: r.opt_str(6)?,
                    dataset_name: r.opt_str(7)?,
                    dataset_digest: r.opt_str(8)?,
                    model_id: Some(model_id),
                });
            }
        }
    }
    Ok(models)
}

fn touch_logged_model(tx: &mut dyn Tx, model_id: &str) -> Result<()> {
    let n = tx.exec(
        "UPDATE logged_models SET last_updated_timestamp_ms = ? WHERE model_id = ? \
         AND lifecycle_stage = 'active'",
        &[Value::I64(now_millis()), model_id.into()],
    )?;
    if n == 0 {
        return Err(logged_model_not_found(model_id));
    }
    Ok(())
}

pub(crate) fn page<T>(mut items: Vec<T>, max: u64, offset: u64) -> Page<T> {
    let max_usize = usize::try_from(max).unwrap_or(usize::MAX);
    let more = items.len() > max_usize;
    items.truncate(max_usize);
    Page {
        next_offset: more.then(|| offset + items.len() as u64),
        items,
    }
}

impl<D: Db> SqlStore<D> {
    /// Wrap a backend: apply migrations and make sure the `Default` experiment exists.
    /// `artifact_root` is where experiments' artifacts go by default (e.g. `mlflow-artifacts:/`).
    pub fn new(db: D, artifact_root: &str) -> Result<Self> {
        crate::migrations::migrate(&db)?;
        let root = artifact_root.to_owned();
        db.write(|tx| {
            if tx
                .query_opt("SELECT 1 FROM experiments WHERE experiment_id = 0", &[])?
                .is_none()
            {
                let now = now_millis();
                tx.exec(
                    "INSERT INTO experiments (experiment_id, name, artifact_location, \
                     lifecycle_stage, creation_time, last_update_time) \
                     VALUES (0, 'Default', ?, 'active', ?, ?)",
                    &[
                        join_uri(&root, "0").into(),
                        Value::I64(now),
                        Value::I64(now),
                    ],
                )?;
            }
            Ok(())
        })?;
        Ok(Self {
            db: Arc::new(db),
            artifact_root: artifact_root.to_owned(),
        })
    }

    pub(crate) async fn read<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = Arc::clone(&self.db);
        // Dropping this future (the client went away) cancels the running statement.
        let slot = CancelSlot::default();
        let cancel = slot.cancel_on_drop();
        let out = tokio::task::spawn_blocking(move || with_cancel_slot(&slot, || db.read(f)))
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")));
        cancel.disarm();
        out?
    }

    pub(crate) async fn write<T: Send + 'static>(
        &self,
        f: impl FnOnce(&mut dyn Tx) -> Result<T> + Send + 'static,
    ) -> Result<T> {
        let db = Arc::clone(&self.db);
        // Dropping this future cancels the running statement; the transaction rolls back.
        let slot = CancelSlot::default();
        let cancel = slot.cancel_on_drop();
        let out = tokio::task::spawn_blocking(move || with_cancel_slot(&slot, || db.write(f)))
            .await
            .map_err(|e| StoreError::Internal(format!("store task failed: {e}")));
        cancel.disarm();
        out?
    }

    /// A write that may lose a uniqueness race on PostgreSQL: retried a few times.
    pub(crate) async fn write_retrying<T: Send + 'static>(
        &self,
        f: impl Fn(&mut dyn Tx) -> Result<T> + Send + Sync + 'static,
    ) -> Result<T> {
        let f = Arc::new(f);
        let mut attempt = 0;
        loop {
            let g = Arc::clone(&f);
            match self.write(move |tx| g(tx)).await {
                Err(StoreError::Conflict(_)) if attempt < 5 => attempt += 1,
                other => return other,
            }
        }
    }
}

#[async_trait::async_trait]
impl<D: Db> MetadataStore for SqlStore<D> {
    fn describe(&self) -> String {
        self.db.describe()
    }

    async fn create_experiment(
        &self,
        name: &str,
        artifact_location: &str,
        tags: &[Tag],
    ) -> Result<String> {
        let name = name.to_owned();
        let location = artifact_location.to_owned();
        let root = self.artifact_root.clone();
        let tags = tags.to_vec();
        self.write_retrying(move |tx| {
            if tx
                .query_opt("SELECT 1 FROM experiments WHERE name = ?", &[name.as_str().into()])?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Experiment(name={name}) already exists."
                )));
            }
            let id = tx
                .query_opt("SELECT COALESCE(MAX(experiment_id), 0) + 1 FROM experiments", &[])?
                .map_or(Ok(1), |r| r.i64(0))?;
            let location = if location.is_empty() {
                join_uri(&root, &id.to_string())
            } else {
                location.clone()
            };
            let now = now_millis();
            tx.exec(
                "INSERT INTO experiments (experiment_id, name, artifact_location, \
                 lifecycle_stage, creation_time, last_update_time) VALUES (?, ?, ?, 'active', ?, ?)",
                &[
                    Value::I64(id),
                    name.as_str().into(),
                    location.into(),
                    Value::I64(now),
                    Value::I64(now),
                ],
            )?;
            for t in &tags {
                tx.exec(
                    "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                    &[Value::I64(id), t.key.as_str().into(), t.value.as_str().into()],
                )?;
            }
            Ok(id.to_string())
        })
        .await
    }

    async fn get_experiment(&self, id: &str) -> Result<Experiment> {
        let id_str = id.to_owned();
        let id = parse_experiment_id(id)?;
        self.read(move |tx| get_experiment_tx(tx, id)?.ok_or_else(|| experiment_not_found(&id_str)))
            .await
    }

    async fn get_experiment_by_name(&self, name: &str) -> Result<Experiment> {
        let name = name.to_owned();
        self.read(move |tx| {
            let row = tx.query_opt(
                "SELECT experiment_id FROM experiments WHERE name = ?",
                &[name.as_str().into()],
            )?;
            let not_found =
                || StoreError::NotFound(format!("Could not find experiment with name '{name}'"));
            let id = row.ok_or_else(not_found)?.i64(0)?;
            get_experiment_tx(tx, id)?.ok_or_else(not_found)
        })
        .await
    }

    async fn search_experiments(&self, search: ExperimentSearch) -> Result<Page<Experiment>> {
        self.read(move |tx| {
            let sql = search_sql::experiments(tx.dialect(), &search);
            let rows = tx.query(&sql.text, &sql.params)?;
            let mut exps = rows
                .iter()
                .map(experiment_from_row)
                .collect::<Result<Vec<_>>>()?;
            let max = usize::try_from(search.max_results).unwrap_or(usize::MAX);
            for e in exps.iter_mut().take(max) {
                e.tags = experiment_tags(tx, parse_experiment_id(&e.experiment_id)?)?;
            }
            Ok(page(exps, search.max_results, search.offset))
        })
        .await
    }

    async fn rename_experiment(&self, id: &str, new_name: &str) -> Result<()> {
        let id_str = id.to_owned();
        let id = parse_experiment_id(id)?;
        let new_name = new_name.to_owned();
        self.write(move |tx| {
            let exp = get_experiment_tx(tx, id)?.ok_or_else(|| experiment_not_found(&id_str))?;
            if exp.lifecycle_stage != LifecycleStage::Active {
                return Err(StoreError::InvalidState(
                    "Cannot rename a non-active experiment.".into(),
                ));
            }
            if exp.name == new_name {
                return Ok(());
            }
            if tx
                .query_opt(
                    "SELECT 1 FROM experiments WHERE name = ?",
                    &[new_name.as_str().into()],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Experiment(name={new_name}) already exists."
                )));
            }
            tx.exec(
                "UPDATE experiments SET name = ?, last_update_time = ? WHERE experiment_id = ?",
                &[
                    new_name.as_str().into(),
                    Value::I64(now_millis()),
                    Value::I64(id),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_experiment_lifecycle(&self, id: &str, stage: LifecycleStage) -> Result<()> {
        let id_str = id.to_owned();
        let id = parse_experiment_id(id)?;
        self.write(move |tx| {
            let exp = get_experiment_tx(tx, id)?.ok_or_else(|| experiment_not_found(&id_str))?;
            if stage == LifecycleStage::Deleted && id == 0 {
                return Err(StoreError::InvalidState(
                    "Cannot delete the default experiment '0'. This is an internally reserved experiment."
                        .into(),
                ));
            }
            if stage == LifecycleStage::Active && exp.lifecycle_stage == LifecycleStage::Active {
                return Err(StoreError::InvalidState(format!(
                    "Cannot restore an active experiment. Current state is active for experiment with id={id}"
                )));
            }
            let now = now_millis();
            tx.exec(
                "UPDATE experiments SET lifecycle_stage = ?, last_update_time = ? WHERE experiment_id = ?",
                &[stage.as_str().into(), Value::I64(now), Value::I64(id)],
            )?;
            // Runs follow their experiment, as in MLflow.
            let deleted_time = (stage == LifecycleStage::Deleted).then_some(now);
            tx.exec(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE experiment_id = ?",
                &[stage.as_str().into(), deleted_time.into(), Value::I64(id)],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_experiment_tag(&self, id: &str, tag: &Tag) -> Result<()> {
        let id_str = id.to_owned();
        let id = parse_experiment_id(id)?;
        let tag = tag.clone();
        self.write(move |tx| {
            let exp = get_experiment_tx(tx, id)?.ok_or_else(|| experiment_not_found(&id_str))?;
            if exp.lifecycle_stage != LifecycleStage::Active {
                return Err(StoreError::InvalidState(format!(
                    "The experiment {id} must be in the 'active' state. Current state is deleted."
                )));
            }
            tx.exec(
                "INSERT INTO experiment_tags (experiment_id, key, value) VALUES (?, ?, ?) \
                 ON CONFLICT (experiment_id, key) DO UPDATE SET value = excluded.value",
                &[
                    Value::I64(id),
                    tag.key.as_str().into(),
                    tag.value.as_str().into(),
                ],
            )?;
            touch_experiment(tx, id)
        })
        .await
    }

    async fn delete_experiment_tag(&self, id: &str, key: &str) -> Result<()> {
        let id_str = id.to_owned();
        let id = parse_experiment_id(id)?;
        let key = key.to_owned();
        self.write(move |tx| {
            get_experiment_tx(tx, id)?.ok_or_else(|| experiment_not_found(&id_str))?;
            let n = tx.exec(
                "DELETE FROM experiment_tags WHERE experiment_id = ? AND key = ?",
                &[Value::I64(id), key.as_str().into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("No tag with name: {key}")));
            }
            touch_experiment(tx, id)
        })
        .await
    }

    async fn create_run(&self, run: NewRun) -> Result<Run> {
        self.write(move |tx| {
            let exp_id = parse_experiment_id(&run.experiment_id)?;
            let exp = get_experiment_tx(tx, exp_id)?
                .ok_or_else(|| experiment_not_found(&run.experiment_id))?;
            if exp.lifecycle_stage != LifecycleStage::Active {
                return Err(StoreError::InvalidState(format!(
                    "The experiment {exp_id} must be in the 'active' state. Current state is deleted."
                )));
            }
            let run_id = uuid::Uuid::new_v4().simple().to_string();
            let artifact_uri = join_uri(&exp.artifact_location, &format!("{run_id}/artifacts"));
            tx.exec(
                "INSERT INTO runs (run_uuid, experiment_id, name, user_id, status, start_time, \
                 end_time, artifact_uri, lifecycle_stage) VALUES (?, ?, ?, ?, 'RUNNING', ?, NULL, ?, 'active')",
                &[
                    run_id.as_str().into(),
                    Value::I64(exp_id),
                    run.run_name.as_str().into(),
                    run.user_id.as_str().into(),
                    run.start_time.into(),
                    artifact_uri.into(),
                ],
            )?;
            let mut tags = run.tags.clone();
            tags.retain(|t| t.key != RUN_NAME_TAG);
            tags.push(Tag::new(RUN_NAME_TAG, run.run_name.clone()));
            set_run_tags_tx(tx, &run_id, &tags)?;
            get_run_tx(tx, &run_id)
        })
        .await
    }

    async fn get_run(&self, run_id: &str) -> Result<Run> {
        let run_id = run_id.to_owned();
        self.read(move |tx| get_run_tx(tx, &run_id)).await
    }

    async fn update_run(&self, run_id: &str, update: RunUpdate) -> Result<RunInfo> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            active_run_tx(tx, &run_id)?;
            if let Some(status) = update.status {
                tx.exec(
                    "UPDATE runs SET status = ? WHERE run_uuid = ?",
                    &[status.as_str().into(), run_id.as_str().into()],
                )?;
            }
            if let Some(end) = update.end_time {
                tx.exec(
                    "UPDATE runs SET end_time = ? WHERE run_uuid = ?",
                    &[Value::I64(end), run_id.as_str().into()],
                )?;
            }
            if let Some(name) = update.run_name.filter(|n| !n.is_empty()) {
                set_run_tags_tx(tx, &run_id, &[Tag::new(RUN_NAME_TAG, name)])?;
            }
            run_info_tx(tx, &run_id)
        })
        .await
    }

    async fn set_run_lifecycle(&self, run_id: &str, stage: LifecycleStage) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            run_info_tx(tx, &run_id)?;
            let deleted_time = (stage == LifecycleStage::Deleted).then_some(now_millis());
            tx.exec(
                "UPDATE runs SET lifecycle_stage = ?, deleted_time = ? WHERE run_uuid = ?",
                &[
                    stage.as_str().into(),
                    deleted_time.into(),
                    run_id.as_str().into(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn log_batch(
        &self,
        run_id: &str,
        metrics: Vec<Metric>,
        params: Vec<Param>,
        tags: Vec<Tag>,
    ) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            active_run_tx(tx, &run_id)?;
            log_params_tx(tx, &run_id, &params)?;
            log_metrics_tx(tx, &run_id, &metrics)?;
            set_run_tags_tx(tx, &run_id, &tags)
        })
        .await
    }

    async fn delete_run_tag(&self, run_id: &str, key: &str) -> Result<()> {
        let run_id = run_id.to_owned();
        let key = key.to_owned();
        self.write(move |tx| {
            active_run_tx(tx, &run_id)?;
            let n = tx.exec(
                "DELETE FROM tags WHERE run_uuid = ? AND key = ?",
                &[run_id.as_str().into(), key.as_str().into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "No tag with name: {key} in run with id {run_id}"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn log_inputs(
        &self,
        run_id: &str,
        datasets: Vec<DatasetInput>,
        models: Vec<ModelInput>,
    ) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            let info = active_run_tx(tx, &run_id)?;
            let exp_id = parse_experiment_id(&info.experiment_id)?;
            for input in &datasets {
                let d = &input.dataset;
                let existing = tx.query_opt(
                    "SELECT dataset_uuid FROM datasets WHERE experiment_id = ? AND name = ? AND digest = ?",
                    &[Value::I64(exp_id), d.name.as_str().into(), d.digest.as_str().into()],
                )?;
                let dataset_uuid = match existing {
                    Some(r) => r.str(0)?,
                    None => {
                        let id = uuid::Uuid::new_v4().simple().to_string();
                        tx.exec(
                            "INSERT INTO datasets (dataset_uuid, experiment_id, name, digest, \
                             source_type, source, schema, profile) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                            &[
                                id.as_str().into(),
                                Value::I64(exp_id),
                                d.name.as_str().into(),
                                d.digest.as_str().into(),
                                d.source_type.as_str().into(),
                                d.source.as_str().into(),
                                d.schema.clone().into(),
                                d.profile.clone().into(),
                            ],
                        )?;
                        id
                    }
                };
                let seq = tx
                    .query_opt(
                        "SELECT COALESCE(MAX(seq), 0) + 1 FROM run_dataset_inputs WHERE run_uuid = ?",
                        &[run_id.as_str().into()],
                    )?
                    .map_or(Ok(1), |r| r.i64(0))?;
                tx.exec(
                    "INSERT INTO run_dataset_inputs (run_uuid, dataset_uuid, seq) VALUES (?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                    &[run_id.as_str().into(), dataset_uuid.as_str().into(), Value::I64(seq)],
                )?;
                for t in &input.tags {
                    tx.exec(
                        "INSERT INTO run_dataset_input_tags (run_uuid, dataset_uuid, key, value) \
                         VALUES (?, ?, ?, ?) ON CONFLICT (run_uuid, dataset_uuid, key) \
                         DO UPDATE SET value = excluded.value",
                        &[
                            run_id.as_str().into(),
                            dataset_uuid.as_str().into(),
                            t.key.as_str().into(),
                            t.value.as_str().into(),
                        ],
                    )?;
                }
            }
            for m in &models {
                tx.exec(
                    "INSERT INTO run_model_inputs (run_uuid, model_id) VALUES (?, ?) ON CONFLICT DO NOTHING",
                    &[run_id.as_str().into(), m.model_id.as_str().into()],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn log_outputs(&self, run_id: &str, models: Vec<ModelOutput>) -> Result<()> {
        let run_id = run_id.to_owned();
        self.write(move |tx| {
            active_run_tx(tx, &run_id)?;
            for m in &models {
                tx.exec(
                    "INSERT INTO run_model_outputs (run_uuid, model_id, step) VALUES (?, ?, ?) \
                     ON CONFLICT (run_uuid, model_id) DO UPDATE SET step = excluded.step",
                    &[
                        run_id.as_str().into(),
                        m.model_id.as_str().into(),
                        Value::I64(m.step),
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn get_metric_history(
        &self,
        run_id: &str,
        key: &str,
        max_results: u64,
        after: Option<HistoryCursor>,
    ) -> Result<HistoryPage> {
        let run_id = run_id.to_owned();
        let key = key.to_owned();
        self.read(move |tx| {
            run_info_tx(tx, &run_id)?;
            let limit = i64::try_from(max_results.saturating_add(1)).unwrap_or(i64::MAX);
            let cols = "SELECT step, timestamp, value, is_nan, dataset_name, dataset_digest, \
                        model_id FROM metric_points WHERE series_id = \
                        (SELECT series_id FROM metric_series WHERE run_uuid = ? AND key = ?)";
            let rows = match &after {
                None => tx.query(
                    &format!("{cols} ORDER BY timestamp, step, value, is_nan LIMIT ?"),
                    &[
                        run_id.as_str().into(),
                        key.as_str().into(),
                        Value::I64(limit),
                    ],
                )?,
                Some(c) => tx.query(
                    &format!(
                        "{cols} AND (timestamp, step, value, is_nan) > (?, ?, ?, ?) \
                         ORDER BY timestamp, step, value, is_nan LIMIT ?"
                    ),
                    &[
                        run_id.as_str().into(),
                        key.as_str().into(),
                        Value::I64(c.timestamp),
                        Value::I64(c.step),
                        Value::F64(c.value),
                        Value::I64(i64::from(c.is_nan)),
                        Value::I64(limit),
                    ],
                )?,
            };
            let max = usize::try_from(max_results).unwrap_or(usize::MAX);
            let more = rows.len() > max;
            let mut metrics = Vec::with_capacity(rows.len().min(max));
            let mut last = None;
            for r in rows.iter().take(max) {
                let (step, ts, v, nan) = (r.i64(0)?, r.i64(1)?, r.f64(2)?, r.i64(3)?);
                last = Some(HistoryCursor {
                    step,
                    timestamp: ts,
                    value: v,
                    is_nan: nan != 0,
                });
                metrics.push(Metric {
                    key: key.clone(),
                    value: loaded_value(v, nan),
                    timestamp: ts,
                    step,
                    dataset_name: r.opt_str(4)?,
                    dataset_digest: r.opt_str(5)?,
                    model_id: r.opt_str(6)?,
                    run_id: None,
                });
            }
            Ok(HistoryPage {
                metrics,
                next: if more { last } else { None },
            })
        })
        .await
    }

    async fn search_runs(&self, search: RunSearch) -> Result<Page<Run>> {
        self.read(move |tx| {
            let sql = search_sql::runs(tx.dialect(), &search);
            let rows = tx.query(&sql.text, &sql.params)?;
            let infos = rows
                .iter()
                .map(run_info_from_row)
                .collect::<Result<Vec<_>>>()?;
            let p = page(infos, search.max_results, search.offset);
            Ok(Page {
                items: load_runs(tx, p.items)?,
                next_offset: p.next_offset,
            })
        })
        .await
    }

    async fn create_logged_model(&self, model: NewLoggedModel) -> Result<LoggedModel> {
        self.write(move |tx| {
            let exp_id = parse_experiment_id(&model.experiment_id)?;
            let exp = get_experiment_tx(tx, exp_id)?
                .ok_or_else(|| experiment_not_found(&model.experiment_id))?;
            if let Some(run_id) = &model.source_run_id {
                run_info_tx(tx, run_id)?;
            }
            let model_id = format!("m-{}", uuid::Uuid::new_v4().simple());
            let artifact_uri = join_uri(
                &exp.artifact_location,
                &format!("models/{model_id}/artifacts"),
            );
            let now = now_millis();
            tx.exec(
                "INSERT INTO logged_models (model_id, experiment_id, name, artifact_uri, status, \
                 model_type, source_run_id, creation_timestamp_ms, last_updated_timestamp_ms) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                &[
                    model_id.as_str().into(),
                    Value::I64(exp_id),
                    model.name.as_str().into(),
                    artifact_uri.into(),
                    LoggedModelStatus::Pending.as_str().into(),
                    model.model_type.as_str().into(),
                    model.source_run_id.clone().into(),
                    Value::I64(now),
                    Value::I64(now),
                ],
            )?;
            for t in &model.tags {
                tx.exec(
                    "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    &[
                        model_id.as_str().into(),
                        t.key.as_str().into(),
                        t.value.as_str().into(),
                    ],
                )?;
            }
            for p in &model.params {
                tx.exec(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    &[
                        model_id.as_str().into(),
                        p.key.as_str().into(),
                        p.value.as_str().into(),
                    ],
                )?;
            }
            logged_model_tx(tx, &model_id, false)
        })
        .await
    }

    async fn get_logged_model(&self, model_id: &str, allow_deleted: bool) -> Result<LoggedModel> {
        let model_id = model_id.to_owned();
        self.read(move |tx| logged_model_tx(tx, &model_id, allow_deleted))
            .await
    }

    async fn finalize_logged_model(
        &self,
        model_id: &str,
        status: LoggedModelStatus,
    ) -> Result<LoggedModel> {
        let model_id = model_id.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            tx.exec(
                "UPDATE logged_models SET status = ? WHERE model_id = ?",
                &[status.as_str().into(), model_id.as_str().into()],
            )?;
            logged_model_tx(tx, &model_id, false)
        })
        .await
    }

    async fn delete_logged_model(&self, model_id: &str) -> Result<()> {
        let model_id = model_id.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            tx.exec(
                "UPDATE logged_models SET lifecycle_stage = 'deleted' WHERE model_id = ?",
                &[model_id.as_str().into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_logged_model_tags(&self, model_id: &str, tags: Vec<Tag>) -> Result<()> {
        let model_id = model_id.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            for t in &tags {
                tx.exec(
                    "INSERT INTO logged_model_tags (model_id, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    &[
                        model_id.as_str().into(),
                        t.key.as_str().into(),
                        t.value.as_str().into(),
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn delete_logged_model_tag(&self, model_id: &str, key: &str) -> Result<()> {
        let model_id = model_id.to_owned();
        let key = key.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            let n = tx.exec(
                "DELETE FROM logged_model_tags WHERE model_id = ? AND key = ?",
                &[model_id.as_str().into(), key.as_str().into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "No tag with key '{key}' found for logged model with ID '{model_id}'."
                )));
            }
            Ok(())
        })
        .await
    }

    async fn log_logged_model_params(&self, model_id: &str, params: Vec<Param>) -> Result<()> {
        let model_id = model_id.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            for p in &params {
                tx.exec(
                    "INSERT INTO logged_model_params (model_id, key, value) VALUES (?, ?, ?) \
                     ON CONFLICT (model_id, key) DO UPDATE SET value = excluded.value",
                    &[
                        model_id.as_str().into(),
                        p.key.as_str().into(),
                        p.value.as_str().into(),
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn log_logged_model_metrics(
        &self,
        model_id: &str,
        metrics: Vec<LoggedModelMetric>,
    ) -> Result<()> {
        let model_id = model_id.to_owned();
        self.write(move |tx| {
            touch_logged_model(tx, &model_id)?;
            for m in &metrics {
                let (v, nan) = stored_value(m.value.0);
                tx.exec(
                    "INSERT INTO logged_model_metrics (model_id, key, step, timestamp, value, \
                     is_nan, run_id, dataset_name, dataset_digest) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
                     ON CONFLICT DO NOTHING",
                    &[
                        model_id.as_str().into(),
                        m.key.as_str().into(),
                        Value::I64(m.step),
                        Value::I64(m.timestamp),
                        Value::F64(v),
                        Value::I64(nan),
                        m.run_id.clone().into(),
                        m.dataset_name.clone().into(),
                        m.dataset_digest.clone().into(),
                    ],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn metric_chart(&self, query: crate::ChartQuery) -> Result<crate::ChartData> {
        self.chart(query).await
    }

    async fn ping(&self, within: std::time::Duration) -> Result<()> {
        let db = Arc::clone(&self.db);
        let check = tokio::task::spawn_blocking(move || db.ping());
        match tokio::time::timeout(within, check).await {
            Ok(Ok(r)) => r,
            Ok(Err(e)) => Err(StoreError::Internal(format!("health task failed: {e}"))),
            Err(_) => Err(StoreError::Timeout(format!(
                "no answer within {} ms",
                within.as_millis()
            ))),
        }
    }

    async fn experiment_run_stats(&self, experiment_id: &str) -> Result<ExperimentRunStats> {
        let id_str = experiment_id.to_owned();
        let id = parse_experiment_id(experiment_id)?;
        self.read(move |tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM experiments WHERE experiment_id = ?",
                    &[Value::I64(id)],
                )?
                .is_none()
            {
                return Err(experiment_not_found(&id_str));
            }
            let row = tx
                .query_opt(RUN_STATS_SQL, &[Value::I64(id)])?
                .ok_or_else(|| StoreError::Internal("COUNT(*) returned no row".into()))?;
            Ok(ExperimentRunStats {
                active_runs: u64::try_from(row.i64(0)?).unwrap_or(0),
                last_start_time: row.opt_i64(1)?,
                last_end_time: row.opt_i64(2)?,
            })
        })
        .await
    }

    async fn search_logged_models(&self, search: LoggedModelSearch) -> Result<Page<LoggedModel>> {
        self.read(move |tx| {
            let sql = search_sql::logged_models(tx.dialect(), &search);
            let rows = tx.query(&sql.text, &sql.params)?;
            let infos = rows
                .iter()
                .map(logged_model_info_from_row)
                .collect::<Result<Vec<_>>>()?;
            let p = page(infos, search.max_results, search.offset);
            Ok(Page {
                items: load_logged_models(tx, p.items)?,
                next_offset: p.next_offset,
            })
        })
        .await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_stored_like_mlflow() {
        assert_eq!(stored_value(1.5), (1.5, 0));
        assert_eq!(stored_value(f64::NAN), (0.0, 1));
        assert_eq!(stored_value(f64::INFINITY), (f64::MAX, 0));
        assert_eq!(stored_value(f64::NEG_INFINITY), (-f64::MAX, 0));
        assert!(loaded_value(0.0, 1).0.is_nan());
    }

    #[test]
    fn uris_join_with_one_slash() {
        assert_eq!(join_uri("mlflow-artifacts:/", "5"), "mlflow-artifacts:/5");
        assert_eq!(
            join_uri("mlflow-artifacts:/5", "r/artifacts"),
            "mlflow-artifacts:/5/r/artifacts"
        );
    }

    #[test]
    fn run_stats_read_the_experiment_index() {
        let dir = tempfile::tempdir().expect("tempdir");
        let db = crate::sqlite::SqliteDb::open(&dir.path().join("s.db")).expect("open sqlite");
        let store = SqlStore::new(db, "mlflow-artifacts:/").expect("migrate");
        let plan = store
            .db
            .read(|tx| {
                let rows = tx.query(
                    &format!("EXPLAIN QUERY PLAN {RUN_STATS_SQL}"),
                    &[Value::I64(0)],
                )?;
                rows.iter().map(|r| r.str(3)).collect::<Result<Vec<_>>>()
            })
            .expect("query plan")
            .join("\n");
        assert!(
            plan.contains("INDEX runs_by_experiment (experiment_id=?)"),
            "the count scans the experiment's index range, not the table: {plan}"
        );
    }

    #[test]
    fn pages_know_whether_more_follow() {
        let p = page(vec![1, 2, 3], 2, 10);
        assert_eq!(p.items, vec![1, 2]);
        assert_eq!(p.next_offset, Some(12));
        let p = page(vec![1, 2], 2, 0);
        assert_eq!(p.next_offset, None);
    }
}
