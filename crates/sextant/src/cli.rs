//! Command-line definitions (clap derive). Raw arguments only; `commands::*` resolve them.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::env;

/// Sextant: experiment tracking and the whole MLOps loop in one fast binary.
///
/// Sextant speaks MLflow's REST API: point the unmodified `mlflow` client at it with
/// MLFLOW_TRACKING_URI=http://127.0.0.1:5000 and it works as it did against `mlflow server`.
#[derive(Debug, Parser)]
#[command(name = "sextant", version, propagate_version = true)]
pub struct Cli {
    #[command(flatten)]
    pub global: GlobalArgs,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Args)]
pub struct GlobalArgs {
    /// More log output (-v debug, -vv trace). SEXTANT_LOG overrides.
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only warnings and errors.
    #[arg(short, long, global = true)]
    pub quiet: bool,
    /// Log format on stderr.
    #[arg(long, global = true, value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process; the server's flags make its variant large"
)]
pub enum Command {
    /// Run the tracking server (a drop-in for `mlflow server`).
    Server(ServerArgs),
    // About and help (with examples) come from `ModelsArgs`'s own doc comment.
    Models(ModelsArgs),
    // About and help (with examples) come from `TokenArgs`'s own doc comment.
    Token(TokenArgs),
    // About and help (with examples) come from `RunArgs`'s own doc comment.
    Run(Box<RunArgs>),
    /// Version large data files next to your code, on DVC's formats (add, status, push, pull).
    Data(DataArgs),
    /// Is the candidate significantly better than the baseline across a suite of test problems?
    Compare(Box<CompareArgs>),
    // About and help (with examples) come from `ServeArgs`'s own doc comment.
    Serve(ServeArgs),
    // About and help (with examples) come from `ReproArgs`'s own doc comment.
    Repro(ReproArgs),
    /// Show the pipeline's stages and how they depend on each other (text, --json, --dot).
    Dag(DagArgs),
}

/// Review, protect and promote registered models; read their audit log.
///
/// The model registry's review workflow: every new version starts "pending review"; reviewers
/// approve or reject it with a comment; protected aliases (e.g. production) only ever point at
/// approved versions; every decision and alias move is in the audit log.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant models list
///   sextant models show fraud-detector
///   sextant models protect fraud-detector --alias production
///   sextant models review fraud-detector 3 --approve -m "AUC 0.93 on the holdout set"
///   sextant models promote fraud-detector 3 --alias production
///   sextant models log fraud-detector
///
/// On a server with --auth, set the credentials the mlflow client uses:
///   export MLFLOW_TRACKING_USERNAME=alice MLFLOW_TRACKING_PASSWORD=...   (HTTP Basic)
///   export MLFLOW_TRACKING_TOKEN=...                                     (a token, for CI)
/// The audit log then records the authenticated user; --user / SEXTANT_USER no longer decide
/// who acted. A version's author cannot approve it there.
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ModelsArgs {
    /// The tracking server (a `sextant server`).
    #[arg(long, global = true, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Who you are, recorded in the audit log, on a server without --auth. A server with
    /// --auth ignores it: there the authenticated user (MLFLOW_TRACKING_USERNAME, or the owner
    /// of MLFLOW_TRACKING_TOKEN) is who acted. [default: $USER]
    #[arg(long, global = true, env = env::SEXTANT_USER)]
    pub user: Option<String>,
    /// Print the server's JSON instead of a table (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: ModelsCommand,
}

