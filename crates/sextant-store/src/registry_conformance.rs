//! The registry's review rules, as a conformance suite every [`Store`] backend must pass, and
//! the race checks that prove the rules hold under concurrency (PostgreSQL's READ COMMITTED
//! included).
//!
//! The rules: a protected alias only ever points at an approved version; failed checks block an
//! approval unless overridden; every decision and alias move is audited in the same transaction
//! (a refused change leaves no entry); a verified author may not review their own version
//! unless the model allows it; a version a protected alias points at, and a model with a
//! protected alias, cannot be deleted; a deleted model's audit log stays readable; an approval
//! records the digest of the version's files, and a write under them is found.
//!
//! The integration tests run [`run_all`] and [`races`] on SQLite always and on PostgreSQL when
//! `SEXTANT_TEST_PG_URI` names a server. Each check panics with a message naming the rule.

use std::sync::Arc;

use sextant_types::Tag;
use sextant_types::registry::{Actor, Decision, FileDigest, FileManifest, ReviewStatus};

use crate::registry::ALLOW_SELF_REVIEW_TAG;
use crate::{NewModelVersion, NewRun, Store, StoreError};

fn anon(name: &str) -> Actor {
    Actor::new(name, "header")
}

fn verified(name: &str) -> Actor {
    Actor::new(name, "auth:basic")
}

fn new_version(name: &str, source: &str, run_id: Option<&str>) -> NewModelVersion {
    NewModelVersion {
        name: name.into(),
        source: source.into(),
        run_id: run_id.map(str::to_owned),
        run_link: String::new(),
        description: String::new(),
        tags: vec![],
        model_id: None,
    }
}

async fn model_with_versions(store: &dyn Store, name: &str, n: usize, author: &Actor) {
    store
        .create_registered_model(name, "", &[], author)
        .await
        .expect("create model");
    for i in 0..n {
        store
            .create_model_version(
                new_version(
                    name,
                    &format!("mlflow-artifacts:/0/{name}/v{}", i + 1),
                    None,
                ),
                author,
            )
            .await
            .expect("create version");
    }
}

async fn approve(store: &dyn Store, name: &str, v: i64, by: &Actor) {
    store
        .decide_review(name, v, Decision::Approve, "ok", false, None, by)
        .await
        .expect("approve");
}

fn manifest(root: &str, files: &[(&str, &str)]) -> FileManifest {
    let files: Vec<FileDigest> = files
        .iter()
        .map(|(p, h)| FileDigest {
            path: (*p).into(),
            sha256: (*h).into(),
            size: 1,
        })
        .collect();
    FileManifest {
        root: root.into(),
        digest: format!("digest-of-{root}"),
        files,
    }
}

/// No protected alias of `name` points at a version that is not approved.
async fn assert_protected_aliases_approved(store: &dyn Store, name: &str, what: &str) {
    let protected = store.protected_aliases(name).await.expect("protected");
    let model = store.get_registered_model(name).await.expect("model");
    for a in model
        .aliases
        .iter()
        .filter(|a| protected.contains(&a.alias))
    {
        let v: i64 = a.version.parse().expect("numeric version");
        let review = store.get_review(name, v).await.expect("review");
        assert_eq!(
            review.status,
            ReviewStatus::Approved,
            "{what}: protected alias '{}' of {name} points at version {v}, which is {:?}",
            a.alias,
            review.status
        );
    }
}

/// Every review rule, in order.
pub async fn run_all(store: &dyn Store, prefix: &str) {
    protected_aliases(store, prefix).await;
    failed_checks(store, prefix).await;
    audit_is_transactional(store, prefix).await;
    separation_of_duties(store, prefix).await;
    deletion(store, prefix).await;
    digests(store, prefix).await;
}

