//! A conformance suite every [`MetadataStore`] backend must pass.
//!
//! The integration tests run it against SQLite always and against PostgreSQL whenever
//! `SEXTANT_TEST_PG_URI` names a server (`.ci/run` always starts one). Each check panics with a
//! message naming the broken rule.

use sextant_search::{CmpOp, parse_run_filter, parse_run_order_by};
use sextant_types::{LifecycleStage, Metric, RunStatus, Tag, ViewType, WireF64};

use crate::{ExperimentSearch, MetadataStore, NewRun, RunSearch, RunUpdate, StoreError};

fn metric(key: &str, value: f64, step: i64, ts: i64) -> Metric {
    Metric {
        key: key.into(),
        value: WireF64(value),
        timestamp: ts,
        step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    }
}

async fn new_run(store: &dyn MetadataStore, exp: &str, name: &str, start: i64) -> String {
    store
        .create_run(NewRun {
            experiment_id: exp.into(),
            user_id: "tester".into(),
            run_name: name.into(),
            start_time: Some(start),
            tags: vec![],
        })
        .await
        .expect("create_run succeeds")
        .info
        .run_id
}

/// Run every check. `prefix` keeps names unique when several suites share one database.
pub async fn run_all(store: &dyn MetadataStore, prefix: &str) {
    default_experiment(store).await;
    experiments(store, prefix).await;
    runs_and_batches(store, prefix).await;
    history_paging(store, prefix).await;
    search(store, prefix).await;
    search_ordered_by_filtered_metric(store, prefix).await;
    charts(store, prefix).await;
    run_stats(store, prefix).await;
}

pub async fn default_experiment(store: &dyn MetadataStore) {
    let e = store
        .get_experiment("0")
        .await
        .expect("experiment 0 exists");
    assert_eq!(e.name, "Default");
    assert_eq!(e.lifecycle_stage, LifecycleStage::Active);
}

pub async fn experiments(store: &dyn MetadataStore, prefix: &str) {
    let name = format!("{prefix}-exp");
    let id = store
        .create_experiment(&name, "", &[Tag::new("team", "a")])
        .await
        .expect("create experiment");
    let e = store.get_experiment(&id).await.expect("get experiment");
    assert_eq!(e.name, name);
    assert_eq!(e.tags, vec![Tag::new("team", "a")]);
    assert!(e.artifact_location.ends_with(&format!("/{id}")));
    match store.create_experiment(&name, "", &[]).await {
        Err(StoreError::AlreadyExists(_)) => {}
        other => panic!("duplicate experiment name must be AlreadyExists, got {other:?}"),
    }
    store
        .rename_experiment(&id, &format!("{name}-renamed"))
        .await
        .expect("rename");
    let by_name = store
        .get_experiment_by_name(&format!("{name}-renamed"))
        .await
        .expect("get by new name");
    assert_eq!(by_name.experiment_id, id);
    store
        .set_experiment_lifecycle(&id, LifecycleStage::Deleted)
        .await
        .expect("delete");
    let deleted = store
        .search_experiments(ExperimentSearch {
            filter: vec![],
            order_by: vec![],
            view: ViewType::DeletedOnly,
            max_results: 1000,
            offset: 0,
        })
        .await
        .expect("search deleted");
    assert!(deleted.items.iter().any(|e| e.experiment_id == id));
    store
        .set_experiment_lifecycle(&id, LifecycleStage::Active)
        .await
        .expect("restore");
    match store.get_experiment("987654321").await {
        Err(StoreError::NotFound(m)) => assert_eq!(m, "No Experiment with id=987654321 exists"),
        other => panic!("missing experiment must be NotFound, got {other:?}"),
    }
}