#[derive(Debug, Subcommand)]
pub enum ModelsCommand {
    /// Every registered model: versions, review counts, aliases.
    ///
    /// Examples:
    ///   sextant models list
    ///   sextant models list --json    # the server's JSON, for scripts
    #[command(verbatim_doc_comment)]
    List,
    /// One model: its versions with review status, stage and aliases.
    ///
    /// Examples:
    ///   sextant models show fraud-detector
    ///   sextant models show fraud-detector --json
    #[command(verbatim_doc_comment)]
    Show {
        /// Registered model name.
        name: String,
    },
    /// Approve or reject a version, with a comment saying why.
    ///
    /// A version whose recorded checks failed is approved only with --override-failed-checks,
    /// and the audit log shows the override.
    ///
    /// Examples:
    ///   sextant models review fraud-detector 3 --approve -m "AUC 0.93 on the holdout set"
    ///   sextant models review fraud-detector 4 --reject -m "recall fell on the new data"
    ///   sextant models review fraud-detector 5 --approve --override-failed-checks \
    ///       -m "fairness gap accepted by the risk team"
    #[command(verbatim_doc_comment)]
    Review {
        /// Registered model name.
        name: String,
        /// The version to decide on, e.g. 3.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// Approve the version.
        #[arg(long, required_unless_present = "reject", conflicts_with = "reject")]
        approve: bool,
        /// Reject the version.
        #[arg(long)]
        reject: bool,
        /// Why (required).
        #[arg(long, short = 'm')]
        message: String,
        /// Approve even though recorded checks failed (audited).
        #[arg(long)]
        override_failed_checks: bool,
    },
    /// Point an alias at a version (a protected alias only takes approved versions).
    ///
    /// A refused promotion says why (e.g. the version is not approved) and moves nothing.
    ///
    /// Examples:
    ///   sextant models promote fraud-detector 3 --alias production
    ///   sextant models promote fraud-detector 4 --alias staging
    #[command(verbatim_doc_comment)]
    Promote {
        /// Registered model name.
        name: String,
        /// The version the alias should point at.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// The alias to move, e.g. production.
        #[arg(long)]
        alias: String,
    },
    /// Protect an alias so it may only point at approved versions (--unprotect lifts it).
    ///
    /// Examples:
    ///   sextant models protect fraud-detector --alias production
    ///   sextant models protect fraud-detector --alias production --unprotect
    #[command(verbatim_doc_comment)]
    Protect {
        /// Registered model name.
        name: String,
        /// The alias to protect, e.g. production.
        #[arg(long)]
        alias: String,
        /// Remove the protection instead.
        #[arg(long)]
        unprotect: bool,
    },
    /// Record the result of an automated check on a version.
    ///
    /// The latest result of each check counts: a failed one blocks approval until it passes
    /// again or a reviewer overrides it.
    ///
    /// Examples:
    ///   sextant models check fraud-detector 3 --name unit-tests --passed
    ///   sextant models check fraud-detector 3 --name fairness --failed --details "gap 0.08"
    #[command(verbatim_doc_comment)]
    Check {
        /// Registered model name.
        name: String,
        /// The version checked.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// The check's name.
        #[arg(long = "name", id = "check_name")]
        check: String,
        /// The check passed.
        #[arg(long, required_unless_present = "failed", conflicts_with = "failed")]
        passed: bool,
        /// The check failed (blocks approval unless overridden).
        #[arg(long)]
        failed: bool,
        /// What the check found.
        #[arg(long)]
        details: Option<String>,
    },
    /// Link an artifact of the version's run as its review report.
    ///
    /// Reviewers find it on the version's review record (and in the web UI).
    ///
    /// Example:
    ///   sextant models report fraud-detector 3 reports/eval.html
    #[command(verbatim_doc_comment)]
    Report {
        /// Registered model name.
        name: String,
        /// The version the report is about.
        #[arg(id = "model_version", value_name = "VERSION")]
        version: String,
        /// Path inside the run's artifacts.
        path: String,
    },
    /// The audit log: every decision, check, alias move and protection change, oldest first.
    ///
    /// Examples:
    ///   sextant models log fraud-detector
    ///   sextant models log fraud-detector --version 3
    ///   sextant models log fraud-detector --json    # the server's JSON, for scripts
    #[command(verbatim_doc_comment, disable_version_flag = true)]
    Log {
        /// Registered model name.
        name: String,
        /// Only this version's entries.
        #[arg(long = "version", id = "only_version", value_name = "VERSION")]
        version: Option<String>,
    },
}

/// Create, list and revoke access tokens for a server with --auth (for CI jobs and scripts).
///
/// A token stands for your user: a CI job sends it as MLFLOW_TRACKING_TOKEN (HTTP
/// `Authorization: Bearer`) instead of your password — the mlflow client, `sextant run`,
/// `sextant models` and every other client read that variable. The server keeps only a hash:
/// the secret is shown once, at creation. Tokens expire (default 90d); revoke one as soon as it
/// may have leaked.
///
/// Sign in with your password to manage tokens:
///   export MLFLOW_TRACKING_URI=https://sextant.example.com
///   export MLFLOW_TRACKING_USERNAME=alice
///   read -rs MLFLOW_TRACKING_PASSWORD && export MLFLOW_TRACKING_PASSWORD
///
/// Examples:
///   sextant token create --name ci --expires 90d
///   sextant token list
///   sextant token list --all --json    # every user's tokens (admins), for scripts
///   sextant token revoke 3f2a9c
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct TokenArgs {
    /// The tracking server (a `sextant server --auth`).
    #[arg(long, global = true, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Print JSON instead of a table (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    #[command(subcommand)]
    pub command: TokenCommand,
}

#[derive(Debug, Subcommand)]
pub enum TokenCommand {
    /// Create a token for the signed-in user; its secret is printed once.
    ///
    /// Store the secret where the job reads it (e.g. a CI secret variable) and use it as:
    ///   export MLFLOW_TRACKING_TOKEN=<secret>
    ///
    /// Examples:
    ///   sextant token create --name ci --expires 90d
    ///   sextant token create --name nightly-eval --expires 12h
    ///   sextant token create --name laptop --expires never
    ///   sextant token create --name ci --json | jq -r .secret    # for scripts
    #[command(verbatim_doc_comment)]
    Create {
        /// What the token is for (shown by `sextant token list`), e.g. ci.
        #[arg(long)]
        name: String,
        /// How long it lives: a number and a unit (m, h, d, w — 30m, 12h, 90d, 2w) or never.
        #[arg(long, default_value = "90d", value_parser = parse_expiry)]
        expires: sextant_client::Expiry,
    },
    /// Your tokens (never their secrets): id, name, created, expires, last used.
    ///
    /// Examples:
    ///   sextant token list
    ///   sextant token list --all           # every user's tokens (admins only)
    ///   sextant token list --json
    #[command(verbatim_doc_comment)]
    List {
        /// Every user's tokens (admins only).
        #[arg(long)]
        all: bool,
    },
    /// Revoke a token: requests with it are refused from now on.
    ///
    /// Example:
    ///   sextant token revoke 3f2a9c    # the ID that `sextant token list` shows
    #[command(verbatim_doc_comment)]
    Revoke {
        /// The token's ID (from `sextant token list`).
        id: String,
    },
}

fn parse_expiry(s: &str) -> Result<sextant_client::Expiry, String> {
    s.parse()
}

