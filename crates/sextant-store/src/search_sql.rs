//! Translation of parsed searches into SQL with bound parameters.
//!
//! Every condition becomes an indexed probe: `EXISTS` on the (run, key) primary keys of the
//! params/tags/latest-metrics tables, or a comparison on a `runs` column. Order-by keys become
//! `LEFT JOIN`s so runs missing the key still sort (last, as MLflow does).

use sextant_search::{
    CmpOp, Condition, DatasetField, ExperimentField, Literal, LoggedModelAttr, LoggedModelField,
    ModelVersionField, RegisteredModelField, RunAttr, RunField,
};

use crate::db::{Dialect, Value, placeholders};
use crate::registry::{ModelVersionSearch, RegisteredModelSearch};
use crate::{ExperimentSearch, LoggedModelSearch, RunSearch};

/// SQL text under construction with its parameters in text order.
#[derive(Default)]
pub(crate) struct Sql {
    pub text: String,
    pub params: Vec<Value>,
    /// Close each `EXISTS` probe with `OFFSET 0` ([`Sql::fenced`]).
    fence: bool,
}

/// PostgreSQL: with more than this many filter conditions, every `EXISTS` probe is fenced.
const FENCE_AFTER: usize = 2;

impl Sql {
    /// The SQL of a search with `conditions` filter conditions. On PostgreSQL, beyond
    /// [`FENCE_AFTER`] of them each `EXISTS` probe ends in `OFFSET 0`, which keeps it a per-row
    /// subplan (one primary-key probe per candidate row, evaluated in order and stopping at
    /// the first false) instead of being pulled up into a semi-join: the planner's join search
    /// over many semi-joins grows exponentially (measured: 4 conditions planned in 15 ms, 8 in
    /// 370 ms, 30 in 3.2 s, 200 in 18.9 s; fenced, 200 plan in 18 ms).
    fn fenced(d: Dialect, conditions: usize) -> Self {
        Self {
            fence: d == Dialect::Postgres && conditions > FENCE_AFTER,
            ..Self::default()
        }
    }

    /// Close an `EXISTS (` probe.
    fn end_probe(&mut self) {
        if self.fence {
            self.text.push_str(" OFFSET 0");
        }
        self.text.push(')');
    }

    fn push(&mut self, s: &str) {
        self.text.push_str(s);
    }
    fn bind(&mut self, v: impl Into<Value>) {
        self.params.push(v.into());
    }
    fn append(&mut self, other: Sql) {
        self.text.push_str(&other.text);
        self.params.extend(other.params);
    }
}

fn literal_value(v: &Literal) -> Value {
    match v {
        Literal::Number(n) => Value::F64(*n),
        Literal::Str(s) => Value::Text(s.clone()),
        Literal::List(_) | Literal::Null => Value::Null,
    }
}

/// Numeric literal for an integer column (times, ids): exact when integral.
fn int_literal(v: &Literal) -> Value {
    match v {
        #[expect(clippy::cast_possible_truncation, reason = "integral check just above")]
        Literal::Number(n) if n.fract() == 0.0 && n.abs() < 9.0e15 => Value::I64(*n as i64),
        Literal::Str(s) => s
            .trim()
            .parse::<i64>()
            .map_or_else(|_| Value::Text(s.clone()), Value::I64),
        other => literal_value(other),
    }
}

