//! Authentication and authorization through the real router (issue 14): 401 and the login
//! redirect, verified actors in the audit log whatever `X-Sextant-User` says, MANAGE for the
//! review gate, the creator's MANAGE, filtered searches, unmapped endpoints, sessions, tokens and
//! the login rate limit.

use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use base64::Engine;
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sextant_auth::Permission;
use sextant_server::app;
use sextant_server::auth::{AuthConfig, AuthState};
use sextant_test::TestStores;
use tower::ServiceExt;

const ADMIN: (&str, &str) = ("root", "root-password-1");
const ANN: (&str, &str) = ("ann", "ann-password-12");
const BOB: (&str, &str) = ("bob", "bob-password-12");

struct Authed {
    app: Router,
    _stores: TestStores,
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

async fn with_auth(default_permission: Permission) -> Authed {
    let stores = TestStores::open().await;
    let uri = format!("sqlite:///{}", stores.dir().join("store.db").display());
    let store = sextant_store::open(&uri, "mlflow-artifacts:/")
        .await
        .expect("reopen the store");
    let config = AuthConfig {
        default_permission,
        max_failures: 3,
        ..AuthConfig::default()
    };
    let auth = AuthState::new(store as Arc<dyn sextant_store::AuthStore>, config)
        .await
        .expect("auth");
    auth.bootstrap_admin(ADMIN.0, ADMIN.1).await.expect("admin");
    let mut state = stores.state();
    state.auth = Some(Arc::new(auth));
    Authed {
        app: app(state),
        _stores: stores,
    }
}

fn basic((user, pw): (&str, &str)) -> String {
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{pw}"))
    )
}

