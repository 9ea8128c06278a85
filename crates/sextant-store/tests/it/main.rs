//! The store conformance suite against every backend the machine offers.

mod auth;
mod registry;

use std::sync::Arc;

use sextant_store::MetadataStore;

async fn sqlite_store(dir: &tempfile::TempDir) -> Arc<dyn MetadataStore> {
    let uri = format!("sqlite:///{}", dir.path().join("s.db").display());
    sextant_store::open(&uri, "mlflow-artifacts:/")
        .await
        .expect("open sqlite store")
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = sqlite_store(&dir).await;
    sextant_store::conformance::run_all(store.as_ref(), "sqlite").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn sqlite_reopens_with_data_and_schema() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = sqlite_store(&dir).await;
        store
            .create_experiment("kept", "", &[])
            .await
            .expect("create")
    };
    let store = sqlite_store(&dir).await;
    assert_eq!(store.get_experiment(&id).await.expect("get").name, "kept");
}

/// PostgreSQL, when `SEXTANT_TEST_PG_URI` names a server: a fresh database per test run.
#[tokio::test(flavor = "multi_thread")]
async fn postgres_conformance() {
    let Ok(base) = std::env::var("SEXTANT_TEST_PG_URI") else {
        if std::env::var("CI").is_ok() {
            panic!("SEXTANT_TEST_PG_URI must be set in CI: the PostgreSQL backend is untested");
        }
        eprintln!("SEXTANT_TEST_PG_URI unset: PostgreSQL conformance not run");
        return;
    };
    let db = format!("store_it_{}", uuid::Uuid::new_v4().simple());
    let admin = base.clone();
    let db2 = db.clone();
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
    sextant_store::conformance::run_all(store.as_ref(), "pg").await;
    drop(store);
    let db3 = db.clone();
    tokio::task::spawn_blocking(move || {
        let mut c = postgres::Client::connect(&base, postgres::NoTls).expect("connect admin");
        let _ = c.batch_execute(&format!("DROP DATABASE IF EXISTS {db3} WITH (FORCE)"));
    })
    .await
    .expect("join");
}
