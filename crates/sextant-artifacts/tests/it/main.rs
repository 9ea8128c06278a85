//! The artifact conformance suite against local disk, memory, and a real S3-compatible server.

mod symlinks;

use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use sextant_artifacts::{ObjectArtifactStore, S3Settings, StoreLocation, conformance};

#[tokio::test(flavor = "multi_thread")]
async fn local_directory() {
    let dir = tempfile::tempdir().expect("tempdir");
    let loc = StoreLocation::parse(&dir.path().display().to_string()).expect("location");
    let store = ObjectArtifactStore::open(&loc).expect("open");
    conformance::run_all(&store, "run").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn memory() {
    let store = ObjectArtifactStore::open(&StoreLocation::Memory).expect("open");
    conformance::run_all(&store, "run").await;
}

/// A moto S3 server this test started, stopped by pid when dropped.
struct Moto(Child);

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn moto_binary() -> Option<String> {
    if let Ok(p) = std::env::var("MOTO_SERVER") {
        return Some(p);
    }
    let venv = concat!(env!("CARGO_MANIFEST_DIR"), "/../../.venv/bin/moto_server");
    if std::path::Path::new(venv).exists() {
        return Some(venv.to_owned());
    }
    Command::new("moto_server")
        .arg("--help")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .ok()
        .map(|_| "moto_server".to_owned())
}

fn wait_for(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("moto_server did not start on port {port}");
}

/// Create a bucket with a plain HTTP PUT (moto accepts unsigned requests).
fn create_bucket(endpoint: &str, bucket: &str) {
    use std::io::{Read, Write};
    let hostport = endpoint.trim_start_matches("http://").trim_end_matches('/');
    let mut s = std::net::TcpStream::connect(hostport).expect("connect to S3 endpoint");
    write!(
        s,
        "PUT /{bucket} HTTP/1.1\r\nHost: {hostport}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
    )
    .expect("send");
    let mut resp = String::new();
    let _ = s.read_to_string(&mut resp);
    assert!(
        resp.starts_with("HTTP/1.1 200"),
        "bucket creation failed: {resp}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn s3_compatible_server() {
    if std::env::var("SEXTANT_SKIP_S3").is_ok_and(|v| v == "1") {
        eprintln!("SEXTANT_SKIP_S3=1: S3 conformance not run");
        return;
    }
    let (_guard, endpoint) = match std::env::var("SEXTANT_TEST_S3_ENDPOINT") {
        Ok(ep) => (None, ep),
        Err(_) => {
            let bin = moto_binary().expect(
                "moto_server not found (.venv/bin, MOTO_SERVER or PATH); install it with \
                 `pip install 'moto[server]'` or set SEXTANT_SKIP_S3=1",
            );
            let port = TcpListener::bind("127.0.0.1:0")
                .and_then(|l| l.local_addr())
                .expect("free port")
                .port();
            let child = Command::new(bin)
                .args(["-H", "127.0.0.1", "-p", &port.to_string()])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .expect("start moto_server");
            let guard = Moto(child);
            wait_for(port);
            (Some(guard), format!("http://127.0.0.1:{port}"))
        }
    };
    let bucket = format!("conf-{}", uuid::Uuid::new_v4().simple());
    create_bucket(&endpoint, &bucket);
    let settings = S3Settings {
        endpoint: Some(endpoint),
        region: std::env::var("AWS_DEFAULT_REGION").unwrap_or_else(|_| "us-east-1".into()),
        access_key_id: Some(
            std::env::var("AWS_ACCESS_KEY_ID").unwrap_or_else(|_| "testing".into()),
        ),
        secret_access_key: Some(
            std::env::var("AWS_SECRET_ACCESS_KEY").unwrap_or_else(|_| "testing".into()),
        ),
        session_token: None,
    };
    let store = ObjectArtifactStore::open_s3(&bucket, "prefix", &settings).expect("open S3 store");
    conformance::run_all(&store, "run").await;
}