pub async fn protected_aliases(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-protect");
    let a = anon("alice");
    model_with_versions(store, &name, 2, &a).await;
    store
        .set_alias(&name, "production", 1, &a)
        .await
        .expect("an unprotected alias may point at a pending version");
    match store
        .set_alias_protection(&name, "production", true, &a)
        .await
    {
        Err(StoreError::InvalidState(m)) => assert!(m.contains("approved"), "{m}"),
        other => panic!("protecting an alias on a pending version must be refused: {other:?}"),
    }
    approve(store, &name, 1, &a).await;
    store
        .set_alias_protection(&name, "production", true, &a)
        .await
        .expect("protect an alias on an approved version");
    match store.set_alias(&name, "production", 2, &a).await {
        Err(StoreError::InvalidState(m)) => {
            assert!(
                m.contains("protected") && m.contains("pending review"),
                "{m}"
            )
        }
        other => panic!("a protected alias must not move to a pending version: {other:?}"),
    }
    store
        .decide_review(&name, 2, Decision::Reject, "no", false, None, &a)
        .await
        .expect("reject v2");
    assert!(
        store.set_alias(&name, "production", 2, &a).await.is_err(),
        "a protected alias must not move to a rejected version"
    );
    match store
        .decide_review(&name, 1, Decision::Reject, "late", false, None, &a)
        .await
    {
        Err(StoreError::InvalidState(m)) => assert!(m.contains("production"), "{m}"),
        other => panic!("rejecting a version a protected alias points at must fail: {other:?}"),
    }
    approve(store, &name, 2, &a).await;
    store
        .set_alias(&name, "production", 2, &a)
        .await
        .expect("a protected alias moves to an approved version");
    assert_protected_aliases_approved(store, &name, "protected_aliases").await;
}

pub async fn failed_checks(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-checks");
    let a = anon("alice");
    model_with_versions(store, &name, 1, &a).await;
    store
        .record_check(&name, 1, "accuracy", false, "0.41 < 0.9", &a)
        .await
        .expect("record check");
    match store
        .decide_review(&name, 1, Decision::Approve, "ok", false, None, &a)
        .await
    {
        Err(StoreError::InvalidState(m)) => assert!(m.contains("accuracy"), "{m}"),
        other => panic!("failed checks must block approval: {other:?}"),
    }
    let r = store
        .decide_review(&name, 1, Decision::Approve, "known gap", true, None, &a)
        .await
        .expect("approve with override");
    assert!(r.overrode_failed_checks);
    let log = store.audit_log(&name, Some(1)).await.expect("audit");
    let last = log.last().expect("an entry");
    assert_eq!(last.action, "approve");
    assert_eq!(last.details["overrode_failed_checks"], true);
    assert_eq!(last.details["failed_checks"][0], "accuracy");
}

pub async fn audit_is_transactional(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-audit");
    let a = anon("alice");
    model_with_versions(store, &name, 2, &a).await;
    approve(store, &name, 1, &a).await;
    store.set_alias(&name, "prod", 1, &a).await.expect("alias");
    store
        .set_alias_protection(&name, "prod", true, &a)
        .await
        .expect("protect");
    let before = store.audit_log(&name, None).await.expect("audit").len();
    assert!(store.set_alias(&name, "prod", 2, &a).await.is_err());
    assert!(
        store
            .decide_review(&name, 1, Decision::Reject, "x", false, None, &a)
            .await
            .is_err()
    );
    assert!(store.delete_model_version(&name, 1, &a).await.is_err());
    let after = store.audit_log(&name, None).await;
    assert_eq!(
        after.expect("audit").len(),
        before,
        "a refused change must leave no audit entry (same transaction)"
    );
    let log = store.audit_log(&name, None).await.expect("audit");
    let actions: Vec<&str> = log.iter().map(|e| e.action.as_str()).collect();
    assert_eq!(
        actions,
        [
            "create_model",
            "create_version",
            "create_version",
            "approve",
            "set_alias",
            "protect_alias"
        ]
    );
    assert!(log.iter().all(|e| e.actor == "alice"));
}