/// `expr OP ?` (or `IN (...)`) for a comparison on one column; binds into `sql`.
fn compare(
    sql: &mut Sql,
    d: Dialect,
    expr: &str,
    op: CmpOp,
    value: Value,
    list: Option<&[String]>,
) {
    match op {
        CmpOp::Eq | CmpOp::Ne | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge => {
            let o = match op {
                CmpOp::Eq => "=",
                CmpOp::Ne => "<>",
                CmpOp::Lt => "<",
                CmpOp::Le => "<=",
                CmpOp::Gt => ">",
                _ => ">=",
            };
            sql.push(&format!("{expr} {o} ?"));
            sql.bind(value);
        }
        CmpOp::Like => {
            sql.push(&format!("{expr} LIKE ?"));
            sql.bind(value);
        }
        CmpOp::ILike => {
            sql.push(&d.ilike(expr));
            sql.bind(value);
        }
        CmpOp::In | CmpOp::NotIn => {
            let items = list.unwrap_or(&[]);
            if items.is_empty() {
                // `x IN ()` matches nothing; `x NOT IN ()` everything.
                sql.push(if op == CmpOp::In { "1 = 0" } else { "1 = 1" });
                return;
            }
            let not = if op == CmpOp::NotIn { "NOT " } else { "" };
            sql.push(&format!("{expr} {not}IN ({})", placeholders(items.len())));
            for i in items {
                sql.bind(i.as_str());
            }
        }
        CmpOp::IsNull => sql.push(&format!("{expr} IS NULL")),
        CmpOp::IsNotNull => sql.push(&format!("{expr} IS NOT NULL")),
    }
}

fn list_of(v: &Literal) -> Option<&[String]> {
    match v {
        Literal::List(l) => Some(l),
        _ => None,
    }
}

/// A key/value side table (`params`, `tags`, `experiment_tags`, ...): `fk` is its column that
/// points at `owner`, the outer row's id column.
struct KvTable {
    table: &'static str,
    fk: &'static str,
    owner: &'static str,
}

const RUN_PARAMS: KvTable = KvTable {
    table: "params",
    fk: "run_uuid",
    owner: "r.run_uuid",
};
const RUN_TAGS: KvTable = KvTable {
    table: "tags",
    fk: "run_uuid",
    owner: "r.run_uuid",
};
const EXPERIMENT_TAGS: KvTable = KvTable {
    table: "experiment_tags",
    fk: "experiment_id",
    owner: "e.experiment_id",
};
const MODEL_PARAMS: KvTable = KvTable {
    table: "logged_model_params",
    fk: "model_id",
    owner: "lm.model_id",
};
const MODEL_TAGS: KvTable = KvTable {
    table: "logged_model_tags",
    fk: "model_id",
    owner: "lm.model_id",
};

/// A condition on a key/value side table.
fn kv_condition(
    sql: &mut Sql,
    d: Dialect,
    t: &KvTable,
    key: &str,
    cond_op: CmpOp,
    value: &Literal,
) {
    let KvTable { table, fk, owner } = t;
    let probe = format!("SELECT 1 FROM {table} kv WHERE kv.{fk} = {owner}");
    probe_condition(sql, d, &probe, key, cond_op, value, false);
}

/// `[NOT] EXISTS (probe AND kv.key = ? [AND kv.value op ?])`: a condition on the key/value rows
/// that `probe` (a `SELECT 1 FROM <table> kv WHERE <owner matches>`) finds. With
/// `ne_matches_missing`, `!=` also matches owners that lack the key.
fn probe_condition(
    sql: &mut Sql,
    d: Dialect,
    probe: &str,
    key: &str,
    op: CmpOp,
    value: &Literal,
    ne_matches_missing: bool,
) {
    match op {
        CmpOp::Ne if ne_matches_missing => {
            sql.push(&format!(
                "NOT EXISTS ({probe} AND kv.key = ? AND kv.value = ?"
            ));
            sql.end_probe();
            sql.bind(key);
            sql.bind(literal_value(value));
        }
        CmpOp::IsNull => {
            sql.push(&format!("NOT EXISTS ({probe} AND kv.key = ?"));
            sql.end_probe();
            sql.bind(key);
        }
        CmpOp::IsNotNull => {
            sql.push(&format!("EXISTS ({probe} AND kv.key = ?"));
            sql.end_probe();
            sql.bind(key);
        }
        op => {
            sql.push(&format!("EXISTS ({probe} AND kv.key = ? AND "));
            sql.bind(key);
            compare(sql, d, "kv.value", op, literal_value(value), list_of(value));
            sql.end_probe();
        }
    }
}

