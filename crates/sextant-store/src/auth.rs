//! The authentication store: users, per-user grants, roles and their grants, role assignments,
//! API tokens and UI sessions (`sextant server --auth`).
//!
//! Secrets never reach this store in the clear: passwords arrive as argon2 hashes, tokens and
//! session cookies as keyed hashes ([`sextant_auth::token::SecretHasher`]) under the key this
//! store keeps ([`AuthStore::auth_key`]). A token or session is found by one indexed equality
//! query on its hash.

use std::collections::HashMap;

use sextant_auth::{Grants, Permission, ResourceType};
use sextant_types::now_millis;

use crate::db::{Db, Row, Tx, Value};
use crate::{Result, SqlStore, StoreError};

/// A user of the auth store. `password_hash` is the argon2 PHC string.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthUser {
    pub id: i64,
    pub username: String,
    pub password_hash: String,
    pub is_admin: bool,
}

/// One grant of a role: a permission on every resource of `resource_type` matching
/// `resource_pattern` (an id, a name or `*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RolePermission {
    pub id: i64,
    pub role_id: i64,
    pub resource_type: ResourceType,
    pub resource_pattern: String,
    pub permission: Permission,
}

/// A role and its grants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub id: i64,
    pub name: String,
    pub workspace: String,
    pub description: Option<String>,
    pub permissions: Vec<RolePermission>,
}

/// A user's membership of a role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RoleAssignment {
    pub id: i64,
    pub user_id: i64,
    pub role_id: i64,
}

/// A user's own grant on one resource.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserPermission {
    pub resource_type: ResourceType,
    pub resource_id: String,
    pub permission: Permission,
}

/// An API token as listed (never its secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenRecord {
    pub id: String,
    pub name: String,
    pub username: String,
    pub created_at: i64,
    pub expires_at: Option<i64>,
    pub last_used_at: Option<i64>,
}

/// A token to store: `secret_hash` is the keyed hash of its secret.
#[derive(Debug, Clone)]
pub struct NewToken {
    pub id: String,
    pub username: String,
    pub name: String,
    pub secret_hash: String,
    pub expires_at: Option<i64>,
}

/// Every grant one user holds on one resource type: their own grants by resource id, and the
/// `(pattern, permission)` grants of their roles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UserGrants {
    pub direct: HashMap<String, Permission>,
    pub roles: Vec<(String, Permission)>,
}

impl UserGrants {
    /// The grants that bear on the resource with this id.
    pub fn for_resource(&self, id: &str) -> Grants {
        Grants {
            direct: self.direct.get(id).copied(),
            roles: self.roles.clone(),
        }
    }
}