pub async fn separation_of_duties(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-duties");
    let (alice, bob) = (verified("alice"), verified("bob"));
    store
        .create_registered_model(&name, "", &[], &alice)
        .await
        .expect("model");
    store
        .create_model_version(new_version(&name, "mlflow-artifacts:/0/x", None), &alice)
        .await
        .expect("v1 by alice");
    for d in [Decision::Approve, Decision::Reject] {
        match store
            .decide_review(&name, 1, d, "mine", false, None, &alice)
            .await
        {
            Err(StoreError::PermissionDenied(m)) => {
                assert!(
                    m.contains("alice") && m.contains(ALLOW_SELF_REVIEW_TAG),
                    "{m}"
                )
            }
            other => panic!("a verified author must not review their version: {other:?}"),
        }
    }
    // Without authentication the name is a claim, not an identity: today's behaviour.
    store
        .decide_review(
            &name,
            1,
            Decision::Approve,
            "ok",
            false,
            None,
            &anon("alice"),
        )
        .await
        .expect("an unverified actor reviews as before");
    // The run's user is an author too.
    let run = store
        .create_run(NewRun {
            experiment_id: "0".into(),
            user_id: "carol".into(),
            run_name: format!("{prefix}-duties-run"),
            start_time: None,
            tags: vec![],
        })
        .await
        .expect("run")
        .info
        .run_id;
    store
        .create_model_version(
            new_version(&name, &format!("runs:/{run}/model"), Some(&run)),
            &bob,
        )
        .await
        .expect("v2 by bob from carol's run");
    match store
        .decide_review(
            &name,
            2,
            Decision::Approve,
            "mine",
            false,
            None,
            &verified("carol"),
        )
        .await
    {
        Err(StoreError::PermissionDenied(m)) => assert!(m.contains("carol"), "{m}"),
        other => panic!("the run's user must not review the version: {other:?}"),
    }
    approve(store, &name, 2, &alice).await;
    // The model's managers allow self-review: allowed, and the audit log says so.
    store
        .create_model_version(new_version(&name, "mlflow-artifacts:/0/y", None), &bob)
        .await
        .expect("v3 by bob");
    store
        .set_registered_model_tag(&name, &Tag::new(ALLOW_SELF_REVIEW_TAG, "true"))
        .await
        .expect("tag");
    approve(store, &name, 3, &bob).await;
    let log = store.audit_log(&name, Some(3)).await.expect("audit");
    let entry = log.last().expect("entry");
    assert_eq!(
        (entry.action.as_str(), entry.actor.as_str()),
        ("approve", "bob")
    );
    assert_eq!(entry.actor_source, "auth:basic");
    assert_eq!(entry.details["self_review"], true);
    assert_eq!(
        entry.details["self_review_allowed_by"],
        ALLOW_SELF_REVIEW_TAG
    );
    let other = store.audit_log(&name, Some(2)).await.expect("audit");
    assert!(
        other
            .last()
            .expect("entry")
            .details
            .get("self_review")
            .is_none()
    );
}

pub async fn deletion(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-delete");
    let a = anon("alice");
    model_with_versions(store, &name, 2, &a).await;
    approve(store, &name, 1, &a).await;
    store.set_alias(&name, "prod", 1, &a).await.expect("alias");
    store
        .set_alias_protection(&name, "prod", true, &a)
        .await
        .expect("protect");
    match store.delete_model_version(&name, 1, &a).await {
        Err(StoreError::InvalidState(m)) => assert!(m.contains("'prod'"), "{m}"),
        other => panic!("a version a protected alias points at must not be deleted: {other:?}"),
    }
    match store.delete_registered_model(&name, &a).await {
        Err(StoreError::InvalidState(m)) => assert!(m.contains("'prod'"), "{m}"),
        other => panic!("a model with a protected alias must not be deleted: {other:?}"),
    }
    store
        .delete_model_version(&name, 2, &anon("dora"))
        .await
        .expect("an unprotected version is deleted");
    let v2 = store.audit_log(&name, Some(2)).await.expect("v2 audit");
    assert_eq!(v2.last().map(|e| e.action.as_str()), Some("delete_version"));
    assert_eq!(v2.last().map(|e| e.actor.as_str()), Some("dora"));
    store
        .set_alias_protection(&name, "prod", false, &a)
        .await
        .expect("unprotect");
    store
        .delete_registered_model(&name, &anon("erin"))
        .await
        .expect("delete once unprotected");
    assert!(matches!(
        store.get_registered_model(&name).await,
        Err(StoreError::NotFound(_))
    ));
    let log = store
        .audit_log(&name, None)
        .await
        .expect("a deleted model's audit log stays readable");
    let last = log.last().expect("entries");
    assert_eq!(
        (last.action.as_str(), last.actor.as_str()),
        ("delete_model", "erin")
    );
    assert_eq!(last.details["versions"], serde_json::json!(["1"]));
    assert!(log.iter().any(|e| e.action == "approve"));
    // A new model of the same name has its own log; the old one is not mixed in.
    store
        .create_registered_model(&name, "", &[], &a)
        .await
        .expect("recreate");
    let fresh = store.audit_log(&name, None).await.expect("audit");
    assert_eq!(fresh.len(), 1, "{fresh:?}");
}

