//! The web UI: static files under `crates/sextant-server/ui/`, embedded in the binary at
//! compile time and served at `/` (the page uses `/#/...` routes, so every view is a link).
//! The UI talks to the server only through the JSON APIs. Also the routes the UI adds to
//! Sextant's API ([`crate::handlers::charts`]), and the fallback: unknown `/api/...` and
//! `/ajax-api/...` paths keep MLflow's JSON 404; other unknown GET paths asked for as HTML
//! get the UI's page; `/login` is the sign-in page (`login.html`, for a server with --auth).
//! No page carries an inline script or style: the Content-Security-Policy allows the server's
//! own files only.

use axum::Router;
use axum::http::{HeaderMap, HeaderValue, Method, Uri, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use include_dir::{Dir, include_dir};

use crate::AppState;
use crate::handlers::{charts, misc};

static UI: Dir<'_> = include_dir!("$CARGO_MANIFEST_DIR/ui");

/// The routes of Sextant's API that the UI needs (nested under `/api/sextant/v1` by the caller).
pub fn router() -> Router<AppState> {
    Router::new()
        .route(
            "/api/sextant/v1/runs/{run_id}/chart",
            get(charts::metric_chart),
        )
        .route(
            "/api/sextant/v1/experiments/summary",
            get(charts::experiment_summaries),
        )
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit_once('.').map(|(_, e)| e) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        Some("json") => "application/json",
        Some("png") => "image/png",
        Some("ico") => "image/x-icon",
        _ => "application/octet-stream",
    }
}

fn asset(path: &str) -> Option<Response> {
    let file = UI.get_file(path)?;
    Some(
        (
            [
                (
                    header::CONTENT_TYPE,
                    HeaderValue::from_static(content_type(path)),
                ),
                // Assets change with the binary; revalidate rather than cache stale code.
                (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
                (
                    header::X_CONTENT_TYPE_OPTIONS,
                    HeaderValue::from_static("nosniff"),
                ),
            ],
            file.contents(),
        )
            .into_response(),
    )
}

fn is_api(path: &str) -> bool {
    ["/api/", "/ajax-api/"]
        .iter()
        .any(|p| path.starts_with(p) || path == p.trim_end_matches('/'))
}

/// Everything no route matched: the UI's files, the UI page, or MLflow's JSON 404.
pub async fn fallback(method: Method, uri: Uri, headers: HeaderMap) -> Response {
    let path = uri.path();
    if (method == Method::GET || method == Method::HEAD) && !is_api(path) {
        let rel = match path.trim_start_matches('/') {
            "" => "index.html",
            // The sign-in page (a server with --auth sends pages there without a session).
            "login" => "login.html",
            rel => rel,
        };
        if let Some(r) = asset(rel) {
            return r;
        }
        let wants_html = headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|a| a.contains("text/html"));
        if wants_html {
            if let Some(r) = asset("index.html") {
                return r;
            }
        }
    }
    misc::not_found(uri).await.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_page_and_its_scripts_are_embedded() {
        let index = UI.get_file("index.html").map(|f| f.contents_utf8());
        let index = index.flatten().unwrap_or_default();
        assert!(index.contains("app.js"), "index.html loads app.js");
        assert!(UI.get_file("app.js").is_some());
        assert_eq!(
            content_type("pages/runs.js"),
            "text/javascript; charset=utf-8"
        );
        assert!(is_api("/api/2.0/mlflow/nope") && is_api("/ajax-api/x") && !is_api("/apix"));
    }

    #[test]
    fn no_page_has_inline_script_or_style() {
        let login = UI.get_file("login.html").and_then(|f| f.contents_utf8());
        assert!(login.is_some_and(|l| l.contains("/login.js") && l.contains("/login.css")));
        for f in UI.files().chain(UI.dirs().flat_map(|d| d.files())) {
            let Some(text) = f.contents_utf8() else {
                continue;
            };
            let name = f.path().display().to_string();
            if name.ends_with(".html") {
                let lower = text.to_ascii_lowercase();
                for (i, _) in lower.match_indices("<script") {
                    let tag = &lower[i..lower[i..].find('>').map_or(lower.len(), |e| i + e)];
                    assert!(tag.contains("src="), "{name}: an inline <script>");
                }
                assert!(!lower.contains("<style"), "{name}: an inline <style>");
                assert!(!lower.contains(" style="), "{name}: a style attribute");
                assert!(!lower.contains(" onclick="), "{name}: an inline handler");
            }
        }
    }

    #[tokio::test]
    async fn login_is_the_sign_in_page() {
        let r = fallback(
            Method::GET,
            Uri::from_static("/login?next=/"),
            HeaderMap::new(),
        )
        .await;
        assert_eq!(r.status(), axum::http::StatusCode::OK);
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("text/html; charset=utf-8")
        );
    }
}
