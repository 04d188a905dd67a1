//! Tenants: create, list, show, rename, delete, SCIM activation.

use super::{Directory, DirectoryError, audit_row, credentials, no_such_tenant, tenant_in};
use crate::crypto::Keyring;
use crate::store::Tx;
use crate::store::records::{
    DeletePolicy, IdpSetting, StoredExtension, TenantRecord, UnknownMembers,
};

/// The IdP profiles a tenant can use.
const MAX_SLUG: usize = 63;

/// A tenant with the figures the CLI and console show beside it.
#[derive(Clone, Debug)]
pub struct TenantSummary {
    /// The tenant.
    pub tenant: TenantRecord,
    /// Stored users (including deactivated).
    pub users: u64,
    /// Stored groups.
    pub groups: u64,
}

/// Derives a slug from a display name: lowercase ASCII letters, digits and dashes.
pub fn slugify(name: &str) -> String {
    let mut slug = String::new();
    for c in name.chars().flat_map(char::to_lowercase) {
        if c.is_ascii_alphanumeric() {
            slug.push(c);
        } else if !slug.is_empty() && !slug.ends_with('-') {
            slug.push('-');
        }
    }
    let mut slug: String = slug.trim_end_matches('-').chars().take(MAX_SLUG).collect();
    while slug.ends_with('-') {
        slug.pop();
    }
    if slug.is_empty() {
        "tenant".to_string()
    } else {
        slug
    }
}

/// Checks a slug given by a user.
pub fn validate_slug(slug: &str) -> Result<(), DirectoryError> {
    let ok = !slug.is_empty()
        && slug.len() <= MAX_SLUG
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if ok {
        Ok(())
    } else {
        Err(DirectoryError::Invalid(format!(
            "invalid slug {slug:?}: use 1-{MAX_SLUG} lowercase letters, digits and inner dashes"
        )))
    }
}

fn validate_name(name: &str) -> Result<String, DirectoryError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > 200 || name.chars().any(char::is_control) {
        return Err(DirectoryError::Invalid(
            "invalid name: use 1-200 printable characters".into(),
        ));
    }
    Ok(name.to_string())
}

