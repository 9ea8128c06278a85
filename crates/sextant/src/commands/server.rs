//! `sextant server`: resolve settings, open the stores, serve until SIGTERM.

use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use sextant_artifacts::{ObjectArtifactStore, StoreLocation};
use sextant_core::registry::RegistryService;
use sextant_core::tracking::TrackingService;
use sextant_server::AppState;
use sextant_server::guard::GuardConfig;
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
    /// `--allowed-hosts` (else `MLFLOW_SERVER_ALLOWED_HOSTS`), unparsed.
    pub allowed_hosts: Option<String>,
    /// `--cors-allowed-origins` (else `MLFLOW_SERVER_CORS_ALLOWED_ORIGINS`), unparsed.
    pub cors_allowed_origins: Option<String>,
    pub allow_unauthenticated: bool,
    /// `--auth` (or `--app-name basic-auth`): `None` when auth is off.
    pub auth: Option<AuthSettings>,
    /// Request limits: body sizes, concurrent searches, health timeout.
    pub limits: sextant_server::limits::Limits,
    /// PostgreSQL's statement timeout (`None`: no limit).
    pub statement_timeout: Option<Duration>,
    /// Header-read/idle timeout and connection limit.
    pub conn: sextant_server::ConnOptions,
}

/// How auth is configured, from flags, `SEXTANT_*`, MLflow's variables and `basic_auth.ini`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthSettings {
    /// The first admin to create (or make admin) at start.
    pub admin: Option<(String, Secret)>,
    pub default_permission: sextant_auth::Permission,
    /// Where the settings came from, for the start message.
    pub source: String,
}

/// A password that never shows in logs or `Debug` output.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// The `[mlflow]` section of MLflow's basic_auth.ini, as `key -> value`.
fn read_basic_auth_ini(path: &str) -> Result<std::collections::HashMap<String, String>> {
    let text = std::fs::read_to_string(path).with_context(|| {
        format!(
            "cannot read MLFLOW_AUTH_CONFIG_PATH={path}\nhint: point it at MLflow's basic_auth.ini \
             or unset it"
        )
    })?;
    let mut section = String::new();
    let mut out = std::collections::HashMap::new();
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(name) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            section = name.trim().to_owned();
        } else if section == "mlflow" {
            if let Some((k, v)) = line.split_once('=').or_else(|| line.split_once(':')) {
                out.insert(k.trim().to_owned(), v.trim().to_owned());
            }
        }
    }
    Ok(out)
}