pub async fn digests(store: &dyn Store, prefix: &str) {
    let name = format!("{prefix}-digest");
    let a = anon("alice");
    model_with_versions(store, &name, 2, &a).await;
    let root = format!("0/{prefix}-models/m-1/artifacts");
    let m = manifest(&root, &[("MLmodel", "aa"), ("model.onnx", "bb")]);
    assert!(
        store
            .approved_versions_touching(&format!("{root}/model.onnx"))
            .await
            .expect("lookup")
            .is_empty(),
        "nothing is locked before approval"
    );
    let r = store
        .decide_review(&name, 1, Decision::Approve, "ok", false, Some(&m), &a)
        .await
        .expect("approve with files");
    assert_eq!(r.approved_files.as_ref(), Some(&m));
    assert_eq!(
        store
            .get_review(&name, 1)
            .await
            .expect("review")
            .approved_files,
        Some(m.clone())
    );
    let entry = store.audit_log(&name, Some(1)).await.expect("audit");
    let files = &entry.last().expect("entry").details["files"];
    assert_eq!(files["digest"], m.digest);
    assert_eq!(files["manifest"][1]["path"], "model.onnx");
    for touching in [
        format!("{root}/model.onnx"),
        format!("{root}/sub/new.bin"),
        root.clone(),
        format!("0/{prefix}-models"),
        format!("/{root}//MLmodel"),
    ] {
        let hits = store
            .approved_versions_touching(&touching)
            .await
            .expect("lookup");
        assert_eq!(
            hits.iter()
                .map(|h| (h.name.as_str(), h.version))
                .collect::<Vec<_>>(),
            [(name.as_str(), 1)],
            "a write at {touching} changes the approved files"
        );
    }
    for apart in [
        format!("0/{prefix}-models/m-1/artifactsX"),
        format!("0/{prefix}-models/m-2/artifacts/model.onnx"),
        "elsewhere".to_owned(),
    ] {
        assert!(
            store
                .approved_versions_touching(&apart)
                .await
                .expect("lookup")
                .is_empty(),
            "{apart} is not under the approved files"
        );
    }
    // Rejected, the files are released.
    store
        .decide_review(&name, 1, Decision::Reject, "withdrawn", false, None, &a)
        .await
        .expect("reject");
    assert!(
        store
            .approved_versions_touching(&format!("{root}/model.onnx"))
            .await
            .expect("lookup")
            .is_empty()
    );
    assert_eq!(
        store
            .get_review(&name, 1)
            .await
            .expect("review")
            .approved_files,
        None
    );
}

// ----------------------------------------------------------------------------- races

/// Every race check: `rounds` approve/reject/promote races, `param_pairs` concurrent
/// different-value param writes, `versions` concurrent version creations.
pub async fn races(
    store: Arc<dyn Store>,
    prefix: &str,
    rounds: usize,
    param_pairs: usize,
    versions: usize,
) {
    review_races(&store, prefix, rounds).await;
    param_races(&store, prefix, param_pairs).await;
    version_number_races(&store, prefix, versions).await;
}

