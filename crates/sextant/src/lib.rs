//! The `sextant` command line: argument definitions, settings resolution, and one module per
//! command under [`commands`]. Everything else lives in the library crates.

pub mod cli;
pub mod commands;
pub mod env;
pub mod printer;
pub mod shutdown;

use std::io::IsTerminal;
use std::process::ExitCode;

use clap::Parser;

/// Entry point: parse arguments, set up logging, run the command, print errors with hints.
pub fn main() -> ExitCode {
    let cli = cli::Cli::parse();
    init_logging(&cli.global);
    let result = match cli.command {
        cli::Command::Server(args) => commands::server::run(args),
        cli::Command::Models(args) => commands::models::run(args),
        cli::Command::Token(args) => commands::token::run(args),
        cli::Command::Run(args) => commands::run::run(*args, cli.global.quiet),
        cli::Command::Data(args) => commands::data::run(args, cli.global.quiet),
        // Exit 1 on a regression comes back as Ok; its errors (usage, data) fall to exit 2 below.
        cli::Command::Compare(args) => commands::compare::run(*args),
        cli::Command::Serve(args) => commands::serve::run(args),
        cli::Command::Repro(args) => commands::pipeline::repro(args, cli.global.quiet),
        cli::Command::Dag(args) => commands::pipeline::dag(args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            printer::write_err(format_args!("error: {err}"));
            for cause in err.chain().skip(1) {
                printer::write_err(format_args!("  caused by: {cause}"));
            }
            // A rule refused the action (exit 1); anything else is a usage or system error (2).
            if err.downcast_ref::<commands::models::Refused>().is_some() {
                ExitCode::from(1)
            } else {
                ExitCode::from(2)
            }
        }
    }
}

fn init_logging(g: &cli::GlobalArgs) {
    use tracing_subscriber::EnvFilter;
    let default = match g.verbose {
        0 => "info,tower_http=info",
        1 => "debug,hyper=info",
        _ => "trace",
    };
    let filter = EnvFilter::try_from_env(env::SEXTANT_LOG)
        .unwrap_or_else(|_| EnvFilter::new(if g.quiet { "warn" } else { default }));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let color = std::io::stderr().is_terminal() && std::env::var_os("NO_COLOR").is_none();
    match g.log_format {
        cli::LogFormat::Json => builder.json().init(),
        cli::LogFormat::Text => builder.with_ansi(color).init(),
    }
}