pub async fn runs_and_batches(store: &dyn MetadataStore, prefix: &str) {
    let exp = store
        .create_experiment(&format!("{prefix}-runs"), "", &[])
        .await
        .expect("create experiment");
    let run_id = new_run(store, &exp, "r1", 1000).await;
    store
        .log_batch(
            &run_id,
            vec![
                metric("loss", 1.0, 0, 10),
                metric("loss", 0.5, 1, 11),
                metric("nan", f64::NAN, 0, 10),
                metric("inf", f64::INFINITY, 0, 10),
            ],
            vec![Tag::new("lr", "0.1")],
            vec![Tag::new("team", "x")],
        )
        .await
        .expect("log batch");
    // A failing batch stores nothing.
    let err = store
        .log_batch(
            &run_id,
            vec![metric("other", 3.0, 0, 10)],
            vec![Tag::new("lr", "0.2")],
            vec![Tag::new("t2", "v")],
        )
        .await;
    assert!(
        matches!(err, Err(StoreError::ParamsChanged { ref changes, .. }) if changes.len() == 1 && changes[0].key == "lr"),
        "changing a param must fail, got {err:?}"
    );
    let run = store.get_run(&run_id).await.expect("get run");
    assert!(
        run.data.metrics.iter().all(|m| m.key != "other"),
        "failed batch leaked a metric"
    );
    assert!(
        run.data.tags.iter().all(|t| t.key != "t2"),
        "failed batch leaked a tag"
    );
    let loss = run
        .data
        .metrics
        .iter()
        .find(|m| m.key == "loss")
        .expect("loss");
    assert_eq!(
        (loss.value.0, loss.step),
        (0.5, 1),
        "latest metric is max step"
    );
    let nan = run
        .data
        .metrics
        .iter()
        .find(|m| m.key == "nan")
        .expect("nan");
    assert!(nan.value.0.is_nan());
    let inf = run
        .data
        .metrics
        .iter()
        .find(|m| m.key == "inf")
        .expect("inf");
    assert_eq!(inf.value.0, f64::MAX);
    assert!(run.data.tags.contains(&Tag::new("mlflow.runName", "r1")));
    // Same param value again is fine.
    store
        .log_batch(&run_id, vec![], vec![Tag::new("lr", "0.1")], vec![])
        .await
        .expect("re-log same param");
    let info = store
        .update_run(
            &run_id,
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(2000),
                run_name: Some("renamed".into()),
            },
        )
        .await
        .expect("update run");
    assert_eq!(info.status, RunStatus::Finished);
    assert_eq!(info.run_name, "renamed");
    store
        .delete_run_tag(&run_id, "team")
        .await
        .expect("delete tag");
    store
        .set_run_lifecycle(&run_id, LifecycleStage::Deleted)
        .await
        .expect("delete run");
    assert!(matches!(
        store
            .log_batch(&run_id, vec![metric("x", 1.0, 0, 0)], vec![], vec![])
            .await,
        Err(StoreError::InvalidState(_))
    ));
    match store.get_run("nope").await {
        Err(StoreError::NotFound(m)) => assert_eq!(m, "Run with id=nope not found"),
        other => panic!("missing run must be NotFound, got {other:?}"),
    }
}

pub async fn history_paging(store: &dyn MetadataStore, prefix: &str) {
    let exp = store
        .create_experiment(&format!("{prefix}-history"), "", &[])
        .await
        .expect("create experiment");
    let run_id = new_run(store, &exp, "h", 1).await;
    let n = 2_500;
    for chunk in (0..n).collect::<Vec<i64>>().chunks(1000) {
        let ms: Vec<Metric> = chunk
            .iter()
            .rev()
            .map(|&i| {
                #[expect(clippy::cast_precision_loss, reason = "small test values")]
                let v = i as f64;
                metric("m", v, i, 100)
            })
            .collect();
        store
            .log_batch(&run_id, ms, vec![], vec![])
            .await
            .expect("log");
    }
    let mut seen = Vec::new();
    let mut cursor = None;
    loop {
        let page = store
            .get_metric_history(&run_id, "m", 1000, cursor)
            .await
            .expect("history");
        seen.extend(page.metrics.iter().map(|m| m.step));
        match page.next {
            Some(c) => cursor = Some(c),
            None => break,
        }
    }
    assert_eq!(
        seen,
        (0..n).collect::<Vec<_>>(),
        "history in step order, every point once"
    );

    // MLflow's order is (timestamp, step, value): an earlier timestamp wins over a lower step.
    store
        .log_batch(
            &run_id,
            vec![
                metric("o", 3.0, 0, 30),
                metric("o", 2.0, 0, 20),
                metric("o", 1.0, 5, 10),
                metric("o", 0.5, 0, 20),
            ],
            vec![],
            vec![],
        )
        .await
        .expect("log");
    let page = store
        .get_metric_history(&run_id, "o", 10, None)
        .await
        .expect("history");
    let got: Vec<(i64, i64)> = page.metrics.iter().map(|m| (m.timestamp, m.step)).collect();
    assert_eq!(got, vec![(10, 5), (20, 0), (20, 0), (30, 0)]);
    assert_eq!(
        page.metrics[1].value.0, 0.5,
        "equal timestamp and step: by value"
    );
}

