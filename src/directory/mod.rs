//! The domain: tenants, credentials, keys and the audit trail. Calls `store`
//! and `crypto`; knows nothing of HTTP.
//!
//! Lock order: the keyring lock (`keys`) is always taken before a store write
//! transaction begins, never inside one, so rotation (which holds the keyring
//! write lock across its transaction) can never deadlock with a writer that seals.

pub mod admins;
pub mod apps;
pub mod cache;
pub mod credentials;
pub mod events;
pub mod keys;
pub mod roles;
pub mod scim;
pub mod sso;
pub mod tenants;
pub mod webhooks;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::{RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::config::Config;
use crate::crypto::{CryptoError, Keyring, MasterKey, MasterKeyError, MasterKeyLocation};
use crate::store::{Store, StoreError};

pub use crate::store::records::{
    AuditRecord, CredentialRecord, DekState, DeletePolicy, EventRecord, SessionRecord,
    TenantRecord, UnknownMembers,
};
/// The stored records the surfaces read, handed out as the directory's own types.
pub use crate::store::{WriteFailure, write_failure};
pub use admins::{AdminRole, AdminSummary};
pub use credentials::{AuthFailure, ScimPrincipal};
pub use keys::{KeyStatus, RotationReport};
pub use scim::profile::IdpProfile;

/// Compares two secrets (tokens, CSRF values) in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    crate::crypto::token::ct_eq(a.as_bytes(), b.as_bytes())
}

/// A backup file that opened, migrated and decoded in full.
pub struct CheckedBackup {
    /// Records decoded.
    pub records: u64,
    /// Tenants in it.
    pub tenants: usize,
    /// Fingerprint of the master key its secrets are sealed under.
    pub master_fingerprint: String,
}

/// The journal file beside a store file.
pub fn journal_path(store_file: &Path) -> std::path::PathBuf {
    crate::store::journal::log_path(store_file)
}

/// Opens a restored store file on its own (migrating it), decodes every
/// record and closes it cleanly, leaving no journal behind.
pub fn check_backup_copy(store_file: &Path) -> Result<CheckedBackup, DirectoryError> {
    let checked = Store::open(store_file).and_then(|store| {
        let records = store.verify_records()?;
        let view = store.read()?;
        let tenants = view.tenants()?.len();
        let master_fingerprint = view
            .meta_get("master_fingerprint")?
            .map(|b| String::from_utf8_lossy(&b).into_owned())
            .unwrap_or_else(|| "?".into());
        Ok(CheckedBackup {
            records,
            tenants,
            master_fingerprint,
        })
    });
    // The check closed the store cleanly: its journal holds nothing.
    let _ = std::fs::remove_file(journal_path(store_file));
    Ok(checked?)
}

