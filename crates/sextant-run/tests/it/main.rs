//! `sextant_run::execute` and the run-key race against a real `sextant-server` app on a
//! loopback socket (real SQLite and local artifacts in a temp dir).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use sextant_client::{Client, LifecycleStage, NewRun, RunQuery, RunStatus, ViewType};
use sextant_run::{RunConfig, Target, attach, execute};
use sextant_test::TestServer;

fn sh(script: &str, cwd: PathBuf) -> RunConfig {
    let mut cfg = RunConfig::new(vec!["sh".into(), "-c".into(), script.into()], cwd);
    cfg.sample_interval = None;
    cfg
}

fn text(client: &Client, run_id: &str, path: &str) -> String {
    let run = client.get_run(run_id).expect("run");
    String::from_utf8(client.download_artifact(&run, path).expect("artifact")).expect("utf-8")
}

fn tag<'a>(run: &'a sextant_client::Run, key: &str) -> Option<&'a str> {
    run.data
        .tags
        .iter()
        .find(|t| t.key == key)
        .map(|t| t.value.as_str())
}

#[test]
fn a_failing_command_is_recorded_with_its_logs_and_exit_code() {
    let srv = TestServer::start();
    let client = Client::new(srv.url()).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = sh(
        "echo out; echo err >&2; echo '{\"step\": 2, \"q\": 0.5}' > live.jsonl; exit 4",
        dir.path().to_owned(),
    );
    cfg.experiment = Some("it".into());
    cfg.params = vec!["k=v".into()];
    cfg.live_metrics = vec![PathBuf::from("live.jsonl")];
    let out = execute(&client, &cfg).expect("execute");
    assert_eq!(
        (out.exit_code, out.status, out.created),
        (4, RunStatus::Failed, true)
    );
    let run = client.get_run(&out.run_id).expect("run");
    assert_eq!(run.info.status, RunStatus::Failed);
    assert!(run.info.end_time.is_some());
    assert_eq!(tag(&run, "sextant.exit_code"), Some("4"));
    assert_eq!(run.data.params.len(), 1);
    assert_eq!(text(&client, &out.run_id, "logs/stdout.txt"), "out\n");
    assert_eq!(text(&client, &out.run_id, "logs/stderr.txt"), "err\n");
    let q = client
        .get_metric_history(&out.run_id, "q")
        .expect("history");
    assert_eq!(
        q.iter().map(|m| (m.step, m.value.0)).collect::<Vec<_>>(),
        vec![(2, 0.5)]
    );
}

#[test]
fn system_metrics_are_sampled_with_steps() {
    let srv = TestServer::start();
    let client = Client::new(srv.url()).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let mut cfg = sh("sleep 1.6", dir.path().to_owned());
    cfg.sample_interval = Some(Duration::from_millis(300));
    let out = execute(&client, &cfg).expect("execute");
    assert_eq!(out.status, RunStatus::Finished);
    let steps: Vec<i64> = client
        .get_metric_history(&out.run_id, "system/tree_processes")
        .expect("history")
        .iter()
        .map(|m| m.step)
        .collect();
    assert!(steps.len() >= 3, "{steps:?}");
    assert_eq!(steps, (0..steps.len() as i64).collect::<Vec<_>>());
}

#[test]
fn many_processes_racing_for_one_key_end_in_one_run() {
    let srv = TestServer::start();
    let client = Client::new(srv.url()).expect("client");
    let exp = client.get_or_create_experiment("race").expect("experiment");
    let barrier = Arc::new(std::sync::Barrier::new(12));
    let handles: Vec<_> = (0..12)
        .map(|_| {
            let (client, exp, barrier) = (client.clone(), exp.clone(), Arc::clone(&barrier));
            std::thread::spawn(move || {
                barrier.wait();
                let new = NewRun {
                    experiment_id: exp,
                    ..NewRun::default()
                };
                attach::resolve_key(&client, "build-42", &new).expect("resolve")
            })
        })
        .collect();
    let results: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let winner = results[0].0.info.run_id.clone();
    assert!(results.iter().all(|(r, _)| r.info.run_id == winner));
    assert_eq!(results.iter().filter(|(_, created)| *created).count(), 1);
    let all = client
        .search_runs(&RunQuery {
            experiment_ids: vec![exp.clone()],
            view: ViewType::All,
            ..RunQuery::default()
        })
        .expect("search");
    eprintln!("{} candidate runs for one key", all.len());
    for r in &all {
        let active = r.info.lifecycle_stage == LifecycleStage::Active;
        assert_eq!(
            active,
            r.info.run_id == winner,
            "only the winner stays active"
        );
    }
    // The claim is out of the experiment list but still resolves the key.
    let listed = client
        .search_experiments(None, ViewType::ActiveOnly)
        .expect("experiments");
    assert!(listed.iter().all(|e| !e.name.starts_with(".sextant/")));
    let new = NewRun {
        experiment_id: exp,
        ..NewRun::default()
    };
    let (again, created) = attach::resolve_key(&client, "build-42", &new).expect("resolve");
    assert_eq!((again.info.run_id, created), (winner, false));
}

#[test]
fn concurrent_stages_settle_the_run_status() {
    let srv = TestServer::start();
    let client = Client::new(srv.url()).expect("client");
    let dir = tempfile::tempdir().expect("tempdir");
    let handles: Vec<_> = [("a", "exit 0"), ("b", "sleep 0.3; exit 0"), ("c", "exit 0")]
        .into_iter()
        .map(|(stage, script)| {
            let client = client.clone();
            let mut cfg = sh(script, dir.path().to_owned());
            cfg.target = Target::RunKey("pipeline-7".into());
            cfg.stage = Some(stage.into());
            std::thread::spawn(move || execute(&client, &cfg).expect("execute"))
        })
        .collect();
    let outs: Vec<_> = handles
        .into_iter()
        .map(|h| h.join().expect("thread"))
        .collect();
    let id = &outs[0].run_id;
    assert!(outs.iter().all(|o| &o.run_id == id));
    let run = client.get_run(id).expect("run");
    assert_eq!(run.info.status, RunStatus::Finished);
    for s in ["a", "b", "c"] {
        assert_eq!(
            tag(&run, &format!("sextant.stages.{s}.status")),
            Some("FINISHED")
        );
    }
    // A failing stage fails the whole run.
    let mut cfg = sh("exit 9", dir.path().to_owned());
    cfg.target = Target::RunId(id.clone());
    cfg.stage = Some("d".into());
    let out = execute(&client, &cfg).expect("execute");
    assert_eq!(
        (out.command_status, out.status, out.exit_code),
        (RunStatus::Failed, RunStatus::Failed, 9)
    );
    assert_eq!(
        client.get_run(id).expect("run").info.status,
        RunStatus::Failed
    );
}