pub async fn search(store: &dyn MetadataStore, prefix: &str) {
    let exp = store
        .create_experiment(&format!("{prefix}-search"), "", &[])
        .await
        .expect("create experiment");
    let mut ids = Vec::new();
    for i in 0..5_i64 {
        let id = new_run(store, &exp, &format!("run-{i}"), 1000 + i).await;
        #[expect(clippy::cast_precision_loss, reason = "small test values")]
        let v = i as f64;
        let metrics = if i == 4 {
            vec![]
        } else {
            vec![metric("acc", v / 10.0, 0, 1)]
        };
        store
            .log_batch(
                &id,
                metrics,
                vec![Tag::new("opt", if i % 2 == 0 { "adam" } else { "sgd" })],
                vec![],
            )
            .await
            .expect("log");
        ids.push(id);
    }
    let search = |filter: &str, order: &[&str], max: u64, offset: u64| RunSearch {
        experiment_ids: vec![exp.clone()],
        filter: parse_run_filter(filter).expect("valid filter"),
        order_by: order
            .iter()
            .map(|o| parse_run_order_by(o).expect("valid order"))
            .collect(),
        view: ViewType::ActiveOnly,
        max_results: max,
        offset,
    };
    let names = |runs: &[sextant_types::Run]| -> Vec<String> {
        runs.iter().map(|r| r.info.run_name.clone()).collect()
    };
    let all = store
        .search_runs(search("", &[], 100, 0))
        .await
        .expect("search");
    assert_eq!(
        names(&all.items),
        ["run-4", "run-3", "run-2", "run-1", "run-0"]
    );
    let r = store
        .search_runs(search(
            "metrics.acc > 0.15 and params.opt = 'adam'",
            &[],
            100,
            0,
        ))
        .await
        .expect("search");
    assert_eq!(names(&r.items), ["run-2"]);
    let r = store
        .search_runs(search("", &["metrics.acc ASC"], 100, 0))
        .await
        .expect("search");
    assert_eq!(
        names(&r.items),
        ["run-0", "run-1", "run-2", "run-3", "run-4"],
        "nulls last"
    );
    let r = store
        .search_runs(search("", &["metrics.acc DESC"], 100, 0))
        .await
        .expect("search");
    assert_eq!(
        names(&r.items),
        ["run-3", "run-2", "run-1", "run-0", "run-4"],
        "nulls last"
    );
    let p1 = store
        .search_runs(search("", &[], 2, 0))
        .await
        .expect("page 1");
    assert_eq!(p1.next_offset, Some(2));
    let p3 = store
        .search_runs(search("", &[], 2, 4))
        .await
        .expect("page 3");
    assert_eq!(names(&p3.items), ["run-0"]);
    assert_eq!(p3.next_offset, None);
    let r = store
        .search_runs(search(
            "params.opt LIKE 'ad%' and attributes.run_name != 'run-0'",
            &[],
            100,
            0,
        ))
        .await
        .expect("search");
    assert_eq!(names(&r.items), ["run-4", "run-2"]);
    let r = store
        .search_runs(search("params.opt LIKE 'AD%'", &[], 100, 0))
        .await
        .expect("search");
    assert!(r.items.is_empty(), "LIKE is case-sensitive");
    let r = store
        .search_runs(search("params.opt ILIKE 'AD%'", &[], 100, 0))
        .await
        .expect("search");
    assert_eq!(r.items.len(), 3);
    let filter = format!("attributes.run_id IN ('{}', '{}')", ids[0], ids[1]);
    let r = store
        .search_runs(search(&filter, &[], 100, 0))
        .await
        .expect("search");
    assert_eq!(names(&r.items), ["run-1", "run-0"]);
}

