//! `sextant token ...`: create, list and revoke access tokens on a server with --auth, through
//! `sextant-client`. Parses arguments, calls, prints; nothing else.

use std::process::ExitCode;

use anyhow::Result;
use serde_json::json;
use sextant_client::{Client, ClientError, TokenInfo, now_ms};
use sextant_types::UtcDateTime;

use super::models::{cli_error, table};
use crate::cli::{TokenArgs, TokenCommand};
use crate::printer::{out, outln};

pub fn run(args: TokenArgs) -> Result<ExitCode> {
    let c = Client::from_env(args.tracking_uri.clone())?;
    let base = c.base_url().to_owned();
    run_with(&c, args).map_err(|e| match e.downcast::<ClientError>() {
        Ok(ce) => cli_error(ce, &base),
        Err(other) => other,
    })
}

fn when(ms: Option<i64>, none: &str) -> String {
    ms.map_or_else(
        || none.to_owned(),
        |t| UtcDateTime::from_millis(t).seconds(),
    )
}

fn rows(tokens: &[TokenInfo], now: i64) -> Vec<Vec<String>> {
    tokens
        .iter()
        .map(|t| {
            let expires = match t.expires_at {
                Some(e) if e <= now => format!("{} (expired)", when(Some(e), "")),
                e => when(e, "never"),
            };
            vec![
                t.id.clone(),
                t.name.clone(),
                t.username.clone(),
                when(Some(t.created_at), ""),
                expires,
                when(t.last_used_at, "never"),
            ]
        })
        .collect()
}

fn run_with(c: &Client, args: TokenArgs) -> Result<ExitCode> {
    match args.command {
        TokenCommand::Create { name, expires } => {
            let t = c.create_token(&name, expires)?;
            if args.json {
                outln!("{}", serde_json::to_string_pretty(&t)?);
                return Ok(ExitCode::SUCCESS);
            }
            outln!(
                "Created token '{}' (id {}) for {}, expires {}.\n",
                t.token.name,
                t.token.id,
                t.token.username,
                t.token.expires_at.map_or_else(
                    || "never".to_owned(),
                    |e| format!("{} UTC", UtcDateTime::from_millis(e).seconds())
                )
            );
            outln!("    {}\n", t.secret);
            outln!(
                "This secret will not be shown again: store it now (e.g. as a CI secret \
                 variable).\nUse it as the mlflow client and every sextant command do:\n  \
                 export MLFLOW_TRACKING_TOKEN={}\nRevoke it with: sextant token revoke {}",
                t.secret,
                t.token.id
            );
        }
        TokenCommand::List { all } => {
            let tokens = c.list_tokens(all)?;
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "tokens": tokens }))?
                );
                return Ok(ExitCode::SUCCESS);
            }
            if tokens.is_empty() {
                outln!("no tokens (create one with `sextant token create --name ci`)");
            } else {
                out!(
                    "{}",
                    table(
                        &[
                            "ID",
                            "NAME",
                            "USER",
                            "CREATED (UTC)",
                            "EXPIRES (UTC)",
                            "LAST USED (UTC)"
                        ],
                        &rows(&tokens, now_ms())
                    )
                );
            }
        }
        TokenCommand::Revoke { id } => {
            c.revoke_token(&id)?;
            if args.json {
                outln!(
                    "{}",
                    serde_json::to_string_pretty(&json!({ "id": id, "revoked": true }))?
                );
            } else {
                outln!("revoked token {id}: requests with it are refused from now on");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_help_teaches() {
        use clap::CommandFactory;
        let mut cli = crate::cli::Cli::command();
        cli.build();
        let token = cli.find_subcommand_mut("token").expect("a token command");
        let long = token.render_long_help().to_string();
        assert!(
            long.contains("MLFLOW_TRACKING_TOKEN") && long.contains("shown once"),
            "{long}"
        );
        for name in ["create", "list", "revoke"] {
            let sub = token.find_subcommand_mut(name).expect("a subcommand");
            let help = sub.render_long_help().to_string();
            assert!(help.contains(&format!("sextant token {name} ")), "{help}");
        }
    }

    #[test]
    fn expired_and_unused_tokens_say_so() {
        let t = TokenInfo {
            id: "a1".into(),
            name: "ci".into(),
            username: "alice".into(),
            created_at: 0,
            expires_at: Some(1_000),
            last_used_at: None,
        };
        let r = rows(&[t], 2_000);
        assert!(r[0][4].ends_with("(expired)"), "{:?}", r[0]);
        assert_eq!(r[0][5], "never");
    }
}
