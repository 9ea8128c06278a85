//! The auth store's conformance suite on SQLite and (with `SEXTANT_TEST_PG_URI`) PostgreSQL.

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_auth_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let uri = format!("sqlite:///{}", dir.path().join("a.db").display());
    let store = sextant_store::open(&uri, "mlflow-artifacts:/")
        .await
        .expect("open sqlite store");
    sextant_store::auth_conformance::run_all(store.as_ref(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn postgres_auth_conformance() {
    let Ok(base) = std::env::var("SEXTANT_TEST_PG_URI") else {
        if std::env::var("CI").is_ok() {
            panic!("SEXTANT_TEST_PG_URI must be set in CI: the PostgreSQL backend is untested");
        }
        eprintln!("SEXTANT_TEST_PG_URI unset: PostgreSQL auth conformance not run");
        return;
    };
    let db = format!("store_auth_{}", uuid::Uuid::new_v4().simple());
    let (admin, db2) = (base.clone(), db.clone());
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&admin, postgres::NoTls).expect("connect admin");
        c.batch_execute(&format!("CREATE DATABASE {db2}"))
            .expect("create db");
    })
    .await
    .expect("join");
    let uri = match base.rfind('/') {
        Some(i) if i > "postgresql://".len() => format!("{}/{db}", &base[..i]),
        _ => format!("{base}/{db}"),
    };
    let store = sextant_store::open(&uri, "mlflow-artifacts:/")
        .await
        .expect("open pg store");
    sextant_store::auth_conformance::run_all(store.as_ref(), "pg").await;
    drop(store);
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect admin");
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db} WITH (FORCE)"));
    })
    .await
    .expect("join");
}
