//! Credentials for a tracking server with authentication on (`sextant server --auth`, or
//! `mlflow server --app-name basic-auth`), read from the variables the mlflow client reads, so
//! one set of exports serves `mlflow`, `sextant run`, `sextant models` and every other client.
//!
//! As in MLflow (`mlflow/utils/rest_utils.py`): a username AND a password send HTTP Basic;
//! otherwise a token sends `Authorization: Bearer <token>`; otherwise nothing is sent. The
//! username and password come from `MLFLOW_TRACKING_USERNAME` / `MLFLOW_TRACKING_PASSWORD`, each
//! falling back to the `[mlflow]` section of `~/.mlflow/credentials` as MLflow's does.

use std::path::Path;
use std::time::Duration;

use base64::Engine as _;

/// MLflow's variables for HTTP Basic credentials.
pub const MLFLOW_TRACKING_USERNAME: &str = "MLFLOW_TRACKING_USERNAME";
pub const MLFLOW_TRACKING_PASSWORD: &str = "MLFLOW_TRACKING_PASSWORD";
/// MLflow's variable for a bearer token (`sextant token create` makes one).
pub const MLFLOW_TRACKING_TOKEN: &str = "MLFLOW_TRACKING_TOKEN";

/// What the client sends in `Authorization`. `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Credentials {
    /// HTTP Basic, from `MLFLOW_TRACKING_USERNAME` and `MLFLOW_TRACKING_PASSWORD`.
    Basic { username: String, password: String },
    /// `Authorization: Bearer <token>`, from `MLFLOW_TRACKING_TOKEN`.
    Token(String),
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Basic { username, .. } => f
                .debug_struct("Basic")
                .field("username", username)
                .field("password", &"<redacted>")
                .finish(),
            Self::Token(_) => f.write_str("Token(<redacted>)"),
        }
    }
}

impl Credentials {
    /// The credentials MLflow's client would send: from the environment, with the username and
    /// password each falling back to `~/.mlflow/credentials`.
    pub fn from_env() -> Option<Self> {
        let var = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
        let file = std::env::var_os("HOME")
            .map(|h| Path::new(&h).join(".mlflow").join("credentials"))
            .and_then(|p| std::fs::read_to_string(p).ok())
            .map(|text| parse_credentials_file(&text))
            .unwrap_or_default();
        Self::choose(
            var(MLFLOW_TRACKING_USERNAME).or(file.0),
            var(MLFLOW_TRACKING_PASSWORD).or(file.1),
            var(MLFLOW_TRACKING_TOKEN),
        )
    }

    /// MLflow's rule: Basic when both a username and a password are given, else the token.
    pub fn choose(
        username: Option<String>,
        password: Option<String>,
        token: Option<String>,
    ) -> Option<Self> {
        match (username, password, token) {
            (Some(username), Some(password), _) => Some(Self::Basic { username, password }),
            (_, _, Some(t)) => Some(Self::Token(t)),
            _ => None,
        }
    }

    /// The `Authorization` header's value.
    pub fn header_value(&self) -> String {
        match self {
            Self::Basic { username, password } => format!(
                "Basic {}",
                base64::engine::general_purpose::STANDARD.encode(format!("{username}:{password}"))
            ),
            Self::Token(t) => format!("Bearer {t}"),
        }
    }

    /// Who these credentials name, for error messages (never the secret).
    pub fn who(&self) -> String {
        match self {
            Self::Basic { username, .. } => {
                format!("user '{username}' (MLFLOW_TRACKING_USERNAME)")
            }
            Self::Token(_) => "the owner of the token in MLFLOW_TRACKING_TOKEN".to_owned(),
        }
    }

    /// Which variables these came from, for error messages.
    pub fn source(&self) -> &'static str {
        match self {
            Self::Basic { .. } => "MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD",
            Self::Token(_) => "MLFLOW_TRACKING_TOKEN",
        }
    }
}

/// `(username, password)` of the `[mlflow]` section of an INI file such as
/// `~/.mlflow/credentials` (`mlflow_tracking_username = ...`), as Python's configparser reads
/// the simple cases: `key = value` or `key: value`, `#`/`;` comment lines, keys case-blind.
pub fn parse_credentials_file(text: &str) -> (Option<String>, Option<String>) {
    let (mut user, mut password) = (None, None);
    let mut in_mlflow = false;
    for line in text.lines() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with(';') {
            continue;
        }
        if let Some(section) = line.strip_prefix('[').and_then(|l| l.strip_suffix(']')) {
            in_mlflow = section.trim() == "mlflow";
            continue;
        }
        if !in_mlflow {
            continue;
        }
        let Some(i) = line.find(['=', ':']) else {
            continue;
        };
        let key = line[..i].trim().to_ascii_lowercase();
        let value = line[i + 1..].trim();
        if value.is_empty() {
            continue;
        }
        match key.as_str() {
            "mlflow_tracking_username" => user = Some(value.to_owned()),
            "mlflow_tracking_password" => password = Some(value.to_owned()),
            _ => {}
        }
    }
    (user, password)
}

