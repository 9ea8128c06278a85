//! `sextant models ...`: the registry's review workflow from the command line. The requests and
//! answers are `sextant-client`'s (typed); this module parses nothing but arguments and prints.

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Result, anyhow};
use serde_json::{Value, json};
use sextant_client::{Client, ClientError, ModelSummary};
use sextant_types::UtcDateTime;
use sextant_types::registry::{AuditEntry, Decision, VersionReview};

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::env;
use crate::printer::{out, outln};

/// A refused action (a rule said no, or the input was bad): exit status 1.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

/// The client for `--tracking-uri` (or MLFLOW_TRACKING_URI), sending the environment's
/// credentials and `X-Sextant-User: <--user>` (which a server with --auth ignores).
pub(crate) fn client(tracking_uri: Option<String>, user: Option<String>) -> Result<Client> {
    let user = user
        .or_else(|| std::env::var(env::SEXTANT_USER).ok())
        .or_else(|| std::env::var("USER").ok());
    Ok(Client::from_env(tracking_uri)?.with_user(user))
}

/// A failed call, for the command line: a refusal by the server exits 1 with its message; a
/// server that wants credentials, an unreachable one, or one that is not a Sextant server
/// exits 2 with a hint.
pub(crate) fn cli_error(e: ClientError, base: &str) -> anyhow::Error {
    match e {
        ClientError::Api {
            status, message, ..
        } if status == 404 && message.contains("No endpoint") => anyhow!(
            "{message}\nhint: is {base} a Sextant server? this command needs Sextant's own API \
             (/api/sextant/v1)"
        ),
        ClientError::Api { message, .. } => Refused(message).into(),
        e @ ClientError::PermissionDenied { .. } => Refused(e.to_string()).into(),
        e => e.into(),
    }
}

/// A column-aligned table.
pub(crate) fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for r in rows {
        for (i, c) in r.iter().enumerate() {
            widths[i] = widths[i].max(c.chars().count());
        }
    }
    let mut out = String::new();
    let line = |cells: Vec<&str>, out: &mut String| {
        let mut l = String::new();
        for (i, c) in cells.iter().enumerate() {
            if i + 1 == cells.len() {
                l.push_str(c);
            } else {
                let _ = write!(l, "{c:<w$}  ", w = widths[i]);
            }
        }
        out.push_str(l.trim_end());
        out.push('\n');
    };
    line(headers.to_vec(), &mut out);
    line(
        widths
            .iter()
            .map(|w| "-".repeat(*w))
            .collect::<Vec<_>>()
            .iter()
            .map(String::as_str)
            .collect(),
        &mut out,
    );
    for r in rows {
        line(r.iter().map(String::as_str).collect(), &mut out);
    }
    out
}

fn s(v: &Value) -> String {
    match v {
        Value::Null => String::new(),
        Value::String(x) => x.clone(),
        other => other.to_string(),
    }
}

fn print_review(r: &VersionReview) {
    outln!("{} version {}: {}", r.name, r.version, r.status.label());
    if let Some(by) = &r.decided_by {
        outln!(
            "  decided by {by} at {} UTC{}",
            UtcDateTime::from_millis(r.decided_at.unwrap_or(0)).seconds(),
            if r.overrode_failed_checks {
                " (overriding failed checks)"
            } else {
                ""
            }
        );
    }
    if let Some(c) = &r.comment {
        outln!("  comment: {c}");
    }
    if let Some(rep) = &r.report {
        outln!("  report: {rep}");
    }
    for c in &r.checks {
        outln!(
            "  check {}: {}{}",
            c.name,
            if c.passed { "passed" } else { "FAILED" },
            if c.details.is_empty() {
                String::new()
            } else {
                format!(" ({})", c.details)
            }
        );
    }
}