/// A filter on the metric the search is ordered by (`metrics.acc > x ORDER BY metrics.acc`):
/// the stores walk that metric's index instead of sorting every run, so check the answer
/// against a brute-force one, with ties (broken by start time, then run id), NaN and missing
/// values, deleted runs, another experiment's runs, a second order key and every page.
pub async fn search_ordered_by_filtered_metric(store: &dyn MetadataStore, prefix: &str) {
    let exp = store
        .create_experiment(&format!("{prefix}-search-driven"), "", &[])
        .await
        .expect("create experiment");
    let other = store
        .create_experiment(&format!("{prefix}-search-driven-other"), "", &[])
        .await
        .expect("create experiment");
    // (name, start, acc, opt, deleted): acc None = never logged.
    let vals = [0.1, 0.5, 0.5, f64::NAN, 0.9, 0.2, 0.5, 0.7, 0.3, 0.5];
    let mut rows = Vec::new();
    for (i, v) in vals.iter().enumerate() {
        let i = i64::try_from(i).expect("small");
        let name = format!("r{i}");
        let start = 5000 - (i % 4) * 10; // repeated start times: ties go to the run id
        let acc = if i == 8 { None } else { Some(*v) };
        let opt = if i % 3 == 0 { "sgd" } else { "adam" };
        let id = new_run(store, &exp, &name, start).await;
        let metrics = acc
            .map(|a| vec![metric("acc", a, 0, 1)])
            .unwrap_or_default();
        store
            .log_batch(&id, metrics, vec![Tag::new("opt", opt)], vec![])
            .await
            .expect("log");
        let deleted = i == 6;
        if deleted {
            store
                .set_run_lifecycle(&id, LifecycleStage::Deleted)
                .await
                .expect("delete");
        }
        rows.push((name, start, acc, opt, deleted, id));
    }
    let stray = new_run(store, &other, "stray", 1).await;
    store
        .log_batch(&stray, vec![metric("acc", 0.95, 0, 1)], vec![], vec![])
        .await
        .expect("log");

    let cases: [(&str, &[&str]); 6] = [
        ("metrics.acc > 0.15", &["metrics.acc DESC"]),
        ("metrics.acc >= 0.5", &["metrics.acc ASC"]),
        (
            "metrics.acc < 0.8 and params.opt = 'adam'",
            &["metrics.acc DESC"],
        ),
        ("metrics.acc = 0.5", &["metrics.acc DESC", "params.opt ASC"]),
        (
            "metrics.acc <= 0.5",
            &["metrics.acc DESC", "attributes.run_name DESC"],
        ),
        ("metrics.acc > 2", &["metrics.acc DESC"]),
    ];
    for (filter, order) in cases {
        let conds = parse_run_filter(filter).expect("valid filter");
        let order_by: Vec<_> = order
            .iter()
            .map(|o| parse_run_order_by(o).expect("valid order"))
            .collect();
        // Brute force: the rows the filter keeps, sorted by the order keys, then start time
        // (newest first), then run id.
        let keep = |acc: Option<f64>, opt: &str| -> bool {
            conds.iter().all(|c| {
                let sextant_search::Literal::Number(x) = c.value else {
                    return match &c.field {
                        sextant_search::RunField::Param(_) => {
                            matches!(&c.value, sextant_search::Literal::Str(s) if s == opt)
                        }
                        _ => unreachable!("test filters use numbers and strings"),
                    };
                };
                let Some(a) = acc.filter(|a| !a.is_nan()) else {
                    return false;
                };
                match c.op {
                    CmpOp::Gt => a > x,
                    CmpOp::Ge => a >= x,
                    CmpOp::Lt => a < x,
                    CmpOp::Le => a <= x,
                    CmpOp::Eq => a == x,
                    _ => unreachable!("test filters use comparisons"),
                }
            })
        };
        let mut want: Vec<_> = rows.iter().filter(|r| !r.4 && keep(r.2, r.3)).collect();
        want.sort_by(|a, b| {
            let mut ord = std::cmp::Ordering::Equal;
            for o in order {
                let k = match *o {
                    "metrics.acc DESC" => b.2.partial_cmp(&a.2).expect("no NaN kept"),
                    "metrics.acc ASC" => a.2.partial_cmp(&b.2).expect("no NaN kept"),
                    "params.opt ASC" => a.3.cmp(b.3),
                    "attributes.run_name DESC" => b.0.cmp(&a.0),
                    _ => unreachable!(),
                };
                ord = ord.then(k);
            }
            ord.then(b.1.cmp(&a.1)).then(a.5.cmp(&b.5))
        });
        let want: Vec<String> = want.iter().map(|r| r.0.clone()).collect();
        for page in [1_u64, 2, 3, 100] {
            let mut got = Vec::new();
            let mut offset = 0;
            loop {
                let p = store
                    .search_runs(RunSearch {
                        experiment_ids: vec![exp.clone()],
                        filter: conds.clone(),
                        order_by: order_by.clone(),
                        view: ViewType::ActiveOnly,
                        max_results: page,
                        offset,
                    })
                    .await
                    .expect("search");
                got.extend(p.items.iter().map(|r| r.info.run_name.clone()));
                match p.next_offset {
                    Some(n) => offset = n,
                    None => break,
                }
            }
            assert_eq!(got, want, "{filter} ORDER BY {order:?}, pages of {page}");
        }
    }
}