fn run_attr_column(a: RunAttr) -> &'static str {
    match a {
        RunAttr::RunId => "r.run_uuid",
        RunAttr::RunName => "r.name",
        RunAttr::Status => "r.status",
        RunAttr::UserId => "r.user_id",
        RunAttr::ArtifactUri => "r.artifact_uri",
        RunAttr::StartTime => "r.start_time",
        RunAttr::EndTime => "r.end_time",
    }
}

fn run_condition(sql: &mut Sql, d: Dialect, c: &Condition<RunField>) {
    match &c.field {
        RunField::Metric(key) => {
            sql.push(
                "EXISTS (SELECT 1 FROM latest_metrics lm WHERE lm.run_uuid = r.run_uuid \
                 AND lm.key = ? AND ",
            );
            sql.bind(key.as_str());
            if c.op == CmpOp::Ne {
                sql.push("(lm.is_nan = 1 OR ");
                compare(sql, d, "lm.value", c.op, literal_value(&c.value), None);
                sql.push(")");
                sql.end_probe();
            } else {
                sql.push("lm.is_nan = 0 AND ");
                compare(sql, d, "lm.value", c.op, literal_value(&c.value), None);
                sql.end_probe();
            }
        }
        RunField::Param(key) => kv_condition(sql, d, &RUN_PARAMS, key, c.op, &c.value),
        RunField::Tag(key) => kv_condition(sql, d, &RUN_TAGS, key, c.op, &c.value),
        RunField::Attr(a) => {
            let col = run_attr_column(*a);
            let v = match a {
                RunAttr::StartTime | RunAttr::EndTime => int_literal(&c.value),
                _ => literal_value(&c.value),
            };
            compare(sql, d, col, c.op, v, list_of(&c.value));
        }
        RunField::Dataset(field) => {
            sql.push(
                "EXISTS (SELECT 1 FROM run_dataset_inputs di JOIN datasets ds \
                 ON ds.dataset_uuid = di.dataset_uuid WHERE di.run_uuid = r.run_uuid AND ",
            );
            match field {
                DatasetField::Name => {
                    compare(
                        sql,
                        d,
                        "ds.name",
                        c.op,
                        literal_value(&c.value),
                        list_of(&c.value),
                    );
                }
                DatasetField::Digest => {
                    compare(
                        sql,
                        d,
                        "ds.digest",
                        c.op,
                        literal_value(&c.value),
                        list_of(&c.value),
                    );
                }
                DatasetField::Context => {
                    sql.push(
                        "EXISTS (SELECT 1 FROM run_dataset_input_tags dt WHERE \
                         dt.run_uuid = di.run_uuid AND dt.dataset_uuid = di.dataset_uuid AND \
                         dt.key = 'mlflow.data.context' AND ",
                    );
                    compare(
                        sql,
                        d,
                        "dt.value",
                        c.op,
                        literal_value(&c.value),
                        list_of(&c.value),
                    );
                    sql.end_probe();
                }
            }
            sql.end_probe();
        }
    }
}

/// The columns every run query selects, in [`crate::sql_store`]'s row order.
pub(crate) const RUN_COLUMNS: &str = "r.run_uuid, r.experiment_id, r.name, r.user_id, r.status, \
     r.start_time, r.end_time, r.artifact_uri, r.lifecycle_stage";

fn stage_in(sql: &mut Sql, col: &str, view: sextant_types::ViewType) {
    let stages = view.stages();
    sql.push(&format!("{col} IN ({})", placeholders(stages.len())));
    for s in stages {
        sql.bind(s.as_str());
    }
}