/// Run the tracking server: MLflow's REST API, the artifact proxy, health and version.
///
/// With no flags it keeps everything in ./sextant-data: an embedded SQLite database
/// (sextant.db) and an artifacts folder. Existing `mlflow server` command lines work: the
/// flags below keep MLflow's names and meaning.
///
/// Examples:
///   sextant server
///   sextant server --host 0.0.0.0 --port 5000
///   sextant server --backend-store-uri postgresql://mlflow:pw@db:5432/mlflow \
///                  --artifacts-destination s3://bucket/mlflow
#[derive(Debug, Args)]
#[command(verbatim_doc_comment, disable_help_flag = true)]
pub struct ServerArgs {
    /// Print help (`-h` is `--host`, as in `mlflow server`).
    #[arg(long, action = clap::ArgAction::Help)]
    pub help: Option<bool>,

    /// Address to listen on (0.0.0.0 to listen on every interface).
    #[arg(long, short = 'h', env = env::SEXTANT_HOST, default_value = "127.0.0.1")]
    pub host: String,

    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, short = 'p', env = env::SEXTANT_PORT, default_value_t = 5000)]
    pub port: u16,

    /// Folder for the default SQLite store and artifacts.
    #[arg(long, env = env::SEXTANT_DATA_DIR, default_value = "sextant-data")]
    pub data_dir: PathBuf,

    /// Metadata store: sqlite:///relative.db, sqlite:////absolute.db or
    /// postgresql://user:password@host:port/database. [default: sqlite:///<data-dir>/sextant.db]
    #[arg(long, env = env::SEXTANT_BACKEND_STORE_URI)]
    pub backend_store_uri: Option<String>,

    /// Where artifacts are stored: a local folder, file:///path, or s3://bucket/prefix (endpoint
    /// and credentials from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
    /// AWS_DEFAULT_REGION). [default: <data-dir>/artifacts]
    #[arg(long, env = env::SEXTANT_ARTIFACTS_DESTINATION)]
    pub artifacts_destination: Option<String>,

    /// MLflow's flag for the artifact root of new experiments. Sextant always proxies artifacts
    /// (clients only ever talk to the server), so a storage location given here is used as the
    /// artifacts destination when --artifacts-destination is not set.
    #[arg(long)]
    pub default_artifact_root: Option<String>,

    /// Serve artifacts through the server (MLflow's flag; always on in Sextant).
    #[arg(long)]
    pub serve_artifacts: bool,

    /// Accepted for `mlflow server` compatibility; Sextant always serves artifacts.
    #[arg(long, hide = true)]
    pub no_serve_artifacts: bool,

    /// Accepted for `mlflow server` compatibility and ignored: Sextant is one async process
    /// that uses every core.
    #[arg(long, short = 'w', hide = true)]
    pub workers: Option<String>,

    /// Who requests are from when they do not say (the `X-Sextant-User` header): recorded as
    /// the actor of registry changes made through the MLflow API, e.g. alias moves.
    #[arg(long, env = env::SEXTANT_USER)]
    pub user: Option<String>,

    /// Seconds to let in-flight requests finish after SIGTERM/Ctrl-C.
    #[arg(long, default_value_t = 30)]
    pub shutdown_grace: u64,

    /// `Host` headers to serve, comma-separated, `*` as a wildcard (e.g.
    /// mlflow.example.com,10.0.0.*): a request for any other name is refused, which stops DNS
    /// rebinding. An entry without a port matches any port; the loopback names always stay
    /// served; '*' accepts every host (not recommended). Also read from
    /// MLFLOW_SERVER_ALLOWED_HOSTS. [default: localhost,
    /// 127.0.0.1 and [::1] on a loopback address; on any other address also private-network IP
    /// addresses and the address itself]
    #[arg(long, env = env::SEXTANT_ALLOWED_HOSTS, value_name = "HOSTS")]
    pub allowed_hosts: Option<String>,

    /// Other origins (web apps) that may send state-changing requests and read answers
    /// (CORS), comma-separated, `*` as a wildcard (e.g. https://app.example.com). The server's
    /// own origin always may; '*' lets every site send requests without credentials. Also read
    /// from MLFLOW_SERVER_CORS_ALLOWED_ORIGINS. [default: none]
    #[arg(long, env = env::SEXTANT_CORS_ALLOWED_ORIGINS, value_name = "ORIGINS")]
    pub cors_allowed_origins: Option<String>,

    /// Without --auth, serve requests from other machines too. By default (protected mode) a
    /// server without --auth refuses every request that does not come from its own machine;
    /// with this flag anyone who can reach the port can read and change everything.
    #[arg(
        long,
        env = env::SEXTANT_ALLOW_UNAUTHENTICATED,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub allow_unauthenticated: bool,

    /// Require credentials on every API call, artifact request and UI page (/health and
    /// /version excepted), as MLflow's basic-auth app does: HTTP Basic
    /// (MLFLOW_TRACKING_USERNAME/PASSWORD), API tokens (MLFLOW_TRACKING_TOKEN) or the UI's
    /// sign-in. Needs a first admin: --admin-user with SEXTANT_ADMIN_PASSWORD, or MLflow's
    /// basic_auth.ini via MLFLOW_AUTH_CONFIG_PATH.
    #[arg(
        long,
        env = env::SEXTANT_AUTH,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub auth: bool,

    /// MLflow's flag: `--app-name basic-auth` turns auth on, as --auth does.
    #[arg(long, value_name = "NAME")]
    pub app_name: Option<String>,

    /// With --auth: the first admin, created on first start with the password in
    /// SEXTANT_ADMIN_PASSWORD (an existing user is made admin, their password kept).
    #[arg(long, env = env::SEXTANT_ADMIN_USER, value_name = "NAME")]
    pub admin_user: Option<String>,

    /// With --auth: what users may do on experiments and models nobody granted them anything
    /// on: READ (MLflow's default), USE, EDIT, MANAGE or NO_PERMISSIONS. Also read from
    /// basic_auth.ini's default_permission. [default: READ]
    #[arg(long, env = env::SEXTANT_DEFAULT_PERMISSION, value_name = "PERMISSION")]
    pub default_permission: Option<String>,

    /// Largest JSON request body of the API (log-batch and every other call but log-inputs),
    /// in bytes or with a unit (512KiB, 10MiB); a larger one is refused with 413 and a JSON
    /// error naming the limit.
    #[arg(long, env = env::SEXTANT_MAX_REQUEST_BODY, value_name = "SIZE", default_value = "10MiB", value_parser = parse_size)]
    pub max_request_body: usize,

    /// Largest body of runs/log-inputs (datasets carry profiles up to 16 MB and schemas).
    #[arg(long, env = env::SEXTANT_MAX_DATASET_BODY, value_name = "SIZE", default_value = "40MiB", value_parser = parse_size)]
    pub max_dataset_body: usize,

    /// Expensive requests (searches, metric histories) served at once; more wait their turn,
    /// up to --search-queue-wait, then get 429 with Retry-After. Bounds the memory results
    /// take (a 50,000-run search holds its whole page).
    #[arg(long, env = env::SEXTANT_MAX_CONCURRENT_SEARCHES, value_name = "N", default_value_t = sextant_server::limits::DEFAULT_MAX_CONCURRENT_SEARCHES)]
    pub max_concurrent_searches: usize,

    /// How long an expensive request waits for its turn (e.g. 10s, 500ms).
    #[arg(long, env = env::SEXTANT_SEARCH_QUEUE_WAIT, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub search_queue_wait: std::time::Duration,

    /// PostgreSQL: the longest one SQL statement may run (e.g. 5s, 30s; 0 for no limit).
    /// A statement past it is cancelled and the request answered 503 with Retry-After.
    #[arg(long, env = env::SEXTANT_STATEMENT_TIMEOUT, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub statement_timeout: std::time::Duration,

    /// How long /health waits for the database (on a connection of its own) before it
    /// answers 503.
    #[arg(long, env = env::SEXTANT_HEALTH_TIMEOUT, value_name = "DURATION", default_value = "1s", value_parser = parse_duration)]
    pub health_timeout: std::time::Duration,

    /// A connection must send a complete request head within this time of opening or of its
    /// previous response, and a request body must not stall longer between chunks; idle
    /// keep-alive connections close after it.
    #[arg(long, env = env::SEXTANT_HEADER_TIMEOUT, value_name = "DURATION", default_value = "10s", value_parser = parse_duration)]
    pub header_timeout: std::time::Duration,

    /// Most connections open at once; at the limit the oldest idle connection is closed for a
    /// new one. [default: 7/8 of the open-file limit (ulimit -n)]
    #[arg(long, env = env::SEXTANT_MAX_CONNECTIONS, value_name = "N")]
    pub max_connections: Option<usize>,
}

