//! MLflow's permissions and how a user's effective permission on one resource is decided.

use crate::AuthError;

/// MLflow's permission levels (`mlflow/server/auth/permissions.py`), with `DENY` for roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Permission {
    Read,
    Use,
    Edit,
    Manage,
    NoPermissions,
    /// An explicit deny in a role: wins over every positive grant it meets.
    Deny,
}

impl Permission {
    /// Every level, in MLflow's order of `ALL_PERMISSIONS`.
    pub const ALL: [Self; 6] = [
        Self::Read,
        Self::Use,
        Self::Edit,
        Self::Manage,
        Self::NoPermissions,
        Self::Deny,
    ];

    /// MLflow's name: `READ`, `USE`, `EDIT`, `MANAGE`, `NO_PERMISSIONS`, `DENY`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "READ",
            Self::Use => "USE",
            Self::Edit => "EDIT",
            Self::Manage => "MANAGE",
            Self::NoPermissions => "NO_PERMISSIONS",
            Self::Deny => "DENY",
        }
    }

    /// Parse MLflow's name; the error is MLflow's message.
    pub fn parse(s: &str) -> Result<Self, AuthError> {
        Self::ALL
            .into_iter()
            .find(|p| p.as_str() == s)
            .ok_or_else(|| {
                AuthError::Invalid(format!(
                    "Invalid permission '{s}'. Valid permissions are: ('READ', 'USE', 'EDIT', \
                     'MANAGE', 'NO_PERMISSIONS', 'DENY')"
                ))
            })
    }

    /// Parse a permission that may be granted on one resource (a user grant or a role grant):
    /// MLflow's `RESOURCE_GRANTABLE_PERMISSIONS`, `READ`/`USE`/`EDIT`/`MANAGE`/`DENY`.
    pub fn parse_grantable(s: &str, resource_type: ResourceType) -> Result<Self, AuthError> {
        let p = Self::parse(s)?;
        if p == Self::NoPermissions {
            return Err(AuthError::Invalid(format!(
                "Invalid permission '{s}' for resource_type='{}'. Resource-level grants accept \
                 only: ('DENY', 'EDIT', 'MANAGE', 'READ', 'USE').",
                resource_type.as_str()
            )));
        }
        Ok(p)
    }

    /// MLflow's `PERMISSION_PRIORITY`: `DENY` below everything, `MANAGE` on top.
    pub fn priority(self) -> i8 {
        match self {
            Self::Deny => -1,
            Self::NoPermissions => 0,
            Self::Read => 1,
            Self::Use => 2,
            Self::Edit => 3,
            Self::Manage => 4,
        }
    }

    pub fn can_read(self) -> bool {
        matches!(self, Self::Read | Self::Use | Self::Edit | Self::Manage)
    }
    pub fn can_use(self) -> bool {
        matches!(self, Self::Use | Self::Edit | Self::Manage)
    }
    pub fn can_update(self) -> bool {
        matches!(self, Self::Edit | Self::Manage)
    }
    pub fn can_delete(self) -> bool {
        matches!(self, Self::Manage)
    }
    pub fn can_manage(self) -> bool {
        matches!(self, Self::Manage)
    }

    /// Whether this permission allows what `needed` names (`needed` is the minimum level).
    pub fn allows(self, needed: Capability) -> bool {
        match needed {
            Capability::Read => self.can_read(),
            Capability::Use => self.can_use(),
            Capability::Update => self.can_update(),
            Capability::Delete => self.can_delete(),
            Capability::Manage => self.can_manage(),
        }
    }
}

impl std::fmt::Display for Permission {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What an operation needs: MLflow's `can_*` flags.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Capability {
    Read,
    Use,
    Update,
    Delete,
    Manage,
}

impl Capability {
    /// MLflow's name of the flag (`can_read`, ...), for tables and messages.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Read => "can_read",
            Self::Use => "can_use",
            Self::Update => "can_update",
            Self::Delete => "can_delete",
            Self::Manage => "can_manage",
        }
    }

    /// The weakest permission that has this capability (for docs: "needs EDIT").
    pub fn minimum(self) -> Permission {
        match self {
            Self::Read => Permission::Read,
            Self::Use => Permission::Use,
            Self::Update => Permission::Edit,
            Self::Delete | Self::Manage => Permission::Manage,
        }
    }
}

/// The kinds of resource that carry permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ResourceType {
    Experiment,
    RegisteredModel,
}

impl ResourceType {
    /// MLflow's `resource_type` string.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Experiment => "experiment",
            Self::RegisteredModel => "registered_model",
        }
    }

    pub fn parse(s: &str) -> Result<Self, AuthError> {
        match s {
            "experiment" => Ok(Self::Experiment),
            "registered_model" => Ok(Self::RegisteredModel),
            other => Err(AuthError::Invalid(format!(
                "Invalid resource type '{other}'. Valid resource types are: ('experiment', \
                 'registered_model')"
            ))),
        }
    }
}