/// The authentication store. All methods are transactional.
#[async_trait::async_trait]
pub trait AuthStore: Send + Sync + 'static {
    /// The store's key for hashing token and session secrets, created on first use.
    async fn auth_key(&self) -> Result<String>;

    // --- users
    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<AuthUser>;
    /// `NotFound` with MLflow's message when there is no such user.
    async fn get_user(&self, username: &str) -> Result<AuthUser>;
    async fn list_users(&self) -> Result<Vec<AuthUser>>;
    async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<()>;
    async fn set_user_admin(&self, username: &str, is_admin: bool) -> Result<()>;
    /// Delete a user with their grants, role assignments, tokens and sessions.
    async fn delete_user(&self, username: &str) -> Result<()>;

    // --- per-user grants
    /// `AlreadyExists` when the user has a grant on that resource already (MLflow's rule).
    async fn grant_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()>;
    /// Set the grant whether or not one exists (the creator of a resource gets `MANAGE`).
    async fn set_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()>;
    /// `NotFound` when there is no such grant.
    async fn revoke_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
    ) -> Result<()>;
    async fn list_user_permissions(&self, username: &str) -> Result<Vec<UserPermission>>;
    /// The user's grants on `resource_type`: their own (only on `resource_id` when given) and
    /// every grant of their roles. Two indexed queries.
    async fn user_grants(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: Option<&str>,
    ) -> Result<UserGrants>;
    /// A resource was renamed (a registered model): its per-user grants follow it.
    async fn rename_resource_grants(
        &self,
        resource_type: ResourceType,
        old_id: &str,
        new_id: &str,
    ) -> Result<()>;
    /// A resource was deleted: its per-user grants go with it.
    async fn delete_resource_grants(&self, resource_type: ResourceType, id: &str) -> Result<()>;

    // --- roles
    async fn create_role(
        &self,
        workspace: &str,
        name: &str,
        description: Option<&str>,
    ) -> Result<Role>;
    async fn get_role(&self, role_id: i64) -> Result<Role>;
    /// The roles of these workspaces (every role when empty).
    async fn list_roles(&self, workspaces: &[String]) -> Result<Vec<Role>>;
    async fn update_role(
        &self,
        role_id: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Role>;
    async fn delete_role(&self, role_id: i64) -> Result<()>;
    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: ResourceType,
        resource_pattern: &str,
        permission: Permission,
    ) -> Result<RolePermission>;
    async fn remove_role_permission(&self, role_permission_id: i64) -> Result<()>;
    async fn list_role_permissions(&self, role_id: i64) -> Result<Vec<RolePermission>>;
    async fn update_role_permission(
        &self,
        role_permission_id: i64,
        permission: Permission,
    ) -> Result<RolePermission>;
    async fn assign_role(&self, username: &str, role_id: i64) -> Result<RoleAssignment>;
    async fn unassign_role(&self, username: &str, role_id: i64) -> Result<()>;
    async fn list_user_roles(&self, username: &str) -> Result<Vec<Role>>;
    async fn list_role_users(&self, role_id: i64) -> Result<Vec<RoleAssignment>>;

    // --- tokens
    async fn create_token(&self, token: NewToken) -> Result<TokenRecord>;
    /// The token with this secret hash and its user, whatever its expiry (the caller checks).
    async fn find_token(&self, secret_hash: &str) -> Result<Option<(TokenRecord, AuthUser)>>;
    async fn get_token(&self, token_id: &str) -> Result<TokenRecord>;
    /// The tokens of one user, or of everyone.
    async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>>;
    /// Revoke (delete) a token; `NotFound` when there is none.
    async fn delete_token(&self, token_id: &str) -> Result<()>;
    async fn touch_token(&self, token_id: &str, at: i64) -> Result<()>;

    // --- sessions
    async fn create_session(
        &self,
        secret_hash: &str,
        username: &str,
        expires_at: i64,
    ) -> Result<()>;
    /// The user of an unexpired session; an expired one is removed.
    async fn find_session(&self, secret_hash: &str, now: i64) -> Result<Option<AuthUser>>;
    async fn delete_session(&self, secret_hash: &str) -> Result<()>;
}

// ----------------------------------------------------------------------------- helpers

fn user_not_found(username: &str) -> StoreError {
    StoreError::NotFound(format!("User with username={username} not found"))
}

fn role_not_found(id: i64) -> StoreError {
    StoreError::NotFound(format!("Role with id={id} not found"))
}

fn internal(e: impl std::fmt::Display) -> StoreError {
    StoreError::Internal(e.to_string())
}

fn perm(s: &str) -> Result<Permission> {
    Permission::parse(s).map_err(internal)
}

fn rtype(s: &str) -> Result<ResourceType> {
    ResourceType::parse(s).map_err(internal)
}

const USER_COLUMNS: &str = "user_id, username, password_hash, is_admin";

fn user_from_row(r: &Row) -> Result<AuthUser> {
    Ok(AuthUser {
        id: r.i64(0)?,
        username: r.str(1)?,
        password_hash: r.str(2)?,
        is_admin: r.i64(3)? != 0,
    })
}

fn user_tx(tx: &mut dyn Tx, username: &str) -> Result<AuthUser> {
    tx.query_opt(
        &format!("SELECT {USER_COLUMNS} FROM auth_users WHERE username = ?"),
        &[username.into()],
    )?
    .map(|r| user_from_row(&r))
    .transpose()?
    .ok_or_else(|| user_not_found(username))
}

const ROLE_PERM_COLUMNS: &str =
    "role_permission_id, role_id, resource_type, resource_pattern, permission";

