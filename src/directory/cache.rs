//! Per-tenant cache of what every SCIM request needs before it can start: the
//! tenant record, its schema registry and its credentials (token hashes only).
//!
//! Entries are tagged with the store's config generation, read before the
//! snapshot they come from; any commit touching tenants, credentials or keys
//! moves the generation on, so an entry is never used after such a change has
//! been answered to anyone.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use super::scim::resources::custom_schemas;
use super::{Directory, DirectoryError};
use crate::scim::schema::Registry;
use crate::store::records::{CredentialKind, CredentialRecord, TenantRecord};

/// What a SCIM request needs to know about its tenant.
pub struct TenantEntry {
    /// The tenant.
    pub tenant: TenantRecord,
    /// Its schemas (built-in plus registered extensions).
    pub registry: Arc<Registry>,
    /// Bearer credentials: (SHA-256 of the token, credential id, expiry).
    pub(crate) bearer: Vec<(Vec<u8>, String, Option<i64>)>,
    /// The basic credential (secret still sealed).
    pub(crate) basic: Option<CredentialRecord>,
    generation: u64,
}

/// Slug → entry. Small: one entry per tenant that has been called.
#[derive(Default)]
pub(crate) struct TenantCache {
    entries: RwLock<HashMap<String, Arc<TenantEntry>>>,
}

impl Directory {
    /// The tenant named by `slug` with its registry and credentials, from the
    /// cache when nothing has changed since it was loaded.
    pub fn tenant_entry(&self, slug: &str) -> Result<Option<Arc<TenantEntry>>, DirectoryError> {
        let generation = self.store.config_generation();
        {
            let entries = self
                .tenant_cache
                .entries
                .read()
                .unwrap_or_else(|p| p.into_inner());
            if let Some(entry) = entries.get(slug)
                && entry.generation == generation
            {
                return Ok(Some(entry.clone()));
            }
        }
        let view = self.store.read()?;
        let Some(tenant) = view.tenant_by_slug(slug)? else {
            return Ok(None);
        };
        let credentials = view.credentials_of(tenant.id)?;
        let entry = Arc::new(TenantEntry {
            registry: Arc::new(Registry::new(&custom_schemas(&tenant))),
            bearer: credentials
                .iter()
                .filter(|c| c.kind == CredentialKind::Bearer)
                .map(|c| (c.token_hash.clone(), c.id.clone(), c.expires_at))
                .collect(),
            basic: credentials
                .into_iter()
                .find(|c| c.kind == CredentialKind::Basic),
            tenant,
            generation,
        });
        let mut entries = self
            .tenant_cache
            .entries
            .write()
            .unwrap_or_else(|p| p.into_inner());
        // Entries of tenants renamed or deleted since would otherwise linger.
        entries.retain(|_, e| e.generation == generation);
        entries.insert(slug.to_string(), entry.clone());
        Ok(Some(entry))
    }

    /// The schema registry of a tenant: the cached one when it is current.
    pub(crate) fn registry_of(&self, tenant: &TenantRecord) -> Arc<Registry> {
        match self.tenant_entry(&tenant.slug) {
            Ok(Some(entry))
                if entry.tenant.id == tenant.id && entry.tenant.extensions == tenant.extensions =>
            {
                entry.registry.clone()
            }
            _ => Arc::new(Registry::new(&custom_schemas(tenant))),
        }
    }
}
