//! Browser safety and protected mode (issue 14): every refusal of the guard and every request
//! of a real client that must keep passing, through the router with the headers a browser or
//! the mlflow client sends.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::BodyExt;
use serde_json::{Value, json};
use sextant_server::app;
use sextant_server::guard::GuardConfig;
use sextant_test::TestStores;
use tower::ServiceExt;

struct Guarded {
    app: Router,
    _stores: TestStores,
}

async fn with(cfg: GuardConfig) -> Guarded {
    let stores = TestStores::open().await;
    let mut state = stores.state();
    state.guard = Arc::new(cfg);
    Guarded {
        app: app(state),
        _stores: stores,
    }
}

struct Answer {
    status: StatusCode,
    headers: HeaderMap,
    body: Value,
}

impl Answer {
    /// The refusal's message, after checking it is MLflow's JSON error with a 403.
    fn refused(&self) -> &str {
        assert_eq!(self.status, StatusCode::FORBIDDEN, "body: {}", self.body);
        assert_eq!(
            self.body["error_code"], "PERMISSION_DENIED",
            "{}",
            self.body
        );
        self.body["message"].as_str().unwrap_or_default()
    }

    fn header(&self, name: &str) -> &str {
        self.headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
    }
}

impl Guarded {
    async fn send(
        &self,
        method: Method,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
        peer: Option<&str>,
    ) -> Answer {
        let mut req = Request::builder().method(method).uri(uri);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        let mut req = req.body(body.into()).expect("request");
        if let Some(p) = peer {
            let addr: SocketAddr = p.parse().expect("peer address");
            req.extensions_mut().insert(ConnectInfo(addr));
        }
        let resp = self.app.clone().oneshot(req).await.expect("response");
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let body = serde_json::from_slice(&bytes)
            .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()));
        Answer {
            status,
            headers,
            body,
        }
    }

    /// The experiments that exist (to prove a refused write changed nothing).
    async fn experiment_names(&self) -> Vec<String> {
        let a = self
            .send(
                Method::GET,
                "/api/2.0/mlflow/experiments/search?max_results=100",
                &[("host", "127.0.0.1:5000")],
                Body::empty(),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
        a.body["experiments"]
            .as_array()
            .map(|l| {
                l.iter()
                    .filter_map(|e| e["name"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

const CREATE: &str = "/api/2.0/mlflow/experiments/create";
const LOCAL: (&str, &str) = ("host", "127.0.0.1:5000");
const JSON: (&str, &str) = ("content-type", "application/json");

fn exp(name: &str) -> String {
    json!({ "name": name }).to_string()
}

#[tokio::test]
async fn cross_origin_simple_posts_are_refused_and_change_nothing() {
    let g = with(GuardConfig::loopback()).await;
    // What a page on another site sends with fetch(..., {mode: "no-cors"}) or a <form>.
    for ct in [
        "text/plain;charset=UTF-8",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
    ] {
        let a = g
            .send(
                Method::POST,
                CREATE,
                &[
                    LOCAL,
                    ("origin", "http://evil.example"),
                    ("sec-fetch-site", "cross-site"),
                    ("content-type", ct),
                ],
                exp("csrf"),
                None,
            )
            .await;
        let m = a.refused();
        assert!(
            m.contains("cross-origin") && m.contains("http://evil.example"),
            "{m}"
        );
        assert!(m.contains("--cors-allowed-origins"), "{m}");
    }
    // Older browsers send no fetch metadata: the Origin alone decides.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[LOCAL, ("origin", "http://evil.example"), JSON],
            exp("csrf"),
            None,
        )
        .await;
    assert!(a.refused().contains("cross-origin"));
    // A page on another port of the same machine is another origin too.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[LOCAL, ("origin", "http://127.0.0.1:8888"), JSON],
            exp("csrf"),
            None,
        )
        .await;
    assert!(a.refused().contains("cross-origin"));
    // Sandboxed frames and data: URLs send `Origin: null`.
    let a = g
        .send(
            Method::DELETE,
            "/api/2.0/mlflow/registered-models/delete?name=m",
            &[LOCAL, ("origin", "null")],
            Body::empty(),
            None,
        )
        .await;
    assert!(a.refused().contains("cross-origin"));
    // The browser's word alone (no Origin) is enough.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[LOCAL, ("sec-fetch-site", "same-site"), JSON],
            exp("csrf"),
            None,
        )
        .await;
    assert!(a.refused().contains("cross-origin"));
    assert!(!g.experiment_names().await.contains(&"csrf".to_owned()));
}

#[tokio::test]
async fn simple_bodies_are_refused_on_the_json_apis_even_from_the_same_origin() {
    let g = with(GuardConfig::loopback()).await;
    let same = [
        LOCAL,
        ("origin", "http://127.0.0.1:5000"),
        ("sec-fetch-site", "same-origin"),
    ];
    for (path, body) in [
        (CREATE, exp("form")),
        (
            "/api/sextant/v1/models/m/protected-aliases/production",
            "{}".to_owned(),
        ),
        ("/ajax-api/2.0/mlflow/experiments/create", exp("form")),
    ] {
        for ct in ["text/plain", "application/x-www-form-urlencoded"] {
            let mut h = same.to_vec();
            h.push(("content-type", ct));
            let method = if path.contains("protected") {
                Method::PUT
            } else {
                Method::POST
            };
            let a = g.send(method, path, &h, body.clone(), None).await;
            let m = a.refused();
            assert!(m.contains(ct) && m.contains("application/json"), "{m}");
        }
    }
    // Without an Origin (curl -d sends form bodies by default) the type is refused too.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[LOCAL, ("content-type", "application/x-www-form-urlencoded")],
            "name=x",
            None,
        )
        .await;
    assert!(a.refused().contains("Content-Type"));
    assert!(g.experiment_names().await.iter().all(|n| n != "form"));
}

#[tokio::test]
async fn what_the_clients_send_still_passes() {
    let g = with(GuardConfig::loopback()).await;
    // The mlflow client: JSON, no Origin, no fetch metadata.
    let a = g
        .send(Method::POST, CREATE, &[LOCAL, JSON], exp("client"), None)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let id = a.body["experiment_id"].as_str().expect("id").to_owned();
    // A bodiless POST (no Content-Type) and a DELETE with its parameters in the query.
    let a = g
        .send(
            Method::POST,
            "/api/2.0/mlflow/experiments/search",
            &[LOCAL],
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = g
        .send(
            Method::POST,
            "/api/2.0/mlflow/registered-models/create",
            &[LOCAL, JSON],
            json!({"name": "m"}).to_string(),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    let a = g
        .send(
            Method::DELETE,
            "/api/2.0/mlflow/registered-models/delete?name=m",
            &[LOCAL],
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // The UI: same origin, JSON.
    let a = g
        .send(
            Method::POST,
            "/api/2.0/mlflow/experiments/update",
            &[
                ("host", "localhost:5000"),
                ("origin", "http://localhost:5000"),
                ("sec-fetch-site", "same-origin"),
                JSON,
            ],
            json!({"experiment_id": id, "new_name": "renamed"}).to_string(),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Same origin by Origin alone (a browser without fetch metadata), over IPv6.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[
                ("host", "[::1]:5000"),
                ("origin", "http://[::1]:5000"),
                JSON,
            ],
            exp("v6"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    // Artifact uploads are not JSON API: octet-stream, or no type at all (python requests).
    let run = g
        .send(
            Method::POST,
            "/api/2.0/mlflow/runs/create",
            &[LOCAL, JSON],
            json!({"experiment_id": id}).to_string(),
            None,
        )
        .await;
    let root = run.body["run"]["info"]["artifact_uri"]
        .as_str()
        .expect("artifact uri")
        .trim_start_matches("mlflow-artifacts:/")
        .to_owned();
    for (i, ct) in [Some("application/octet-stream"), None, Some("text/plain")]
        .into_iter()
        .enumerate()
    {
        let mut h = vec![LOCAL];
        if let Some(ct) = ct {
            h.push(("content-type", ct));
        }
        let a = g
            .send(
                Method::PUT,
                &format!("/api/2.0/mlflow-artifacts/artifacts/{root}/f{i}.bin"),
                &h,
                vec![1u8, 2, 3],
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{ct:?}: {}", a.body);
    }
    let names = g.experiment_names().await;
    assert!(names.contains(&"renamed".to_owned()) && names.contains(&"v6".to_owned()));
}

#[tokio::test]
async fn foreign_hosts_are_refused_health_is_not() {
    let g = with(GuardConfig::loopback()).await;
    for (method, uri) in [
        (
            Method::GET,
            "/api/2.0/mlflow/experiments/search?max_results=1",
        ),
        (Method::GET, "/"),
        (Method::POST, CREATE),
    ] {
        let a = g
            .send(
                method,
                uri,
                &[("host", "rebind.evil.example:5000"), JSON],
                exp("rebound"),
                None,
            )
            .await;
        let m = a.refused();
        assert!(m.contains("rebind.evil.example:5000"), "{m}");
        assert!(
            m.contains("add the host to --allowed-hosts") && m.contains("DNS rebinding"),
            "{m}"
        );
    }
    for uri in ["/health", "/version"] {
        let a = g
            .send(
                Method::GET,
                uri,
                &[("host", "10.0.0.7:5000")],
                Body::empty(),
                None,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{uri}");
    }
    // Named hosts, any port for an entry without one.
    let lo = "127.0.0.1".parse().expect("ip");
    let g = with(
        GuardConfig::new(
            lo,
            Some("mlflow.example.com,*.corp.example"),
            None,
            false,
            false,
        )
        .expect("config"),
    )
    .await;
    for (host, ok) in [
        ("mlflow.example.com", true),
        ("mlflow.example.com:5000", true),
        ("a.corp.example:443", true),
        ("localhost:5000", true),
        ("10.0.0.1:5000", false),
        ("mlflow.example.com.evil.example", false),
    ] {
        let a = g
            .send(Method::GET, "/version", &[], Body::empty(), None)
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let a = g
            .send(
                Method::GET,
                "/api/2.0/mlflow/experiments/search?max_results=1",
                &[("host", host)],
                Body::empty(),
                None,
            )
            .await;
        assert_eq!(a.status == StatusCode::OK, ok, "{host}: {}", a.body);
    }
}

#[tokio::test]
async fn a_server_on_the_network_serves_private_addresses_not_rebinding_names() {
    let any = "0.0.0.0".parse().expect("ip");
    let g = with(GuardConfig::new(any, None, None, false, true).expect("config")).await;
    for (host, ok) in [
        ("10.1.2.3:5000", true),
        ("192.168.1.20:5000", true),
        ("localhost:5000", true),
        ("10.evil.example:5000", false),
        ("mlflow.example.com", false),
    ] {
        let a = g
            .send(
                Method::GET,
                "/api/2.0/mlflow/experiments/search?max_results=1",
                &[("host", host)],
                Body::empty(),
                Some("10.1.2.4:40000"),
            )
            .await;
        assert_eq!(a.status == StatusCode::OK, ok, "{host}: {}", a.body);
    }
}

#[tokio::test]
async fn listed_origins_may_write_and_get_cors_answers() {
    let lo = "127.0.0.1".parse().expect("ip");
    let cfg =
        GuardConfig::new(lo, None, Some("https://app.example"), false, false).expect("config");
    let g = with(cfg).await;
    let pre = g
        .send(
            Method::OPTIONS,
            CREATE,
            &[
                LOCAL,
                ("origin", "https://app.example"),
                ("access-control-request-method", "POST"),
                ("access-control-request-headers", "content-type"),
            ],
            Body::empty(),
            None,
        )
        .await;
    assert_eq!(pre.status, StatusCode::NO_CONTENT);
    assert_eq!(
        pre.header("access-control-allow-origin"),
        "https://app.example"
    );
    assert_eq!(pre.header("access-control-allow-credentials"), "true");
    assert!(pre.header("access-control-allow-methods").contains("POST"));
    assert_eq!(pre.header("access-control-allow-headers"), "content-type");
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[
                LOCAL,
                ("origin", "https://app.example"),
                ("sec-fetch-site", "cross-site"),
                JSON,
            ],
            exp("from-app"),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    assert_eq!(
        a.header("access-control-allow-origin"),
        "https://app.example"
    );
    // Listed or not, the JSON API takes JSON only.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[
                LOCAL,
                ("origin", "https://app.example"),
                ("content-type", "text/plain"),
            ],
            exp("plain"),
            None,
        )
        .await;
    assert!(a.refused().contains("Content-Type"));
    // Another origin gets no CORS answer and no write.
    let a = g
        .send(
            Method::POST,
            CREATE,
            &[LOCAL, ("origin", "https://evil.example"), JSON],
            exp("evil"),
            None,
        )
        .await;
    a.refused();
    assert_eq!(a.header("access-control-allow-origin"), "");
}

#[tokio::test]
async fn every_answer_carries_the_frame_and_content_type_headers() {
    let g = with(GuardConfig::loopback()).await;
    for (uri, accept, csp_has) in [
        ("/", "text/html", "script-src 'self'"),
        ("/app.js", "*/*", "script-src 'self'"),
        (
            "/api/2.0/mlflow/experiments/search?max_results=1",
            "*/*",
            "sandbox",
        ),
        ("/api/2.0/mlflow/nope", "*/*", "sandbox"),
    ] {
        let a = g
            .send(
                Method::GET,
                uri,
                &[LOCAL, ("accept", accept)],
                Body::empty(),
                None,
            )
            .await;
        assert_eq!(a.header("x-frame-options"), "SAMEORIGIN", "{uri}");
        assert_eq!(a.header("x-content-type-options"), "nosniff", "{uri}");
        assert_eq!(a.header("referrer-policy"), "same-origin", "{uri}");
        let csp = a.header("content-security-policy");
        assert!(csp.contains("frame-ancestors 'self'"), "{uri}: {csp}");
        assert!(csp.contains(csp_has), "{uri}: {csp}");
        assert!(!csp.contains("unsafe-eval"), "{uri}: {csp}");
    }
    // Refusals carry them too.
    let a = g
        .send(
            Method::GET,
            "/",
            &[("host", "evil.example")],
            Body::empty(),
            None,
        )
        .await;
    a.refused();
    assert_eq!(a.header("x-frame-options"), "SAMEORIGIN");
}

#[tokio::test]
async fn protected_mode_refuses_other_machines_without_auth() {
    let g = with(GuardConfig::loopback()).await;
    let a = g
        .send(
            Method::GET,
            "/api/2.0/mlflow/experiments/search?max_results=1",
            &[("host", "10.231.0.1:5000")],
            Body::empty(),
            Some("10.231.0.2:45000"),
        )
        .await;
    let m = a.refused();
    assert!(
        m.contains("10.231.0.2") && m.contains("protected mode"),
        "{m}"
    );
    assert!(
        m.contains(
            "start the server with --auth (see docs/security.md), or --allow-unauthenticated"
        ),
        "{m}"
    );
    // Loopback peers, IPv4, IPv6 and IPv4-mapped, are this machine.
    for peer in ["127.0.0.1:40000", "[::1]:40000", "[::ffff:127.0.0.1]:40000"] {
        let a = g
            .send(
                Method::GET,
                "/api/2.0/mlflow/experiments/search?max_results=1",
                &[LOCAL],
                Body::empty(),
                Some(peer),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{peer}: {}", a.body);
    }
    // --allow-unauthenticated serves everyone; with --auth protected mode is off (the
    // authentication layer decides then; /health needs no credentials).
    let any = "0.0.0.0".parse().expect("ip");
    for cfg in [
        GuardConfig::new(any, None, None, false, true).expect("config"),
        GuardConfig::new(any, None, None, true, false).expect("config"),
    ] {
        let g = with(cfg).await;
        let a = g
            .send(
                Method::GET,
                "/health",
                &[("host", "10.231.0.1:5000")],
                Body::empty(),
                Some("10.231.0.2:45000"),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "{}", a.body);
    }
}

#[test]
fn the_start_message_says_who_may_connect() {
    let any = "0.0.0.0".parse().expect("ip");
    let addr: SocketAddr = "0.0.0.0:5000".parse().expect("addr");
    let protected = GuardConfig::new(any, None, None, false, false).expect("config");
    let m = protected.describe(addr);
    assert!(
        m.contains("this machine only") && m.contains("Protected mode"),
        "{m}"
    );
    assert!(
        m.contains("--auth") && m.contains("--allow-unauthenticated"),
        "{m}"
    );
    assert!(m.contains("private-network IP addresses"), "{m}");
    let open = GuardConfig::new(any, None, None, false, true).expect("config");
    assert!(open.describe(addr).starts_with("WARNING"));
    let authed = GuardConfig::new(any, None, None, true, false).expect("config");
    assert!(authed.describe(addr).contains("with credentials"));
    let lo: SocketAddr = "127.0.0.1:5000".parse().expect("addr");
    let m = GuardConfig::loopback().describe(lo);
    assert!(
        m.contains("this machine only") && m.contains("--allowed-hosts"),
        "{m}"
    );
}