/// The chart buckets a brute-force pass over `(step, ts, value)` points gives: what
/// [`MetadataStore::metric_chart`] must return for steps in `[from, to]` and `n` buckets.
fn expected_chart(points: &[(i64, i64, f64)], n: usize, from: i64, to: i64) -> crate::ChartData {
    let mut pts: Vec<(i64, i64, f64)> = points
        .iter()
        .copied()
        .filter(|p| p.0 >= from && p.0 <= to)
        .collect();
    pts.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.cmp(&b.1)));
    let mut out = crate::ChartData {
        total: pts.len() as u64,
        nan: pts.iter().filter(|p| p.2.is_nan()).count() as u64,
        buckets: Vec::new(),
    };
    let (Some(first), Some(last)) = (pts.first(), pts.last()) else {
        return out;
    };
    let (lo, span) = (first.0, (last.0 - first.0).max(1));
    let per_point = pts.len() <= n;
    let n = n as i64;
    let mut current: Option<(i64, crate::ChartBucketRow)> = None;
    for (i, &(x, _, v)) in pts.iter().enumerate() {
        if per_point && v.is_nan() {
            continue;
        }
        let b = if per_point {
            i as i64
        } else {
            ((x - lo) * n / span).min(n - 1)
        };
        if current.as_ref().is_none_or(|c| c.0 != b) {
            if let Some((_, done)) = current.take() {
                if !done.last.is_nan() {
                    out.buckets.push(done);
                }
            }
            current = Some((
                b,
                crate::ChartBucketRow {
                    x_first: x,
                    x,
                    min: f64::NAN,
                    max: f64::NAN,
                    last: f64::NAN,
                    count: 0,
                },
            ));
        }
        if let Some((_, c)) = current.as_mut() {
            c.count += 1;
            if !v.is_nan() {
                c.x = x;
                c.last = v;
                c.min = if c.min.is_nan() { v } else { c.min.min(v) };
                c.max = if c.max.is_nan() { v } else { c.max.max(v) };
            }
        }
    }
    if let Some((_, done)) = current {
        if !done.last.is_nan() {
            out.buckets.push(done);
        }
    }
    out
}

pub async fn charts(store: &dyn MetadataStore, prefix: &str) {
    use crate::{ChartQuery, ChartX};
    let exp = store
        .create_experiment(&format!("{prefix}-charts"), "", &[])
        .await
        .expect("create experiment");
    let run_id = new_run(store, &exp, "c", 1).await;
    // 5,000 steps of a saw-tooth, a spike, NaNs (one bucket of NaN only), a step logged twice.
    let mut points: Vec<(i64, i64, f64)> = (0..5_000_i64)
        .map(|s| {
            #[expect(clippy::cast_precision_loss, reason = "small test values")]
            let v = (s % 37) as f64 / 10.0;
            (s, 10_000 + s, v)
        })
        .collect();
    points[2_718].2 = 1e6;
    for p in &mut points[4_000..4_060] {
        p.2 = f64::NAN;
    }
    points.push((1_234, 99_999, -5.0)); // logged later at the same step: the last value
    for chunk in points.chunks(1000) {
        let ms = chunk
            .iter()
            .map(|&(s, ts, v)| metric("m", v, s, ts))
            .collect();
        store
            .log_batch(&run_id, ms, vec![], vec![])
            .await
            .expect("log");
    }
    let ask = |x, buckets, from, to| ChartQuery {
        run_id: run_id.clone(),
        key: "m".into(),
        x,
        buckets,
        from,
        to,
    };
    for (n, from, to) in [
        (100, None, None),
        (7, None, None),
        (1, None, None),
        (250, Some(1_000), Some(1_500)),
        (10_000, None, None),
        (40, Some(4_000), Some(4_100)),
    ] {
        let got = store
            .metric_chart(ask(ChartX::Step, n, from, to))
            .await
            .expect("chart");
        let want = expected_chart(&points, n, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX));
        assert_eq!(got.total, want.total, "total for {n} {from:?}..{to:?}");
        assert_eq!(got.nan, want.nan, "NaN count for {n} {from:?}..{to:?}");
        assert_eq!(
            got.buckets, want.buckets,
            "buckets for {n} {from:?}..{to:?}"
        );
        assert!(got.buckets.len() <= n);
    }
    let all = store
        .metric_chart(ask(ChartX::Step, 50, None, None))
        .await
        .expect("chart");
    assert_eq!(
        all.buckets.iter().map(|b| b.max).fold(f64::MIN, f64::max),
        1e6,
        "the spike survives"
    );
    // Over time: timestamps as x, same points.
    let by_time = store
        .metric_chart(ask(ChartX::Timestamp, 10, None, None))
        .await
        .expect("chart by time");
    assert_eq!(by_time.total, points.len() as u64);
    assert_eq!(by_time.buckets.last().map(|b| b.x), Some(99_999));
    // No such metric: nothing to draw; no such run: not found.
    let none = store
        .metric_chart(ChartQuery {
            key: "absent".into(),
            ..ask(ChartX::Step, 10, None, None)
        })
        .await
        .expect("chart of an absent metric");
    assert_eq!((none.total, none.buckets.len()), (0, 0));
    let missing = store
        .metric_chart(ChartQuery {
            run_id: "0123456789abcdef".into(),
            ..ask(ChartX::Step, 10, None, None)
        })
        .await;
    assert!(
        matches!(missing, Err(StoreError::NotFound(_))),
        "{missing:?}"
    );
}