fn role_perm_from_row(r: &Row) -> Result<RolePermission> {
    Ok(RolePermission {
        id: r.i64(0)?,
        role_id: r.i64(1)?,
        resource_type: rtype(&r.str(2)?)?,
        resource_pattern: r.str(3)?,
        permission: perm(&r.str(4)?)?,
    })
}

fn role_perms_tx(tx: &mut dyn Tx, role_id: i64) -> Result<Vec<RolePermission>> {
    tx.query(
        &format!(
            "SELECT {ROLE_PERM_COLUMNS} FROM auth_role_permissions WHERE role_id = ? \
             ORDER BY role_permission_id"
        ),
        &[Value::I64(role_id)],
    )?
    .iter()
    .map(role_perm_from_row)
    .collect()
}

fn roles_from_rows(tx: &mut dyn Tx, rows: &[Row]) -> Result<Vec<Role>> {
    rows.iter()
        .map(|r| {
            let id = r.i64(0)?;
            Ok(Role {
                id,
                name: r.str(1)?,
                workspace: r.str(2)?,
                description: r.opt_str(3)?,
                permissions: role_perms_tx(tx, id)?,
            })
        })
        .collect()
}

fn role_tx(tx: &mut dyn Tx, role_id: i64) -> Result<Role> {
    let rows = tx.query(
        "SELECT role_id, name, workspace, description FROM auth_roles WHERE role_id = ?",
        &[Value::I64(role_id)],
    )?;
    roles_from_rows(tx, &rows)?
        .pop()
        .ok_or_else(|| role_not_found(role_id))
}

fn role_perm_tx(tx: &mut dyn Tx, id: i64) -> Result<RolePermission> {
    tx.query_opt(
        &format!(
            "SELECT {ROLE_PERM_COLUMNS} FROM auth_role_permissions WHERE role_permission_id = ?"
        ),
        &[Value::I64(id)],
    )?
    .map(|r| role_perm_from_row(&r))
    .transpose()?
    .ok_or_else(|| StoreError::NotFound(format!("Role permission with id={id} not found")))
}

const TOKEN_COLUMNS: &str =
    "t.token_id, t.name, u.username, t.created_at, t.expires_at, t.last_used_at";

fn token_from_row(r: &Row) -> Result<TokenRecord> {
    Ok(TokenRecord {
        id: r.str(0)?,
        name: r.str(1)?,
        username: r.str(2)?,
        created_at: r.i64(3)?,
        expires_at: r.opt_i64(4)?,
        last_used_at: r.opt_i64(5)?,
    })
}

fn inserted_id(row: Option<Row>) -> Result<i64> {
    row.ok_or_else(|| internal("INSERT ... RETURNING returned no row"))?
        .i64(0)
}

// ----------------------------------------------------------------------------- the store

#[async_trait::async_trait]
impl<D: Db> AuthStore for SqlStore<D> {
    async fn auth_key(&self) -> Result<String> {
        self.write_retrying(|tx| {
            if let Some(r) = tx.query_opt(
                "SELECT value FROM auth_settings WHERE key = 'secret_key'",
                &[],
            )? {
                return r.str(0);
            }
            let key = sextant_auth::token::new_store_key();
            tx.exec(
                "INSERT INTO auth_settings (key, value) VALUES ('secret_key', ?)",
                &[key.as_str().into()],
            )?;
            Ok(key)
        })
        .await
    }