/// A domain error. Messages are safe to show: they never contain secrets.
#[derive(Debug, thiserror::Error)]
pub enum DirectoryError {
    /// The named thing does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The request conflicts with existing data.
    #[error("{0}")]
    Conflict(String),
    /// The input is invalid.
    #[error("{0}")]
    Invalid(String),
    /// What was asked for existed once and was removed (an expired cursor).
    #[error("{0}")]
    Gone(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// A secret could not be sealed or opened.
    #[error(transparent)]
    Crypto(#[from] CryptoError),
    /// The master key is missing, unreadable or wrong.
    #[error(transparent)]
    MasterKey(#[from] MasterKeyError),
    /// A fault inside the server (logged; never shown in detail).
    #[error("{0}")]
    Internal(String),
    /// The data dir cannot be prepared.
    #[error("data dir {path}: {reason}")]
    DataDir {
        /// The directory.
        path: String,
        /// The OS error.
        reason: String,
    },
}

/// The error for a slug that names no tenant.
pub(crate) fn no_such_tenant(slug: &str) -> DirectoryError {
    DirectoryError::NotFound(format!("no tenant with slug {slug:?}"))
}

/// The tenant a slug names, inside a write (every area's writes start here).
pub(crate) fn tenant_in(tx: &crate::store::Tx, slug: &str) -> Result<TenantRecord, DirectoryError> {
    tx.view()
        .tenant_by_slug(slug)?
        .ok_or_else(|| no_such_tenant(slug))
}

impl Directory {
    /// Ready = the store answers a read at the current schema version.
    pub fn is_ready(&self) -> bool {
        self.store
            .read()
            .and_then(|v| v.schema_version())
            .is_ok_and(|v| v == crate::store::SCHEMA_VERSION)
    }
}

/// A SCIM error met outside the SCIM surface keeps its meaning: a missing
/// resource stays 404, a server fault stays a fault (not "invalid input").
impl From<crate::scim::error::ScimError> for DirectoryError {
    fn from(e: crate::scim::error::ScimError) -> Self {
        match e.status {
            404 => DirectoryError::NotFound(e.detail),
            409 | 412 => DirectoryError::Conflict(e.detail),
            400..=499 => DirectoryError::Invalid(e.detail),
            _ => DirectoryError::Internal(e.detail),
        }
    }
}

impl DirectoryError {
    /// The store file another process holds open, when that is the error.
    pub fn store_in_use(&self) -> Option<&Path> {
        match self {
            DirectoryError::Store(StoreError::AlreadyOpen(path)) => Some(path),
            _ => None,
        }
    }
}

/// Keys in memory: the master key, where it came from, and the usable data keys.
pub(crate) struct KeyState {
    pub(crate) master: MasterKey,
    pub(crate) location: MasterKeyLocation,
    pub(crate) ring: Keyring,
}

/// The open directory: the store plus the keys, shared by every surface.
pub struct Directory {
    store: Store,
    keys: RwLock<KeyState>,
    public_base: RwLock<String>,
    /// Audit rows of reads and refusals, written in batches (one transaction per
    /// `AUDIT_BATCH` rows, on every read of the log, and on drop) so that a read
    /// request never waits for the writer.
    audit_buffer: std::sync::Mutex<Vec<AuditRecord>>,
    tenant_cache: cache::TenantCache,
    page_anchors: scim::resources::AnchorCache,
    access_tokens: apps::AccessTokens,
    /// Console sign-ins in progress and the IdPs' keys.
    sso: sso::SsoState,
    access_token_lifetime: i64,
    /// How long change events are kept.
    event_retention: std::time::Duration,
    /// Sends webhook messages; set by the server (a CLI run has none).
    webhook_transport: std::sync::OnceLock<std::sync::Arc<dyn webhooks::WebhookTransport>>,
}

impl Directory {
    /// Prepares the data dir, opens the store (migrating it) and loads the keys.
    pub fn open(config: &Config) -> Result<Directory, DirectoryError> {
        prepare_data_dir(&config.data_dir)?;
        let store = Store::open_with(
            &config.store_path(),
            config.write_batch(),
            config.journal_checkpoint_bytes,
        )?;
        let location =
            MasterKeyLocation::resolve(config.master_key_file.as_deref(), &config.data_dir);
        let keys = keys::load(&store, location)?;
        Ok(Directory {
            store,
            keys: RwLock::new(keys),
            public_base: RwLock::new(config.public_base(config.listen)),
            audit_buffer: std::sync::Mutex::new(Vec::new()),
            tenant_cache: cache::TenantCache::default(),
            page_anchors: Default::default(),
            access_tokens: Default::default(),
            sso: Default::default(),
            access_token_lifetime: config.access_token_lifetime,
            event_retention: config.event_retention,
            webhook_transport: Default::default(),
        })
    }

    /// The size of the store file in bytes (0 if it cannot be read).
    pub fn store_file_bytes(&self) -> u64 {
        std::fs::metadata(self.store.path()).map_or(0, |m| m.len())
    }

    /// Durable commits and the write requests they carried, since start.
    pub fn write_stats(&self) -> (u64, u64) {
        self.store.write_stats()
    }

    /// Console sessions stored (live and not yet pruned).
    pub fn session_count(&self) -> Result<u64, DirectoryError> {
        Ok(self.store.read()?.session_count()?)
    }

    /// Decodes every record (`roster check`); how many there are.
    pub fn verify_records(&self) -> Result<u64, DirectoryError> {
        Ok(self.store.verify_records()?)
    }

    /// Writes a consistent copy of the store to `file`; the rows copied.
    pub fn backup_to(&self, file: &Path) -> Result<u64, DirectoryError> {
        Ok(self.store.backup_to(file)?)
    }

    /// Sets the public base URL once the listen address is known.
    pub fn set_public_base(&self, base: String) {
        if let Ok(mut guard) = self.public_base.write() {
            *guard = base;
        }
    }

    /// The public base URL, without a trailing slash.
    pub fn public_base(&self) -> String {
        self.public_base
            .read()
            .map(|g| g.clone())
            .unwrap_or_default()
    }

    /// The SCIM base URL of a tenant, as admins paste it into their IdP.
    pub fn scim_endpoint(&self, slug: &str) -> String {
        format!("{}/scim/v2/{slug}", self.public_base())
    }

    pub(crate) fn keys_read(&self) -> RwLockReadGuard<'_, KeyState> {
        // A poisoned lock only means a panic elsewhere; the key state is still whole.
        self.keys.read().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn keys_write(&self) -> RwLockWriteGuard<'_, KeyState> {
        self.keys.write().unwrap_or_else(|p| p.into_inner())
    }

    /// Appends an audit row that concerns no stored change (a read, a refusal).
    /// Written with the next batch of such rows, or at shutdown.
    pub fn audit(&self, record: AuditRecord) -> Result<(), DirectoryError> {
        if self.queue_audit(record) {
            self.flush_audit()?;
        }
        Ok(())
    }

    /// Queues an audit row in memory without touching the store; true when a
    /// batch is due and the caller should run `flush_audit` (it blocks).
    pub fn queue_audit(&self, record: AuditRecord) -> bool {
        let mut buffer = self.audit_buffer.lock().unwrap_or_else(|p| p.into_inner());
        buffer.push(record);
        buffer.len() >= AUDIT_BATCH
    }

    /// Writes the buffered audit rows (lazily: see `Store::write_lazy`).
    pub fn flush_audit(&self) -> Result<(), DirectoryError> {
        let mut rows = self.take_audit_rows();
        if rows.is_empty() {
            return Ok(());
        }
        self.store.write_lazy(|tx| tx.append_audits(&mut rows))?;
        Ok(())
    }

    /// `flush_audit` for async callers: the rows are queued for the store's
    /// writer thread; the future resolves once they are committed.
    pub fn flush_audit_queued(
        &self,
    ) -> impl std::future::Future<Output = Result<(), DirectoryError>> + 'static {
        let mut rows = self.take_audit_rows();
        let written = (!rows.is_empty()).then(|| {
            self.store
                .write_queued_lazy(move |tx| tx.append_audits(&mut rows))
        });
        async move {
            if let Some(written) = written {
                written.await?;
            }
            Ok(())
        }
    }

    fn take_audit_rows(&self) -> Vec<AuditRecord> {
        std::mem::take(&mut *self.audit_buffer.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// The newest audit rows, optionally of one tenant.
    pub fn audit_recent(
        &self,
        tenant_slug: Option<&str>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, DirectoryError> {
        self.flush_audit()?;
        let view = self.store.read()?;
        let tenant = match tenant_slug {
            Some(slug) => Some(
                view.tenant_by_slug(slug)?
                    .ok_or_else(|| no_such_tenant(slug))?
                    .id,
            ),
            None => None,
        };
        Ok(view.audit_recent(tenant, limit)?)
    }

    /// Makes every earlier commit durable (lazy audit rows included).
    pub fn flush(&self) -> Result<(), DirectoryError> {
        self.flush_audit()?;
        self.store.write(|_| Ok::<_, StoreError>(()))?;
        Ok(())
    }
}

/// Buffered audit rows written per transaction.
const AUDIT_BATCH: usize = 256;

impl Drop for Directory {
    fn drop(&mut self) {
        // Buffered rows of a CLI run or a server's last requests reach the disk.
        if let Err(e) = self.flush() {
            tracing::warn!(error = %e, "could not write the last audit rows");
        }
    }
}

/// An audit row stamped now.
pub fn audit_row(
    tenant: Option<u64>,
    actor: &str,
    action: &str,
    detail: Option<String>,
) -> AuditRecord {
    AuditRecord {
        ts: crate::now_unix(),
        tenant,
        actor: actor.to_string(),
        action: action.to_string(),
        outcome: "ok".to_string(),
        detail,
        ..AuditRecord::default()
    }
}

fn prepare_data_dir(dir: &Path) -> Result<(), DirectoryError> {
    let fail = |e: std::io::Error| DirectoryError::DataDir {
        path: dir.display().to_string(),
        reason: e.to_string(),
    };
    if !dir.exists() {
        std::fs::create_dir_all(dir).map_err(fail)?;
        // The data dir holds the store, the control socket and maybe the master key.
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).map_err(fail)?;
    } else if !dir.is_dir() {
        return Err(DirectoryError::DataDir {
            path: dir.display().to_string(),
            reason: "not a directory".into(),
        });
    }
    Ok(())
}