/// How long a new token lives: `--expires 90d`, `12h`, `30m`, `2w`, or `never`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expiry {
    Never,
    After(Duration),
}

impl Expiry {
    /// `expires_in_seconds` on the wire (`null` for never).
    pub fn seconds(self) -> Option<u64> {
        match self {
            Self::Never => None,
            Self::After(d) => Some(d.as_secs()),
        }
    }
}

impl std::fmt::Display for Expiry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Never => f.write_str("never"),
            Self::After(d) => {
                let s = d.as_secs();
                for (unit, n) in [("w", 604_800), ("d", 86_400), ("h", 3_600), ("m", 60)] {
                    if s % n == 0 {
                        return write!(f, "{}{unit}", s / n);
                    }
                }
                write!(f, "{s}s")
            }
        }
    }
}

/// Longest expiry accepted: ten years (longer is `never` in all but name).
pub const MAX_EXPIRY_SECS: u64 = 10 * 366 * 86_400;

impl std::str::FromStr for Expiry {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let t = s.trim();
        if t.eq_ignore_ascii_case("never") {
            return Ok(Self::Never);
        }
        let bad = || {
            format!(
                "'{s}' is not a duration: use a whole number and a unit — 30m, 12h, 90d, 2w — or \
                 'never'"
            )
        };
        let split = t.find(|c: char| !c.is_ascii_digit()).ok_or_else(bad)?;
        let (num, unit) = t.split_at(split);
        let n: u64 = num.parse().map_err(|_| bad())?;
        let per = match unit.trim() {
            "s" => 1,
            "m" | "min" => 60,
            "h" => 3_600,
            "d" => 86_400,
            "w" => 604_800,
            _ => return Err(bad()),
        };
        let secs = n.checked_mul(per).ok_or_else(bad)?;
        if secs == 0 {
            return Err(format!("'{s}': a token must live longer than 0 seconds"));
        }
        if secs > MAX_EXPIRY_SECS {
            return Err(format!(
                "'{s}' is more than ten years: use 'never' for a token that does not expire"
            ));
        }
        Ok(Self::After(Duration::from_secs(secs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn mlflow_rule_basic_before_token() {
        let s = |v: &str| Some(v.to_owned());
        assert_eq!(
            Credentials::choose(s("u"), s("p"), s("t")),
            Some(Credentials::Basic {
                username: "u".into(),
                password: "p".into()
            })
        );
        assert_eq!(
            Credentials::choose(s("u"), None, s("t")),
            Some(Credentials::Token("t".into()))
        );
        assert_eq!(Credentials::choose(s("u"), None, None), None);
        // RFC 7617's example.
        let c = Credentials::choose(s("Aladdin"), s("open sesame"), None).unwrap();
        assert_eq!(c.header_value(), "Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==");
        assert_eq!(
            Credentials::Token("abc".into()).header_value(),
            "Bearer abc"
        );
        let shown = format!("{c:?} {:?}", Credentials::Token("s3cret".into()));
        assert!(
            !shown.contains("sesame") && !shown.contains("s3cret"),
            "{shown}"
        );
    }

    #[test]
    fn credentials_file_section_and_comments() {
        let text = "[default]\nmlflow_tracking_username = other\n\n[mlflow]\n# note\n\
                    MLFLOW_TRACKING_USERNAME = alice\nmlflow_tracking_password: pa=ss\n";
        assert_eq!(
            parse_credentials_file(text),
            (Some("alice".into()), Some("pa=ss".into()))
        );
        assert_eq!(parse_credentials_file("[x]\na=b"), (None, None));
    }

    #[test]
    fn expiries() {
        assert_eq!("never".parse::<Expiry>(), Ok(Expiry::Never));
        assert_eq!(
            "90d".parse::<Expiry>().map(Expiry::seconds),
            Ok(Some(90 * 86_400))
        );
        assert_eq!(
            "12h".parse::<Expiry>().map(Expiry::seconds),
            Ok(Some(43_200))
        );
        for bad in [
            "",
            "d",
            "90",
            "-1d",
            "1.5d",
            "0d",
            "90y",
            "99999999999999999999d",
        ] {
            let e = bad.parse::<Expiry>().unwrap_err();
            assert!(e.contains(bad.trim()), "{bad}: {e}");
        }
        assert!("20000d".parse::<Expiry>().unwrap_err().contains("never"));
        assert_eq!("90d".parse::<Expiry>().unwrap().to_string(), "90d");
        assert_eq!("36h".parse::<Expiry>().unwrap().to_string(), "36h");
    }

    proptest! {
        #[test]
        fn expiry_parse_never_panics_and_round_trips(s in ".{0,12}", n in 1u64..500, u in 0usize..4) {
            let _ = s.parse::<Expiry>();
            let unit = ["m", "h", "d", "w"][u];
            let e: Expiry = format!("{n}{unit}").parse().unwrap();
            prop_assert_eq!(e.to_string().parse::<Expiry>(), Ok(e));
        }

        #[test]
        fn credentials_file_never_panics(s in "(\\[mlflow\\]|[a-z_]{0,30}|[=:]|\n| ){0,20}") {
            let _ = parse_credentials_file(&s);
        }
    }
}
