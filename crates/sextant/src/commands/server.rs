//! `sextant server`: resolve settings, open the stores, serve until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sextant_artifacts::{ObjectArtifactStore, StoreLocation};
use sextant_core::registry::RegistryService;
use sextant_core::tracking::TrackingService;
use sextant_server::AppState;
use sextant_store::MetadataStore;

use crate::cli::ServerArgs;
use crate::env;

/// The settings a server runs with, after flags, environment and defaults are combined.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerSettings {
    pub addr: String,
    pub backend_store_uri: String,
    pub artifacts_destination: String,
    pub grace: Duration,
    pub user: Option<String>,
}

fn env_nonempty(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.trim().is_empty())
}

/// Combine flags (clap already folded in `SEXTANT_*`), MLflow's variables and defaults.
pub fn resolve(args: &ServerArgs) -> Result<ServerSettings> {
    if args.no_serve_artifacts {
        bail!(
            "--no-serve-artifacts is not supported: Sextant always proxies artifacts\n\
             hint: drop the flag; clients reach artifacts through the server"
        );
    }
    let data_dir = &args.data_dir;
    let backend_store_uri = args
        .backend_store_uri
        .clone()
        .or_else(|| env_nonempty(env::MLFLOW_BACKEND_STORE_URI))
        .unwrap_or_else(|| format!("sqlite:///{}", data_dir.join("sextant.db").display()));
    let root_as_destination = args
        .default_artifact_root
        .clone()
        .filter(|r| !r.starts_with("mlflow-artifacts:"));
    let artifacts_destination = args
        .artifacts_destination
        .clone()
        .or(root_as_destination)
        .or_else(|| env_nonempty(env::MLFLOW_ARTIFACTS_DESTINATION))
        .unwrap_or_else(|| data_dir.join("artifacts").display().to_string());
    let host = if args.host.contains(':') && !args.host.starts_with('[') {
        format!("[{}]", args.host)
    } else {
        args.host.clone()
    };
    Ok(ServerSettings {
        addr: format!("{host}:{}", args.port),
        backend_store_uri,
        artifacts_destination,
        grace: Duration::from_secs(args.shutdown_grace),
        user: args.user.clone().filter(|u| !u.trim().is_empty()),
    })
}

pub fn run(args: ServerArgs) -> Result<ExitCode> {
    if args.workers.is_some() {
        tracing::info!("--workers is ignored: one Sextant process uses every core");
    }
    let settings = resolve(&args)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("sextant")
        .build()
        .context("cannot start the async runtime")?;
    rt.block_on(serve(settings))?;
    Ok(ExitCode::SUCCESS)
}

async fn serve(s: ServerSettings) -> Result<()> {
    let store = sextant_store::open(&s.backend_store_uri, "mlflow-artifacts:/")
        .await
        .with_context(|| {
            format!(
                "cannot open the backend store {}\nhint: check --backend-store-uri",
                redact(&s.backend_store_uri)
            )
        })?;
    let location = StoreLocation::parse(&s.artifacts_destination)
        .with_context(|| format!("bad --artifacts-destination {}", s.artifacts_destination))?;
    let artifacts = ObjectArtifactStore::open(&location)
        .with_context(|| format!("cannot open the artifact store {}", s.artifacts_destination))?;
    let artifacts: Arc<dyn sextant_artifacts::ArtifactStore> = Arc::new(artifacts);
    let state = AppState {
        tracking: TrackingService::new(Arc::clone(&store) as Arc<dyn MetadataStore>),
        registry: RegistryService::new(Arc::clone(&store), Arc::clone(&artifacts)),
        artifacts,
        default_user: s.user.clone(),
    };
    let listener = tokio::net::TcpListener::bind(&s.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}\nhint: is another server using that port? try --port",
                s.addr
            )
        })?;
    let local = listener.local_addr().context("no local address")?;
    tracing::info!(
        store = %store.describe(),
        artifacts = %state.artifacts.describe(),
        "sextant {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("Sextant tracking server listening on http://{local}");
    sextant_server::serve(
        listener,
        sextant_server::app(state),
        crate::shutdown::requested(),
        s.grace,
    )
    .await
    .context("server failed")?;
    tracing::info!("server stopped");
    Ok(())
}

fn redact(uri: &str) -> String {
    match (uri.find("://"), uri.rfind('@')) {
        (Some(s), Some(at)) if at > s => match uri[s + 3..at].find(':') {
            Some(c) => format!("{}:***{}", &uri[..s + 3 + c], &uri[at..]),
            None => uri.to_owned(),
        },
        _ => uri.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn settings(args: &[&str]) -> ServerSettings {
        let cli =
            crate::cli::Cli::parse_from(std::iter::once("sextant").chain(args.iter().copied()));
        match cli.command {
            crate::cli::Command::Server(a) => resolve(&a).unwrap(),
            other => panic!("expected the server command, got {other:?}"),
        }
    }

    #[test]
    fn defaults_live_in_the_data_dir() {
        let s = settings(&["server", "--data-dir", "d"]);
        assert_eq!(s.backend_store_uri, "sqlite:///d/sextant.db");
        assert_eq!(s.artifacts_destination, "d/artifacts");
        assert_eq!(s.addr, "127.0.0.1:5000");
    }

    #[test]
    fn mlflow_flags_are_accepted() {
        let s = settings(&[
            "server",
            "--host",
            "0.0.0.0",
            "--port",
            "6000",
            "--backend-store-uri",
            "sqlite:////tmp/x.db",
            "--default-artifact-root",
            "s3://b/p",
            "--serve-artifacts",
            "--workers",
            "4",
        ]);
        assert_eq!(s.addr, "0.0.0.0:6000");
        assert_eq!(s.artifacts_destination, "s3://b/p");
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
    }
}