/// Concurrent reviews, alias moves and protections never leave a protected alias on an
/// unapproved version.
pub async fn review_races(store: &Arc<dyn Store>, prefix: &str, rounds: usize) {
    let a = anon("racer");
    for i in 0..rounds {
        let name = format!("{prefix}-race-{i}");
        model_with_versions(&**store, &name, 3, &a).await;
        approve(&**store, &name, 1, &a).await;
        approve(&**store, &name, 2, &a).await;
        store
            .set_alias(&name, "production", 1, &a)
            .await
            .expect("alias");
        store
            .set_alias(&name, "staging", 1, &a)
            .await
            .expect("alias");
        store
            .set_alias_protection(&name, "production", true, &a)
            .await
            .expect("protect");
        // Reject v2 while promoting it to the protected alias; move the unprotected alias to
        // the pending v3 while protecting it; approve and reject v3 at once.
        let mut tasks = tokio::task::JoinSet::new();
        for op in 0..5 {
            let (s, n, a) = (Arc::clone(store), name.clone(), a.clone());
            tasks.spawn(async move {
                match op {
                    0 => s
                        .decide_review(&n, 2, Decision::Reject, "race", false, None, &a)
                        .await
                        .map(drop),
                    1 => s.set_alias(&n, "production", 2, &a).await,
                    2 => s.set_alias(&n, "staging", 3, &a).await,
                    3 => s.set_alias_protection(&n, "staging", true, &a).await,
                    _ => s
                        .decide_review(&n, 3, Decision::Approve, "race", false, None, &a)
                        .await
                        .map(drop),
                }
            });
        }
        while let Some(r) = tasks.join_next().await {
            match r.expect("task") {
                Ok(()) | Err(StoreError::InvalidState(_)) => {}
                Err(e) => panic!("race round {i}: a rule's refusal is InvalidState, got {e:?}"),
            }
        }
        // v3 may have been approved in the race; reject it now if nothing protected holds it,
        // and check the invariant both before and after.
        assert_protected_aliases_approved(&**store, &name, &format!("round {i}")).await;
    }
}

/// Two writers log the same param with different values at once: exactly one succeeds, the
/// other gets the params-changed error, and the stored value is the winner's.
pub async fn param_races(store: &Arc<dyn Store>, prefix: &str, pairs: usize) {
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..pairs {
        let s = Arc::clone(store);
        let prefix = prefix.to_owned();
        tasks.spawn(async move {
            let run = s
                .create_run(NewRun {
                    experiment_id: "0".into(),
                    user_id: "racer".into(),
                    run_name: format!("{prefix}-params-{i}"),
                    start_time: None,
                    tags: vec![],
                })
                .await
                .expect("run")
                .info
                .run_id;
            let (a, b) = tokio::join!(
                s.log_batch(&run, vec![], vec![Tag::new("lr", "0.1")], vec![]),
                s.log_batch(&run, vec![], vec![Tag::new("lr", "0.2")], vec![]),
            );
            let stored = s.get_run(&run).await.expect("run").data.params;
            (i, a, b, stored)
        });
        // Bounded concurrency: 8 pairs at once, 16 writers (PostgreSQL's pool size).
        if tasks.len() >= 8 {
            check_pair(tasks.join_next().await.expect("task").expect("join"));
        }
    }
    while let Some(r) = tasks.join_next().await {
        check_pair(r.expect("join"));
    }
}

type PairResult = (
    usize,
    crate::Result<()>,
    crate::Result<()>,
    Vec<sextant_types::Param>,
);

fn check_pair((i, a, b, stored): PairResult) {
    let winner = match (&a, &b) {
        (Ok(()), Err(StoreError::ParamsChanged { .. })) => "0.1",
        (Err(StoreError::ParamsChanged { .. }), Ok(())) => "0.2",
        _ => panic!("pair {i}: exactly one write of a param may succeed, got {a:?} and {b:?}"),
    };
    assert_eq!(
        stored,
        vec![Tag::new("lr", winner)],
        "pair {i}: the stored value is the acknowledged one"
    );
}

/// Concurrent version creations all succeed with distinct, dense numbers.
pub async fn version_number_races(store: &Arc<dyn Store>, prefix: &str, n: usize) {
    let name = format!("{prefix}-versions");
    let a = anon("racer");
    store
        .create_registered_model(&name, "", &[], &a)
        .await
        .expect("model");
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (s, name, a) = (Arc::clone(store), name.clone(), a.clone());
        tasks.spawn(async move {
            s.create_model_version(
                new_version(&name, &format!("mlflow-artifacts:/0/v{i}"), None),
                &a,
            )
            .await
        });
    }
    let mut got = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        match r.expect("join") {
            Ok(v) => got.push(v.version.parse::<usize>().expect("number")),
            Err(e) => panic!("concurrent version creation failed: {e:?}"),
        }
    }
    got.sort_unstable();
    assert_eq!(
        got,
        (1..=n).collect::<Vec<_>>(),
        "version numbers are distinct and dense"
    );
}
