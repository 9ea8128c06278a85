//! The conformance suite of [`AuthStore`] backends (SQLite and PostgreSQL): users, per-user
//! grants, roles with pattern grants, tokens and sessions. Each check panics naming the rule.

use sextant_auth::{Permission, ResourceType, resolve};

use crate::StoreError;
use crate::auth::{AuthStore, NewToken};

/// Run every check. `prefix` keeps names unique when several suites share one database.
pub async fn run_all(store: &dyn AuthStore, prefix: &str) {
    users(store, prefix).await;
    grants_and_roles(store, prefix).await;
    tokens_and_sessions(store, prefix).await;
}

pub async fn users(store: &dyn AuthStore, prefix: &str) {
    let key = store.auth_key().await.expect("auth key");
    assert!(key.len() >= 40, "the store key is long and random");
    assert_eq!(
        store.auth_key().await.expect("auth key"),
        key,
        "the key is kept"
    );

    let name = format!("{prefix}-ann");
    let u = store
        .create_user(&name, "$hash1", false)
        .await
        .expect("create user");
    assert_eq!((u.username.as_str(), u.is_admin), (name.as_str(), false));
    let again = store.create_user(&name, "$x", true).await;
    assert!(
        matches!(again, Err(StoreError::AlreadyExists(_))),
        "usernames are unique"
    );
    let got = store.get_user(&name).await.expect("get user");
    assert_eq!(got, u);
    assert!(matches!(
        store.get_user(&format!("{prefix}-nobody")).await,
        Err(StoreError::NotFound(m)) if m.contains("not found")
    ));
    store
        .set_user_password(&name, "$hash2")
        .await
        .expect("set password");
    store.set_user_admin(&name, true).await.expect("set admin");
    let got = store.get_user(&name).await.expect("get user");
    assert_eq!((got.password_hash.as_str(), got.is_admin), ("$hash2", true));
    assert!(
        store
            .list_users()
            .await
            .expect("list")
            .iter()
            .any(|x| x.username == name)
    );
    store.delete_user(&name).await.expect("delete");
    assert!(matches!(
        store.get_user(&name).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_user(&name).await,
        Err(StoreError::NotFound(_))
    ));
}

