//! `sextant models ...`: the registry's review workflow from the command line, over the
//! server's `/api/sextant/v1` API (described in `crates/sextant-server/openapi.yaml`).

use std::fmt::Write as _;
use std::process::ExitCode;

use anyhow::{Context, Result, anyhow, bail};
use serde_json::{Value, json};
use sextant_types::UtcDateTime;

use crate::cli::{ModelsArgs, ModelsCommand};
use crate::env;

/// A refused action (a rule said no, or the input was bad): exit status 1.
#[derive(Debug)]
pub struct Refused(pub String);

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Refused {}

struct Client {
    base: String,
    user: Option<String>,
    agent: ureq::Agent,
}

/// One path segment, percent-encoded (model names may hold `/`, spaces, ...).
fn seg(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

impl Client {
    fn new(tracking_uri: Option<String>, user: Option<String>) -> Result<Self> {
        let base = tracking_uri
            .or_else(|| std::env::var(env::MLFLOW_TRACKING_URI).ok())
            .filter(|u| !u.trim().is_empty())
            .ok_or_else(|| {
                anyhow!(
                    "no tracking server given\nhint: pass --tracking-uri http://HOST:PORT or set \
                     MLFLOW_TRACKING_URI"
                )
            })?;
        if !base.starts_with("http://") && !base.starts_with("https://") {
            bail!("the tracking URI must be an http:// or https:// URL, got '{base}'");
        }
        let user = user
            .or_else(|| std::env::var(env::SEXTANT_USER).ok())
            .or_else(|| std::env::var("USER").ok())
            .filter(|u| !u.trim().is_empty());
        Ok(Self {
            base: base.trim_end_matches('/').to_owned(),
            user,
            agent: ureq::AgentBuilder::new()
                .timeout(std::time::Duration::from_secs(60))
                .build(),
        })
    }

    fn call(&self, method: &str, path: &str, body: Option<Value>) -> Result<Value> {
        let url = format!("{}/api/sextant/v1/{path}", self.base);
        let mut req = self.agent.request(method, &url);
        if let Some(u) = &self.user {
            req = req.set("X-Sextant-User", u);
        }
        let resp = match body {
            Some(b) => req.send_json(b),
            None => req.call(),
        };
        match resp {
            Ok(r) => r
                .into_json::<Value>()
                .with_context(|| format!("the server's answer to {method} {url} is not JSON")),
            Err(ureq::Error::Status(code, r)) => {
                let text = r.into_string().unwrap_or_default();
                let msg = serde_json::from_str::<Value>(&text)
                    .ok()
                    .and_then(|v| v["message"].as_str().map(str::to_owned))
                    .unwrap_or_else(|| format!("HTTP {code} from {url}: {text}"));
                if code == 404 && msg.contains("No endpoint") {
                    bail!(
                        "{msg}\nhint: is {} a Sextant server? `sextant models` needs Sextant's \
                         registry API",
                        self.base
                    );
                }
                Err(Refused(msg).into())
            }
            Err(e) => Err(anyhow!(
                "cannot reach the tracking server at {}: {e}\nhint: start it with `sextant \
                 server`, or check --tracking-uri / MLFLOW_TRACKING_URI",
                self.base
            )),
        }
    }
}

/// A column-aligned table.
fn table(headers: &[&str], rows: &[Vec<String>]) -> String {
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

fn status_label(st: &str) -> &str {
    match st {
        "pending_review" => "pending review",
        other => other,
    }
}

fn print_review(r: &Value) {
    let r = &r["review"];
    println!(
        "{} version {}: {}",
        s(&r["name"]),
        s(&r["version"]),
        status_label(r["status"].as_str().unwrap_or(""))
    );
    if let Some(by) = r["decided_by"].as_str() {
        println!(
            "  decided by {by} at {} UTC{}",
            UtcDateTime::from_millis(r["decided_at"].as_i64().unwrap_or(0)).seconds(),
            if r["overrode_failed_checks"].as_bool() == Some(true) {
                " (overriding failed checks)"
            } else {
                ""
            }
        );
    }
    if let Some(c) = r["comment"].as_str() {
        println!("  comment: {c}");
    }
    if let Some(rep) = r["report"].as_str() {
        println!("  report: {rep}");
    }
    for c in r["checks"].as_array().into_iter().flatten() {
        println!(
            "  check {}: {}{}",
            s(&c["name"]),
            if c["passed"].as_bool() == Some(true) {
                "passed"
            } else {
                "FAILED"
            },
            c["details"]
                .as_str()
                .filter(|d| !d.is_empty())
                .map(|d| format!(" ({d})"))
                .unwrap_or_default()
        );
    }
}

fn details_text(e: &Value) -> String {
    let d = &e["details"];
    let mut parts = Vec::new();
    if let Some(c) = e["comment"].as_str() {
        parts.push(format!("\"{c}\""));
    }
    match e["action"].as_str().unwrap_or("") {
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

pub fn run(args: ModelsArgs) -> Result<ExitCode> {
    let c = Client::new(args.tracking_uri.clone(), args.user.clone())?;
    let json_out = args.json;
    let show = |v: &Value| -> Result<()> {
        println!("{}", serde_json::to_string_pretty(v)?);
        Ok(())
    };
    match args.command {
        ModelsCommand::List => {
            let v = c.call("GET", "models", None)?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = v["models"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|m| {
                    let aliases: Vec<String> = m["aliases"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(|a| {
                            format!(
                                "{}={}{}",
                                s(&a["alias"]),
                                s(&a["version"]),
                                if a["protected"].as_bool() == Some(true) {
                                    " (protected)"
                                } else {
                                    ""
                                }
                            )
                        })
                        .collect();
                    vec![
                        s(&m["name"]),
                        s(&m["latest_version"]),
                        s(&m["versions"]),
                        s(&m["pending_review"]),
                        s(&m["approved"]),
                        s(&m["rejected"]),
                        aliases.join(", "),
                    ]
                })
                .collect();
            if rows.is_empty() {
                println!("no registered models");
            } else {
                print!(
                    "{}",
                    table(
                        &[
                            "NAME", "LATEST", "VERSIONS", "PENDING", "APPROVED", "REJECTED",
                            "ALIASES"
                        ],
                        &rows
                    )
                );
            }
        }
        ModelsCommand::Show { name } => {
            let v = c.call("GET", &format!("models/{}", seg(&name)), None)?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            let m = &v["model"];
            println!("{}", s(&m["name"]));
            if let Some(d) = m["description"].as_str().filter(|d| !d.is_empty()) {
                println!("  {d}");
            }
            let protected: Vec<String> = v["protected_aliases"]
                .as_array()
                .into_iter()
                .flatten()
                .map(s)
                .collect();
            println!(
                "protected aliases: {}\n",
                if protected.is_empty() {
                    "none".to_owned()
                } else {
                    protected.join(", ")
                }
            );
            let rows: Vec<Vec<String>> = v["versions"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|ver| {
                    let aliases: Vec<String> = ver["aliases"]
                        .as_array()
                        .into_iter()
                        .flatten()
                        .map(s)
                        .collect();
                    vec![
                        s(&ver["version"]),
                        status_label(ver["review_status"].as_str().unwrap_or("")).to_owned(),
                        s(&ver["current_stage"]),
                        aliases.join(", "),
                        s(&ver["run_id"]),
                        UtcDateTime::from_millis(ver["creation_timestamp"].as_i64().unwrap_or(0))
                            .seconds(),
                    ]
                })
                .collect();
            print!(
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
            let v = c.call(
                "POST",
                &format!("models/{}/versions/{}/review", seg(&name), seg(&version)),
                Some(json!({
                    "decision": if approve { "approve" } else { "reject" },
                    "comment": message,
                    "override_failed_checks": override_failed_checks,
                })),
            )?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            print_review(&v);
        }
        ModelsCommand::Promote {
            name,
            version,
            alias,
        } => {
            let v = c.call(
                "PUT",
                &format!("models/{}/aliases/{}", seg(&name), seg(&alias)),
                Some(json!({ "version": version })),
            )?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            println!(
                "{name}@{alias} -> version {}",
                s(&v["model_version"]["version"])
            );
        }
        ModelsCommand::Protect {
            name,
            alias,
            unprotect,
        } => {
            let v = c.call(
                if unprotect { "DELETE" } else { "PUT" },
                &format!("models/{}/protected-aliases/{}", seg(&name), seg(&alias)),
                None,
            )?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            println!(
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
            let v = c.call(
                "POST",
                &format!("models/{}/versions/{}/checks", seg(&name), seg(&version)),
                Some(json!({ "name": check, "passed": passed, "details": details.unwrap_or_default() })),
            )?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            print_review(&v);
        }
        ModelsCommand::Report {
            name,
            version,
            path,
        } => {
            let v = c.call(
                "PUT",
                &format!("models/{}/versions/{}/report", seg(&name), seg(&version)),
                Some(json!({ "path": path })),
            )?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            print_review(&v);
        }
        ModelsCommand::Log { name, version } => {
            let q = version
                .map(|v| format!("?version={}", seg(&v)))
                .unwrap_or_default();
            let v = c.call("GET", &format!("models/{}/audit{q}", seg(&name)), None)?;
            if json_out {
                return show(&v).map(|()| ExitCode::SUCCESS);
            }
            let rows: Vec<Vec<String>> = v["entries"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|e| {
                    vec![
                        UtcDateTime::from_millis(e["timestamp"].as_i64().unwrap_or(0)).seconds(),
                        s(&e["version"]),
                        s(&e["action"]),
                        s(&e["actor"]),
                        details_text(e),
                    ]
                })
                .collect();
            print!(
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
    fn segments_are_encoded() {
        assert_eq!(seg("a b/c"), "a%20b%2Fc");
        assert_eq!(seg("fraud-detector_1.0"), "fraud-detector_1.0");
    }

    #[test]
    fn tables_align() {
        let t = table(&["A", "BB"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, "A    BB\n---  --\nxyz  1\n");
    }
}
