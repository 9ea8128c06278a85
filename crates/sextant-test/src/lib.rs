//! Test context for Sextant's integration tests (dev-only, never published).
//!
//! Several crates test against a real tracking server: the client, `sextant run`, the server's
//! own routes. They all need the same thing, so it lives here once:
//!
//! - [`TestStores`]: a temp dir holding a real SQLite store (`store.db`) and a real artifacts
//!   folder (`artifacts/`), and the server's [`AppState`] over them, for tests that send
//!   requests through the router without a socket (`tower::ServiceExt::oneshot`).
//! - [`TestServer`]: the same stores served by the real `sextant-server` app on `127.0.0.1`, on a
//!   port the OS picked, in a thread with its own runtime; [`TestServer::url`] is the base URL
//!   to point a client at. Dropping it stops the server (in-flight requests get a short grace
//!   period) and then removes the temp dir.
//!
//! ```no_run
//! let server = sextant_test::TestServer::start();
//! let health = format!("{}/health", server.url());
//! # let _ = health;
//! ```
//!
//! Nothing here is mocked: the store, the artifact store and the HTTP stack are the ones
//! `sextant server` runs. This crate must stay out of non-dev dependencies.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use sextant_artifacts::{ArtifactError, ObjectArtifactStore, StoreLocation};
use sextant_core::registry::RegistryService;
use sextant_core::tracking::TrackingService;
use sextant_server::AppState;
use sextant_store::{MetadataStore, StoreError};

/// How long a stopping server lets in-flight requests finish.
const GRACE: Duration = Duration::from_millis(500);

/// Worker threads of a test server's runtime.
const WORKERS: usize = 2;

/// Why a test context could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum TestContextError {
    #[error("cannot create a temp dir for the test stores: {0}")]
    TempDir(#[source] std::io::Error),
    #[error("cannot open the SQLite store {uri}: {source}")]
    Store {
        uri: String,
        #[source]
        source: StoreError,
    },
    #[error("cannot open the artifact store at {path}: {source}")]
    Artifacts {
        path: PathBuf,
        #[source]
        source: ArtifactError,
    },
    #[error("cannot start the test server's runtime: {0}")]
    Runtime(#[source] std::io::Error),
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("the test server's thread ended before the server was listening")]
    ThreadDied,
}

/// A temp dir with a SQLite store and an artifacts folder, and the server state over them.
/// The dir is removed when this is dropped.
pub struct TestStores {
    state: AppState,
    dir: tempfile::TempDir,
}

impl TestStores {
    /// Fresh stores in a new temp dir; panics with the reason if they cannot be set up.
    pub async fn open() -> Self {
        match Self::try_open().await {
            Ok(s) => s,
            Err(e) => panic!("test stores: {e}"),
        }
    }

    /// Fresh stores in a new temp dir.
    pub async fn try_open() -> Result<Self, TestContextError> {
        let dir = tempfile::tempdir().map_err(TestContextError::TempDir)?;
        let state = state_in(dir.path()).await?;
        Ok(Self { state, dir })
    }

    /// The server state over these stores (a cheap clone; every clone shares the stores).
    pub fn state(&self) -> AppState {
        self.state.clone()
    }

    /// The temp dir: `store.db` and `artifacts/` are in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }
}

/// The state `sextant server` would build over `root/store.db` and `root/artifacts`.
async fn state_in(root: &Path) -> Result<AppState, TestContextError> {
    let uri = format!("sqlite:///{}", root.join("store.db").display());
    let store = sextant_store::open(&uri, "mlflow-artifacts:/")
        .await
        .map_err(|source| TestContextError::Store {
            uri: uri.clone(),
            source,
        })?;
    let path = root.join("artifacts");
    let artifacts = ObjectArtifactStore::open(&StoreLocation::Local(path.clone()))
        .map_err(|source| TestContextError::Artifacts { path, source })?;
    let artifacts: Arc<dyn sextant_artifacts::ArtifactStore> = Arc::new(artifacts);
    Ok(AppState {
        tracking: TrackingService::new(Arc::clone(&store) as Arc<dyn MetadataStore>),
        registry: RegistryService::new(store, Arc::clone(&artifacts)),
        artifacts,
        default_user: None,
        auth: None,
        guard: Arc::new(sextant_server::guard::GuardConfig::loopback()),
        limits: Arc::new(sextant_server::limits::Limits::default()),
    })
}

/// A real `sextant-server` on `127.0.0.1` over fresh temp stores, stopped when dropped.
///
/// It runs in its own thread and runtime, so tests can use it from plain `#[test]` functions
/// with blocking clients as well as from `#[tokio::test]`s.
pub struct TestServer {
    url: String,
    addr: SocketAddr,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<std::io::Result<()>>>,
    // Declared last: removed after the server has stopped.
    dir: tempfile::TempDir,
}

impl TestServer {
    /// Start a server; panics with the reason if it cannot.
    pub fn start() -> Self {
        match Self::try_start() {
            Ok(s) => s,
            Err(e) => panic!("test server: {e}"),
        }
    }

