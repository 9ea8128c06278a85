//! A metric downsampled for charts in SQL, on both backends: the points of one series in an
//! x range (step or timestamp) grouped into equal-width buckets, each with its first and last
//! x, min, max, count and the value of its last point. One aggregate pass and one pass for the
//! last values, so a million points never leave the database.

use crate::db::{Db, Tx, Value, placeholders};
use crate::{Result, SqlStore, StoreError};

/// What a chart's x axis measures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ChartX {
    Step,
    Timestamp,
}

impl ChartX {
    fn column(self) -> &'static str {
        match self {
            Self::Step => "step",
            Self::Timestamp => "timestamp",
        }
    }
}

/// A chart request: at most `buckets` buckets over the points with `from <= x <= to`.
#[derive(Debug, Clone)]
pub struct ChartQuery {
    pub run_id: String,
    pub key: String,
    pub x: ChartX,
    pub buckets: usize,
    pub from: Option<i64>,
    pub to: Option<i64>,
}

/// One bucket. NaN points are counted but never give `min`, `max`, `last` or `x`.
#[derive(Debug, Clone, PartialEq)]
pub struct ChartBucketRow {
    /// x of the bucket's first point.
    pub x_first: i64,
    /// x of the bucket's last non-NaN point: where the line is drawn.
    pub x: i64,
    pub min: f64,
    pub max: f64,
    /// The value of the last non-NaN point (by x, then logging time).
    pub last: f64,
    pub count: u64,
}

/// The buckets of a chart and what they summarise.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ChartData {
    /// Buckets with at least one non-NaN point, in x order. With no more points than
    /// buckets asked for, one bucket per point.
    pub buckets: Vec<ChartBucketRow>,
    /// Points in the range.
    pub total: u64,
    /// Of which NaN.
    pub nan: u64,
}

fn count(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn chart_tx(tx: &mut dyn Tx, q: &ChartQuery) -> Result<ChartData> {
    if tx
        .query_opt(
            "SELECT 1 FROM runs WHERE run_uuid = ?",
            &[q.run_id.as_str().into()],
        )?
        .is_none()
    {
        return Err(StoreError::NotFound(format!(
            "Run with id={} not found",
            q.run_id
        )));
    }
    let Some(series) = tx.query_opt(
        "SELECT series_id FROM metric_series WHERE run_uuid = ? AND key = ?",
        &[q.run_id.as_str().into(), q.key.as_str().into()],
    )?
    else {
        return Ok(ChartData::default());
    };
    let series = series.i64(0)?;
    let x = q.x.column();
    let lo_bound = q.from.unwrap_or(i64::MIN);
    let hi_bound = q.to.unwrap_or(i64::MAX);
    let range = format!("series_id = ? AND {x} >= ? AND {x} <= ?");
    let range_params = [
        Value::I64(series),
        Value::I64(lo_bound),
        Value::I64(hi_bound),
    ];
    let Some(stats) = tx.query_opt(
        &format!(
            "SELECT COUNT(*), COUNT(CASE WHEN is_nan <> 0 THEN 1 END), MIN({x}), MAX({x}) FROM metric_points \
             WHERE {range}"
        ),
        &range_params,
    )?
    else {
        return Ok(ChartData::default());
    };
    let (total, nan) = (count(stats.i64(0)?), count(stats.i64(1)?));
    let mut out = ChartData {
        buckets: Vec::new(),
        total,
        nan,
    };
    if total == 0 || q.buckets == 0 {
        return Ok(out);
    }
    let (lo, hi) = (stats.i64(2)?, stats.i64(3)?);
    let n = i64::try_from(q.buckets).unwrap_or(i64::MAX);
    let span = hi.checked_sub(lo);
    let fits = span.and_then(|s| s.checked_mul(n)).is_some();
    if total <= q.buckets as u64 {
        // One bucket per point.
        let rows = tx.query(
            &format!(
                "SELECT {x}, value FROM metric_points WHERE {range} AND is_nan = 0 \
                 ORDER BY {x}, timestamp"
            ),
            &range_params,
        )?;
        for r in rows {
            let (px, v) = (r.i64(0)?, r.f64(1)?);
            out.buckets.push(ChartBucketRow {
                x_first: px,
                x: px,
                min: v,
                max: v,
                last: v,
                count: 1,
            });
        }
        return Ok(out);
    }
    if !fits {
        return Err(StoreError::InvalidState(format!(
            "The x range {lo}..{hi} is too wide to split into {n} buckets; ask for a narrower range"
        )));
    }
    let span = span.unwrap_or(1).max(1);
    // Bucket b = floor((x - lo) * n / span), the last one closed: integer arithmetic, the
    // same on both backends (x, lo and span are integers, x >= lo).
    let bucket = format!("CASE WHEN ({x} - ?) * ? / ? >= ? THEN ? ELSE ({x} - ?) * ? / ? END");
    let mut params = vec![
        Value::I64(lo),
        Value::I64(n),
        Value::I64(span),
        Value::I64(n),
        Value::I64(n - 1),
        Value::I64(lo),
        Value::I64(n),
        Value::I64(span),
    ];
    params.extend(range_params.iter().cloned());
    let rows = tx.query(
        &format!(
            "SELECT b, MIN(px), MAX(CASE WHEN is_nan = 0 THEN px END), \
             MIN(CASE WHEN is_nan = 0 THEN value END), MAX(CASE WHEN is_nan = 0 THEN value END), \
             COUNT(*) \
             FROM (SELECT {bucket} AS b, {x} AS px, value, is_nan FROM metric_points \
                   WHERE {range}) pts \
             GROUP BY b ORDER BY b"
        ),
        &params,
    )?;
    let mut pending = Vec::with_capacity(rows.len());
    for r in rows {
        let Some(last_x) = r.opt_i64(2)? else {
            continue; // only NaN in this bucket
        };
        pending.push(ChartBucketRow {
            x_first: r.i64(1)?,
            x: last_x,
            min: r.f64(3)?,
            max: r.f64(4)?,
            last: f64::NAN,
            count: count(r.i64(5)?),
        });
    }
    // The last value of each bucket: the latest-logged non-NaN point at its last x.
    let mut lasts = std::collections::HashMap::with_capacity(pending.len());
    for chunk in pending.chunks(500) {
        let mut params = range_params.to_vec();
        params.extend(chunk.iter().map(|b| Value::I64(b.x)));
        let rows = tx.query(
            &format!(
                "SELECT {x}, value FROM metric_points WHERE {range} AND is_nan = 0 \
                 AND {x} IN ({}) ORDER BY {x}, timestamp",
                placeholders(chunk.len())
            ),
            &params,
        )?;
        for r in rows {
            lasts.insert(r.i64(0)?, r.f64(1)?);
        }
    }
    for mut b in pending {
        if let Some(v) = lasts.get(&b.x) {
            b.last = *v;
            out.buckets.push(b);
        }
    }
    Ok(out)
}

impl<D: Db> SqlStore<D> {
    /// See [`crate::MetadataStore::metric_chart`].
    pub(crate) async fn chart(&self, q: ChartQuery) -> Result<ChartData> {
        self.read(move |tx| chart_tx(tx, &q)).await
    }
}