pub async fn grants_and_roles(store: &dyn AuthStore, prefix: &str) {
    let bob = format!("{prefix}-bob");
    store.create_user(&bob, "$h", false).await.expect("create");
    let exp = ResourceType::Experiment;
    let model = ResourceType::RegisteredModel;

    // Direct grants: one per resource; revoke needs one to exist.
    store
        .grant_user_permission(&bob, exp, "7", Permission::Read)
        .await
        .expect("grant");
    assert!(matches!(
        store
            .grant_user_permission(&bob, exp, "7", Permission::Edit)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    store
        .set_user_permission(&bob, model, "m1", Permission::Manage)
        .await
        .expect("set");
    store
        .set_user_permission(&bob, model, "m1", Permission::Edit)
        .await
        .expect("set replaces");
    let listed = store.list_user_permissions(&bob).await.expect("list");
    assert_eq!(listed.len(), 2, "{listed:?}");
    let g = store
        .user_grants(&bob, exp, Some("7"))
        .await
        .expect("grants");
    assert_eq!(g.direct.get("7"), Some(&Permission::Read));
    let g = store
        .user_grants(&bob, exp, Some("8"))
        .await
        .expect("grants");
    assert!(g.direct.is_empty(), "only the asked resource");
    let g = store.user_grants(&bob, model, None).await.expect("grants");
    assert_eq!(g.direct.get("m1"), Some(&Permission::Edit));

    // A renamed model keeps its grants; a deleted one loses them.
    store
        .rename_resource_grants(model, "m1", "m2")
        .await
        .expect("rename");
    let g = store.user_grants(&bob, model, None).await.expect("grants");
    assert_eq!(g.direct.get("m2"), Some(&Permission::Edit));
    store
        .delete_resource_grants(model, "m2")
        .await
        .expect("delete grants");
    assert!(
        store
            .user_grants(&bob, model, None)
            .await
            .expect("grants")
            .direct
            .is_empty()
    );

    store
        .revoke_user_permission(&bob, exp, "7")
        .await
        .expect("revoke");
    assert!(matches!(
        store.revoke_user_permission(&bob, exp, "7").await,
        Err(StoreError::NotFound(_))
    ));

    // Roles: patterns by id, name and '*', DENY as an override.
    let role = store
        .create_role("default", &format!("{prefix}-readers"), Some("read all"))
        .await
        .expect("create role");
    assert!(matches!(
        store.create_role("default", &role.name, None).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let all = store
        .add_role_permission(role.id, exp, "*", Permission::Read)
        .await
        .expect("add");
    let deny = store
        .add_role_permission(role.id, exp, "9", Permission::Deny)
        .await
        .expect("add");
    assert!(matches!(
        store
            .add_role_permission(role.id, exp, "*", Permission::Edit)
            .await,
        Err(StoreError::AlreadyExists(_))
    ));
    let a = store.assign_role(&bob, role.id).await.expect("assign");
    assert_eq!(a.role_id, role.id);
    assert!(matches!(
        store.assign_role(&bob, role.id).await,
        Err(StoreError::AlreadyExists(_))
    ));
    let g = store
        .user_grants(&bob, exp, Some("5"))
        .await
        .expect("grants");
    assert_eq!(
        resolve(&g.for_resource("5"), "5", "e5", Permission::NoPermissions),
        Permission::Read
    );
    let g9 = store
        .user_grants(&bob, exp, Some("9"))
        .await
        .expect("grants");
    assert_eq!(
        resolve(&g9.for_resource("9"), "9", "e9", Permission::Manage),
        Permission::Deny
    );
    assert!(
        store
            .user_grants(&bob, model, None)
            .await
            .expect("grants")
            .roles
            .is_empty(),
        "role grants are per resource type"
    );

    let upd = store
        .update_role_permission(all.id, Permission::Edit)
        .await
        .expect("update");
    assert_eq!(upd.permission, Permission::Edit);
    let perms = store.list_role_permissions(role.id).await.expect("list");
    assert_eq!(perms.len(), 2);
    let got = store.get_role(role.id).await.expect("get role");
    assert_eq!(got.permissions.len(), 2);
    assert_eq!(got.description.as_deref(), Some("read all"));
    let renamed = store
        .update_role(role.id, Some(&format!("{prefix}-editors")), None)
        .await
        .expect("update role");
    assert_eq!(renamed.name, format!("{prefix}-editors"));
    assert_eq!(renamed.description.as_deref(), Some("read all"));
    assert!(
        store
            .list_roles(&["default".into()])
            .await
            .expect("list")
            .iter()
            .any(|r| r.id == role.id)
    );
    assert!(
        !store
            .list_roles(&["other".into()])
            .await
            .expect("list")
            .iter()
            .any(|r| r.id == role.id)
    );
    assert_eq!(store.list_user_roles(&bob).await.expect("roles").len(), 1);
    assert_eq!(
        store.list_role_users(role.id).await.expect("users").len(),
        1
    );

    store.remove_role_permission(deny.id).await.expect("remove");
    assert!(matches!(
        store.remove_role_permission(deny.id).await,
        Err(StoreError::NotFound(_))
    ));
    store.unassign_role(&bob, role.id).await.expect("unassign");
    assert!(matches!(
        store.unassign_role(&bob, role.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(
        store
            .user_grants(&bob, exp, None)
            .await
            .expect("grants")
            .roles
            .is_empty()
    );
    store
        .assign_role(&bob, role.id)
        .await
        .expect("assign again");
    store.delete_role(role.id).await.expect("delete role");
    assert!(matches!(
        store.get_role(role.id).await,
        Err(StoreError::NotFound(_))
    ));
    assert!(store.list_user_roles(&bob).await.expect("roles").is_empty());
    store.delete_user(&bob).await.expect("delete");
}

pub async fn tokens_and_sessions(store: &dyn AuthStore, prefix: &str) {
    let cy = format!("{prefix}-cy");
    store.create_user(&cy, "$h", false).await.expect("create");
    let id = sextant_auth::token::new_id();
    let hash = format!("{prefix}-secret-hash-1");
    let t = store
        .create_token(NewToken {
            id: id.clone(),
            username: cy.clone(),
            name: "ci".into(),
            secret_hash: hash.clone(),
            expires_at: Some(i64::MAX / 2),
        })
        .await
        .expect("create token");
    assert_eq!((t.name.as_str(), t.username.as_str()), ("ci", cy.as_str()));
    let (found, user) = store.find_token(&hash).await.expect("find").expect("found");
    assert_eq!(
        (found.id.as_str(), user.username.as_str()),
        (id.as_str(), cy.as_str())
    );
    assert!(store.find_token("nope").await.expect("find").is_none());
    store.touch_token(&id, 1234).await.expect("touch");
    assert_eq!(
        store.get_token(&id).await.expect("get").last_used_at,
        Some(1234)
    );
    assert_eq!(store.list_tokens(Some(&cy)).await.expect("list").len(), 1);
    assert!(
        store
            .list_tokens(None)
            .await
            .expect("list")
            .iter()
            .any(|x| x.id == id)
    );
    store.delete_token(&id).await.expect("revoke");
    assert!(
        store.find_token(&hash).await.expect("find").is_none(),
        "revoked"
    );
    assert!(matches!(
        store.delete_token(&id).await,
        Err(StoreError::NotFound(_))
    ));

    let now = sextant_types::now_millis();
    let s1 = format!("{prefix}-session-1");
    store
        .create_session(&s1, &cy, now + 60_000)
        .await
        .expect("session");
    let u = store
        .find_session(&s1, now)
        .await
        .expect("find")
        .expect("live");
    assert_eq!(u.username, cy);
    assert!(
        store
            .find_session(&s1, now + 60_000)
            .await
            .expect("find")
            .is_none(),
        "expired"
    );
    store.delete_session(&s1).await.expect("end");
    assert!(store.find_session(&s1, now).await.expect("find").is_none());
    // A new password ends sessions; deleting the user removes tokens and sessions.
    store
        .create_session(&s1, &cy, now + 60_000)
        .await
        .expect("session");
    store.set_user_password(&cy, "$h2").await.expect("password");
    assert!(store.find_session(&s1, now).await.expect("find").is_none());
    store
        .create_token(NewToken {
            id: sextant_auth::token::new_id(),
            username: cy.clone(),
            name: "ci2".into(),
            secret_hash: format!("{prefix}-secret-hash-2"),
            expires_at: None,
        })
        .await
        .expect("create token");
    store.delete_user(&cy).await.expect("delete user");
    assert!(
        store
            .find_token(&format!("{prefix}-secret-hash-2"))
            .await
            .expect("find")
            .is_none()
    );
}