/// A size in bytes: a number with an optional unit (B, KiB, MiB, GiB; KB/MB/GB are 1000-based).
pub fn parse_size(s: &str) -> Result<usize, String> {
    let t = s.trim();
    let split = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: usize = num
        .parse()
        .map_err(|_| format!("'{s}' is not a size; write e.g. 10MiB, 512KiB or 1048576"))?;
    let mult: usize = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "k" | "kib" => 1 << 10,
        "m" | "mib" => 1 << 20,
        "g" | "gib" => 1 << 30,
        "kb" => 1000,
        "mb" => 1_000_000,
        "gb" => 1_000_000_000,
        other => {
            return Err(format!(
                "unknown size unit '{other}' in '{s}'; use KiB, MiB or GiB"
            ));
        }
    };
    n.checked_mul(mult)
        .filter(|v| *v > 0)
        .ok_or_else(|| format!("'{s}' is not a usable size"))
}

/// A duration: a number with a unit (ms, s, m), e.g. 500ms, 5s, 2m; a bare number is seconds.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let t = s.trim();
    let split = t
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(t.len());
    let (num, unit) = t.split_at(split);
    let n: f64 = num
        .parse()
        .map_err(|_| format!("'{s}' is not a duration; write e.g. 5s, 500ms or 2m"))?;
    let secs = match unit.trim() {
        "" | "s" => n,
        "ms" => n / 1000.0,
        "m" | "min" => n * 60.0,
        other => {
            return Err(format!(
                "unknown duration unit '{other}' in '{s}'; use ms, s or m"
            ));
        }
    };
    std::time::Duration::try_from_secs_f64(secs)
        .map_err(|_| format!("'{s}' is not a usable duration"))
}