fn resolve_auth(args: &ServerArgs) -> Result<Option<AuthSettings>> {
    let by_app = match args.app_name.as_deref() {
        None => false,
        Some("basic-auth") => true,
        Some(other) => bail!(
            "unknown --app-name '{other}'\nhint: Sextant knows 'basic-auth' (the same as --auth)"
        ),
    };
    if !(args.auth || by_app) {
        if args.admin_user.is_some() || args.default_permission.is_some() {
            bail!(
                "--admin-user and --default-permission only apply with auth on\nhint: add --auth"
            );
        }
        return Ok(None);
    }
    let ini = match env_nonempty(env::MLFLOW_AUTH_CONFIG_PATH) {
        Some(path) => Some((path.clone(), read_basic_auth_ini(&path)?)),
        None => None,
    };
    let ini_get = |k: &str| {
        ini.as_ref()
            .and_then(|(_, m)| m.get(k).cloned())
            .filter(|v| !v.is_empty())
    };
    let (admin, source) =
        if let Some(user) = args.admin_user.clone().filter(|u| !u.trim().is_empty()) {
            let Some(pw) = env_nonempty(env::SEXTANT_ADMIN_PASSWORD) else {
                bail!(
                    "--admin-user {user} needs its password in SEXTANT_ADMIN_PASSWORD\nhint: \
                 export SEXTANT_ADMIN_PASSWORD='...' (a flag would show in `ps`)"
                );
            };
            (Some((user, Secret(pw))), "--admin-user".to_owned())
        } else {
            let user =
                env_nonempty(env::MLFLOW_AUTH_ADMIN_USERNAME).or_else(|| ini_get("admin_username"));
            let pw =
                env_nonempty(env::MLFLOW_AUTH_ADMIN_PASSWORD).or_else(|| ini_get("admin_password"));
            match (user, pw) {
                (Some(u), Some(p)) => (
                    Some((u, Secret(p))),
                    ini.as_ref().map_or_else(
                        || "MLFLOW_AUTH_ADMIN_*".to_owned(),
                        |(path, _)| path.clone(),
                    ),
                ),
                _ => (None, "the store's existing users".to_owned()),
            }
        };
    let permission = args
        .default_permission
        .clone()
        .or_else(|| ini_get("default_permission"))
        .unwrap_or_else(|| "READ".to_owned());
    let default_permission = sextant_auth::Permission::parse(permission.trim())
        .ok()
        .filter(|p| *p != sextant_auth::Permission::Deny)
        .with_context(|| {
            format!(
                "bad default permission '{permission}'\nhint: use READ, USE, EDIT, MANAGE or \
                 NO_PERMISSIONS"
            )
        })?;
    Ok(Some(AuthSettings {
        admin,
        default_permission,
        source,
    }))
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
    let allowed_hosts = args
        .allowed_hosts
        .clone()
        .or_else(|| env_nonempty(env::MLFLOW_SERVER_ALLOWED_HOSTS));
    let cors_allowed_origins = args
        .cors_allowed_origins
        .clone()
        .or_else(|| env_nonempty(env::MLFLOW_SERVER_CORS_ALLOWED_ORIGINS));
    // Check the lists now, before any store is opened (the real config needs the bound address).
    GuardConfig::new(
        std::net::Ipv4Addr::LOCALHOST.into(),
        allowed_hosts.as_deref(),
        cors_allowed_origins.as_deref(),
        args.auth || args.app_name.is_some(),
        args.allow_unauthenticated,
    )?;
    Ok(ServerSettings {
        addr: format!("{host}:{}", args.port),
        backend_store_uri,
        artifacts_destination,
        grace: Duration::from_secs(args.shutdown_grace),
        user: args.user.clone().filter(|u| !u.trim().is_empty()),
        allowed_hosts,
        cors_allowed_origins,
        allow_unauthenticated: args.allow_unauthenticated,
        auth: resolve_auth(args)?,
        limits: sextant_server::limits::Limits {
            max_request_body: args.max_request_body,
            max_dataset_body: args.max_dataset_body,
            max_concurrent_searches: args.max_concurrent_searches.max(1),
            search_queue_wait: args.search_queue_wait,
            health_timeout: args.health_timeout,
        },
        statement_timeout: Some(args.statement_timeout).filter(|d| !d.is_zero()),
        conn: sextant_server::ConnOptions {
            header_read_timeout: args.header_timeout,
            max_connections: args.max_connections,
            grace: Duration::from_secs(args.shutdown_grace),
        },
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
    let options = sextant_store::StoreOptions {
        statement_timeout: s.statement_timeout,
    };
    let store = sextant_store::open_with(&s.backend_store_uri, "mlflow-artifacts:/", options)
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
    let listener = tokio::net::TcpListener::bind(&s.addr)
        .await
        .with_context(|| {
            format!(
                "cannot listen on {}\nhint: is another server using that port? try --port",
                s.addr
            )
        })?;
    let local = listener.local_addr().context("no local address")?;
    // Which hosts and peers are served depends on the address actually bound.
    let guard = GuardConfig::new(
        local.ip(),
        s.allowed_hosts.as_deref(),
        s.cors_allowed_origins.as_deref(),
        s.auth.is_some(),
        s.allow_unauthenticated,
    )?;
    let artifacts: Arc<dyn sextant_artifacts::ArtifactStore> = Arc::new(artifacts);
    let state = AppState {
        tracking: TrackingService::new(Arc::clone(&store) as Arc<dyn MetadataStore>),
        registry: RegistryService::new(Arc::clone(&store), Arc::clone(&artifacts)),
        artifacts,
        default_user: s.user.clone(),
        auth: start_auth(&store, s.auth.as_ref()).await?,
        guard: Arc::new(guard),
        limits: Arc::new(s.limits.clone()),
    };
    tracing::info!(
        store = %store.describe(),
        artifacts = %state.artifacts.describe(),
        "sextant {} listening on http://{local}",
        env!("CARGO_PKG_VERSION")
    );
    eprintln!("Sextant tracking server listening on http://{local}");
    match &s.auth {
        Some(a) => eprintln!(
            "Authentication: on (MLflow basic-auth; default permission {}; first admin from {})",
            a.default_permission, a.source
        ),
        None => eprintln!(
            "Authentication: off (whoever may connect can read and change everything; start \
             with --auth to require credentials)"
        ),
    }
    // Who may connect (protected mode) and which Host names are served.
    eprintln!("{}", state.guard.describe(local));
    sextant_server::serve_with(
        listener,
        sextant_server::app(state),
        crate::shutdown::requested(),
        s.conn.clone(),
    )
    .await
    .context("server failed")?;
    tracing::info!("server stopped");
    Ok(())
}

/// Auth over the store: the first admin created (or made admin), and a refusal to start when
/// no admin exists.
async fn start_auth(
    store: &Arc<dyn sextant_store::Store>,
    settings: Option<&AuthSettings>,
) -> Result<Option<Arc<sextant_server::auth::AuthState>>> {
    let Some(settings) = settings else {
        return Ok(None);
    };
    let config = sextant_server::auth::AuthConfig {
        default_permission: settings.default_permission,
        ..sextant_server::auth::AuthConfig::default()
    };
    let auth_store: Arc<dyn sextant_store::AuthStore> = Arc::clone(store) as _;
    let auth = sextant_server::auth::AuthState::new(auth_store, config)
        .await
        .context("cannot prepare authentication")?;
    if let Some((user, Secret(pw))) = &settings.admin {
        match auth
            .bootstrap_admin(user, pw)
            .await
            .map_err(|e| anyhow::anyhow!("{e}"))
            .with_context(|| format!("cannot create the admin user '{user}'"))?
        {
            sextant_server::auth::Bootstrap::Created => {
                eprintln!("Created admin user '{user}'.");
            }
            sextant_server::auth::Bootstrap::Existing => {}
        }
    }
    if !auth.has_admin().await.context("cannot read the users")? {
        bail!(
            "auth is on but the store has no admin user\nhint: start once with \
             `SEXTANT_ADMIN_PASSWORD=... sextant server --auth --admin-user NAME`, or point \
             MLFLOW_AUTH_CONFIG_PATH at a basic_auth.ini with admin_username and admin_password"
        );
    }
    Ok(Some(Arc::new(auth)))
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
    fn browser_safety_flags_are_checked_before_anything_opens() {
        let s = settings(&[
            "server",
            "--allowed-hosts",
            "ml.example.com, 10.0.0.*",
            "--cors-allowed-origins",
            "https://app.example.com",
            "--allow-unauthenticated",
        ]);
        assert_eq!(s.allowed_hosts.as_deref(), Some("ml.example.com, 10.0.0.*"));
        assert!(s.allow_unauthenticated);
        let cli = crate::cli::Cli::parse_from([
            "sextant",
            "server",
            "--allowed-hosts",
            "http://ml.example.com",
        ]);
        let crate::cli::Command::Server(a) = cli.command else {
            panic!("expected the server command");
        };
        let e = resolve(&a).expect_err("a URL is not a host").to_string();
        assert!(
            e.contains("bad --allowed-hosts entry 'http://ml.example.com'"),
            "{e}"
        );
    }

    #[test]
    fn passwords_never_reach_messages() {
        assert_eq!(redact("postgresql://u:pw@h/db"), "postgresql://u:***@h/db");
    }
}