    async fn create_user(
        &self,
        username: &str,
        password_hash: &str,
        is_admin: bool,
    ) -> Result<AuthUser> {
        let (username, hash) = (username.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM auth_users WHERE username = ?",
                    &[username.as_str().into()],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "User (username={username}) already exists."
                )));
            }
            let id = inserted_id(tx.query_opt(
                "INSERT INTO auth_users (username, password_hash, is_admin, created_at) \
                 VALUES (?, ?, ?, ?) RETURNING user_id",
                &[
                    username.as_str().into(),
                    hash.as_str().into(),
                    Value::I64(i64::from(is_admin)),
                    Value::I64(now_millis()),
                ],
            )?)?;
            Ok(AuthUser {
                id,
                username,
                password_hash: hash,
                is_admin,
            })
        })
        .await
    }

    async fn get_user(&self, username: &str) -> Result<AuthUser> {
        let username = username.to_owned();
        self.read(move |tx| user_tx(tx, &username)).await
    }

    async fn list_users(&self) -> Result<Vec<AuthUser>> {
        self.read(|tx| {
            tx.query(
                &format!("SELECT {USER_COLUMNS} FROM auth_users ORDER BY user_id"),
                &[],
            )?
            .iter()
            .map(user_from_row)
            .collect()
        })
        .await
    }

    async fn set_user_password(&self, username: &str, password_hash: &str) -> Result<()> {
        let (username, hash) = (username.to_owned(), password_hash.to_owned());
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            tx.exec(
                "UPDATE auth_users SET password_hash = ? WHERE user_id = ?",
                &[hash.into(), Value::I64(u.id)],
            )?;
            // A new password ends the user's UI sessions.
            tx.exec(
                "DELETE FROM auth_sessions WHERE user_id = ?",
                &[Value::I64(u.id)],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_user_admin(&self, username: &str, is_admin: bool) -> Result<()> {
        let username = username.to_owned();
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            tx.exec(
                "UPDATE auth_users SET is_admin = ? WHERE user_id = ?",
                &[Value::I64(i64::from(is_admin)), Value::I64(u.id)],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_user(&self, username: &str) -> Result<()> {
        let username = username.to_owned();
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            for table in [
                "auth_user_permissions",
                "auth_user_roles",
                "auth_tokens",
                "auth_sessions",
                "auth_users",
            ] {
                tx.exec(
                    &format!("DELETE FROM {table} WHERE user_id = ?"),
                    &[Value::I64(u.id)],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn grant_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()> {
        let (username, rid) = (username.to_owned(), resource_id.to_owned());
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            if tx
                .query_opt(
                    "SELECT 1 FROM auth_user_permissions WHERE user_id = ? AND resource_type = ? \
                     AND resource_id = ?",
                    &[
                        Value::I64(u.id),
                        resource_type.as_str().into(),
                        rid.as_str().into(),
                    ],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Permission for user={username} on resource_type={}, resource_id={rid} \
                     already exists.",
                    resource_type.as_str()
                )));
            }
            tx.exec(
                "INSERT INTO auth_user_permissions (user_id, resource_type, resource_id, \
                 permission) VALUES (?, ?, ?, ?)",
                &[
                    Value::I64(u.id),
                    resource_type.as_str().into(),
                    rid.as_str().into(),
                    permission.as_str().into(),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn set_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
        permission: Permission,
    ) -> Result<()> {
        let (username, rid) = (username.to_owned(), resource_id.to_owned());
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            let args = [
                Value::I64(u.id),
                resource_type.as_str().into(),
                rid.as_str().into(),
            ];
            tx.exec(
                "DELETE FROM auth_user_permissions WHERE user_id = ? AND resource_type = ? \
                 AND resource_id = ?",
                &args,
            )?;
            let mut args = args.to_vec();
            args.push(permission.as_str().into());
            tx.exec(
                "INSERT INTO auth_user_permissions (user_id, resource_type, resource_id, \
                 permission) VALUES (?, ?, ?, ?)",
                &args,
            )?;
            Ok(())
        })
        .await
    }

    async fn revoke_user_permission(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: &str,
    ) -> Result<()> {
        let (username, rid) = (username.to_owned(), resource_id.to_owned());
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            let n = tx.exec(
                "DELETE FROM auth_user_permissions WHERE user_id = ? AND resource_type = ? \
                 AND resource_id = ?",
                &[
                    Value::I64(u.id),
                    resource_type.as_str().into(),
                    rid.as_str().into(),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "Permission for user={username} on resource_type={}, resource_id={rid} \
                     not found.",
                    resource_type.as_str()
                )));
            }
            Ok(())
        })
        .await
    }

    async fn list_user_permissions(&self, username: &str) -> Result<Vec<UserPermission>> {
        let username = username.to_owned();
        self.read(move |tx| {
            let u = user_tx(tx, &username)?;
            tx.query(
                "SELECT resource_type, resource_id, permission FROM auth_user_permissions \
                 WHERE user_id = ? ORDER BY resource_type, resource_id",
                &[Value::I64(u.id)],
            )?
            .iter()
            .map(|r| {
                Ok(UserPermission {
                    resource_type: rtype(&r.str(0)?)?,
                    resource_id: r.str(1)?,
                    permission: perm(&r.str(2)?)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn user_grants(
        &self,
        username: &str,
        resource_type: ResourceType,
        resource_id: Option<&str>,
    ) -> Result<UserGrants> {
        let (username, rid) = (username.to_owned(), resource_id.map(str::to_owned));
        self.read(move |tx| {
            let mut direct_sql = String::from(
                "SELECT p.resource_id, p.permission FROM auth_user_permissions p \
                 JOIN auth_users u ON u.user_id = p.user_id \
                 WHERE u.username = ? AND p.resource_type = ?",
            );
            let mut args: Vec<Value> =
                vec![username.as_str().into(), resource_type.as_str().into()];
            if let Some(rid) = &rid {
                direct_sql.push_str(" AND p.resource_id = ?");
                args.push(rid.as_str().into());
            }
            let mut grants = UserGrants::default();
            for r in tx.query(&direct_sql, &args)? {
                grants.direct.insert(r.str(0)?, perm(&r.str(1)?)?);
            }
            for r in tx.query(
                "SELECT rp.resource_pattern, rp.permission FROM auth_role_permissions rp \
                 JOIN auth_user_roles ur ON ur.role_id = rp.role_id \
                 JOIN auth_users u ON u.user_id = ur.user_id \
                 WHERE u.username = ? AND rp.resource_type = ?",
                &[username.as_str().into(), resource_type.as_str().into()],
            )? {
                grants.roles.push((r.str(0)?, perm(&r.str(1)?)?));
            }
            Ok(grants)
        })
        .await
    }

    async fn rename_resource_grants(
        &self,
        resource_type: ResourceType,
        old_id: &str,
        new_id: &str,
    ) -> Result<()> {
        let (old, new) = (old_id.to_owned(), new_id.to_owned());
        self.write(move |tx| {
            tx.exec(
                "UPDATE auth_user_permissions SET resource_id = ? WHERE resource_type = ? \
                 AND resource_id = ?",
                &[new.into(), resource_type.as_str().into(), old.into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn delete_resource_grants(&self, resource_type: ResourceType, id: &str) -> Result<()> {
        let id = id.to_owned();
        self.write(move |tx| {
            tx.exec(
                "DELETE FROM auth_user_permissions WHERE resource_type = ? AND resource_id = ?",
                &[resource_type.as_str().into(), id.into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_role(
        &self,
        workspace: &str,
        name: &str,
        description: Option<&str>,
    ) -> Result<Role> {
        let (ws, name, desc) = (
            workspace.to_owned(),
            name.to_owned(),
            description.map(str::to_owned),
        );
        self.write(move |tx| {
            if tx
                .query_opt(
                    "SELECT 1 FROM auth_roles WHERE workspace = ? AND name = ?",
                    &[ws.as_str().into(), name.as_str().into()],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Role (name={name}, workspace={ws}) already exists."
                )));
            }
            let id = inserted_id(tx.query_opt(
                "INSERT INTO auth_roles (workspace, name, description) VALUES (?, ?, ?) \
                 RETURNING role_id",
                &[
                    ws.as_str().into(),
                    name.as_str().into(),
                    desc.clone().into(),
                ],
            )?)?;
            Ok(Role {
                id,
                name,
                workspace: ws,
                description: desc,
                permissions: Vec::new(),
            })
        })
        .await
    }

    async fn get_role(&self, role_id: i64) -> Result<Role> {
        self.read(move |tx| role_tx(tx, role_id)).await
    }

    async fn list_roles(&self, workspaces: &[String]) -> Result<Vec<Role>> {
        let workspaces = workspaces.to_vec();
        self.read(move |tx| {
            let rows = if workspaces.is_empty() {
                tx.query(
                    "SELECT role_id, name, workspace, description FROM auth_roles ORDER BY role_id",
                    &[],
                )?
            } else {
                let args: Vec<Value> = workspaces.iter().map(Value::from).collect();
                tx.query(
                    &format!(
                        "SELECT role_id, name, workspace, description FROM auth_roles \
                         WHERE workspace IN ({}) ORDER BY role_id",
                        crate::db::placeholders(args.len())
                    ),
                    &args,
                )?
            };
            roles_from_rows(tx, &rows)
        })
        .await
    }

    async fn update_role(
        &self,
        role_id: i64,
        name: Option<&str>,
        description: Option<&str>,
    ) -> Result<Role> {
        let (name, desc) = (name.map(str::to_owned), description.map(str::to_owned));
        self.write(move |tx| {
            let role = role_tx(tx, role_id)?;
            if let Some(name) = &name {
                if *name != role.name
                    && tx
                        .query_opt(
                            "SELECT 1 FROM auth_roles WHERE workspace = ? AND name = ?",
                            &[role.workspace.as_str().into(), name.as_str().into()],
                        )?
                        .is_some()
                {
                    return Err(StoreError::AlreadyExists(format!(
                        "Role (name={name}, workspace={}) already exists.",
                        role.workspace
                    )));
                }
                tx.exec(
                    "UPDATE auth_roles SET name = ? WHERE role_id = ?",
                    &[name.as_str().into(), Value::I64(role_id)],
                )?;
            }
            if let Some(desc) = &desc {
                tx.exec(
                    "UPDATE auth_roles SET description = ? WHERE role_id = ?",
                    &[desc.as_str().into(), Value::I64(role_id)],
                )?;
            }
            role_tx(tx, role_id)
        })
        .await
    }

    async fn delete_role(&self, role_id: i64) -> Result<()> {
        self.write(move |tx| {
            role_tx(tx, role_id)?;
            for table in ["auth_role_permissions", "auth_user_roles", "auth_roles"] {
                tx.exec(
                    &format!("DELETE FROM {table} WHERE role_id = ?"),
                    &[Value::I64(role_id)],
                )?;
            }
            Ok(())
        })
        .await
    }

    async fn add_role_permission(
        &self,
        role_id: i64,
        resource_type: ResourceType,
        resource_pattern: &str,
        permission: Permission,
    ) -> Result<RolePermission> {
        let pattern = resource_pattern.to_owned();
        self.write(move |tx| {
            role_tx(tx, role_id)?;
            if tx
                .query_opt(
                    "SELECT 1 FROM auth_role_permissions WHERE role_id = ? AND resource_type = ? \
                     AND resource_pattern = ?",
                    &[
                        Value::I64(role_id),
                        resource_type.as_str().into(),
                        pattern.as_str().into(),
                    ],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "Role permission (role_id={role_id}, resource_type={}, \
                     resource_pattern={pattern}) already exists.",
                    resource_type.as_str()
                )));
            }
            let id = inserted_id(tx.query_opt(
                "INSERT INTO auth_role_permissions (role_id, resource_type, resource_pattern, \
                 permission) VALUES (?, ?, ?, ?) RETURNING role_permission_id",
                &[
                    Value::I64(role_id),
                    resource_type.as_str().into(),
                    pattern.as_str().into(),
                    permission.as_str().into(),
                ],
            )?)?;
            Ok(RolePermission {
                id,
                role_id,
                resource_type,
                resource_pattern: pattern,
                permission,
            })
        })
        .await
    }

    async fn remove_role_permission(&self, role_permission_id: i64) -> Result<()> {
        self.write(move |tx| {
            role_perm_tx(tx, role_permission_id)?;
            tx.exec(
                "DELETE FROM auth_role_permissions WHERE role_permission_id = ?",
                &[Value::I64(role_permission_id)],
            )?;
            Ok(())
        })
        .await
    }

    async fn list_role_permissions(&self, role_id: i64) -> Result<Vec<RolePermission>> {
        self.read(move |tx| {
            role_tx(tx, role_id)?;
            role_perms_tx(tx, role_id)
        })
        .await
    }

    async fn update_role_permission(
        &self,
        role_permission_id: i64,
        permission: Permission,
    ) -> Result<RolePermission> {
        self.write(move |tx| {
            role_perm_tx(tx, role_permission_id)?;
            tx.exec(
                "UPDATE auth_role_permissions SET permission = ? WHERE role_permission_id = ?",
                &[permission.as_str().into(), Value::I64(role_permission_id)],
            )?;
            role_perm_tx(tx, role_permission_id)
        })
        .await
    }

    async fn assign_role(&self, username: &str, role_id: i64) -> Result<RoleAssignment> {
        let username = username.to_owned();
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            role_tx(tx, role_id)?;
            if tx
                .query_opt(
                    "SELECT 1 FROM auth_user_roles WHERE user_id = ? AND role_id = ?",
                    &[Value::I64(u.id), Value::I64(role_id)],
                )?
                .is_some()
            {
                return Err(StoreError::AlreadyExists(format!(
                    "User (username={username}) already has role with id={role_id}."
                )));
            }
            let id = inserted_id(tx.query_opt(
                "INSERT INTO auth_user_roles (user_id, role_id) VALUES (?, ?) \
                 RETURNING assignment_id",
                &[Value::I64(u.id), Value::I64(role_id)],
            )?)?;
            Ok(RoleAssignment {
                id,
                user_id: u.id,
                role_id,
            })
        })
        .await
    }

    async fn unassign_role(&self, username: &str, role_id: i64) -> Result<()> {
        let username = username.to_owned();
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            let n = tx.exec(
                "DELETE FROM auth_user_roles WHERE user_id = ? AND role_id = ?",
                &[Value::I64(u.id), Value::I64(role_id)],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "User (username={username}) does not have role with id={role_id}."
                )));
            }
            Ok(())
        })
        .await
    }

    async fn list_user_roles(&self, username: &str) -> Result<Vec<Role>> {
        let username = username.to_owned();
        self.read(move |tx| {
            let u = user_tx(tx, &username)?;
            let rows = tx.query(
                "SELECT r.role_id, r.name, r.workspace, r.description FROM auth_roles r \
                 JOIN auth_user_roles ur ON ur.role_id = r.role_id WHERE ur.user_id = ? \
                 ORDER BY r.role_id",
                &[Value::I64(u.id)],
            )?;
            roles_from_rows(tx, &rows)
        })
        .await
    }

    async fn list_role_users(&self, role_id: i64) -> Result<Vec<RoleAssignment>> {
        self.read(move |tx| {
            role_tx(tx, role_id)?;
            tx.query(
                "SELECT assignment_id, user_id, role_id FROM auth_user_roles WHERE role_id = ? \
                 ORDER BY assignment_id",
                &[Value::I64(role_id)],
            )?
            .iter()
            .map(|r| {
                Ok(RoleAssignment {
                    id: r.i64(0)?,
                    user_id: r.i64(1)?,
                    role_id: r.i64(2)?,
                })
            })
            .collect()
        })
        .await
    }

    async fn create_token(&self, token: NewToken) -> Result<TokenRecord> {
        self.write(move |tx| {
            let u = user_tx(tx, &token.username)?;
            let now = now_millis();
            tx.exec(
                "INSERT INTO auth_tokens (token_id, user_id, name, secret_hash, created_at, \
                 expires_at) VALUES (?, ?, ?, ?, ?, ?)",
                &[
                    token.id.as_str().into(),
                    Value::I64(u.id),
                    token.name.as_str().into(),
                    token.secret_hash.as_str().into(),
                    Value::I64(now),
                    token.expires_at.into(),
                ],
            )?;
            Ok(TokenRecord {
                id: token.id,
                name: token.name,
                username: u.username,
                created_at: now,
                expires_at: token.expires_at,
                last_used_at: None,
            })
        })
        .await
    }

    async fn find_token(&self, secret_hash: &str) -> Result<Option<(TokenRecord, AuthUser)>> {
        let hash = secret_hash.to_owned();
        self.read(move |tx| {
            let Some(r) = tx.query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS}, u.user_id, u.username, u.password_hash, u.is_admin \
                     FROM auth_tokens t JOIN auth_users u ON u.user_id = t.user_id \
                     WHERE t.secret_hash = ?"
                ),
                &[hash.into()],
            )?
            else {
                return Ok(None);
            };
            let token = token_from_row(&r)?;
            let user = AuthUser {
                id: r.i64(6)?,
                username: r.str(7)?,
                password_hash: r.str(8)?,
                is_admin: r.i64(9)? != 0,
            };
            Ok(Some((token, user)))
        })
        .await
    }

    async fn get_token(&self, token_id: &str) -> Result<TokenRecord> {
        let id = token_id.to_owned();
        self.read(move |tx| {
            tx.query_opt(
                &format!(
                    "SELECT {TOKEN_COLUMNS} FROM auth_tokens t \
                     JOIN auth_users u ON u.user_id = t.user_id WHERE t.token_id = ?"
                ),
                &[id.as_str().into()],
            )?
            .map(|r| token_from_row(&r))
            .transpose()?
            .ok_or_else(|| StoreError::NotFound(format!("Token with id={id} not found")))
        })
        .await
    }

    async fn list_tokens(&self, username: Option<&str>) -> Result<Vec<TokenRecord>> {
        let username = username.map(str::to_owned);
        self.read(move |tx| {
            let rows = match &username {
                Some(u) => tx.query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM auth_tokens t \
                         JOIN auth_users u ON u.user_id = t.user_id WHERE u.username = ? \
                         ORDER BY t.created_at, t.token_id"
                    ),
                    &[u.as_str().into()],
                )?,
                None => tx.query(
                    &format!(
                        "SELECT {TOKEN_COLUMNS} FROM auth_tokens t \
                         JOIN auth_users u ON u.user_id = t.user_id \
                         ORDER BY t.created_at, t.token_id"
                    ),
                    &[],
                )?,
            };
            rows.iter().map(token_from_row).collect()
        })
        .await
    }

    async fn delete_token(&self, token_id: &str) -> Result<()> {
        let id = token_id.to_owned();
        self.write(move |tx| {
            let n = tx.exec(
                "DELETE FROM auth_tokens WHERE token_id = ?",
                &[id.as_str().into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!(
                    "Token with id={id} not found"
                )));
            }
            Ok(())
        })
        .await
    }

    async fn touch_token(&self, token_id: &str, at: i64) -> Result<()> {
        let id = token_id.to_owned();
        self.write(move |tx| {
            tx.exec(
                "UPDATE auth_tokens SET last_used_at = ? WHERE token_id = ?",
                &[Value::I64(at), id.into()],
            )?;
            Ok(())
        })
        .await
    }

    async fn create_session(
        &self,
        secret_hash: &str,
        username: &str,
        expires_at: i64,
    ) -> Result<()> {
        let (hash, username) = (secret_hash.to_owned(), username.to_owned());
        self.write(move |tx| {
            let u = user_tx(tx, &username)?;
            let now = now_millis();
            // Sessions that have ended are swept as new ones begin.
            tx.exec(
                "DELETE FROM auth_sessions WHERE expires_at <= ?",
                &[Value::I64(now)],
            )?;
            tx.exec(
                "INSERT INTO auth_sessions (secret_hash, user_id, created_at, expires_at) \
                 VALUES (?, ?, ?, ?)",
                &[
                    hash.into(),
                    Value::I64(u.id),
                    Value::I64(now),
                    Value::I64(expires_at),
                ],
            )?;
            Ok(())
        })
        .await
    }

    async fn find_session(&self, secret_hash: &str, now: i64) -> Result<Option<AuthUser>> {
        let hash = secret_hash.to_owned();
        self.read(move |tx| {
            let Some(r) = tx.query_opt(
                "SELECT u.user_id, u.username, u.password_hash, u.is_admin, s.expires_at \
                 FROM auth_sessions s JOIN auth_users u ON u.user_id = s.user_id \
                 WHERE s.secret_hash = ?",
                &[hash.into()],
            )?
            else {
                return Ok(None);
            };
            if r.i64(4)? <= now {
                return Ok(None);
            }
            user_from_row(&r).map(Some)
        })
        .await
    }

    async fn delete_session(&self, secret_hash: &str) -> Result<()> {
        let hash = secret_hash.to_owned();
        self.write(move |tx| {
            tx.exec(
                "DELETE FROM auth_sessions WHERE secret_hash = ?",
                &[hash.into()],
            )?;
            Ok(())
        })
        .await
    }
}