/// Inserts a validated new tenant; an explicit slug must be free, a derived one
/// gets a numeric suffix until it is.
fn insert_new(
    tx: &mut Tx,
    ring: &Keyring,
    name: String,
    slug: Option<&str>,
    idp: IdpSetting,
) -> Result<TenantRecord, DirectoryError> {
    let slug = match slug {
        Some(slug) => {
            if tx.view().tenant_by_slug(slug)?.is_some() {
                return Err(DirectoryError::Conflict(format!(
                    "slug {slug:?} is already used by another tenant"
                )));
            }
            slug.to_string()
        }
        None => {
            let base = slugify(&name);
            let mut candidate = base.clone();
            let mut n = 2;
            while tx.view().tenant_by_slug(&candidate)?.is_some() {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            candidate
        }
    };
    let tenant = TenantRecord {
        id: tx.next_seq("tenant")?,
        slug,
        name,
        idp,
        scim_active: false,
        delete_policy: DeletePolicy::Soft,
        created: crate::now_unix(),
        unknown_members: UnknownMembers::Skip,
        extensions: Vec::new(),
        role_permissions: Default::default(),
    };
    tx.put_tenant(&tenant)?;
    credentials::create_basic_in(tx, ring, &tenant)?;
    Ok(tenant)
}

impl Directory {
    /// Creates a tenant (SCIM inactive) with its basic-auth client credentials.
    pub fn create_tenant(
        &self,
        name: &str,
        slug: Option<&str>,
        idp: Option<IdpSetting>,
        actor: &str,
    ) -> Result<TenantRecord, DirectoryError> {
        let name = validate_name(name)?;
        let idp = idp.unwrap_or_default();
        if let Some(slug) = slug {
            validate_slug(slug)?;
        }
        let keys = self.keys_read();
        self.store.write(|tx| {
            let tenant = insert_new(tx, &keys.ring, name.clone(), slug, idp)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "tenant.created",
                Some(format!("slug {}", tenant.slug)),
            ))?;
            Ok(tenant)
        })
    }

    /// Creates `count` tenants named "{prefix} {n}" in one transaction, each with
    /// its sealed basic secret (seeding for load tools and crash tests).
    pub fn create_tenants_bulk(
        &self,
        prefix: &str,
        count: usize,
        actor: &str,
    ) -> Result<usize, DirectoryError> {
        let keys = self.keys_read();
        self.store.write(|tx| {
            for n in 1..=count {
                let name = validate_name(&format!("{prefix} {n}"))?;
                insert_new(tx, &keys.ring, name, None, IdpSetting::Generic)?;
            }
            tx.append_audit(&audit_row(
                None,
                actor,
                "tenant.created",
                Some(format!("{count} tenants \"{prefix} 1..{count}\"")),
            ))?;
            Ok(count)
        })
    }

    /// One tenant by slug.
    pub fn tenant(&self, slug: &str) -> Result<TenantRecord, DirectoryError> {
        self.store
            .read()?
            .tenant_by_slug(slug)?
            .ok_or_else(|| no_such_tenant(slug))
    }

    /// One tenant with its counts.
    pub fn tenant_summary(&self, slug: &str) -> Result<TenantSummary, DirectoryError> {
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| no_such_tenant(slug))?;
        let (users, groups) = view.resource_counts(tenant.id)?;
        Ok(TenantSummary {
            tenant,
            users,
            groups,
        })
    }

    /// Every tenant with its counts, by id.
    pub fn list_tenants(&self) -> Result<Vec<TenantSummary>, DirectoryError> {
        let view = self.store.read()?;
        let mut out = Vec::new();
        for tenant in view.tenants()? {
            let (users, groups) = view.resource_counts(tenant.id)?;
            out.push(TenantSummary {
                tenant,
                users,
                groups,
            });
        }
        Ok(out)
    }

    /// Changes a tenant's display name (the slug, used in IdP URLs, stays).
    pub fn rename_tenant(
        &self,
        slug: &str,
        name: &str,
        actor: &str,
    ) -> Result<TenantRecord, DirectoryError> {
        let name = validate_name(name)?;
        self.store.write(|tx| {
            let mut tenant = tenant_in(tx, slug)?;
            tenant.name = name.clone();
            tx.put_tenant(&tenant)?;
            tx.append_audit(&audit_row(Some(tenant.id), actor, "tenant.renamed", None))?;
            Ok(tenant)
        })
    }

    /// Deletes a tenant and everything it owns.
    pub fn delete_tenant(&self, slug: &str, actor: &str) -> Result<TenantRecord, DirectoryError> {
        self.store.write(|tx| {
            let tenant = tenant_in(tx, slug)?;
            tx.delete_tenant(&tenant)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "tenant.deleted",
                Some(format!("slug {}", tenant.slug)),
            ))?;
            Ok(tenant)
        })
    }

    /// Changes a tenant's settings; `None` leaves one as it is.
    pub fn update_tenant_settings(
        &self,
        slug: &str,
        idp: Option<IdpSetting>,
        delete_policy: Option<DeletePolicy>,
        unknown_members: Option<UnknownMembers>,
        actor: &str,
    ) -> Result<TenantRecord, DirectoryError> {
        self.store.write(|tx| {
            let mut tenant = tenant_in(tx, slug)?;
            let mut changed = Vec::new();
            if let Some(v) = idp {
                changed.push(format!("idp={v}"));
                tenant.idp = v;
            }
            if let Some(v) = delete_policy {
                changed.push(format!("delete_policy={v}"));
                tenant.delete_policy = v;
            }
            if let Some(v) = unknown_members {
                changed.push(format!("unknown_members={v}"));
                tenant.unknown_members = v;
            }
            tx.put_tenant(&tenant)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "tenant.settings",
                Some(changed.join(", ")),
            ))?;
            Ok(tenant)
        })
    }

    /// The tenant's change feed after sequence `after`.
    pub fn events(
        &self,
        slug: &str,
        after: u64,
        limit: usize,
    ) -> Result<Vec<crate::store::records::EventRecord>, DirectoryError> {
        let view = self.store.read()?;
        let tenant = view
            .tenant_by_slug(slug)?
            .ok_or_else(|| no_such_tenant(slug))?;
        Ok(view.events(tenant.id, after, limit)?)
    }

    /// Registers a custom schema extension (RFC 7643 §7 JSON) for users or groups.
    pub fn add_extension(
        &self,
        slug: &str,
        schema: &serde_json::Value,
        applies_to: &str,
        actor: &str,
    ) -> Result<String, DirectoryError> {
        let parsed =
            crate::scim::schema::Schema::from_json(schema).map_err(DirectoryError::from)?;
        let applies_to = match applies_to.to_ascii_lowercase().as_str() {
            "user" | "users" => "User",
            "group" | "groups" => "Group",
            other => {
                return Err(DirectoryError::Invalid(format!(
                    "an extension applies to user or group, not {other:?}"
                )));
            }
        };
        self.store.write(|tx| {
            let mut tenant = tenant_in(tx, slug)?;
            if tenant.extensions.iter().any(|e| {
                e.schema["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(&parsed.id))
            }) {
                return Err(DirectoryError::Conflict(format!(
                    "schema {} is already registered for this tenant",
                    parsed.id
                )));
            }
            tenant.extensions.push(StoredExtension {
                applies_to: applies_to.to_string(),
                schema: schema.clone(),
            });
            tx.put_tenant(&tenant)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "schema.added",
                Some(parsed.id.clone()),
            ))?;
            Ok(parsed.id.clone())
        })
    }

    /// Unregisters a custom schema extension (stored values stay on the resources).
    pub fn remove_extension(
        &self,
        slug: &str,
        urn: &str,
        actor: &str,
    ) -> Result<(), DirectoryError> {
        self.store.write(|tx| {
            let mut tenant = tenant_in(tx, slug)?;
            let before = tenant.extensions.len();
            tenant.extensions.retain(|e| {
                !e.schema["id"]
                    .as_str()
                    .is_some_and(|id| id.eq_ignore_ascii_case(urn))
            });
            if tenant.extensions.len() == before {
                return Err(DirectoryError::NotFound(format!(
                    "schema {urn} is not registered for this tenant"
                )));
            }
            tx.put_tenant(&tenant)?;
            tx.append_audit(&audit_row(
                Some(tenant.id),
                actor,
                "schema.removed",
                Some(urn.to_string()),
            ))?;
            Ok(())
        })
    }

    /// Turns SCIM on or off for a tenant; credentials are kept either way.
    pub fn set_scim_active(
        &self,
        slug: &str,
        active: bool,
        actor: &str,
    ) -> Result<TenantRecord, DirectoryError> {
        self.store.write(|tx| {
            let mut tenant = tenant_in(tx, slug)?;
            tenant.scim_active = active;
            tx.put_tenant(&tenant)?;
            let action = if active {
                "scim.activated"
            } else {
                "scim.deactivated"
            };
            tx.append_audit(&audit_row(Some(tenant.id), actor, action, None))?;
            Ok::<_, DirectoryError>(tenant)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs() {
        assert_eq!(slugify("Acme HR"), "acme-hr");
        assert_eq!(slugify("  Ünïcode -- Co. "), "n-code-co");
        assert_eq!(slugify("!!!"), "tenant");
        assert!(validate_slug("acme-hr").is_ok());
        assert!(validate_slug("Acme").is_err());
        assert!(validate_slug("-a").is_err());
        assert!(validate_slug("a/b").is_err());
    }
}