/// The filter condition, if any, that lets a run search be driven by the first order-by
/// metric's index: a comparison on that same metric that only a present, non-NaN value can
/// satisfy (`metrics.acc > 0.5 ... ORDER BY metrics.acc DESC`). Then the order-by join can be an
/// inner join, no row sorts as NaN or missing, and the database walks
/// `latest_metrics (key, value)` in order and stops after one page, instead of sorting every
/// matching run.
fn metric_driver(s: &RunSearch) -> Option<usize> {
    let RunField::Metric(key) = &s.order_by.first()?.field else {
        return None;
    };
    s.filter.iter().position(|c| {
        matches!(&c.field, RunField::Metric(k) if k == key)
            && matches!(
                c.op,
                CmpOp::Eq | CmpOp::Lt | CmpOp::Le | CmpOp::Gt | CmpOp::Ge
            )
            && matches!(c.value, Literal::Number(_))
    })
}

/// SQL selecting one page (plus one row, to know whether more follow) of a run search.
pub(crate) fn runs(d: Dialect, s: &RunSearch) -> Sql {
    let driver = metric_driver(s);
    let mut joins = Sql::default();
    let mut order: Vec<String> = Vec::new();
    let mut saw_start_time = false;
    for (i, ob) in s.order_by.iter().enumerate() {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        match &ob.field {
            RunField::Metric(_) if i == 0 && driver.is_some() => {
                // Inner-joined in FROM below: always present and never NaN.
                order.push(format!("o0.value {dir}"));
            }
            RunField::Metric(key) => {
                joins.push(&format!(
                    " LEFT JOIN latest_metrics o{i} ON o{i}.run_uuid = r.run_uuid AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!(
                    "CASE WHEN o{i}.is_nan = 1 THEN 1 WHEN o{i}.value IS NULL THEN 2 ELSE 0 END"
                ));
                order.push(format!("o{i}.value {dir}"));
            }
            RunField::Param(key) | RunField::Tag(key) => {
                let table = if matches!(ob.field, RunField::Param(_)) {
                    "params"
                } else {
                    "tags"
                };
                joins.push(&format!(
                    " LEFT JOIN {table} o{i} ON o{i}.run_uuid = r.run_uuid AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
            RunField::Attr(a) => {
                if *a == RunAttr::StartTime {
                    saw_start_time = true;
                }
                let col = run_attr_column(*a);
                order.push(format!("CASE WHEN {col} IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("{col} {dir}"));
            }
            RunField::Dataset(_) => {}
        }
    }
    if !saw_start_time {
        order.push("r.start_time DESC".into());
    }
    order.push("r.run_uuid ASC".into());

    let mut sql = Sql::fenced(d, s.filter.len());
    let driven = driver.and_then(|ci| match &s.order_by[0].field {
        RunField::Metric(key) => Some((ci, key)),
        _ => None,
    });
    if let Some((ci, key)) = driven {
        sql.push(&format!(
            "SELECT {RUN_COLUMNS} FROM latest_metrics o0 \
             JOIN runs r ON r.run_uuid = o0.run_uuid AND o0.key = ?"
        ));
        sql.bind(key.as_str());
        sql.append(joins);
        sql.push(" WHERE o0.is_nan = 0 AND ");
        let c = &s.filter[ci];
        compare(&mut sql, d, "o0.value", c.op, literal_value(&c.value), None);
        sql.push(" AND ");
    } else {
        sql.push(&format!("SELECT {RUN_COLUMNS} FROM runs r"));
        sql.append(joins);
        sql.push(" WHERE ");
    }
    let ids: Vec<i64> = s
        .experiment_ids
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    if ids.is_empty() {
        sql.push("1 = 0");
    } else {
        sql.push(&format!("r.experiment_id IN ({})", placeholders(ids.len())));
        for id in ids {
            sql.bind(id);
        }
    }
    sql.push(" AND ");
    stage_in(&mut sql, "r.lifecycle_stage", s.view);
    for (ci, c) in s.filter.iter().enumerate() {
        if Some(ci) == driver {
            continue; // already a condition on o0
        }
        sql.push(" AND ");
        run_condition(&mut sql, d, c);
    }
    sql.push(" ORDER BY ");
    sql.push(&order.join(", "));
    sql.push(" LIMIT ? OFFSET ?");
    sql.bind(i64::try_from(s.max_results + 1).unwrap_or(i64::MAX));
    sql.bind(i64::try_from(s.offset).unwrap_or(i64::MAX));
    sql
}

/// The columns every experiment query selects.
pub(crate) const EXPERIMENT_COLUMNS: &str = "e.experiment_id, e.name, e.artifact_location, e.lifecycle_stage, e.creation_time, e.last_update_time";

fn experiment_column(f: &ExperimentField, d: Dialect) -> &'static str {
    match f {
        ExperimentField::Name => "e.name",
        ExperimentField::ExperimentId => match d {
            Dialect::Sqlite => "CAST(e.experiment_id AS TEXT)",
            Dialect::Postgres => "CAST(e.experiment_id AS TEXT)",
        },
        ExperimentField::CreationTime => "e.creation_time",
        ExperimentField::LastUpdateTime => "e.last_update_time",
        ExperimentField::Tag(_) => "",
    }
}

pub(crate) fn experiments(d: Dialect, s: &ExperimentSearch) -> Sql {
    let mut joins = Sql::default();
    let mut order: Vec<String> = Vec::new();
    let mut saw_id = false;
    for (i, ob) in s.order_by.iter().enumerate() {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        match &ob.field {
            ExperimentField::Tag(key) => {
                joins.push(&format!(
                    " LEFT JOIN experiment_tags o{i} ON o{i}.experiment_id = e.experiment_id AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
            ExperimentField::ExperimentId => {
                saw_id = true;
                order.push(format!("e.experiment_id {dir}"));
            }
            f => order.push(format!("{} {dir}", experiment_column(f, d))),
        }
    }
    if s.order_by.is_empty() {
        order.push("e.creation_time DESC".into());
    }
    if !saw_id {
        order.push("e.experiment_id ASC".into());
    }
    let mut sql = Sql::fenced(d, s.filter.len());
    sql.push(&format!("SELECT {EXPERIMENT_COLUMNS} FROM experiments e"));
    sql.append(joins);
    sql.push(" WHERE ");
    stage_in(&mut sql, "e.lifecycle_stage", s.view);
    for c in &s.filter {
        sql.push(" AND ");
        match &c.field {
            ExperimentField::Tag(key) => {
                kv_condition(&mut sql, d, &EXPERIMENT_TAGS, key, c.op, &c.value)
            }
            f @ (ExperimentField::CreationTime | ExperimentField::LastUpdateTime) => {
                compare(
                    &mut sql,
                    d,
                    experiment_column(f, d),
                    c.op,
                    int_literal(&c.value),
                    None,
                );
            }
            f => {
                let v = match &c.value {
                    Literal::Number(n) => Value::Text(format_number(*n)),
                    other => literal_value(other),
                };
                compare(
                    &mut sql,
                    d,
                    experiment_column(f, d),
                    c.op,
                    v,
                    list_of(&c.value),
                );
            }
        }
    }
    sql.push(" ORDER BY ");
    sql.push(&order.join(", "));
    sql.push(" LIMIT ? OFFSET ?");
    sql.bind(i64::try_from(s.max_results + 1).unwrap_or(i64::MAX));
    sql.bind(i64::try_from(s.offset).unwrap_or(i64::MAX));
    sql
}

fn format_number(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 9.0e15 {
        format!("{n:.0}")
    } else {
        n.to_string()
    }
}

fn logged_model_attr_column(a: LoggedModelAttr) -> &'static str {
    match a {
        LoggedModelAttr::ModelId => "lm.model_id",
        LoggedModelAttr::Name => "lm.name",
        LoggedModelAttr::Status => "lm.status",
        LoggedModelAttr::ModelType => "lm.model_type",
        LoggedModelAttr::SourceRunId => "lm.source_run_id",
        LoggedModelAttr::CreationTimestamp => "lm.creation_timestamp_ms",
        LoggedModelAttr::LastUpdatedTimestamp => "lm.last_updated_timestamp_ms",
    }
}

/// The columns every logged-model query selects.
pub(crate) const LOGGED_MODEL_COLUMNS: &str = "lm.model_id, lm.experiment_id, lm.name, \
     lm.artifact_uri, lm.status, lm.status_message, lm.model_type, lm.source_run_id, \
     lm.creation_timestamp_ms, lm.last_updated_timestamp_ms";

pub(crate) fn logged_models(d: Dialect, s: &LoggedModelSearch) -> Sql {
    let mut joins = Sql::default();
    let mut order: Vec<String> = Vec::new();
    for (i, ob) in s.order_by.iter().enumerate() {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        match &ob.field {
            LoggedModelField::Attr(a) => {
                order.push(format!("{} {dir}", logged_model_attr_column(*a)))
            }
            LoggedModelField::Metric(key) => {
                joins.push(&format!(
                    " LEFT JOIN (SELECT model_id, key, MAX(value) AS value FROM logged_model_metrics \
                     GROUP BY model_id, key) o{i} ON o{i}.model_id = lm.model_id AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
            LoggedModelField::Param(key) | LoggedModelField::Tag(key) => {
                let table = if matches!(ob.field, LoggedModelField::Param(_)) {
                    "logged_model_params"
                } else {
                    "logged_model_tags"
                };
                joins.push(&format!(
                    " LEFT JOIN {table} o{i} ON o{i}.model_id = lm.model_id AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
        }
    }
    order.push("lm.creation_timestamp_ms DESC".into());
    order.push("lm.model_id ASC".into());
    let mut sql = Sql::fenced(d, s.filter.len());
    sql.push(&format!(
        "SELECT {LOGGED_MODEL_COLUMNS} FROM logged_models lm"
    ));
    sql.append(joins);
    sql.push(" WHERE lm.lifecycle_stage = 'active' AND ");
    let ids: Vec<i64> = s
        .experiment_ids
        .iter()
        .filter_map(|e| e.parse().ok())
        .collect();
    if ids.is_empty() {
        sql.push("1 = 1");
    } else {
        sql.push(&format!(
            "lm.experiment_id IN ({})",
            placeholders(ids.len())
        ));
        for id in ids {
            sql.bind(id);
        }
    }
    for c in &s.filter {
        sql.push(" AND ");
        match &c.field {
            LoggedModelField::Attr(a) => {
                let v = match a {
                    LoggedModelAttr::CreationTimestamp | LoggedModelAttr::LastUpdatedTimestamp => {
                        int_literal(&c.value)
                    }
                    _ => literal_value(&c.value),
                };
                compare(
                    &mut sql,
                    d,
                    logged_model_attr_column(*a),
                    c.op,
                    v,
                    list_of(&c.value),
                );
            }
            LoggedModelField::Metric(key) => {
                sql.push(
                    "EXISTS (SELECT 1 FROM logged_model_metrics mm WHERE mm.model_id = lm.model_id \
                     AND mm.key = ? AND mm.is_nan = 0 AND ",
                );
                sql.bind(key.as_str());
                compare(&mut sql, d, "mm.value", c.op, literal_value(&c.value), None);
                sql.end_probe();
            }
            LoggedModelField::Param(key) => {
                kv_condition(&mut sql, d, &MODEL_PARAMS, key, c.op, &c.value)
            }
            LoggedModelField::Tag(key) => {
                kv_condition(&mut sql, d, &MODEL_TAGS, key, c.op, &c.value)
            }
        }
    }
    sql.push(" ORDER BY ");
    sql.push(&order.join(", "));
    sql.push(" LIMIT ? OFFSET ?");
    sql.bind(i64::try_from(s.max_results + 1).unwrap_or(i64::MAX));
    sql.bind(i64::try_from(s.offset).unwrap_or(i64::MAX));
    sql
}

/// A condition on a registry tag table. Unlike run tags, `!=` also matches models that lack the
/// tag (MLflow's client appends ``tags.`mlflow.prompt.is_prompt` != 'true'`` to every registered
/// model search and expects untagged models back).
fn registry_tag_condition(
    sql: &mut Sql,
    d: Dialect,
    probe: &str,
    key: &str,
    op: CmpOp,
    value: &Literal,
) {
    probe_condition(sql, d, probe, key, op, value, true);
}

pub(crate) const REGISTERED_MODEL_COLUMNS: &str =
    "rm.model_key, rm.name, rm.creation_time, rm.last_updated_time, rm.description";

pub(crate) fn registered_models(d: Dialect, s: &RegisteredModelSearch) -> Sql {
    let mut order: Vec<String> = Vec::new();
    let mut saw_name = false;
    let mut joins = Sql::default();
    for (i, ob) in s.order_by.iter().enumerate() {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        match &ob.field {
            RegisteredModelField::Name => {
                saw_name = true;
                order.push(format!("rm.name {dir}"));
            }
            RegisteredModelField::CreationTimestamp => {
                order.push(format!("rm.creation_time {dir}"))
            }
            RegisteredModelField::LastUpdatedTimestamp => {
                order.push(format!("rm.last_updated_time {dir}"));
            }
            RegisteredModelField::Tag(key) => {
                joins.push(&format!(
                    " LEFT JOIN registered_model_tags o{i} ON o{i}.model_key = rm.model_key AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
        }
    }
    if !saw_name {
        order.push("rm.name ASC".into());
    }
    let mut sql = Sql::fenced(d, s.filter.len());
    sql.push(&format!(
        "SELECT {REGISTERED_MODEL_COLUMNS} FROM registered_models rm"
    ));
    sql.append(joins);
    sql.push(" WHERE 1 = 1");
    for c in &s.filter {
        sql.push(" AND ");
        match &c.field {
            RegisteredModelField::Tag(key) => registry_tag_condition(
                &mut sql,
                d,
                "SELECT 1 FROM registered_model_tags kv WHERE kv.model_key = rm.model_key",
                key,
                c.op,
                &c.value,
            ),
            RegisteredModelField::Name => compare(
                &mut sql,
                d,
                "rm.name",
                c.op,
                literal_value(&c.value),
                list_of(&c.value),
            ),
            RegisteredModelField::CreationTimestamp => {
                compare(
                    &mut sql,
                    d,
                    "rm.creation_time",
                    c.op,
                    int_literal(&c.value),
                    None,
                );
            }
            RegisteredModelField::LastUpdatedTimestamp => {
                compare(
                    &mut sql,
                    d,
                    "rm.last_updated_time",
                    c.op,
                    int_literal(&c.value),
                    None,
                );
            }
        }
    }
    sql.push(" ORDER BY ");
    sql.push(&order.join(", "));
    sql.push(" LIMIT ? OFFSET ?");
    sql.bind(i64::try_from(s.max_results + 1).unwrap_or(i64::MAX));
    sql.bind(i64::try_from(s.offset).unwrap_or(i64::MAX));
    sql
}

pub(crate) const MODEL_VERSION_COLUMNS: &str = "mv.model_key, rm.name, mv.version, \
    mv.creation_time, mv.last_updated_time, mv.description, mv.current_stage, mv.source, \
    mv.run_id, mv.run_link, mv.status, mv.model_id, mv.user_id";

pub(crate) fn model_versions(d: Dialect, s: &ModelVersionSearch) -> Sql {
    let mut order: Vec<String> = Vec::new();
    let mut joins = Sql::default();
    for (i, ob) in s.order_by.iter().enumerate() {
        let dir = if ob.ascending { "ASC" } else { "DESC" };
        match &ob.field {
            ModelVersionField::Name => order.push(format!("rm.name {dir}")),
            ModelVersionField::VersionNumber => order.push(format!("mv.version {dir}")),
            ModelVersionField::RunId => order.push(format!("mv.run_id {dir}")),
            ModelVersionField::SourcePath => order.push(format!("mv.source {dir}")),
            ModelVersionField::CreationTimestamp => order.push(format!("mv.creation_time {dir}")),
            ModelVersionField::LastUpdatedTimestamp => {
                order.push(format!("mv.last_updated_time {dir}"));
            }
            ModelVersionField::Tag(key) => {
                joins.push(&format!(
                    " LEFT JOIN model_version_tags o{i} ON o{i}.model_key = mv.model_key \
                     AND o{i}.version = mv.version AND o{i}.key = ?"
                ));
                joins.bind(key.as_str());
                order.push(format!("CASE WHEN o{i}.value IS NULL THEN 1 ELSE 0 END"));
                order.push(format!("o{i}.value {dir}"));
            }
        }
    }
    if s.order_by.is_empty() {
        // MLflow's default: most recently updated first.
        order.push("mv.last_updated_time DESC".into());
    }
    order.push("rm.name ASC".into());
    order.push("mv.version DESC".into());
    let mut sql = Sql::fenced(d, s.filter.len());
    sql.push(&format!(
        "SELECT {MODEL_VERSION_COLUMNS} FROM model_versions mv \
         JOIN registered_models rm ON rm.model_key = mv.model_key"
    ));
    sql.append(joins);
    sql.push(" WHERE mv.deleted = 0");
    for c in &s.filter {
        sql.push(" AND ");
        match &c.field {
            ModelVersionField::Tag(key) => registry_tag_condition(
                &mut sql,
                d,
                "SELECT 1 FROM model_version_tags kv WHERE kv.model_key = mv.model_key \
                 AND kv.version = mv.version",
                key,
                c.op,
                &c.value,
            ),
            ModelVersionField::VersionNumber => match (c.op, list_of(&c.value)) {
                (CmpOp::In | CmpOp::NotIn, Some(items)) if !items.is_empty() => {
                    let not = if c.op == CmpOp::NotIn { "NOT " } else { "" };
                    sql.push(&format!(
                        "mv.version {not}IN ({})",
                        placeholders(items.len())
                    ));
                    for i in items {
                        // Validation upstream admits integers only; anything else matches none.
                        sql.bind(i.trim().parse::<i64>().unwrap_or(-1));
                    }
                }
                _ => compare(&mut sql, d, "mv.version", c.op, int_literal(&c.value), None),
            },
            ModelVersionField::CreationTimestamp => {
                compare(
                    &mut sql,
                    d,
                    "mv.creation_time",
                    c.op,
                    int_literal(&c.value),
                    None,
                );
            }
            ModelVersionField::LastUpdatedTimestamp => {
                compare(
                    &mut sql,
                    d,
                    "mv.last_updated_time",
                    c.op,
                    int_literal(&c.value),
                    None,
                );
            }
            f => {
                let col = match f {
                    ModelVersionField::Name => "rm.name",
                    ModelVersionField::RunId => "mv.run_id",
                    _ => "mv.source",
                };
                compare(
                    &mut sql,
                    d,
                    col,
                    c.op,
                    literal_value(&c.value),
                    list_of(&c.value),
                );
            }
        }
    }
    sql.push(" ORDER BY ");
    sql.push(&order.join(", "));
    sql.push(" LIMIT ? OFFSET ?");
    sql.bind(i64::try_from(s.max_results + 1).unwrap_or(i64::MAX));
    sql.bind(i64::try_from(s.offset).unwrap_or(i64::MAX));
    sql
}