/// Version large data files and directories next to your code, on DVC 3's own formats.
///
/// Works in existing DVC repositories (`.dvc` pointer files, `.dvc/cache`, `.dvc/config`,
/// remotes): switch by changing the program name, and switch back at any time. In a plain git
/// repository the first `add` creates `.dvc/` as `dvc init` would.
///
/// Examples:
///   sextant data add data/problems big.parquet      # hash on all cores, cache, write .dvc files
///   git add data/problems.dvc big.parquet.dvc .gitignore && git commit -m "track data"
///   sextant data remote add storage s3://bucket/dvc --default
///   sextant data push                               # many parallel transfers, resumable
///   sextant data status                             # what changed vs the .dvc files
///   sextant data status --cloud                     # what the remote lacks
///   git checkout other-branch && sextant data checkout
///   sextant data pull                               # on a fresh clone: fetch, verify, check out
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DataArgs {
    /// Print JSON instead of text (for scripts).
    #[arg(long, global = true)]
    pub json: bool,
    /// Parallel transfers or hashing threads [default: 4 x cores for transfers, all cores for hashing].
    #[arg(long, short = 'j', global = true)]
    pub jobs: Option<usize>,
    #[command(subcommand)]
    pub command: DataCommand,
}

#[derive(Debug, Subcommand)]
pub enum DataCommand {
    /// Create `.dvc/` here, as `dvc init` does (`add` does it for you when needed).
    Init,
    /// Track files or directories: hash them, store them in the cache, write `<path>.dvc`,
    /// add the path to `.gitignore`, link the working copy per `cache.type`.
    ///
    /// Example: sextant data add data/problems models/weights.bin
    Add {
        /// Files or directories to track.
        #[arg(required = true)]
        paths: Vec<PathBuf>,
    },
    /// Show what changed in the workspace vs the `.dvc` files, and what the cache lacks.
    ///
    /// With --cloud (or --remote), show instead what the remote lacks ("new": only in the
    /// cache, "deleted": only on the remote, "missing": in neither).
    ///
    /// Examples:
    ///   sextant data status
    ///   sextant data status --cloud --json
    Status {
        /// Only these outputs (data paths or their .dvc files).
        targets: Vec<PathBuf>,
        /// Compare the cache with the default remote.
        #[arg(long, short = 'c')]
        cloud: bool,
        /// Compare the cache with this remote (implies --cloud).
        #[arg(long, short = 'r')]
        remote: Option<String>,
    },
    /// Make the workspace match the `.dvc` files (after `git checkout` or `git pull`).
    ///
    /// Workspace files whose content is not in the cache are not overwritten unless --force.
    Checkout {
        /// Only these outputs (data paths or their .dvc files).
        targets: Vec<PathBuf>,
        /// Overwrite or remove workspace files even when their content is not cached.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Upload the cache objects the `.dvc` files need to a remote; already-present objects are
    /// skipped, so an interrupted push resumes.
    ///
    /// Example: sextant data push -r storage -j 64
    Push {
        /// Only these outputs.
        targets: Vec<PathBuf>,
        /// The remote [default: core.remote].
        #[arg(long, short = 'r')]
        remote: Option<String>,
    },
    /// Download what the `.dvc` files need (md5-verified) and check it out.
    ///
    /// Example: sextant data pull
    Pull {
        /// Only these outputs.
        targets: Vec<PathBuf>,
        /// The remote [default: core.remote].
        #[arg(long, short = 'r')]
        remote: Option<String>,
        /// Overwrite workspace files even when their content is not cached.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// Download what the `.dvc` files need into the cache (md5-verified), without checkout.
    Fetch {
        /// Only these outputs.
        targets: Vec<PathBuf>,
        /// The remote [default: core.remote].
        #[arg(long, short = 'r')]
        remote: Option<String>,
    },
    /// Configure remotes (`.dvc/config`, readable by dvc).
    Remote {
        #[command(subcommand)]
        command: DataRemoteCommand,
    },
    /// Remove cache objects that no `.dvc` file needs (a dry run unless --force).
    ///
    /// Kept: what the workspace's `.dvc` files name, plus the revisions chosen by the flags.
    ///
    /// Examples:
    ///   sextant data gc                     # list what would go
    ///   sextant data gc --all-branches --force
    Gc {
        /// Delete the unused objects (default: only list them).
        #[arg(long, short = 'f')]
        force: bool,
        /// Keep objects of every branch's tip too.
        #[arg(long, short = 'a')]
        all_branches: bool,
        /// Keep objects of every tag too.
        #[arg(long, short = 'T')]
        all_tags: bool,
        /// Keep objects of every commit too.
        #[arg(long, short = 'A')]
        all_commits: bool,
    },
}

#[derive(Debug, Subcommand)]
pub enum DataRemoteCommand {
    /// Add a remote: a local folder, file:///path, or s3://bucket/prefix.
    ///
    /// S3 endpoint and credentials come from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID,
    /// AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION, or the remote's own keys (endpointurl,
    /// region, access_key_id, secret_access_key; see `remote modify`).
    ///
    /// Examples:
    ///   sextant data remote add storage s3://bucket/dvc --default
    ///   sextant data remote add nas /mnt/nas/dvc-cache
    Add {
        /// Remote name.
        name: String,
        /// Where it is.
        url: String,
        /// Make it the default remote (core.remote).
        #[arg(long, short = 'd')]
        default: bool,
        /// Replace an existing remote of that name.
        #[arg(long, short = 'f')]
        force: bool,
    },
    /// List remotes (name, URL, and which is the default).
    List,
    /// Set one option of a remote, e.g. `endpointurl http://127.0.0.1:9000`.
    Modify {
        /// Remote name.
        name: String,
        /// Option (url, endpointurl, region, access_key_id, secret_access_key, ...).
        option: String,
        /// Value.
        value: String,
    },
    /// Make a remote the default (core.remote).
    Default {
        /// Remote name.
        name: String,
    },
}

/// Bring the pipeline of dvc.yaml up to date, on DVC's formats (dvc.yaml, dvc.lock, the run
/// cache): `sextant repro` and `dvc repro` work on the same repository.
///
/// A stage runs when its command, a dependency, a param or an output differs from dvc.lock
/// (or it is always_changed; never when frozen), upstream stages first. Independent stages run
/// at once with -j. Each stage's lock entry is written as soon as it finishes, so a repro that
/// is killed and started again runs only what had not finished. When a stage's exact inputs
/// ran before (dvc.lock or the run cache), its outputs are checked out instead of recomputed.
///
/// Examples:
///   sextant repro                         # every stage that is stale
///   sextant repro train -j 4              # train and what it needs, 4 stages at once
///   sextant repro --dry                   # what would run, and why
///   sextant repro --pull --push           # a spot machine: restore, then share what runs
///   sextant repro -s evaluate --force     # only evaluate, even if up to date
///   sextant repro --json | jq '.stages[] | select(.action == "ran") | .stage'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ReproArgs {
    /// Stages to bring up to date (names, or a foreach/matrix group name) [default: all].
    pub targets: Vec<String>,
    /// Run the stages even when up to date (never restore them from the run cache).
    #[arg(long, short = 'f')]
    pub force: bool,
    /// Only print what would run, and why.
    #[arg(long)]
    pub dry: bool,
    /// Only the targets, not the stages they depend on.
    #[arg(long, short = 's')]
    pub single_item: bool,
    /// Stages run at once.
    #[arg(long, short = 'j', default_value_t = 1)]
    pub jobs: usize,
    /// Push each finished stage's outputs and run-cache entry to the remote at once.
    #[arg(long)]
    pub push: bool,
    /// Fetch the run cache, and the outputs of stages that ran elsewhere, from the remote.
    #[arg(long)]
    pub pull: bool,
    /// The remote for --push and --pull [default: core.remote].
    #[arg(long, short = 'r')]
    pub remote: Option<String>,
    /// Do not restore outputs from the run cache (runs are still recorded in it).
    #[arg(long)]
    pub no_run_cache: bool,
    /// After a stage fails, go on with the stages that do not depend on it (the exit status
    /// still says it failed).
    #[arg(long, short = 'k')]
    pub keep_going: bool,
    /// At the end, print every stage's action and reasons as JSON on stdout (the commands'
    /// own output goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// Record each stage that runs (or is restored) as a run of this tracking server, under a
    /// parent run for the whole repro.
    #[arg(long, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// The experiment of those runs, by name (created if missing). [default: Default]
    #[arg(long, short = 'e', env = env::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
}

/// Show the stages of dvc.yaml and the paths that link them, upstream first.
///
/// Examples:
///   sextant dag
///   sextant dag train --json
///   sextant dag --dot | dot -Tsvg > pipeline.svg
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct DagArgs {
    /// Only these stages and what they depend on [default: all].
    pub targets: Vec<String>,
    /// Nodes and edges as JSON.
    #[arg(long, conflicts_with = "dot")]
    pub json: bool,
    /// Graphviz dot.
    #[arg(long)]
    pub dot: bool,
}

/// Run any command as a tracked run, with everything needed to reproduce it.
///
/// The command runs as it would without Sextant (same terminal output, same exit code; 128 +
/// the signal when a signal ends it) while the run records: the command line, working folder,
/// start/end time, duration and status (FINISHED, FAILED, KILLED on a signal); git commit,
/// branch, remote and dirty state with the uncommitted diff; params from --param and params
/// files; OS, CPU, memory, Python packages and lock-file hashes; stdout and stderr; system
/// metrics every few seconds; metrics files and a live JSON-lines file; outputs. The command
/// gets MLFLOW_TRACKING_URI and MLFLOW_RUN_ID, so its own mlflow calls log into the same run.
/// Every name recorded is listed in docs/run.md.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant run -- python train.py --epochs 3
///   sextant run --experiment nightly --params params.yaml --param lr=0.01 \
///       --metrics eval.json --live-metrics metrics.jsonl --output model/ -- ./train.sh
///   sextant run --run-key "$CI_PIPELINE_ID" --stage test -- pytest -x   # one run per pipeline
///   sextant run --json -- make test | tail -1                           # run id, status as JSON
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct RunArgs {
    /// The tracking server.
    #[arg(long, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// The experiment, by name (created if missing). [default: the Default experiment]
    #[arg(long, short = 'e', env = env::MLFLOW_EXPERIMENT_NAME)]
    pub experiment: Option<String>,
    /// The run's name (mlflow.runName).
    #[arg(long)]
    pub name: Option<String>,
    /// Attach to this existing run instead of creating one (the command is one stage of it).
    #[arg(long, env = env::SEXTANT_RUN_ID)]
    pub run_id: Option<String>,
    /// Fill the run this stable key names (e.g. a CI pipeline id), created on first use; every
    /// stage given the same key, on any machine, ends in that one run.
    #[arg(long, env = env::SEXTANT_RUN_KEY)]
    pub run_key: Option<String>,
    /// The stage's name when attached (logs under stages/NAME/). [default: from the command]
    #[arg(long)]
    pub stage: Option<String>,
    /// A param, KEY=VALUE (repeatable; wins over params files).
    #[arg(long = "param", value_name = "KEY=VALUE")]
    pub params: Vec<String>,
    /// A params file: YAML, JSON or TOML; nested keys are flattened with dots (repeatable).
    #[arg(long = "params", value_name = "FILE")]
    pub param_files: Vec<PathBuf>,
    /// A tag on the run, KEY=VALUE (repeatable).
    #[arg(long = "tag", value_name = "KEY=VALUE")]
    pub tags: Vec<String>,
    /// Record this environment variable's value (repeatable).
    #[arg(long = "env-var", value_name = "NAME")]
    pub env_vars: Vec<String>,
    /// A metrics file the command writes (JSON, YAML, CSV, JSON lines), read when it ends
    /// (repeatable).
    #[arg(long = "metrics", value_name = "FILE")]
    pub metrics: Vec<PathBuf>,
    /// A JSON-lines file the command appends to (`{"step": 3, "loss": 0.2}`), followed while it
    /// runs (repeatable).
    #[arg(long = "live-metrics", value_name = "FILE")]
    pub live_metrics: Vec<PathBuf>,
    /// A file or folder uploaded as artifacts when the command ends, even if it failed
    /// (repeatable).
    #[arg(long = "output", value_name = "PATH")]
    pub outputs: Vec<PathBuf>,
    /// The Python interpreter whose packages are recorded (pip freeze), when the command is
    /// not itself `python ...` (e.g. a shell script that runs .venv/bin/python).
    #[arg(long, value_name = "PATH")]
    pub python: Option<PathBuf>,
    /// Seconds between system-metric samples (0 turns them off).
    #[arg(long, default_value_t = 5.0, value_name = "SECONDS")]
    pub sample_interval: f64,
    /// Seconds between uploads of the logs while the command runs.
    #[arg(long, default_value_t = 10.0, value_name = "SECONDS")]
    pub upload_interval: f64,
    /// Who runs it (mlflow.user). [default: $LOGNAME / $USER]
    #[arg(long, env = env::SEXTANT_USER)]
    pub user: Option<String>,
    /// At the end, print {"run_id", "experiment_id", "status", "exit_code", ...} as one JSON line
    /// on stdout.
    #[arg(long)]
    pub json: bool,
    /// The command and its arguments, after `--`.
    #[arg(last = true, required = true, value_name = "COMMAND")]
    pub command: Vec<String>,
}

/// Compare a candidate with a baseline across a suite of test problems, each run with several
/// seeds, and store the verdict in the tracking server next to the runs.
///
/// Per problem: medians, the difference with a bootstrap interval, a Mann-Whitney U test and
/// Vargha-Delaney's A12. Across problems: a Wilcoxon signed-rank test on the per-problem
/// medians and a count of wins / ties / losses. Holm's correction over problems and metrics.
/// When the suite is too small for any test to reach alpha, the report says so.
///
/// Each side is a set of runs chosen with MLflow's search grammar; runs are grouped into
/// problems by --by. Failed runs and problems present on one side only are listed, never
/// dropped silently (--require-complete makes them an error).
///
/// Exit status: 0 no metric regressed, 1 a metric regressed significantly, 2 usage or data error.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant compare --baseline "tags.git_branch = 'main' AND tags.suite = 'nightly-118'" \
///                   --candidate "tags.git_branch = 'faster-mutation'" \
///                   --by tags.problem --metric cost:min --metric feasible:max
///   sextant compare --baseline-latest-on main --candidate "tags.suite = 'pr-42'" \
///                   --metric cost --html report.html --markdown comment.md
///   sextant compare ... --json | jq .verdict
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct CompareArgs {
    /// Runs of the baseline (an MLflow search filter). With --baseline-latest-on it narrows
    /// the runs searched for the newest suite.
    #[arg(
        long,
        value_name = "FILTER",
        required_unless_present = "baseline_latest_on"
    )]
    pub baseline: Option<String>,
    /// Take as baseline the newest complete suite run on BRANCH: the runs tagged
    /// mlflow.source.git.branch = BRANCH whose --suite-tag value has the newest run, with no run
    /// still RUNNING and none shared with the candidate.
    #[arg(long, value_name = "BRANCH")]
    pub baseline_latest_on: Option<String>,
    /// The tag that names the suite a run belongs to (for --baseline-latest-on).
    #[arg(long, value_name = "KEY", default_value = "sextant.suite")]
    pub suite_tag: String,
    /// Runs of the candidate (an MLflow search filter).
    #[arg(long, value_name = "FILTER")]
    pub candidate: String,
    /// What makes a problem: tags.KEY, params.KEY, run_name, user_id or experiment_id.
    #[arg(long, value_name = "KEY", default_value = "tags.problem")]
    pub by: String,
    /// A metric to compare, NAME:min (smaller is better, the default) or NAME:max. Repeatable.
    #[arg(long, value_name = "NAME[:min|:max]", required = true)]
    pub metric: Vec<String>,
    /// Experiment to search, by name (repeatable). [default: every active experiment]
    #[arg(long, value_name = "NAME")]
    pub experiment: Vec<String>,
    /// The tracking server.
    #[arg(long, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Who ran the comparison (the stored run's X-Sextant-User). [default: $USER]
    #[arg(long, env = env::SEXTANT_USER)]
    pub user: Option<String>,
    /// Family-wise significance level, after Holm's correction.
    #[arg(long, default_value_t = 0.05)]
    pub alpha: f64,
    /// Smallest effect that counts, as an A12 (0.5 = any; 0.56 small, 0.64 medium, 0.71 large).
    #[arg(long, default_value_t = 0.56)]
    pub min_effect: f64,
    /// Seed of the bootstrap (reported, so a report can be reproduced).
    #[arg(long, default_value_t = 0x5E57_A417)]
    pub seed: u64,
    /// Bootstrap resamples per problem.
    #[arg(long, value_name = "N", default_value_t = 10_000)]
    pub bootstrap: usize,
    /// Fail (exit 2) when a run failed, lacks a metric or the grouping key, or a problem is on
    /// one side only.
    #[arg(long)]
    pub require_complete: bool,
    /// Print the whole comparison as JSON instead of tables.
    #[arg(long)]
    pub json: bool,
    /// Also write the report as Markdown (for a pull-request comment).
    #[arg(long, value_name = "FILE")]
    pub markdown: Option<PathBuf>,
    /// Also write a self-contained HTML report (inline SVG plots, no network).
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Do not store the comparison in the tracking server.
    #[arg(long)]
    pub no_store: bool,
}

