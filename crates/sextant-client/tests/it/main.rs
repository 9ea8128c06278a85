//! The client against a real `sextant-server` app on a loopback socket (real SQLite and local
//! artifacts in a temp dir): every call the client commands rely on.

use sextant_client::{
    Client, ClientError, Metric, NewRun, RunQuery, RunStatus, Tag, ViewType, WireF64,
};
use sextant_test::TestServer;

fn metric(key: &str, step: i64, value: f64) -> Metric {
    Metric {
        key: key.into(),
        value: WireF64(value),
        timestamp: 1_000 + step,
        step,
        dataset_name: None,
        dataset_digest: None,
        model_id: None,
        run_id: None,
    }
}

#[test]
fn experiments_runs_batches_search_history_and_artifacts() {
    let s = TestServer::start();
    let c = Client::new(s.url()).expect("client");

    // Experiments: created once, found by name, race-safe get-or-create.
    assert!(c.get_experiment_by_name("suite").unwrap().is_none());
    let exp = c.get_or_create_experiment("suite").unwrap();
    assert_eq!(c.get_or_create_experiment("suite").unwrap(), exp);
    let err = c.create_experiment("suite", &[]).unwrap_err();
    assert!(err.is_already_exists(), "{err}");
    let names: Vec<_> = c
        .search_experiments(None, ViewType::ActiveOnly)
        .unwrap()
        .into_iter()
        .map(|e| e.name)
        .collect();
    assert!(names.contains(&"suite".to_owned()) && names.contains(&"Default".to_owned()));

    // A run with more metrics, params and tags than one request may carry.
    let run = c
        .create_run(&NewRun {
            experiment_id: exp.clone(),
            run_name: Some("first".into()),
            tags: vec![Tag::new("problem", "p1")],
            ..NewRun::default()
        })
        .unwrap();
    let id = run.info.run_id.clone();
    let metrics: Vec<_> = (0..2_500)
        .map(|i| metric("loss", i, 1.0 / (i + 1) as f64))
        .collect();
    let params: Vec<_> = (0..150)
        .map(|i| Tag::new(format!("p{i}"), format!("{i}")))
        .collect();
    c.log_batch(&id, &metrics, &params, &[Tag::new("stage", "train")])
        .unwrap();
    c.set_tag(&id, "k", "v").unwrap();
    c.update_run(&id, Some(RunStatus::Finished), Some(99_999), None)
        .unwrap();

    let got = c.get_run(&id).unwrap();
    assert_eq!(got.info.status, RunStatus::Finished);
    assert_eq!(got.info.end_time, Some(99_999));
    assert_eq!(got.data.params.len(), 150);
    let tag = |k: &str| {
        got.data
            .tags
            .iter()
            .find(|t| t.key == k)
            .map(|t| t.value.clone())
    };
    assert_eq!(tag("stage").as_deref(), Some("train"));
    assert_eq!(tag("k").as_deref(), Some("v"));
    assert_eq!(tag("problem").as_deref(), Some("p1"));

    let history = c.get_metric_history(&id, "loss").unwrap();
    assert_eq!(history.len(), 2_500);
    assert!(history.iter().enumerate().all(|(i, m)| m.step == i as i64));

    // Search follows pages: 1,205 runs read back whole.
    for i in 0..1_204 {
        let r = c
            .create_run(&NewRun {
                experiment_id: exp.clone(),
                ..NewRun::default()
            })
            .unwrap();
        if i % 2 == 0 {
            c.set_tag(&r.info.run_id, "even", "yes").unwrap();
        }
    }
    let all = c
        .search_runs(&RunQuery {
            experiment_ids: vec![exp.clone()],
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(all.len(), 1_205);
    let even = c
        .search_runs(&RunQuery {
            experiment_ids: vec![exp.clone()],
            filter: "tags.even = 'yes'".into(),
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(even.len(), 602);
    let some = c
        .search_runs(&RunQuery {
            experiment_ids: vec![exp.clone()],
            max_results: Some(1_001),
            ..RunQuery::default()
        })
        .unwrap();
    assert_eq!(some.len(), 1_001);
    let bad = c
        .search_runs(&RunQuery {
            experiment_ids: vec![exp],
            filter: "metrics.x >> 1".into(),
            ..RunQuery::default()
        })
        .unwrap_err();
    assert!(
        bad.is_refusal() && bad.error_code() == Some("INVALID_PARAMETER_VALUE"),
        "{bad}"
    );

    // Artifacts: bytes, a streamed file, a folder; listed and read back.
    c.upload_artifact_bytes(&got, "notes/a b.txt", b"hello")
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("sub")).unwrap();
    std::fs::write(dir.path().join("one.txt"), b"1").unwrap();
    std::fs::write(dir.path().join("sub/two.txt"), vec![7u8; 3 << 20]).unwrap();
    assert_eq!(c.upload_artifact_dir(&got, "out", dir.path()).unwrap(), 2);
    assert_eq!(
        c.download_artifact(&got, "notes/a b.txt").unwrap(),
        b"hello"
    );
    assert_eq!(
        c.download_artifact(&got, "out/sub/two.txt").unwrap().len(),
        3 << 20
    );
    let root: Vec<_> = c
        .list_artifacts(&got, None)
        .unwrap()
        .into_iter()
        .map(|f| f.path)
        .collect();
    assert_eq!(root, ["notes", "out"]);
    let out = c.list_artifacts(&got, Some("out")).unwrap();
    assert_eq!(
        out.iter()
            .map(|f| (f.path.as_str(), f.is_dir))
            .collect::<Vec<_>>(),
        [("out/one.txt", false), ("out/sub", true)]
    );

    // Sextant's own API.
    let models = c.sextant("GET", "models", None).unwrap();
    assert!(models.is_object(), "{models}");
}

#[test]
fn errors_say_what_happened() {
    let s = TestServer::start();
    let c = Client::new(s.url()).unwrap();
    let err = c.get_run("0123456789abcdef0123456789abcdef").unwrap_err();
    assert!(err.is_not_found(), "{err}");
    assert!(err.to_string().contains("RESOURCE_DOES_NOT_EXIST"), "{err}");

    // Nothing listens on this port (bound, then released).
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let dead = Client::new(&format!("http://127.0.0.1:{port}"))
        .unwrap()
        .with_retries(0);
    let err = dead.get_run("x").unwrap_err();
    assert!(matches!(err, ClientError::Unreachable { .. }), "{err:?}");
    assert!(err.to_string().contains("hint:"));
}

/// One HTTP exchange on a loopback socket: the request's head as received, answered with
/// `status` and a JSON `body` (what a server with auth on answers a refused request).
fn answer_once(status: u16, body: &'static str) -> (String, std::thread::JoinHandle<String>) {
    use std::io::{BufRead, BufReader, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    let handle = std::thread::spawn(move || {
        let (stream, _) = listener.accept().unwrap();
        let mut reader = BufReader::new(stream.try_clone().unwrap());
        let mut head = String::new();
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap() == 0 || line == "\r\n" {
                break;
            }
            head.push_str(&line);
        }
        let mut out = stream;
        write!(
            out,
            "HTTP/1.1 {status} X\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
            body.len()
        )
        .unwrap();
        head
    });
    (url, handle)
}

#[test]
fn credentials_go_on_the_wire_and_refusals_say_what_to_set() {
    use sextant_client::Credentials;
    let basic = Credentials::Basic {
        username: "alice".into(),
        password: "s3cret".into(),
    };
    // HTTP Basic, as the mlflow client sends it; a 401 names the variables it came from.
    let (url, h) = answer_once(401, r#"{"error_code":"UNAUTHENTICATED","message":"bad"}"#);
    let c = Client::new(&url)
        .unwrap()
        .with_credentials(Some(basic))
        .with_retries(0);
    let err = c.list_models().unwrap_err();
    let head = h.join().unwrap().to_ascii_lowercase();
    assert!(
        head.contains("authorization: basic ywxpy2u6cznjcmv0\r\n"),
        "{head}"
    );
    assert!(
        matches!(err, ClientError::Unauthenticated { .. }),
        "{err:?}"
    );
    let text = err.to_string();
    assert!(
        text.contains("MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD")
            && text.contains("hint:"),
        "{text}"
    );
    assert!(!text.contains("s3cret"), "{text}");

    // A token as Bearer; a 403 says the user lacks the permission.
    let (url, h) = answer_once(
        403,
        r#"{"error_code":"PERMISSION_DENIED","message":"Permission denied"}"#,
    );
    let c = Client::new(&url)
        .unwrap()
        .with_credentials(Some(Credentials::Token("tok-123".into())))
        .with_retries(0);
    let err = c
        .decide(
            "m",
            "1",
            sextant_types::registry::Decision::Approve,
            "ok",
            false,
        )
        .unwrap_err();
    let head = h.join().unwrap();
    assert!(
        head.to_ascii_lowercase()
            .contains("authorization: bearer tok-123\r\n"),
        "{head}"
    );
    assert!(err.is_refusal() && err.status() == Some(403), "{err:?}");
    assert!(err.to_string().contains("lacks the permission"), "{err}");

    // No credentials: none sent, and the 401 says which variables to set.
    let (url, h) = answer_once(401, r#"{"message":"no credentials"}"#);
    let c = Client::new(&url)
        .unwrap()
        .with_credentials(None)
        .with_retries(0);
    let err = c.list_tokens(false).unwrap_err();
    assert!(
        !h.join()
            .unwrap()
            .to_ascii_lowercase()
            .contains("authorization:")
    );
    let text = err.to_string();
    assert!(
        text.contains("MLFLOW_TRACKING_TOKEN") && text.contains("requires authentication"),
        "{text}"
    );
}

#[test]
fn registry_review_calls_are_typed() {
    let s = TestServer::start();
    let c = Client::new(s.url())
        .unwrap()
        .with_user(Some("carol".into()));
    assert!(c.list_models().unwrap().iter().all(|m| !m.name.is_empty()));
    let err = c.show_model("no-such-model").unwrap_err();
    assert!(err.is_not_found(), "{err}");
    let err = c.audit_log("no-such-model", Some("1")).unwrap_err();
    assert!(err.is_refusal(), "{err}");
}