    /// Start a server on a free port and wait until it listens.
    pub fn try_start() -> Result<Self, TestContextError> {
        let dir = tempfile::tempdir().map_err(TestContextError::TempDir)?;
        let root = dir.path().to_owned();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        let thread = std::thread::Builder::new()
            .name("sextant-test-server".into())
            .spawn(move || -> std::io::Result<()> {
                let rt = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(WORKERS)
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(TestContextError::Runtime(e)));
                        return Ok(());
                    }
                };
                rt.block_on(async move {
                    let started = async {
                        let state = state_in(&root).await?;
                        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                            .await
                            .map_err(TestContextError::Bind)?;
                        let addr = listener.local_addr().map_err(TestContextError::Bind)?;
                        Ok::<_, TestContextError>((state, listener, addr))
                    }
                    .await;
                    let (state, listener, addr) = match started {
                        Ok(s) => s,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e));
                            return Ok(());
                        }
                    };
                    let _ = ready_tx.send(Ok(addr));
                    let shutdown = async move {
                        // A dropped sender (the TestServer is gone) stops the server too.
                        let _ = stopped.await;
                    };
                    sextant_server::serve(listener, sextant_server::app(state), shutdown, GRACE)
                        .await
                })
            })
            .map_err(TestContextError::Runtime)?;
        let addr = match ready_rx.recv() {
            Ok(Ok(addr)) => addr,
            Ok(Err(e)) => {
                let _ = thread.join();
                return Err(e);
            }
            Err(_) => {
                let _ = thread.join();
                return Err(TestContextError::ThreadDied);
            }
        };
        Ok(Self {
            url: format!("http://{addr}"),
            addr,
            stop: Some(stop),
            thread: Some(thread),
            dir,
        })
    }

    /// The base URL, `http://127.0.0.1:PORT` (no trailing slash).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The temp dir: `store.db` and `artifacts/` are in it.
    pub fn dir(&self) -> &Path {
        self.dir.path()
    }

    /// Stop the server now: no new connections, in-flight requests get a short grace period.
    /// Returns the server's own error, if it failed while serving.
    pub fn stop(mut self) -> std::io::Result<()> {
        self.shut_down()
    }

    fn shut_down(&mut self) -> std::io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.thread.take().map(JoinHandle::join) {
            None => Ok(()),
            Some(Ok(result)) => result,
            Some(Err(_)) => Err(std::io::Error::other("the test server's thread panicked")),
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Err(e) = self.shut_down() {
            eprintln!("test server at {} failed: {e}", self.url);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::net::TcpStream;

    use super::*;

    fn get(addr: SocketAddr, path: &str) -> std::io::Result<String> {
        let mut s = TcpStream::connect(addr)?;
        s.set_read_timeout(Some(Duration::from_secs(10)))?;
        write!(
            s,
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
        )?;
        let mut out = String::new();
        s.read_to_string(&mut out)?;
        Ok(out)
    }

    #[test]
    fn a_server_answers_on_loopback_and_stops_when_dropped() {
        let server = TestServer::start();
        let addr = server.addr();
        assert!(addr.ip().is_loopback(), "{addr}");
        assert_eq!(server.url(), format!("http://{addr}"));
        let health = get(addr, "/health").expect("GET /health");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        let exp = get(addr, "/api/2.0/mlflow/experiments/get?experiment_id=0").expect("GET");
        assert!(exp.contains("\"Default\""), "{exp}");
        let dir = server.dir().to_owned();
        assert!(dir.join("store.db").is_file());
        assert!(dir.join("artifacts").is_dir());
        drop(server);
        assert!(
            TcpStream::connect(addr).is_err(),
            "nothing listens on {addr} after the drop"
        );
        assert!(!dir.exists(), "the temp dir is removed");
    }

    #[test]
    fn two_servers_get_their_own_ports_and_stores() {
        let (a, b) = (TestServer::start(), TestServer::start());
        assert_ne!(a.addr(), b.addr());
        assert_ne!(a.dir(), b.dir());
        a.stop().expect("a stops cleanly");
        let health = get(b.addr(), "/health").expect("b still serves");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
    }

    #[tokio::test(flavor = "multi_thread")]
    async fn stores_for_the_router_and_a_server_inside_a_runtime() {
        let stores = TestStores::open().await;
        let exp = stores
            .state()
            .tracking
            .get_experiment("0")
            .await
            .expect("the Default experiment");
        assert_eq!(exp.name, "Default");
        assert!(stores.dir().join("store.db").is_file());
        // A server started and dropped from async code (its runtime is its own).
        let server = TestServer::start();
        let addr = server.addr();
        let health = tokio::task::spawn_blocking(move || get(addr, "/health"))
            .await
            .expect("join")
            .expect("GET /health");
        assert!(health.starts_with("HTTP/1.1 200"), "{health}");
        drop(server);
    }
}