impl Authed {
    async fn send(
        &self,
        method: Method,
        path: &str,
        auth: Option<String>,
        extra: &[(&str, &str)],
        body: Option<Value>,
    ) -> Answer {
        let mut b = Request::builder()
            .method(method)
            .uri(path)
            .header("host", "localhost");
        if let Some(a) = auth {
            b = b.header("authorization", a);
        }
        for (k, v) in extra {
            b = b.header(*k, *v);
        }
        let req = match body {
            Some(v) => b
                .header("content-type", "application/json")
                .body(Body::from(v.to_string())),
            None => b.body(Body::empty()),
        }
        .expect("request");
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            headers,
            body,
        }
    }

    async fn as_(
        &self,
        who: (&str, &str),
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Answer {
        self.send(method, path, Some(basic(who)), &[], body).await
    }

    async fn user(&self, who: (&str, &str)) {
        let r = self
            .as_(
                ADMIN,
                Method::POST,
                "/api/2.0/mlflow/users/create",
                Some(json!({"username": who.0, "password": who.1})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
}

#[tokio::test]
async fn without_credentials_401_or_the_login_page() {
    let a = with_auth(Permission::Read).await;
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/experiments/search",
            None,
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert_eq!(r.body["error_code"], "UNAUTHENTICATED");
    assert!(r.headers.contains_key("www-authenticate"));
    // A browser's fetch never gets the Basic challenge (no native prompt over the UI).
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/experiments/search",
            None,
            &[("sec-fetch-mode", "cors")],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    assert!(!r.headers.contains_key("www-authenticate"));
    // A page is redirected to the login form.
    let r = a
        .send(Method::GET, "/", None, &[("accept", "text/html")], None)
        .await;
    assert_eq!(r.status, StatusCode::SEE_OTHER);
    assert_eq!(r.headers["location"], "/login?next=%2F");
    // Public: health, the session probe.
    assert_eq!(
        a.send(Method::GET, "/health", None, &[], None).await.status,
        StatusCode::OK
    );
    let r = a
        .send(Method::GET, "/api/sextant/v1/session", None, &[], None)
        .await;
    assert_eq!(r.body, json!({"auth_enabled": true, "user": null}));
    // Wrong password: 401; then the per-user+address limit answers 429.
    for _ in 0..3 {
        let r = a
            .as_(
                (ADMIN.0, "wrong-password"),
                Method::GET,
                "/api/2.0/mlflow/users/current",
                None,
            )
            .await;
        assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    }
    let r = a
        .as_(
            (ADMIN.0, "wrong-password"),
            Method::GET,
            "/api/2.0/mlflow/users/current",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::TOO_MANY_REQUESTS, "{}", r.body);
    assert!(r.headers.contains_key("retry-after"));
}

#[tokio::test]
async fn review_needs_manage_and_actors_are_verified() {
    let a = with_auth(Permission::Read).await;
    a.user(ANN).await;
    a.user(BOB).await;
    // Ann creates the model (so she manages it), with a forged header naming someone else.
    let r = a
        .send(
            Method::POST,
            "/api/2.0/mlflow/registered-models/create",
            Some(basic(ANN)),
            &[
                ("x-sextant-user", "mallory"),
                ("x-sextant-verified-user", "mallory"),
            ],
            Some(json!({"name": "gate"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/2.0/mlflow/model-versions/create",
            Some(json!({"name": "gate", "source": "mlflow-artifacts:/0/r/artifacts/model"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Bob (READ by default) reads but may not register, review, protect or grant.
    let r = a
        .as_(
            BOB,
            Method::GET,
            "/api/2.0/mlflow/registered-models/get?name=gate",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    for (method, path, body) in [
        (
            Method::POST,
            "/api/2.0/mlflow/model-versions/create",
            Some(json!({"name": "gate", "source": "mlflow-artifacts:/0/r/artifacts/model"})),
        ),
        (
            Method::POST,
            "/api/sextant/v1/models/gate/versions/1/review",
            Some(json!({"decision": "approve"})),
        ),
        (
            Method::PUT,
            "/api/sextant/v1/models/gate/protected-aliases/production",
            None,
        ),
        (
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            Some(
                json!({"username": "bob", "resource_type": "registered_model",
                        "resource_id": "gate", "permission": "MANAGE"}),
            ),
        ),
    ] {
        let r = a.as_(BOB, method, path, body).await;
        assert_eq!(r.status, StatusCode::FORBIDDEN, "{path}: {}", r.body);
        assert_eq!(r.body["error_code"], "PERMISSION_DENIED");
    }
    // With EDIT, Bob moves an unprotected alias but not a protected one.
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/3.0/mlflow/users/permissions/grant",
            Some(
                json!({"username": "bob", "resource_type": "registered_model",
                        "resource_id": "gate", "permission": "EDIT"}),
            ),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // With EDIT, Bob tags the model, but lifting separation of duties is the owners' (MANAGE).
    let tag = |key: &str| Some(json!({"name": "gate", "key": key, "value": "true"}));
    let r = a
        .as_(
            BOB,
            Method::POST,
            "/api/2.0/mlflow/registered-models/set-tag",
            tag("team"),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .as_(
            BOB,
            Method::POST,
            "/api/2.0/mlflow/registered-models/set-tag",
            tag("sextant.allow_self_review"),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    assert!(
        r.body["message"].as_str().unwrap_or("").contains("MANAGE"),
        "{}",
        r.body
    );
    let r = a
        .as_(
            ANN,
            Method::PUT,
            "/api/sextant/v1/models/gate/protected-aliases/production",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .as_(
            BOB,
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            Some(json!({"name": "gate", "alias": "production", "version": "1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = a
        .as_(
            BOB,
            Method::POST,
            "/api/2.0/mlflow/registered-models/alias",
            Some(json!({"name": "gate", "alias": "candidate", "version": "1"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Ann (MANAGE) authored version 1: she may not approve it (separation of duties for
    // verified actors); an admin, who did not author it, may.
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/sextant/v1/models/gate/versions/1/review",
            Some(json!({"decision": "approve", "comment": "mine"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN, "{}", r.body);
    let r = a
        .as_(
            ADMIN,
            Method::POST,
            "/api/sextant/v1/models/gate/versions/1/review",
            Some(json!({"decision": "approve", "comment": "ok"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // The audit log names the verified users, never the forged names.
    let r = a
        .as_(BOB, Method::GET, "/api/sextant/v1/models/gate/audit", None)
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let entries = r.body["entries"].as_array().expect("entries");
    assert!(!entries.is_empty());
    for e in entries {
        assert!(
            e["actor_source"]
                .as_str()
                .is_some_and(|s| s.starts_with("auth:")),
            "{e}"
        );
        assert!(
            ["ann", "bob", "root"].contains(&e["actor"].as_str().unwrap_or("")),
            "{e}"
        );
    }
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "ann" && e["action"] == "create_model")
    );
    assert!(
        entries
            .iter()
            .any(|e| e["actor"] == "root" && e["action"] == "approve")
    );
}

#[tokio::test]
async fn searches_show_only_what_may_be_read() {
    let a = with_auth(Permission::NoPermissions).await;
    a.user(ANN).await;
    a.user(BOB).await;
    for (who, name) in [(ANN, "ann-exp"), (BOB, "bob-exp")] {
        let r = a
            .as_(
                who,
                Method::POST,
                "/api/2.0/mlflow/experiments/create",
                Some(json!({"name": name})),
            )
            .await;
        assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    }
    let names = |r: &Answer| -> Vec<String> {
        r.body["experiments"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    };
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/2.0/mlflow/experiments/search",
            Some(json!({"max_results": 100})),
        )
        .await;
    assert_eq!(names(&r), vec!["ann-exp".to_owned()], "{}", r.body);
    let r = a
        .as_(
            ADMIN,
            Method::POST,
            "/api/2.0/mlflow/experiments/search",
            Some(json!({"max_results": 100})),
        )
        .await;
    assert_eq!(names(&r).len(), 3, "admins see everything: {}", r.body);
    // Unmapped endpoints: refused for users, the handler's answer for admins.
    let r = a
        .as_(ANN, Method::GET, "/api/2.0/mlflow/no-such-endpoint", None)
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a
        .as_(ADMIN, Method::GET, "/api/2.0/mlflow/no-such-endpoint", None)
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn sessions_and_tokens() {
    let a = with_auth(Permission::Read).await;
    a.user(ANN).await;
    let r = a
        .send(
            Method::POST,
            "/api/sextant/v1/session",
            None,
            &[],
            Some(json!({"username": ANN.0, "password": ANN.1})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let cookie = r.headers["set-cookie"].to_str().expect("cookie").to_owned();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    let pair = cookie.split(';').next().expect("pair").to_owned();
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/users/current",
            None,
            &[("cookie", &pair)],
            None,
        )
        .await;
    assert_eq!(r.body["user"]["username"], "ann", "{}", r.body);
    a.send(
        Method::DELETE,
        "/api/sextant/v1/session",
        None,
        &[("cookie", &pair)],
        None,
    )
    .await;
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/users/current",
            None,
            &[("cookie", &pair)],
            None,
        )
        .await;
    assert_eq!(
        r.status,
        StatusCode::UNAUTHORIZED,
        "the session ended server-side"
    );

    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/sextant/v1/tokens",
            Some(json!({"name": "ci", "expires_in_seconds": 3600})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let secret = r.body["secret"].as_str().expect("secret").to_owned();
    let id = r.body["token"]["id"].as_str().expect("id").to_owned();
    let bearer = Some(format!("Bearer {secret}"));
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/users/current",
            bearer.clone(),
            &[],
            None,
        )
        .await;
    assert_eq!(r.body["user"]["username"], "ann");
    let r = a
        .as_(ANN, Method::GET, "/api/sextant/v1/tokens?all=true", None)
        .await;
    assert_eq!(
        r.status,
        StatusCode::FORBIDDEN,
        "only admins list everyone's"
    );
    let r = a
        .as_(ADMIN, Method::GET, "/api/sextant/v1/tokens?all=true", None)
        .await;
    assert_eq!(r.body["tokens"][0]["username"], "ann", "{}", r.body);
    let r = a
        .as_(
            ANN,
            Method::DELETE,
            &format!("/api/sextant/v1/tokens/{id}"),
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .send(
            Method::GET,
            "/api/2.0/mlflow/users/current",
            bearer,
            &[],
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED, "revoked at once");
}

#[tokio::test]
async fn mlflow2_permission_endpoints_manage_the_same_grants() {
    let a = with_auth(Permission::NoPermissions).await;
    a.user(ANN).await;
    a.user(BOB).await;
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/2.0/mlflow/registered-models/create",
            Some(json!({"name": "m"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .as_(
            BOB,
            Method::GET,
            "/api/2.0/mlflow/registered-models/get?name=m",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a
        .as_(
            ANN,
            Method::POST,
            "/api/2.0/mlflow/registered-models/permissions/create",
            Some(json!({"name": "m", "username": "bob", "permission": "READ"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    assert_eq!(r.body["registered_model_permission"]["permission"], "READ");
    let r = a
        .as_(
            BOB,
            Method::GET,
            "/api/2.0/mlflow/registered-models/get?name=m",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    // Bob, with READ only, may not grant himself more.
    let r = a
        .as_(
            BOB,
            Method::PATCH,
            "/api/2.0/mlflow/registered-models/permissions/update",
            Some(json!({"name": "m", "username": "bob", "permission": "MANAGE"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
    let r = a
        .as_(
            ANN,
            Method::DELETE,
            "/api/2.0/mlflow/registered-models/permissions/delete",
            Some(json!({"name": "m", "username": "bob"})),
        )
        .await;
    assert_eq!(r.status, StatusCode::OK, "{}", r.body);
    let r = a
        .as_(
            ANN,
            Method::GET,
            "/api/2.0/mlflow/registered-models/permissions/get?name=m&username=bob",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::NOT_FOUND, "{}", r.body);
    let r = a
        .as_(
            BOB,
            Method::GET,
            "/api/2.0/mlflow/registered-models/get?name=m",
            None,
        )
        .await;
    assert_eq!(r.status, StatusCode::FORBIDDEN);
}