#[cfg(test)]
mod tests {
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_valid() {
        // clap's own consistency checks (unique ids, conflicting flags) for every subcommand.
        super::Cli::command().debug_assert();
    }

    #[test]
    fn sizes_and_durations_parse_with_units() {
        use super::{parse_duration, parse_size};
        use std::time::Duration;
        assert_eq!(parse_size("10MiB"), Ok(10 * 1024 * 1024));
        assert_eq!(parse_size("512 KiB"), Ok(512 * 1024));
        assert_eq!(parse_size("1048576"), Ok(1_048_576));
        assert_eq!(parse_size("10MB"), Ok(10_000_000));
        assert!(parse_size("10 parsecs").is_err());
        assert!(parse_size("0").is_err());
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("500ms"), Ok(Duration::from_millis(500)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert_eq!(parse_duration("0"), Ok(Duration::ZERO));
        assert!(parse_duration("5 fortnights").is_err());
        assert!(parse_duration("-1s").is_err());
    }
}

/// Serve registered models as a REST service: MLflow's scoring protocol, KServe V2, /metrics.
///
/// Each model is resolved from the registry (NAME@ALIAS), downloaded, loaded (ONNX Runtime or
/// tract), checked on its stored input example, and served; aliases are polled and a new version
/// replaces the old one without dropping requests. A protected alias serves approved versions only.
///
/// Examples:
///   export MLFLOW_TRACKING_URI=http://127.0.0.1:5000
///   sextant serve --model fraud-detector@production
///   sextant serve --models 'vessel-*@production' --port 8080
///   sextant serve --model churn@staging --engine tract --poll-interval 30
///   sextant serve --model fraud-detector@production --batch-window-ms 2
///   sextant serve --model fraud-detector@production --request-log requests.jsonl --request-log-sample 0.1
///   curl -s localhost:5001/invocations -H 'Content-Type: application/json' \
///        -d '{"dataframe_split": {"columns": ["x1","x2"], "data": [[1.0, 2.0]]}}'
#[derive(Debug, Args)]
#[command(verbatim_doc_comment)]
pub struct ServeArgs {
    /// A model to serve, as NAME@ALIAS (repeatable).
    #[arg(long, value_name = "NAME@ALIAS")]
    pub model: Vec<String>,
    /// Every registered model whose name matches GLOB (`*`, `?`) and has the alias.
    #[arg(long, value_name = "GLOB@ALIAS")]
    pub models: Vec<String>,
    /// The tracking server holding the registry.
    #[arg(long, env = env::MLFLOW_TRACKING_URI)]
    pub tracking_uri: Option<String>,
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    pub host: String,
    /// Port to listen on (0 picks a free one and prints it).
    #[arg(long, default_value_t = 5001)]
    pub port: u16,
    /// Inference engine: auto (ONNX Runtime if found, else tract), ort, or tract. ONNX Runtime
    /// is loaded from ORT_DYLIB_PATH or an installed onnxruntime Python package.
    #[arg(long, default_value = "auto", value_parser = ["auto", "ort", "tract"])]
    pub engine: String,
    /// Seconds between checks of each alias for a new version.
    #[arg(long, value_name = "SECONDS", default_value_t = 10.0)]
    pub poll_interval: f64,
    /// Micro-batching: concurrent requests to one model arriving within this many milliseconds
    /// are stacked into one engine call (more throughput under load, up to this much more
    /// latency). 0 turns it off.
    #[arg(long, value_name = "MS", default_value_t = 0.0)]
    pub batch_window_ms: f64,
    /// The most rows one batched engine call stacks (a request with more runs alone).
    #[arg(long, value_name = "ROWS", default_value_t = 256)]
    pub batch_max_rows: usize,
    /// Append sampled predictions (time, model, version, inputs, outputs, latency) to this file
    /// as JSON lines, written off the request path (docs/serving.md describes the format).
    #[arg(long, value_name = "PATH")]
    pub request_log: Option<std::path::PathBuf>,
    /// The fraction of predictions written to --request-log, 0 to 1.
    #[arg(long, value_name = "FRACTION", default_value_t = 1.0)]
    pub request_log_sample: f64,
}