/// The active runs of an experiment in one count: checked against the runs a search returns
/// (deleted runs, runs without an end time, another experiment's runs, an empty experiment).
pub async fn run_stats(store: &dyn MetadataStore, prefix: &str) {
    let exp = store
        .create_experiment(&format!("{prefix}-stats"), "", &[])
        .await
        .expect("create experiment");
    let other = store
        .create_experiment(&format!("{prefix}-stats-other"), "", &[])
        .await
        .expect("create experiment");
    let empty = store
        .experiment_run_stats(&exp)
        .await
        .expect("stats of an empty experiment");
    assert_eq!(
        empty,
        crate::ExperimentRunStats::default(),
        "no runs: zero and no times"
    );
    for i in 0..60_i64 {
        let start = 1_000 + (i * 7_919) % 997; // not in creation order
        let run_id = new_run(store, &exp, &format!("s{i}"), start).await;
        if i % 3 != 0 {
            store
                .update_run(
                    &run_id,
                    RunUpdate {
                        status: Some(RunStatus::Finished),
                        end_time: Some(start + 10 * i),
                        run_name: None,
                    },
                )
                .await
                .expect("end run");
        }
        if i % 5 == 0 {
            store
                .set_run_lifecycle(&run_id, LifecycleStage::Deleted)
                .await
                .expect("delete run");
        }
    }
    // The deleted runs hold the latest times: they must not count.
    let late = new_run(store, &exp, "late-deleted", 9_999_999).await;
    store
        .update_run(
            &late,
            RunUpdate {
                status: Some(RunStatus::Finished),
                end_time: Some(99_999_999),
                run_name: None,
            },
        )
        .await
        .expect("end run");
    store
        .set_run_lifecycle(&late, LifecycleStage::Deleted)
        .await
        .expect("delete run");
    new_run(store, &other, "elsewhere", 50_000_000).await;

    let mut runs = Vec::new();
    let mut offset = 0;
    loop {
        let page = store
            .search_runs(RunSearch {
                experiment_ids: vec![exp.clone()],
                filter: vec![],
                order_by: vec![],
                view: ViewType::ActiveOnly,
                max_results: 25,
                offset,
            })
            .await
            .expect("search runs");
        runs.extend(page.items);
        match page.next_offset {
            Some(o) => offset = o,
            None => break,
        }
    }
    let want = crate::ExperimentRunStats {
        active_runs: runs.len() as u64,
        last_start_time: runs.iter().filter_map(|r| r.info.start_time).max(),
        last_end_time: runs.iter().filter_map(|r| r.info.end_time).max(),
    };
    assert_eq!(
        want.active_runs, 48,
        "the reference sees 60 runs less 12 deleted"
    );
    let got = store.experiment_run_stats(&exp).await.expect("stats");
    assert_eq!(got, want, "the SQL count agrees with the runs searched");
    match store.experiment_run_stats("987654321").await {
        Err(StoreError::NotFound(m)) => assert_eq!(m, "No Experiment with id=987654321 exists"),
        other => panic!("stats of a missing experiment must be NotFound, got {other:?}"),
    }
}
