//! What the web UI needs beyond MLflow's API, under `/api/sextant/v1`: a metric downsampled
//! on the server for charts (min/max per bucket, so spikes show at any zoom) and per-experiment
//! run counts (one SQL count each) with the last activity. Documented in `openapi.yaml`.

use axum::extract::{Path, State};
use serde_json::{Value, json};
use sextant_core::tracking::{ChartAxis, MAX_CHART_POINTS};

use super::JsonResult;
use crate::AppState;
use crate::error::ApiError;
use crate::request::Msg;

/// Buckets drawn when the request does not say.
const DEFAULT_CHART_POINTS: usize = 1000;

/// Experiments summarised per request.
const MAX_SUMMARY_EXPERIMENTS: usize = 100;

fn opt_f64(m: &Msg, name: &str) -> Result<Option<f64>, ApiError> {
    match m.opt_str(name)?.filter(|s| !s.trim().is_empty()) {
        None => Ok(None),
        Some(s) => s
            .trim()
            .parse::<f64>()
            .ok()
            .filter(|v| v.is_finite())
            .map(Some)
            .ok_or_else(|| {
                ApiError::invalid(format!(
                    "Invalid value '{s}' for parameter '{name}': expected a finite number"
                ))
            }),
    }
}

fn finite(v: f64) -> Value {
    if v.is_finite() {
        json!(v)
    } else {
        json!(v.to_string())
    }
}

/// `GET /runs/{run_id}/chart?key=..&points=N&x=step|time&from=..&to=..`: one metric of one
/// run in at most `points` buckets `{x, x_first, min, max, last, count}`.
pub async fn metric_chart(
    State(s): State<AppState>,
    Path(run_id): Path<String>,
    m: Msg,
) -> JsonResult {
    let key = m.str("key")?;
    let points = match m.opt_i64("points")? {
        None => DEFAULT_CHART_POINTS,
        Some(n) if n >= 1 && n.unsigned_abs() <= MAX_CHART_POINTS as u64 => {
            usize::try_from(n).unwrap_or(DEFAULT_CHART_POINTS)
        }
        Some(n) => {
            return Err(ApiError::invalid(format!(
                "Invalid value {n} for parameter 'points': it must be between 1 and \
                 {MAX_CHART_POINTS}"
            )));
        }
    };
    let axis = ChartAxis::parse(m.opt_str("x")?.as_deref().unwrap_or("step"))?;
    let from = opt_f64(&m, "from")?;
    let to = opt_f64(&m, "to")?;
    let chart = s
        .tracking
        .metric_chart(&run_id, &key, points, axis, from, to)
        .await?;
    let buckets: Vec<Value> = chart
        .buckets
        .iter()
        .map(|b| {
            json!({
                "x": b.x, "x_first": b.x_first, "min": finite(b.min), "max": finite(b.max),
                "last": finite(b.last), "count": b.count,
            })
        })
        .collect();
    Ok(axum::Json(json!({
        "run_id": run_id,
        "key": key,
        "x": match axis { ChartAxis::Step => "step", ChartAxis::Time => "time" },
        "total_points": chart.total_points,
        "nan_points": chart.nan_points,
        "buckets": buckets,
    })))
}

/// `GET /experiments/summary?experiment_id=..&experiment_id=..`: per experiment the number of
/// active runs (counted in SQL, exact) and the last activity. `more` is always false: it
/// stays for clients of the earlier capped count.
pub async fn experiment_summaries(State(s): State<AppState>, m: Msg) -> JsonResult {
    let ids = m.str_list("experiment_id")?;
    if ids.len() > MAX_SUMMARY_EXPERIMENTS {
        return Err(ApiError::invalid(format!(
            "At most {MAX_SUMMARY_EXPERIMENTS} experiment_id values per request, got {}",
            ids.len()
        )));
    }
    let mut out = Vec::with_capacity(ids.len());
    for id in &ids {
        let sm = s.tracking.experiment_summary(id).await?;
        out.push(json!({
            "experiment_id": sm.experiment_id,
            "run_count": sm.run_count,
            "more": false,
            "last_activity": sm.last_activity,
        }));
    }
    Ok(axum::Json(json!({ "summaries": out })))
}