fn details_text(e: &AuditEntry) -> String {
    let d = &e.details;
    let mut parts = Vec::new();
    if let Some(c) = &e.comment {
        parts.push(format!("\"{c}\""));
    }
    match e.action.as_str() {
        "set_alias" => {
            parts.push(format!("alias={}", s(&d["alias"])));
            if !d["previous_version"].is_null() {
                parts.push(format!("previous={}", s(&d["previous_version"])));
            }
            if d["protected"].as_bool() == Some(true) {
                parts.push("protected".into());
            }
        }
        "delete_alias" | "protect_alias" | "unprotect_alias" => {
            parts.push(format!("alias={}", s(&d["alias"])));
        }
        "approve" | "reject" if d["overrode_failed_checks"].as_bool() == Some(true) => {
            let failed: Vec<String> = d["failed_checks"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            parts.push(format!("override of failed checks: {}", failed.join(", ")));
        }
        "record_check" => parts.push(format!(
            "{}={}",
            s(&d["check"]),
            if d["passed"].as_bool() == Some(true) {
                "passed"
            } else {
                "failed"
            }
        )),
        "set_report" => parts.push(format!("report={}", s(&d["report"]))),
        "transition_stage" => parts.push(format!("stage={}", s(&d["stage"]))),
        "rename_model" => parts.push(format!("old name={}", s(&d["old_name"]))),
        _ => {}
    }
    parts.join(" ")
}

/// Print the server's answer as pretty JSON (for scripts).
fn print_json(answer: &Value) -> Result<ExitCode> {
    outln!("{}", serde_json::to_string_pretty(answer)?);
    Ok(ExitCode::SUCCESS)
}

fn list_rows(models: &[ModelSummary]) -> Vec<Vec<String>> {
    models
        .iter()
        .map(|m| {
            let aliases: Vec<String> = m
                .aliases
                .iter()
                .map(|a| {
                    format!(
                        "{}={}{}",
                        a.alias,
                        a.version,
                        if a.protected { " (protected)" } else { "" }
                    )
                })
                .collect();
            vec![
                m.name.clone(),
                m.latest_version.clone().unwrap_or_default(),
                m.versions.to_string(),
                m.pending_review.to_string(),
                m.approved.to_string(),
                m.rejected.to_string(),
                aliases.join(", "),
            ]
        })
        .collect()
}

pub fn run(args: ModelsArgs) -> Result<ExitCode> {
    let c = client(args.tracking_uri.clone(), args.user.clone())?;
    let base = c.base_url().to_owned();
    run_with(&c, args).map_err(|e| match e.downcast::<ClientError>() {
        Ok(ce) => cli_error(ce, &base),
        Err(other) => other,
    })
}

fn run_with(c: &Client, args: ModelsArgs) -> Result<ExitCode> {
    let json_out = args.json;
    match args.command {
        ModelsCommand::List => {
            let models = c.list_models()?;
            if json_out {
                return print_json(&json!({ "models": models }));
            }
            if models.is_empty() {
                outln!("no registered models");
            } else {
                out!(
                    "{}",
                    table(
                        &[
                            "NAME", "LATEST", "VERSIONS", "PENDING", "APPROVED", "REJECTED",
                            "ALIASES"
                        ],
                        &list_rows(&models)
                    )
                );
            }
        }
        ModelsCommand::Show { name } => {
            let d = c.show_model(&name)?;
            if json_out {
                outln!("{}", serde_json::to_string_pretty(&d)?);
                return Ok(ExitCode::SUCCESS);
            }
            outln!("{}", d.model.name);
            if !d.model.description.is_empty() {
                outln!("  {}", d.model.description);
            }
            outln!(
                "protected aliases: {}\n",
                if d.protected_aliases.is_empty() {
                    "none".to_owned()
                } else {
                    d.protected_aliases.join(", ")
                }
            );
            let rows: Vec<Vec<String>> = d
                .versions
                .iter()
                .map(|v| {
                    vec![
                        v.version.version.clone(),
                        v.review_status.label().to_owned(),
                        v.version.current_stage.clone(),
                        v.version.aliases.join(", "),
                        v.version.run_id.clone(),
                        UtcDateTime::from_millis(v.version.creation_timestamp).seconds(),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &[
                        "VERSION",
                        "REVIEW",
                        "STAGE",
                        "ALIASES",
                        "RUN",
                        "CREATED (UTC)"
                    ],
                    &rows
                )
            );
        }
        ModelsCommand::Review {
            name,
            version,
            approve,
            reject: _,
            message,
            override_failed_checks,
        } => {
            let decision = if approve {
                Decision::Approve
            } else {
                Decision::Reject
            };
            let r = c.decide(&name, &version, decision, &message, override_failed_checks)?;
            if json_out {
                return print_json(&json!({ "review": r }));
            }
            print_review(&r);
        }
        ModelsCommand::Promote {
            name,
            version,
            alias,
        } => {
            let v = c.promote(&name, &alias, &version)?;
            if json_out {
                return print_json(&json!({ "model_version": v }));
            }
            outln!("{name}@{alias} -> version {}", v.version);
        }
        ModelsCommand::Protect {
            name,
            alias,
            unprotect,
        } => {
            let protected = c.protect_alias(&name, &alias, !unprotect)?;
            if json_out {
                return print_json(&json!({ "protected_aliases": protected }));
            }
            outln!(
                "{name}: alias '{alias}' is {}",
                if unprotect {
                    "no longer protected"
                } else {
                    "protected: it may only point at approved versions"
                }
            );
        }
        ModelsCommand::Check {
            name,
            version,
            check,
            passed,
            failed: _,
            details,
        } => {
            let r = c.record_check(
                &name,
                &version,
                &check,
                passed,
                &details.unwrap_or_default(),
            )?;
            if json_out {
                return print_json(&json!({ "review": r }));
            }
            print_review(&r);
        }
        ModelsCommand::Report {
            name,
            version,
            path,
        } => {
            let r = c.set_report(&name, &version, &path)?;
            if json_out {
                return print_json(&json!({ "review": r }));
            }
            print_review(&r);
        }
        ModelsCommand::Log { name, version } => {
            let entries = c.audit_log(&name, version.as_deref())?;
            if json_out {
                return print_json(&json!({ "entries": entries }));
            }
            let rows: Vec<Vec<String>> = entries
                .iter()
                .map(|e| {
                    vec![
                        UtcDateTime::from_millis(e.timestamp).seconds(),
                        e.version.clone().unwrap_or_default(),
                        e.action.clone(),
                        e.actor.clone(),
                        details_text(e),
                    ]
                })
                .collect();
            out!(
                "{}",
                table(
                    &["TIME (UTC)", "VERSION", "ACTION", "ACTOR", "DETAILS"],
                    &rows
                )
            );
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn models_help_teaches_every_command() {
        use clap::CommandFactory;
        let mut cli = crate::cli::Cli::command();
        cli.build();
        let listing = cli.render_help().to_string();
        assert!(
            listing.contains("Review, protect and promote registered models"),
            "the command list keeps the one-line about: {listing}"
        );
        let models = cli.find_subcommand_mut("models").expect("a models command");
        let long = models.render_long_help().to_string();
        assert!(
            long.contains("every new version starts \"pending review\"")
                && long.contains("Examples:")
                && long.contains("sextant models promote fraud-detector 3 --alias production"),
            "`sextant models --help` explains the workflow with examples: {long}"
        );
        let subs: Vec<String> = models
            .get_subcommands()
            .map(|c| c.get_name().to_owned())
            .filter(|n| n != "help")
            .collect();
        assert!(subs.len() >= 8, "{subs:?}");
        for name in subs {
            let sub = models
                .find_subcommand_mut(&name)
                .expect("a listed subcommand");
            let help = sub.render_long_help().to_string();
            assert!(
                help.contains(&format!("sextant models {name} ")),
                "`sextant models {name} --help` shows an example: {help}"
            );
            for arg in sub.get_positionals() {
                assert!(
                    arg.get_help().is_some(),
                    "`sextant models {name}`: the argument {} says what it is",
                    arg.get_id()
                );
            }
        }
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    BB\n---  --\nxyz  1\n");
    }
}