/// What one user has been granted on one kind of resource, as read from the store.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Grants {
    /// The user's own grant on this resource (`users/permissions/grant`).
    pub direct: Option<Permission>,
    /// `(resource_pattern, permission)` of every role grant of the user's roles on this
    /// resource type; [`resolve`] keeps those whose pattern matches.
    pub roles: Vec<(String, Permission)>,
}

/// The effective permission of a (non-admin) user on the resource with this `id` and `name`
/// (a registered model's id is its name): a matching `DENY` (direct or from a role) wins; then
/// the user's own grant; then the strongest matching role grant (pattern `*`, the id or the
/// name); then `default`.
pub fn resolve(grants: &Grants, id: &str, name: &str, default: Permission) -> Permission {
    let matching = || {
        grants
            .roles
            .iter()
            .filter(|(pattern, _)| pattern == "*" || pattern == id || pattern == name)
            .map(|(_, p)| *p)
    };
    if grants.direct == Some(Permission::Deny) || matching().any(|p| p == Permission::Deny) {
        return Permission::Deny;
    }
    if let Some(p) = grants.direct {
        return p;
    }
    matching().max_by_key(|p| p.priority()).unwrap_or(default)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn capabilities_are_mlflows() {
        use Permission::*;
        let table = [
            (Read, [true, false, false, false, false]),
            (Use, [true, true, false, false, false]),
            (Edit, [true, true, true, false, false]),
            (Manage, [true, true, true, true, true]),
            (NoPermissions, [false; 5]),
            (Deny, [false; 5]),
        ];
        for (p, flags) in table {
            assert_eq!(
                [
                    p.can_read(),
                    p.can_use(),
                    p.can_update(),
                    p.can_delete(),
                    p.can_manage()
                ],
                flags,
                "{p}"
            );
            assert_eq!(Permission::parse(p.as_str()).ok(), Some(p));
        }
        assert!(Permission::parse("read").is_err());
        assert!(Permission::parse_grantable("NO_PERMISSIONS", ResourceType::Experiment).is_err());
        for c in [
            Capability::Read,
            Capability::Use,
            Capability::Update,
            Capability::Delete,
            Capability::Manage,
        ] {
            assert!(c.minimum().allows(c));
        }
    }

    #[test]
    fn resolution_order() {
        let g = |direct, roles: &[(&str, Permission)]| Grants {
            direct,
            roles: roles.iter().map(|(a, p)| ((*a).to_owned(), *p)).collect(),
        };
        use Permission::*;
        // Nothing granted: the default.
        assert_eq!(resolve(&g(None, &[]), "1", "e", Read), Read);
        assert_eq!(
            resolve(&g(None, &[]), "1", "e", NoPermissions),
            NoPermissions
        );
        // The direct grant beats roles and the default.
        assert_eq!(
            resolve(&g(Some(Use), &[("*", Manage)]), "1", "e", Read),
            Use
        );
        // Roles: by id, by name, by `*`; the strongest match; non-matching ignored.
        assert_eq!(resolve(&g(None, &[("1", Edit)]), "1", "e", Read), Edit);
        assert_eq!(resolve(&g(None, &[("e", Edit)]), "1", "e", Read), Edit);
        assert_eq!(
            resolve(
                &g(None, &[("*", Read), ("1", Manage)]),
                "1",
                "e",
                NoPermissions
            ),
            Manage
        );
        assert_eq!(resolve(&g(None, &[("2", Manage)]), "1", "e", Read), Read);
        // DENY wins over everything it meets, but only where it matches.
        assert_eq!(
            resolve(&g(Some(Manage), &[("1", Deny)]), "1", "e", Read),
            Deny
        );
        assert_eq!(
            resolve(&g(None, &[("*", Deny), ("1", Manage)]), "1", "e", Read),
            Deny
        );
        assert_eq!(resolve(&g(None, &[("2", Deny)]), "1", "e", Read), Read);
    }

    proptest::proptest! {
        #[test]
        fn a_matching_deny_always_wins(direct in 0usize..7, extra in proptest::collection::vec(0usize..6, 0..5)) {
            let direct = Permission::ALL.get(direct).copied();
            let mut roles: Vec<(String, Permission)> =
                extra.iter().map(|i| ("*".to_owned(), Permission::ALL[*i])).collect();
            roles.push(("7".into(), Permission::Deny));
            let p = resolve(&Grants { direct, roles }, "7", "n", Permission::Manage);
            proptest::prop_assert_eq!(p, Permission::Deny);
        }
    }
}
