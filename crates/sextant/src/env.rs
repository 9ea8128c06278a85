//! Every environment variable Sextant reads, in one place (documented in `docs/configuration.md`).
//!
//! Precedence everywhere: command-line flag > `SEXTANT_*` variable > MLflow's own variable where
//! we mirror a feature > built-in default.

/// Log filter, in `tracing`'s `EnvFilter` syntax (e.g. `info,sextant_store=debug`).
pub const SEXTANT_LOG: &str = "SEXTANT_LOG";
/// `sextant server --host`.
pub const SEXTANT_HOST: &str = "SEXTANT_HOST";
/// `sextant server --port`.
pub const SEXTANT_PORT: &str = "SEXTANT_PORT";
/// `sextant server --data-dir`: where the default SQLite file and artifacts live.
pub const SEXTANT_DATA_DIR: &str = "SEXTANT_DATA_DIR";
/// `sextant server --backend-store-uri`.
pub const SEXTANT_BACKEND_STORE_URI: &str = "SEXTANT_BACKEND_STORE_URI";
/// `sextant server --artifacts-destination`.
pub const SEXTANT_ARTIFACTS_DESTINATION: &str = "SEXTANT_ARTIFACTS_DESTINATION";
/// `sextant server --allowed-hosts`: the `Host` headers served (DNS-rebinding protection).
pub const SEXTANT_ALLOWED_HOSTS: &str = "SEXTANT_ALLOWED_HOSTS";
/// MLflow's variable for `--allowed-hosts`, honoured when ours is unset.
pub const MLFLOW_SERVER_ALLOWED_HOSTS: &str = "MLFLOW_SERVER_ALLOWED_HOSTS";
/// `sextant server --cors-allowed-origins`: other origins that may send requests.
pub const SEXTANT_CORS_ALLOWED_ORIGINS: &str = "SEXTANT_CORS_ALLOWED_ORIGINS";
/// MLflow's variable for `--cors-allowed-origins`, honoured when ours is unset.
pub const MLFLOW_SERVER_CORS_ALLOWED_ORIGINS: &str = "MLFLOW_SERVER_CORS_ALLOWED_ORIGINS";
/// `sextant server --allow-unauthenticated`: without `--auth`, serve other machines too.
pub const SEXTANT_ALLOW_UNAUTHENTICATED: &str = "SEXTANT_ALLOW_UNAUTHENTICATED";
/// MLflow's variable for the backend store, honoured when ours is unset.
pub const MLFLOW_BACKEND_STORE_URI: &str = "MLFLOW_BACKEND_STORE_URI";
/// MLflow's variable for the artifacts destination, honoured when ours is unset.
pub const MLFLOW_ARTIFACTS_DESTINATION: &str = "MLFLOW_ARTIFACTS_DESTINATION";
/// Who you are, for registry review decisions and the audit log (`--user` on the server and on
/// `sextant models`).
pub const SEXTANT_USER: &str = "SEXTANT_USER";
/// `sextant server --max-request-body`: largest JSON request body (bytes, or with KiB/MiB).
pub const SEXTANT_MAX_REQUEST_BODY: &str = "SEXTANT_MAX_REQUEST_BODY";
/// `sextant server --max-dataset-body`: largest `runs/log-inputs` body.
pub const SEXTANT_MAX_DATASET_BODY: &str = "SEXTANT_MAX_DATASET_BODY";
/// `sextant server --max-concurrent-searches`: expensive requests served at once.
pub const SEXTANT_MAX_CONCURRENT_SEARCHES: &str = "SEXTANT_MAX_CONCURRENT_SEARCHES";
/// `sextant server --search-queue-wait`: how long an expensive request waits for its turn.
pub const SEXTANT_SEARCH_QUEUE_WAIT: &str = "SEXTANT_SEARCH_QUEUE_WAIT";
/// `sextant server --statement-timeout`: PostgreSQL's per-statement limit.
pub const SEXTANT_STATEMENT_TIMEOUT: &str = "SEXTANT_STATEMENT_TIMEOUT";
/// `sextant server --health-timeout`: how long `/health` waits for the database.
pub const SEXTANT_HEALTH_TIMEOUT: &str = "SEXTANT_HEALTH_TIMEOUT";
/// `sextant server --header-timeout`: header-read and keep-alive idle timeout.
pub const SEXTANT_HEADER_TIMEOUT: &str = "SEXTANT_HEADER_TIMEOUT";
/// `sextant server --max-connections`: open connections at once.
pub const SEXTANT_MAX_CONNECTIONS: &str = "SEXTANT_MAX_CONNECTIONS";
/// The tracking server the client commands (`sextant models ...`) talk to.
pub const MLFLOW_TRACKING_URI: &str = "MLFLOW_TRACKING_URI";
/// `sextant run --experiment`: MLflow's variable for the experiment a run goes into.
pub const MLFLOW_EXPERIMENT_NAME: &str = "MLFLOW_EXPERIMENT_NAME";
/// `sextant run --run-id`: attach the command to this existing run (as one stage of it).
pub const SEXTANT_RUN_ID: &str = "SEXTANT_RUN_ID";
/// `sextant run --run-key`: the stable key (e.g. a CI pipeline id) naming the run to fill.
pub const SEXTANT_RUN_KEY: &str = "SEXTANT_RUN_KEY";
/// `sextant server --auth`: require credentials on every request.
pub const SEXTANT_AUTH: &str = "SEXTANT_AUTH";
/// `sextant server --admin-user`: the first admin's name.
pub const SEXTANT_ADMIN_USER: &str = "SEXTANT_ADMIN_USER";
/// The first admin's password (never a flag: flags show up in `ps`).
pub const SEXTANT_ADMIN_PASSWORD: &str = "SEXTANT_ADMIN_PASSWORD";
/// `sextant server --default-permission`.
pub const SEXTANT_DEFAULT_PERMISSION: &str = "SEXTANT_DEFAULT_PERMISSION";
/// MLflow's basic_auth.ini (`admin_username`, `admin_password`, `default_permission`).
pub const MLFLOW_AUTH_CONFIG_PATH: &str = "MLFLOW_AUTH_CONFIG_PATH";
/// MLflow's override of basic_auth.ini's `admin_username`.
pub const MLFLOW_AUTH_ADMIN_USERNAME: &str = "MLFLOW_AUTH_ADMIN_USERNAME";
/// MLflow's override of basic_auth.ini's `admin_password`.
pub const MLFLOW_AUTH_ADMIN_PASSWORD: &str = "MLFLOW_AUTH_ADMIN_PASSWORD";
