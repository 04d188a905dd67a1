//! Roles: every group is a role, and the admin attaches permission strings to
//! it. A user's effective permissions are the union over their groups, and
//! only while the user is active. Changes apply at once and enter the change
//! feed (`role.permissions_changed`) in the same transaction.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use super::{Directory, DirectoryError, audit_row};
use crate::store::records::{EventRecord, TenantRecord};
use crate::store::{Kind, UniqueIndex};

/// A role as applications and the CLI see it.
#[derive(Clone, Debug)]
pub struct Role {
    /// The group id.
    pub group_id: String,
    /// The group's displayName.
    pub name: String,
    /// Its permissions, sorted.
    pub permissions: Vec<String>,
}

/// Checks a permission string: 1-100 characters of letters, digits and `:._-*/`.
pub fn validate_permission(permission: &str) -> Result<String, DirectoryError> {
    let p = permission.trim();
    let ok = !p.is_empty()
        && p.len() <= 100
        && p.chars()
            .all(|c| c.is_ascii_alphanumeric() || ":._-*/".contains(c));
    if ok {
        Ok(p.to_string())
    } else {
        Err(DirectoryError::Invalid(format!(
            "a permission is 1-100 letters, digits or : . _ - * /, not {permission:?}"
        )))
    }
}

fn display_name(data: &serde_json::Map<String, Value>) -> String {
    data.get("displayName")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

impl Directory {
    /// Attaches (`grant`) or detaches a permission to the group named `group`
    /// (its displayName or its id).
    pub fn set_role_permission(
        &self,
        slug: &str,
        group: &str,
        permission: &str,
        grant: bool,
        actor: &str,
    ) -> Result<Role, DirectoryError> {
        let permission = validate_permission(permission)?;
        self.store.write(|tx| {
            let mut tenant = super::tenant_in(tx, slug)?;
            let view = tx.view();
            let by_name =
                view.index_get(UniqueIndex::GroupName, tenant.id, &group.to_lowercase())?;
            let candidates = [by_name, Some(group.to_string())];
            let mut found = None;
            for id in candidates.into_iter().flatten() {
                if let Some(rec) = view.resource(Kind::Group, tenant.id, &id)?
                    && rec.deleted_ms.is_none()
                {
                    found = Some(rec);
                    break;
                }
            }
            drop(view);
            let rec = found.ok_or_else(|| {
                DirectoryError::NotFound(format!("no group {group:?} in tenant {slug}"))
            })?;
            let entry = tenant.role_permissions.entry(rec.id.clone()).or_default();
            let changed = if grant {
                if entry.contains(&permission) {
                    false
                } else {
                    entry.push(permission.clone());
                    entry.sort();
                    true
                }
            } else {
                let before = entry.len();
                entry.retain(|p| p != &permission);
                before != entry.len()
            };
            let permissions = entry.clone();
            if permissions.is_empty() {
                tenant.role_permissions.remove(&rec.id);
            }
            if changed {
                tx.put_tenant(&tenant)?;
                tx.append_event(
                    tenant.id,
                    &EventRecord {
                        seq: 0,
                        ts_ms: super::scim::resources::now_ms(),
                        resource_type: "Role".into(),
                        id: rec.id.clone(),
                        action: "permissions_changed".into(),
                        version: rec.version,
                        member: None,
                        changed: vec!["permissions".into()],
                    },
                )?;
                tx.append_audit(&audit_row(
                    Some(tenant.id),
                    actor,
                    if grant {
                        "role.granted"
                    } else {
                        "role.revoked"
                    },
                    Some(format!(
                        "group {} ({}): {permission}",
                        display_name(&rec.data),
                        rec.id
                    )),
                ))?;
            }
            Ok(Role {
                group_id: rec.id.clone(),
                name: display_name(&rec.data),
                permissions,
            })
        })
    }

    /// The roles of a tenant that carry permissions.
    pub fn roles(&self, slug: &str) -> Result<Vec<Role>, DirectoryError> {
        let tenant = self.tenant(slug)?;
        self.roles_of(&tenant)
    }

    /// As `roles`, for a tenant already at hand.
    pub fn roles_of(&self, tenant: &TenantRecord) -> Result<Vec<Role>, DirectoryError> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for (gid, permissions) in &tenant.role_permissions {
            // A deleted group is no longer a role.
            if let Some(rec) = view.resource(Kind::Group, tenant.id, gid)?
                && rec.deleted_ms.is_none()
            {
                out.push(Role {
                    group_id: gid.clone(),
                    name: display_name(&rec.data),
                    permissions: permissions.clone(),
                });
            }
        }
        out.sort_by_key(|r| r.name.to_lowercase());
        Ok(out)
    }

    /// A user's effective permissions: the union over their groups' roles,
    /// empty while the user is deactivated. `None` if there is no such live user.
    pub fn effective_permissions(
        &self,
        tenant: &TenantRecord,
        user: &str,
    ) -> Result<Option<Value>, DirectoryError> {
        let view = self.store.read()?;
        let Some(rec) = view
            .resource(Kind::User, tenant.id, user)?
            .filter(|r| r.deleted_ms.is_none())
        else {
            return Ok(None);
        };
        let active = rec.data.get("active").and_then(Value::as_bool) != Some(false);
        let mut permissions = BTreeSet::new();
        let mut from = Vec::new();
        if active {
            for gid in view.groups_of(tenant.id, user)? {
                if let Some(granted) = tenant.role_permissions.get(&gid) {
                    permissions.extend(granted.iter().cloned());
                    from.push(json!({"group": gid, "permissions": granted}));
                }
            }
        }
        Ok(Some(json!({
            "user": user,
            "active": active,
            "permissions": permissions.into_iter().collect::<Vec<_>>(),
            "roles": from,
        })))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn permission_strings() {
        assert_eq!(
            validate_permission(" billing:read ").unwrap(),
            "billing:read"
        );
        assert!(validate_permission("").is_err());
        assert!(validate_permission("has space").is_err());
        assert!(validate_permission(&"x".repeat(101)).is_err());
    }
}
