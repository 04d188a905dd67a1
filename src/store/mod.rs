//! The store: the only module that imports redb.
//!
//! Layout (all tables in `tables.rs`): every tenant-owned key starts with the
//! tenant id (u64, never reused). Values are `codec` records: one version byte,
//! then JSON. `meta["schema_version"]` (u64 big-endian) drives `migrate`.
//!
//! One write path: every mutation runs inside `Store::write`, in a durable redb
//! write transaction that concurrent writers share (group commit, `group.rs`),
//! made durable by one synced record of the store's journal (`journal.rs`); a
//! call's writes are kept only if its closure returns `Ok`. Reads use MVCC
//! snapshots and never block on the writer; readers between two commits share
//! one (`snapshot.rs`).

pub mod codec;
mod group;
pub mod journal;
mod open_tables;
pub mod records;
mod snapshot;
pub mod tables;

use group::GroupCommit;
use open_tables::{OpenTables, Slot, Slots};
use snapshot::Snapshot;

/// Why the store stopped taking writes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum WriteFailure {
    /// The disk holding the data dir is full.
    DiskFull,
    /// Another I/O error.
    Io,
}

/// 0 while writes work; set by the journal when a write to the log or the
/// store file fails (there is one store per server process). Writes stay
/// refused until a restart replays the journal: redb latches I/O errors.
static WRITE_FAILURE: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

fn note_write_failure(e: &std::io::Error) {
    use std::sync::atomic::Ordering;
    if e.kind() == std::io::ErrorKind::StorageFull {
        WRITE_FAILURE.store(1, Ordering::Release);
    } else {
        let _ = WRITE_FAILURE.compare_exchange(0, 2, Ordering::AcqRel, Ordering::Acquire);
    }
}

/// Why writes are refused, once a write to disk has failed.
pub fn write_failure() -> Option<WriteFailure> {
    match WRITE_FAILURE.load(std::sync::atomic::Ordering::Acquire) {
        0 => None,
        1 => Some(WriteFailure::DiskFull),
        _ => Some(WriteFailure::Io),
    }
}

/// Write requests one durable commit may carry unless configured otherwise.
pub const DEFAULT_BATCH: usize = 64;
/// Journal size at which it is synced into the store file, by default.
pub const DEFAULT_CHECKPOINT_BYTES: u64 = journal::CHECKPOINT_BYTES;

/// redb's own page cache.
const PAGE_CACHE_BYTES: usize = 16 * 1024 * 1024;

use std::path::{Path, PathBuf};
use std::sync::{Arc, MutexGuard};

use redb::{
    Database, Durability, ReadableDatabase, ReadableTable, ReadableTableMetadata, Table,
    TableDefinition, WriteTransaction,
};

use records::{
    AdminRecord, AuditRecord, CredentialKind, CredentialRecord, DekRecord, DeliveryRecord,
    EventRecord, ResourceRecord, SessionRecord, TenantRecord, WebhookRecord,
};
use tables::*;

/// The schema version this binary writes.
pub const SCHEMA_VERSION: u64 = 4;

/// A store failure. Domain errors live in `directory`.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Another process holds the store's lock.
    #[error(
        "the store {0} is in use by another roster process (redb lock held); stop it or use the management commands, which reach a running server over its control socket"
    )]
    AlreadyOpen(PathBuf),
    /// The data dir was written by a newer roster.
    #[error(
        "the store was written by a newer roster (schema version {found}; this binary supports up to {supported}); install the newer version or restore a backup"
    )]
    NewerSchema {
        /// Version found on disk.
        found: u64,
        /// Highest version this binary knows.
        supported: u64,
    },
    /// A record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// The storage layer failed.
    #[error("storage error: {0}")]
    Storage(String),
}

macro_rules! storage_errors {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                StoreError::Storage(e.to_string())
            }
        }
    )*};
}
storage_errors!(
    redb::Error,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError,
    redb::SetDurabilityError
);

/// Which resource table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// `USERS`.
    User,
    /// `GROUPS`.
    Group,
}

impl Kind {
    fn table(self) -> TableDefinition<'static, (u64, &'static str), &'static [u8]> {
        match self {
            Kind::User => USERS,
            Kind::Group => GROUPS,
        }
    }

    fn modified_table(self) -> TableDefinition<'static, (u64, i64, &'static str), ()> {
        match self {
            Kind::User => USER_MODIFIED,
            Kind::Group => GROUP_MODIFIED,
        }
    }
}

/// An index whose key order is a list order.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SortIndex {
    /// A unique name index (lower-cased userName or group displayName).
    Name(UniqueIndex),
    /// `meta.lastModified`, ties in id order.
    Modified,
}

/// Where a page of resources in id order begins.
#[derive(Clone, Copy, Debug)]
pub enum PageStart<'a> {
    /// At the tenant's first resource.
    First,
    /// At this id (included).
    At(&'a str),
    /// After this id (a cursor).
    After(&'a str),
}

/// A unique secondary index: (tenant, key) → resource id.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UniqueIndex {
    /// lower(userName) → user.
    UserName,
    /// externalId → user.
    UserExternalId,
    /// lower(displayName) → group.
    GroupName,
}

impl UniqueIndex {
    fn table(self) -> TableDefinition<'static, (u64, &'static str), &'static str> {
        match self {
            UniqueIndex::UserName => USER_NAMES,
            UniqueIndex::UserExternalId => USER_EXTERNAL_IDS,
            UniqueIndex::GroupName => GROUP_NAMES,
        }
    }
}

/// The open store.
pub struct Store {
    db: Arc<Database>,
    path: PathBuf,
    group: Arc<GroupCommit>,
    /// Applies the writes of async callers (`write_queued`).
    writer: Option<std::thread::JoinHandle<()>>,
}

/// A write transaction: typed mutations. Reads go through `view()`. The
/// tables it opens stay open until it ends (`open_tables.rs`); the writer
/// thread applies a whole batch of requests through one `Tx`.
pub struct Tx<'t> {
    tables: OpenTables<'t>,
    /// What the batch it belongs to changed so far.
    changes: &'t mut Changes,
    /// Whether a table was opened for writing (see `group`).
    dirty: bool,
}

/// What the requests applied in a batch changed and need.
#[derive(Default)]
struct Changes {
    /// Whether one of them needs the commit on disk before it is answered
    /// (all but `write_lazy` callers do).
    durable: bool,
    /// Whether tenants, credentials or keys changed (caches must reload).
    config: bool,
    /// Whether users or groups were added, changed or removed.
    resources: bool,
    /// Whether change events were appended.
    events: bool,
}

/// A consistent snapshot for reads, inside or outside a write transaction.
pub enum View<'a, 't> {
    /// A read-only MVCC snapshot, shared with other readers until the next commit.
    Read(Arc<Snapshot>),
    /// The pending state of a write transaction, read through its open tables.
    Write(&'a OpenTables<'t>),
}

/// Runs `$body` with `$t` bound to the opened table, for either kind of view.
macro_rules! with_table {
    ($view:expr, $def:expr, |$t:ident| $body:expr) => {
        match $view {
            View::Read(snapshot) => {
                let $t = snapshot.table($def)?;
                $body
            }
            View::Write(tables) => {
                let $t = tables.get($def)?;
                $body
            }
        }
    };
}

impl Store {
    /// Opens (or creates) the store file with group commit on (`DEFAULT_BATCH`).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        Store::open_with(path, DEFAULT_BATCH, DEFAULT_CHECKPOINT_BYTES)
    }

    /// Opens (or creates) the store file and runs pending migrations.
    /// `max_batch` is how many write requests one durable commit may carry;
    /// 1 turns group commit off (one transaction per request).
    /// `checkpoint_bytes` is the journal size that makes a checkpoint due.
    pub fn open_with(
        path: &Path,
        max_batch: usize,
        checkpoint_bytes: u64,
    ) -> Result<Store, StoreError> {
        let file = journal::open_read_write(path)
            .map_err(|e| StoreError::Storage(format!("cannot open {}: {e}", path.display())))?;
        let backend = journal::Journaled::open(path, file).map_err(|e| {
            let journal = journal::log_path(path);
            if e.kind() == std::io::ErrorKind::WouldBlock {
                StoreError::AlreadyOpen(path.into())
            } else if e.get_ref().is_some_and(|e| e.is::<journal::ForeignJournal>()) {
                StoreError::Storage(format!(
                    "cannot open {}: the journal {} holds writes of a different store file (was the store file replaced after a crash?); if this store file is the one to keep, move the journal aside",
                    path.display(),
                    journal.display()
                ))
            } else {
                StoreError::Storage(format!(
                    "cannot open {} with its journal {}: {e}",
                    path.display(),
                    journal.display()
                ))
            }
        })?
        .with_checkpoint_bytes(checkpoint_bytes);
        // redb's default page cache is 1 GiB; the kernel's page cache holds the
        // file as well, so a small one keeps the resident size small at little cost.
        // Every page's checksum is verified at open: a file damaged outside
        // Roster (a flipped byte, a truncation) is refused, never served.
        let db = Database::builder()
            .set_cache_size(PAGE_CACHE_BYTES)
            .set_check_integrity_on_open(true)
            .create_with_backend(backend)
            .map_err(|e| match e {
                redb::DatabaseError::DatabaseAlreadyOpen => StoreError::AlreadyOpen(path.into()),
                redb::DatabaseError::Storage(redb::StorageError::Corrupted(why)) => {
                    StoreError::Storage(format!(
                        "the store file {} is damaged ({why}); it was not opened: restore it from a backup (roster restore)",
                        path.display()
                    ))
                }
                other => StoreError::Storage(format!("cannot open {}: {other}", path.display())),
            })?;
        let db = Arc::new(db);
        let group = Arc::new(GroupCommit::new(max_batch));
        let writer = {
            let (db, group) = (db.clone(), group.clone());
            std::thread::Builder::new()
                .name("roster-writer".into())
                .spawn(move || group.run_writer(&db))
                .map_err(|e| StoreError::Storage(format!("cannot start the writer: {e}")))?
        };
        let store = Store {
            db,
            path: path.to_path_buf(),
            group,
            writer: Some(writer),
        };
        store.migrate()?;
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The single write path: `f` runs in a durable write transaction, which is
    /// committed (and fsynced) before this returns `Ok`; on `Err` none of `f`'s
    /// writes are kept. Concurrent calls share transactions (see `group`), so
    /// `f` may run more than once; only its last run counts.
    pub fn write<T, E: From<StoreError>>(
        &self,
        f: impl FnMut(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.group.write(&self.db, true, f)
    }

    /// `write` for rows that may be lost in a crash (audit rows of reads): the
    /// commit is not fsynced unless a durable write shares it or the last
    /// durable commit is older than `LAZY_WINDOW`; the next durable commit
    /// persists it.
    pub fn write_lazy<T, E: From<StoreError>>(
        &self,
        f: impl FnMut(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        self.group.write(&self.db, false, f)
    }

    /// `write` for async callers: `f` owns what it needs and runs on the
    /// writer thread; the future resolves once its commit is durable.
    pub fn write_queued<T, E>(
        &self,
        f: impl FnMut(&mut Tx) -> Result<T, E> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, E>> + 'static
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.queued(true, f)
    }

    /// `write_lazy` for async callers (as `write_queued`).
    pub fn write_queued_lazy<T, E>(
        &self,
        f: impl FnMut(&mut Tx) -> Result<T, E> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, E>> + 'static
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        self.queued(false, f)
    }

    /// Queues `f` for the writer thread and awaits its answer.
    fn queued<T, E>(
        &self,
        durable: bool,
        f: impl FnMut(&mut Tx) -> Result<T, E> + Send + 'static,
    ) -> impl std::future::Future<Output = Result<T, E>> + 'static
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let answer = self.group.submit(durable, f);
        async move {
            answer.await.unwrap_or_else(|_| {
                Err(StoreError::Storage("the writer stopped before answering".into()).into())
            })
        }
    }

    /// (durable commits, write requests applied) since the store was opened.
    pub fn write_stats(&self) -> (u64, u64) {
        self.group.stats()
    }

    /// Changes whenever a commit changed tenants, credentials or keys. Read it
    /// before the snapshot a cached value comes from; the value is current while
    /// the generation is unchanged.
    pub fn config_generation(&self) -> u64 {
        self.group.config_generation()
    }

    /// As `config_generation`, for commits that changed users or groups.
    pub fn resource_generation(&self) -> u64 {
        self.group.resource_generation()
    }

    /// Changes whenever a commit appended change events.
    pub fn event_generation(&self) -> u64 {
        self.group.feed.generation()
    }

    /// Waits until the event generation differs from `seen` or `timeout`
    /// passes; returns the generation then.
    pub fn wait_for_events(&self, seen: u64, timeout: std::time::Duration) -> u64 {
        self.group.feed.wait_past(seen, timeout)
    }

    /// A read snapshot.
    pub fn read(&self) -> Result<View<'static, 'static>, StoreError> {
        Ok(View::Read(self.group.snapshots.get(&self.db)?))
    }

    /// Writes a consistent copy of every table, as of one read snapshot, to a new
    /// store file at `out` (written beside it, then renamed into place). Runs
    /// while the server serves writes. Returns the number of rows copied.
    pub fn backup_to(&self, out: &Path) -> Result<u64, StoreError> {
        let snapshot = self.db.begin_read()?;
        let mut tmp_name = out.as_os_str().to_owned();
        tmp_name.push(".partial");
        let tmp = PathBuf::from(tmp_name);
        let _ = std::fs::remove_file(&tmp);
        let copy = Database::create(&tmp)
            .map_err(|e| StoreError::Storage(format!("cannot create {}: {e}", tmp.display())))?;
        let mut wtx = copy.begin_write()?;
        let mut rows = 0u64;
        macro_rules! copy_tables {
            ($($def:expr),* $(,)?) => {$(
                {
                    let src = snapshot.open_table($def)?;
                    let mut dst = wtx.open_table($def)?;
                    for row in src.iter()? {
                        let (k, v) = row?;
                        dst.insert(k.value(), v.value())?;
                        rows += 1;
                    }
                }
            )*};
        }
        tables::all_tables!(copy_tables);
        wtx.set_durability(Durability::Immediate)?;
        wtx.commit()?;
        drop(copy);
        std::fs::rename(&tmp, out)
            .map_err(|e| StoreError::Storage(format!("cannot write {}: {e}", out.display())))?;
        if let Some(dir) = out.parent().filter(|p| !p.as_os_str().is_empty())
            && let Ok(d) = std::fs::File::open(dir)
        {
            let _ = d.sync_all();
        }
        Ok(rows)
    }

    /// Decodes every stored record; returns how many were read.
    pub fn verify_records(&self) -> Result<u64, StoreError> {
        let snapshot = self.db.begin_read()?;
        let mut n = 0u64;
        macro_rules! decode_all {
            ($ty:ty, $($def:expr),*) => {$(
                for row in snapshot.open_table($def)?.iter()? {
                    let (_, v) = row?;
                    codec::decode::<$ty>(v.value())?;
                    n += 1;
                }
            )*};
        }
        decode_all!(TenantRecord, TENANTS);
        decode_all!(ResourceRecord, USERS, GROUPS);
        decode_all!(CredentialRecord, CREDENTIALS);
        decode_all!(DekRecord, KEYRING);
        decode_all!(EventRecord, EVENTS);
        decode_all!(AuditRecord, AUDIT);
        decode_all!(SessionRecord, SESSIONS);
        decode_all!(AdminRecord, ADMINS);
        decode_all!(WebhookRecord, WEBHOOKS);
        decode_all!(DeliveryRecord, DELIVERIES);
        Ok(n)
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let found = self.read()?.schema_version()?;
        if found > SCHEMA_VERSION {
            return Err(StoreError::NewerSchema {
                found,
                supported: SCHEMA_VERSION,
            });
        }
        if found == SCHEMA_VERSION {
            return Ok(());
        }
        // All pending steps and the version bump commit together: a failed
        // migration leaves the previous data untouched.
        self.write(|tx| {
            for step in found..SCHEMA_VERSION {
                MIGRATIONS[step as usize](tx)?;
            }
            tx.meta_put("schema_version", &SCHEMA_VERSION.to_be_bytes())
        })
    }
}

type Migration = fn(&mut Tx<'_>) -> Result<(), StoreError>;

/// Migration step `i` takes schema version `i` to `i + 1`. Steps are idempotent.
const MIGRATIONS: [Migration; 4] = [
    create_tables,
    count_resources,
    index_modified,
    create_webhook_tables,
];

/// v3 → v4: webhook endpoints and their delivery log.
fn create_webhook_tables(tx: &mut Tx) -> Result<(), StoreError> {
    drop(tx.open(WEBHOOKS)?);
    drop(tx.open(DELIVERIES)?);
    Ok(())
}

/// v2 → v3: the `meta.lastModified` index of users and groups.
fn index_modified(tx: &mut Tx) -> Result<(), StoreError> {
    for kind in [Kind::User, Kind::Group] {
        let mut rows = Vec::new();
        for row in tx.tables.get(kind.table())?.iter()? {
            let (k, v) = row?;
            let rec: ResourceRecord = codec::decode(v.value())?;
            rows.push((k.value().0, rec.modified_ms, rec.id));
        }
        let mut index = tx.open(kind.modified_table())?;
        for (tenant, modified_ms, id) in rows {
            index.insert((tenant, modified_ms, id.as_str()), ())?;
        }
    }
    Ok(())
}

/// v1 → v2: live user and group counts per tenant, so lists need no scan.
fn count_resources(tx: &mut Tx) -> Result<(), StoreError> {
    let tenants: Vec<u64> = tx.view().tenants()?.iter().map(|t| t.id).collect();
    let mut counted = Vec::with_capacity(tenants.len());
    for tenant in tenants {
        let mut live = [0u64; 2];
        for (i, kind) in [Kind::User, Kind::Group].into_iter().enumerate() {
            let table = tx.tables.get(kind.table())?;
            for row in table.range((tenant, "")..(tenant + 1, ""))? {
                let (_, v) = row?;
                let rec: ResourceRecord = codec::decode(v.value())?;
                live[i] += u64::from(rec.deleted_ms.is_none());
            }
        }
        counted.push((tenant, live));
    }
    let mut counts = tx.open(TENANT_COUNTS)?;
    for (tenant, live) in counted {
        counts.insert(tenant, (live[0], live[1]))?;
    }
    Ok(())
}

fn create_tables(tx: &mut Tx) -> Result<(), StoreError> {
    // Opening a table for writing creates it. Every table: the later steps
    // that create theirs are idempotent.
    macro_rules! create {
        ($($def:expr),* $(,)?) => {$( drop(tx.open($def)?); )*};
    }
    tables::all_tables!(create);
    Ok(())
}

/// An index range forwards or backwards.
fn ordered<'a, I: DoubleEndedIterator + 'a>(
    range: I,
    descending: bool,
) -> Box<dyn Iterator<Item = I::Item> + 'a> {
    if descending {
        Box::new(range.rev())
    } else {
        Box::new(range)
    }
}

/// Collects one page of live resources from encoded rows offered in order:
/// tombstones and the first `skip` live rows are passed over without being
/// decoded (a deep page costs a key walk), then up to `take` are decoded.
struct LivePage {
    skip: usize,
    take: usize,
    out: Vec<ResourceRecord>,
}

impl LivePage {
    fn new(skip: usize, take: usize) -> LivePage {
        LivePage {
            skip,
            take,
            out: Vec::with_capacity(take.min(1024)),
        }
    }

    /// Takes a row; false once the page is full.
    fn offer(&mut self, encoded: &[u8]) -> Result<bool, StoreError> {
        if self.out.len() >= self.take {
            return Ok(false);
        }
        if is_tombstone(encoded) {
            return Ok(true);
        }
        if self.skip > 0 {
            self.skip -= 1;
        } else {
            self.out.push(codec::decode(encoded)?);
        }
        Ok(self.out.len() < self.take)
    }
}

/// Whether an encoded `ResourceRecord` is a tombstone, without decoding it:
/// `deleted_ms` is its last field and is written only when set, so a
/// tombstone's JSON ends in `"deleted_ms":<digits>}`.
fn is_tombstone(encoded: &[u8]) -> bool {
    let body = encoded.strip_suffix(b"}").unwrap_or(encoded);
    let digits = body
        .iter()
        .rev()
        .take_while(|b| b.is_ascii_digit() || **b == b'-')
        .count();
    body[..body.len() - digits].ends_with(b"\"deleted_ms\":")
}

fn decode_opt<T: serde::de::DeserializeOwned>(
    value: Option<redb::AccessGuard<'_, &[u8]>>,
) -> Result<Option<T>, StoreError> {
    value.map(|v| codec::decode(v.value())).transpose()
}

impl View<'_, '_> {
    /// The schema version on disk (0 for a new file).
    pub fn schema_version(&self) -> Result<u64, StoreError> {
        let raw = match self {
            View::Read(snapshot) => match snapshot.table(META) {
                Ok(t) => t.get("schema_version")?.map(|v| v.value().to_vec()),
                Err(redb::TableError::TableDoesNotExist(_)) => None,
                Err(e) => return Err(e.into()),
            },
            View::Write(tables) => {
                let t = tables.get(META)?;
                t.get("schema_version")?.map(|v| v.value().to_vec())
            }
        };
        match raw {
            None => Ok(0),
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt("schema_version is not 8 bytes".into())),
        }
    }

    /// A meta value.
    pub fn meta_get(&self, key: &str) -> Result<Option<Vec<u8>>, StoreError> {
        with_table!(self, META, |t| Ok(t.get(key)?.map(|v| v.value().to_vec())))
    }

    /// A tenant by id.
    pub fn tenant(&self, id: u64) -> Result<Option<TenantRecord>, StoreError> {
        with_table!(self, TENANTS, |t| decode_opt(t.get(id)?))
    }

    /// A tenant by slug.
    pub fn tenant_by_slug(&self, slug: &str) -> Result<Option<TenantRecord>, StoreError> {
        let id = with_table!(self, TENANT_SLUGS, |t| t.get(slug)?.map(|v| v.value()));
        match id {
            Some(id) => self.tenant(id),
            None => Ok(None),
        }
    }

    /// All tenants, by id.
    pub fn tenants(&self) -> Result<Vec<TenantRecord>, StoreError> {
        with_table!(self, TENANTS, |t| {
            let mut out = Vec::new();
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// One credential.
    pub fn credential(
        &self,
        tenant: u64,
        id: &str,
    ) -> Result<Option<CredentialRecord>, StoreError> {
        with_table!(self, CREDENTIALS, |t| decode_opt(t.get((tenant, id))?))
    }

    /// The credentials of a tenant.
    pub fn credentials_of(&self, tenant: u64) -> Result<Vec<CredentialRecord>, StoreError> {
        with_table!(self, CREDENTIALS, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, "")..(tenant + 1, ""))? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// The credential whose bearer token hashes to `hash`, within one tenant.
    pub fn credential_by_token_hash(
        &self,
        tenant: u64,
        hash: &[u8],
    ) -> Result<Option<CredentialRecord>, StoreError> {
        let id = with_table!(self, TOKEN_HASHES, |t| t
            .get((tenant, hash))?
            .map(|v| v.value().to_string()));
        match id {
            Some(id) => self.credential(tenant, &id),
            None => Ok(None),
        }
    }

    /// Every credential of every tenant (key rotation and integrity checks).
    pub fn all_credentials(&self) -> Result<Vec<CredentialRecord>, StoreError> {
        with_table!(self, CREDENTIALS, |t| {
            let mut out = Vec::new();
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// All data keys, by id.
    pub fn deks(&self) -> Result<Vec<DekRecord>, StoreError> {
        with_table!(self, KEYRING, |t| {
            let mut out = Vec::new();
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// Audit rows, newest first, optionally of one tenant, at most `limit`.
    pub fn audit_recent(
        &self,
        tenant: Option<u64>,
        limit: usize,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        with_table!(self, AUDIT, |t| {
            let mut out = Vec::new();
            for row in t.iter()?.rev() {
                let (_, v) = row?;
                let rec: AuditRecord = codec::decode(v.value())?;
                if tenant.is_none() || rec.tenant == tenant {
                    out.push(rec);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    /// A tenant's change events after `after`, oldest first, at most `limit`.
    pub fn events(
        &self,
        tenant: u64,
        after: u64,
        limit: usize,
    ) -> Result<Vec<EventRecord>, StoreError> {
        with_table!(self, EVENTS, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, after.saturating_add(1))..=(tenant, u64::MAX))? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
                if out.len() >= limit {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Sequence number of a tenant's newest change event (0: none yet).
    pub fn last_event_seq(&self, tenant: u64) -> Result<u64, StoreError> {
        with_table!(self, EVENTS, |t| Ok(t
            .range((tenant, 0)..=(tenant, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(0, |(k, _)| k.value().1)))
    }

    /// A tenant's oldest kept change event, if any.
    pub fn first_event(&self, tenant: u64) -> Result<Option<EventRecord>, StoreError> {
        with_table!(self, EVENTS, |t| {
            match t.range((tenant, 0)..=(tenant, u64::MAX))?.next() {
                Some(row) => Ok(Some(codec::decode(row?.1.value())?)),
                None => Ok(None),
            }
        })
    }

    /// A webhook endpoint.
    pub fn webhook(&self, tenant: u64, id: &str) -> Result<Option<WebhookRecord>, StoreError> {
        with_table!(self, WEBHOOKS, |t| decode_opt(t.get((tenant, id))?))
    }

    /// A tenant's webhook endpoints, or every tenant's with `None`.
    pub fn webhooks(&self, tenant: Option<u64>) -> Result<Vec<WebhookRecord>, StoreError> {
        with_table!(self, WEBHOOKS, |t| {
            let rows = match tenant {
                Some(id) => t.range((id, "")..(id + 1, ""))?,
                None => t.range::<(u64, &str)>(..)?,
            };
            let mut out = Vec::new();
            for row in rows {
                out.push(codec::decode(row?.1.value())?);
            }
            Ok(out)
        })
    }

    /// An endpoint's newest deliveries, newest first, at most `limit`.
    pub fn deliveries(
        &self,
        tenant: u64,
        endpoint: &str,
        limit: usize,
    ) -> Result<Vec<DeliveryRecord>, StoreError> {
        with_table!(self, DELIVERIES, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, 0)..=(tenant, u64::MAX))?.rev() {
                let rec: DeliveryRecord = codec::decode(row?.1.value())?;
                if rec.endpoint == endpoint {
                    out.push(rec);
                    if out.len() >= limit {
                        break;
                    }
                }
            }
            Ok(out)
        })
    }

    /// A console admin.
    pub fn admin(&self, username: &str) -> Result<Option<AdminRecord>, StoreError> {
        with_table!(self, ADMINS, |t| decode_opt(t.get(username)?))
    }

    /// Every console admin, by username.
    pub fn admins(&self) -> Result<Vec<AdminRecord>, StoreError> {
        with_table!(self, ADMINS, |t| {
            let mut out = Vec::new();
            for row in t.iter()? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// Number of console admins.
    pub fn admin_count(&self) -> Result<u64, StoreError> {
        with_table!(self, ADMINS, |t| Ok(t.len()?))
    }

    /// A console session by the hash of its id.
    pub fn session(&self, hash: &[u8]) -> Result<Option<SessionRecord>, StoreError> {
        with_table!(self, SESSIONS, |t| decode_opt(t.get(hash)?))
    }

    /// Number of console sessions (for metrics).
    pub fn session_count(&self) -> Result<u64, StoreError> {
        with_table!(self, SESSIONS, |t| Ok(t.len()?))
    }

    /// Live (not deleted) users and groups of a tenant.
    pub fn resource_counts(&self, tenant: u64) -> Result<(u64, u64), StoreError> {
        with_table!(self, TENANT_COUNTS, |t| Ok(t
            .get(tenant)?
            .map(|v| v.value())
            .unwrap_or((0, 0))))
    }
}

impl View<'_, '_> {
    /// One resource.
    pub fn resource(
        &self,
        kind: Kind,
        tenant: u64,
        id: &str,
    ) -> Result<Option<ResourceRecord>, StoreError> {
        with_table!(self, kind.table(), |t| decode_opt(t.get((tenant, id))?))
    }

    /// One resource's stored JSON (a `ResourceRecord`), undecoded.
    pub fn resource_json(
        &self,
        kind: Kind,
        tenant: u64,
        id: &str,
    ) -> Result<Option<Vec<u8>>, StoreError> {
        with_table!(self, kind.table(), |t| t
            .get((tenant, id))?
            .map(|v| codec::body(v.value()).map(<[u8]>::to_vec))
            .transpose())
    }

    /// Every resource of a kind in a tenant, in id order (ids are time-ordered).
    pub fn resources(&self, kind: Kind, tenant: u64) -> Result<Vec<ResourceRecord>, StoreError> {
        with_table!(self, kind.table(), |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, "")..(tenant + 1, ""))? {
                let (_, v) = row?;
                out.push(codec::decode(v.value())?);
            }
            Ok(out)
        })
    }

    /// Calls `visit` with each resource of a tenant in id order, decoding one
    /// at a time (a scan holds one record in memory, not the tenant); stops
    /// when `visit` returns false.
    pub fn scan_resources(
        &self,
        kind: Kind,
        tenant: u64,
        mut visit: impl FnMut(ResourceRecord) -> bool,
    ) -> Result<(), StoreError> {
        with_table!(self, kind.table(), |t| {
            for row in t.range((tenant, "")..(tenant + 1, ""))? {
                let (_, v) = row?;
                if !visit(codec::decode(v.value())?) {
                    break;
                }
            }
            Ok(())
        })
    }

    /// One page of live resources in id order: after `after` (exclusive), skipping
    /// `skip` live ones, at most `take`. Tombstones are passed over.
    pub fn resources_page(
        &self,
        kind: Kind,
        tenant: u64,
        start: PageStart<'_>,
        skip: usize,
        take: usize,
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        let (from, after) = match start {
            PageStart::First => ("", None),
            PageStart::At(id) => (id, None),
            PageStart::After(id) => (id, Some(id)),
        };
        with_table!(self, kind.table(), |t| {
            let mut page = LivePage::new(skip, take);
            for row in t.range((tenant, from)..(tenant + 1, ""))? {
                let (k, v) = row?;
                if after.is_some_and(|a| k.value().1 == a) {
                    continue;
                }
                if !page.offer(v.value())? {
                    break;
                }
            }
            Ok(page.out)
        })
    }

    /// The id of every `every`-th live resource in id order (the 0th, the
    /// `every`-th, ...): where page walks can start instead of at the beginning.
    pub fn live_anchors(
        &self,
        kind: Kind,
        tenant: u64,
        every: usize,
    ) -> Result<Vec<String>, StoreError> {
        with_table!(self, kind.table(), |t| {
            let mut anchors = Vec::new();
            let mut live = 0usize;
            for row in t.range((tenant, "")..(tenant + 1, ""))? {
                let (k, v) = row?;
                if is_tombstone(v.value()) {
                    continue;
                }
                if live.is_multiple_of(every.max(1)) {
                    anchors.push(k.value().1.to_string());
                }
                live += 1;
            }
            Ok(anchors)
        })
    }

    /// Live resources in the order of a sort index: the page after skipping
    /// `skip` of them.
    pub fn resources_sorted(
        &self,
        by: SortIndex,
        kind: Kind,
        tenant: u64,
        descending: bool,
        skip: usize,
        take: usize,
    ) -> Result<Vec<ResourceRecord>, StoreError> {
        with_table!(self, kind.table(), |t| {
            let mut page = LivePage::new(skip, take);
            let mut offer = |id: &str| -> Result<bool, StoreError> {
                Ok(match t.get((tenant, id))? {
                    Some(v) => page.offer(v.value())?,
                    None => true,
                })
            };
            match by {
                SortIndex::Name(index) => with_table!(self, index.table(), |names| {
                    let range = names.range((tenant, "")..(tenant + 1, ""))?;
                    for row in ordered(range, descending) {
                        if !offer(row?.1.value())? {
                            break;
                        }
                    }
                }),
                SortIndex::Modified => with_table!(self, kind.modified_table(), |times| {
                    let range = times.range((tenant, i64::MIN, "")..(tenant + 1, i64::MIN, ""))?;
                    for row in ordered(range, descending) {
                        if !offer(row?.0.value().2)? {
                            break;
                        }
                    }
                }),
            }
            Ok(page.out)
        })
    }

    /// The id a unique index maps `key` to.
    pub fn index_get(
        &self,
        index: UniqueIndex,
        tenant: u64,
        key: &str,
    ) -> Result<Option<String>, StoreError> {
        with_table!(self, index.table(), |t| Ok(t
            .get((tenant, key))?
            .map(|v| v.value().to_string())))
    }

    /// Users having the (lowercased) email.
    pub fn users_by_email(&self, tenant: u64, email: &str) -> Result<Vec<String>, StoreError> {
        with_table!(self, USER_EMAILS, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, email, "")..)? {
                let (k, _) = row?;
                let (kt, ke, id) = k.value();
                if kt != tenant || ke != email {
                    break;
                }
                out.push(id.to_string());
            }
            Ok(out)
        })
    }

    /// Members of a group: (member id, member type), in id order.
    pub fn members(&self, tenant: u64, group: &str) -> Result<Vec<(String, String)>, StoreError> {
        with_table!(self, MEMBERS, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, group, "")..)? {
                let (k, v) = row?;
                let (kt, kg, member) = k.value();
                if kt != tenant || kg != group {
                    break;
                }
                out.push((member.to_string(), v.value().to_string()));
            }
            Ok(out)
        })
    }

    /// Up to `limit` members of a group after member id `after`, in id order.
    pub fn members_page(
        &self,
        tenant: u64,
        group: &str,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<(String, String)>, StoreError> {
        with_table!(self, MEMBERS, |t| {
            let mut out = Vec::with_capacity(limit.min(4096));
            for row in t.range((tenant, group, after.unwrap_or(""))..)? {
                let (k, v) = row?;
                let (kt, kg, member) = k.value();
                if kt != tenant || kg != group || out.len() >= limit {
                    break;
                }
                if after == Some(member) {
                    continue;
                }
                out.push((member.to_string(), v.value().to_string()));
            }
            Ok(out)
        })
    }

    /// Whether `member` is in `group`.
    pub fn is_member(&self, tenant: u64, group: &str, member: &str) -> Result<bool, StoreError> {
        with_table!(self, MEMBERS, |t| Ok(t
            .get((tenant, group, member))?
            .is_some()))
    }

    /// Groups `member` belongs to directly.
    pub fn groups_of(&self, tenant: u64, member: &str) -> Result<Vec<String>, StoreError> {
        with_table!(self, MEMBER_OF, |t| {
            let mut out = Vec::new();
            for row in t.range((tenant, member, "")..)? {
                let (k, _) = row?;
                let (kt, km, group) = k.value();
                if kt != tenant || km != member {
                    break;
                }
                out.push(group.to_string());
            }
            Ok(out)
        })
    }
}

impl Drop for Store {
    fn drop(&mut self) {
        self.group.stop();
        if let Some(writer) = self.writer.take() {
            let _ = writer.join();
        }
        // Lazy rows reach the disk on a clean close.
        if self.group.lazy_pending() {
            let _ = self.write(|_| Ok::<_, StoreError>(()));
        }
        // redb closes cleanly (allocator state saved) only with no reader left.
        self.group.snapshots.retire();
    }
}

/// A batch's write transaction, and what the requests applied in it changed.
struct Batch {
    inner: WriteTransaction,
    changes: Changes,
}

impl Batch {
    fn new(inner: WriteTransaction) -> Batch {
        Batch {
            inner,
            changes: Changes::default(),
        }
    }

    fn abort(self) {
        // Dropping aborts as well; an abort error would only hide the real one.
        let _ = self.inner.abort();
    }

    /// A `Tx` for one caller's writes in this batch.
    fn tx(&mut self) -> Tx<'_> {
        Tx {
            tables: OpenTables::new(&self.inner),
            changes: &mut self.changes,
            dirty: false,
        }
    }
}

impl<'t> Tx<'t> {
    /// Opens a table for writing (kept open for this `Tx`); marks the
    /// transaction as changed.
    fn open<K: redb::Key + 'static, V: redb::Value + 'static>(
        &mut self,
        def: TableDefinition<'_, K, V>,
    ) -> Result<MutexGuard<'_, Table<'t, K, V>>, StoreError>
    where
        Slots<'t>: Slot<'t, K, V>,
    {
        self.dirty = true;
        self.tables.get(def)
    }

    /// Reads within this transaction (sees its own pending writes).
    pub fn view(&self) -> View<'_, 't> {
        View::Write(&self.tables)
    }

    /// Sets a meta value.
    pub fn meta_put(&mut self, key: &str, value: &[u8]) -> Result<(), StoreError> {
        self.open(META)?.insert(key, value)?;
        Ok(())
    }

    /// Returns the next value of a named counter in `meta` (starting at 1).
    pub fn next_seq(&mut self, name: &str) -> Result<u64, StoreError> {
        let key = format!("seq:{name}");
        let current = match self.view().meta_get(&key)? {
            Some(bytes) => <[u8; 8]>::try_from(bytes.as_slice())
                .map(u64::from_be_bytes)
                .map_err(|_| StoreError::Corrupt(format!("{key} is not 8 bytes")))?,
            None => 0,
        };
        let next = current + 1;
        self.meta_put(&key, &next.to_be_bytes())?;
        Ok(next)
    }

    /// Inserts or updates a tenant and its slug index. The caller checks slug uniqueness.
    pub fn put_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError> {
        self.changes.config = true;
        if let Some(old) = self.view().tenant(tenant.id)?
            && old.slug != tenant.slug
        {
            self.open(TENANT_SLUGS)?.remove(old.slug.as_str())?;
        }
        self.open(TENANTS)?
            .insert(tenant.id, codec::encode(tenant)?.as_slice())?;
        self.open(TENANT_SLUGS)?
            .insert(tenant.slug.as_str(), tenant.id)?;
        Ok(())
    }

    /// Deletes a tenant and every row it owns, in every table.
    pub fn delete_tenant(&mut self, tenant: &TenantRecord) -> Result<(), StoreError> {
        self.changes.config = true;
        self.changes.resources = true;
        let id = tenant.id;
        self.open(TENANTS)?.remove(id)?;
        self.open(TENANT_SLUGS)?.remove(tenant.slug.as_str())?;
        for def in [USERS, GROUPS, CREDENTIALS] {
            self.open(def)?
                .retain_in((id, "")..(id + 1, ""), |_, _| false)?;
        }
        for def in [USER_NAMES, USER_EXTERNAL_IDS, GROUP_NAMES] {
            self.open(def)?
                .retain_in((id, "")..(id + 1, ""), |_, _| false)?;
        }
        for def in [USER_EMAILS, MEMBER_OF] {
            self.open(def)?
                .retain_in((id, "", "")..(id + 1, "", ""), |_, _| false)?;
        }
        self.open(MEMBERS)?
            .retain_in((id, "", "")..(id + 1, "", ""), |_, _| false)?;
        for def in [USER_MODIFIED, GROUP_MODIFIED] {
            self.open(def)?
                .retain_in((id, i64::MIN, "")..(id + 1, i64::MIN, ""), |_, _| false)?;
        }
        self.open(TENANT_COUNTS)?.remove(id)?;
        let empty: &[u8] = &[];
        self.open(TOKEN_HASHES)?
            .retain_in((id, empty)..(id + 1, empty), |_, _| false)?;
        self.open(EVENTS)?
            .retain_in((id, 0)..(id + 1, 0), |_, _| false)?;
        self.open(WEBHOOKS)?
            .retain_in((id, "")..(id + 1, ""), |_, _| false)?;
        self.open(DELIVERIES)?
            .retain_in((id, 0)..(id + 1, 0), |_, _| false)?;
        Ok(())
    }

    /// Inserts or updates a credential, keeping the token-hash index in step.
    pub fn put_credential(&mut self, cred: &CredentialRecord) -> Result<(), StoreError> {
        self.changes.config = true;
        if cred.kind == CredentialKind::Bearer && !cred.token_hash.is_empty() {
            self.open(TOKEN_HASHES)?
                .insert((cred.tenant, cred.token_hash.as_slice()), cred.id.as_str())?;
        }
        self.open(CREDENTIALS)?.insert(
            (cred.tenant, cred.id.as_str()),
            codec::encode(cred)?.as_slice(),
        )?;
        Ok(())
    }

    /// Removes a credential and its token-hash index row.
    pub fn delete_credential(&mut self, cred: &CredentialRecord) -> Result<(), StoreError> {
        self.changes.config = true;
        if !cred.token_hash.is_empty() {
            self.open(TOKEN_HASHES)?
                .remove((cred.tenant, cred.token_hash.as_slice()))?;
        }
        self.open(CREDENTIALS)?
            .remove((cred.tenant, cred.id.as_str()))?;
        Ok(())
    }

    /// Inserts or updates a data key.
    pub fn put_dek(&mut self, dek: &DekRecord) -> Result<(), StoreError> {
        self.changes.config = true;
        self.open(KEYRING)?
            .insert(dek.id, codec::encode(dek)?.as_slice())?;
        Ok(())
    }

    /// Inserts or replaces a resource row and its `meta.lastModified` index
    /// entry (`previous_modified_ms`: the replaced row's); the other indexes are
    /// the caller's job.
    pub fn put_resource(
        &mut self,
        kind: Kind,
        tenant: u64,
        record: &ResourceRecord,
        previous_modified_ms: Option<i64>,
    ) -> Result<(), StoreError> {
        self.changes.resources = true;
        let id = record.id.as_str();
        self.open(kind.table())?
            .insert((tenant, id), codec::encode(record)?.as_slice())?;
        let mut times = self.open(kind.modified_table())?;
        if let Some(previous) = previous_modified_ms.filter(|&p| p != record.modified_ms) {
            times.remove((tenant, previous, id))?;
        }
        times.insert((tenant, record.modified_ms, id), ())?;
        Ok(())
    }

    /// Removes a resource row and its `meta.lastModified` index entry.
    pub fn delete_resource(
        &mut self,
        kind: Kind,
        tenant: u64,
        record: &ResourceRecord,
    ) -> Result<(), StoreError> {
        self.changes.resources = true;
        let id = record.id.as_str();
        self.open(kind.table())?.remove((tenant, id))?;
        self.open(kind.modified_table())?
            .remove((tenant, record.modified_ms, id))?;
        Ok(())
    }

    /// Points a unique index key at `id`.
    pub fn index_put(
        &mut self,
        index: UniqueIndex,
        tenant: u64,
        key: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        self.open(index.table())?.insert((tenant, key), id)?;
        Ok(())
    }

    /// Removes a unique index key if it still names `id`: another resource
    /// may have taken the key since (while `id` was deleted, say).
    pub fn index_remove(
        &mut self,
        index: UniqueIndex,
        tenant: u64,
        key: &str,
        id: &str,
    ) -> Result<(), StoreError> {
        let mut table = self.open(index.table())?;
        let names_id = table.get((tenant, key))?.is_some_and(|v| v.value() == id);
        if names_id {
            table.remove((tenant, key))?;
        }
        Ok(())
    }

    /// Adds or removes an (email, user) index row.
    pub fn email_index(
        &mut self,
        tenant: u64,
        email: &str,
        user: &str,
        present: bool,
    ) -> Result<(), StoreError> {
        let mut t = self.open(USER_EMAILS)?;
        if present {
            t.insert((tenant, email, user), ())?;
        } else {
            t.remove((tenant, email, user))?;
        }
        Ok(())
    }

    /// Adds a membership (both directions). Returns false if it existed.
    pub fn add_member(
        &mut self,
        tenant: u64,
        group: &str,
        member: &str,
        member_type: &str,
    ) -> Result<bool, StoreError> {
        let existed = self
            .open(MEMBERS)?
            .insert((tenant, group, member), member_type)?
            .is_some();
        self.open(MEMBER_OF)?.insert((tenant, member, group), ())?;
        Ok(!existed)
    }

    /// Removes a membership (both directions). Returns false if it did not exist.
    pub fn remove_member(
        &mut self,
        tenant: u64,
        group: &str,
        member: &str,
    ) -> Result<bool, StoreError> {
        let existed = self
            .open(MEMBERS)?
            .remove((tenant, group, member))?
            .is_some();
        self.open(MEMBER_OF)?.remove((tenant, member, group))?;
        Ok(existed)
    }

    /// Adds to a tenant's live user and group counts.
    pub fn adjust_counts(
        &mut self,
        tenant: u64,
        users: i64,
        groups: i64,
    ) -> Result<(), StoreError> {
        let mut table = self.open(TENANT_COUNTS)?;
        let (u, g) = table.get(tenant)?.map(|v| v.value()).unwrap_or((0, 0));
        let apply = |n: u64, d: i64| n.saturating_add_signed(d);
        table.insert(tenant, (apply(u, users), apply(g, groups)))?;
        Ok(())
    }

    /// Appends a change event to the tenant's feed and returns its sequence number.
    pub fn append_event(&mut self, tenant: u64, event: &EventRecord) -> Result<u64, StoreError> {
        self.changes.events = true;
        let mut table = self.open(EVENTS)?;
        let seq = table
            .range((tenant, 0)..=(tenant, u64::MAX))?
            .next_back()
            .transpose()?
            .map(|(k, _)| k.value().1 + 1)
            .unwrap_or(1);
        let mut event = event.clone();
        event.seq = seq;
        table.insert((tenant, seq), codec::encode(&event)?.as_slice())?;
        Ok(seq)
    }

    /// Inserts or replaces a console admin.
    pub fn put_admin(&mut self, admin: &AdminRecord) -> Result<(), StoreError> {
        self.open(ADMINS)?
            .insert(admin.username.as_str(), codec::encode(admin)?.as_slice())?;
        Ok(())
    }

    /// Inserts or replaces a session.
    pub fn put_session(&mut self, hash: &[u8], session: &SessionRecord) -> Result<(), StoreError> {
        self.open(SESSIONS)?
            .insert(hash, codec::encode(session)?.as_slice())?;
        Ok(())
    }

    /// Removes a session.
    pub fn delete_session(&mut self, hash: &[u8]) -> Result<(), StoreError> {
        self.open(SESSIONS)?.remove(hash)?;
        Ok(())
    }

    /// Removes every session of an admin, or every expired one when `admin` is None.
    pub fn delete_sessions_where(
        &mut self,
        mut doomed: impl FnMut(&SessionRecord) -> bool,
    ) -> Result<usize, StoreError> {
        let mut table = self.open(SESSIONS)?;
        let mut removed = 0;
        table.retain(|_, v| {
            let drop = codec::decode::<SessionRecord>(v)
                .map(|s| doomed(&s))
                .unwrap_or(true);
            removed += usize::from(drop);
            !drop
        })?;
        Ok(removed)
    }

    /// Appends audit rows in order (one sequence lookup),
    /// numbering them in place: no copy of each row; a retried batch renumbers.
    pub fn append_audits(&mut self, records: &mut [AuditRecord]) -> Result<(), StoreError> {
        let mut table = self.open(AUDIT)?;
        let first = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        for (seq, record) in (first..).zip(records) {
            record.seq = seq;
            table.insert(seq, codec::encode(&*record)?.as_slice())?;
        }
        Ok(())
    }

    /// Inserts or replaces a webhook endpoint.
    pub fn put_webhook(&mut self, hook: &WebhookRecord) -> Result<(), StoreError> {
        self.open(WEBHOOKS)?.insert(
            (hook.tenant, hook.id.as_str()),
            codec::encode(hook)?.as_slice(),
        )?;
        Ok(())
    }

    /// Removes a webhook endpoint and its delivery log.
    pub fn delete_webhook(&mut self, tenant: u64, id: &str) -> Result<(), StoreError> {
        self.open(WEBHOOKS)?.remove((tenant, id))?;
        self.open(DELIVERIES)?
            .retain_in((tenant, 0)..(tenant + 1, 0), |_, v| {
                codec::decode::<DeliveryRecord>(v).map_or(true, |d| d.endpoint != id)
            })?;
        Ok(())
    }

    /// Appends a delivery to the tenant's log, keeping its newest `keep` rows.
    pub fn append_delivery(
        &mut self,
        tenant: u64,
        delivery: &DeliveryRecord,
        keep: u64,
    ) -> Result<u64, StoreError> {
        let mut table = self.open(DELIVERIES)?;
        let seq = table
            .range((tenant, 0)..=(tenant, u64::MAX))?
            .next_back()
            .transpose()?
            .map_or(1, |(k, _)| k.value().1 + 1);
        let mut delivery = delivery.clone();
        delivery.seq = seq;
        table.insert((tenant, seq), codec::encode(&delivery)?.as_slice())?;
        if seq > keep {
            table.retain_in((tenant, 0)..(tenant, seq - keep + 1), |_, _| false)?;
        }
        Ok(seq)
    }

    /// Removes a tenant's change events up to and including `through`.
    pub fn prune_events(&mut self, tenant: u64, through: u64) -> Result<(), StoreError> {
        self.open(EVENTS)?
            .retain_in((tenant, 0)..=(tenant, through), |_, _| false)?;
        Ok(())
    }

    /// Appends an audit row and returns its sequence number.
    pub fn append_audit(&mut self, record: &AuditRecord) -> Result<u64, StoreError> {
        let mut table = self.open(AUDIT)?;
        let seq = table.last()?.map(|(k, _)| k.value() + 1).unwrap_or(1);
        let mut record = record.clone();
        record.seq = seq;
        table.insert(seq, codec::encode(&record)?.as_slice())?;
        Ok(seq)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: u64, slug: &str) -> TenantRecord {
        TenantRecord {
            id,
            slug: slug.into(),
            name: slug.into(),
            idp: records::IdpSetting::Generic,
            scim_active: true,
            delete_policy: records::DeletePolicy::Soft,
            created: 0,
            unknown_members: records::UnknownMembers::Skip,
            extensions: Vec::new(),
            role_permissions: Default::default(),
        }
    }

    #[test]
    fn migrates_once_and_refuses_newer_schema() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        assert_eq!(
            store.read().unwrap().schema_version().unwrap(),
            SCHEMA_VERSION
        );
        store
            .write(|tx| tx.meta_put("schema_version", &99u64.to_be_bytes()))
            .unwrap();
        drop(store);
        match Store::open(&path) {
            Err(StoreError::NewerSchema { found: 99, .. }) => {}
            other => panic!("expected NewerSchema, got {:?}", other.err()),
        }
    }

    #[test]
    fn second_open_is_refused_cleanly() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let _first = Store::open(&path).unwrap();
        assert!(matches!(
            Store::open(&path),
            Err(StoreError::AlreadyOpen(_))
        ));
    }

    #[test]
    fn readers_share_a_snapshot_until_the_next_commit() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        let put = |key: &'static str, value: Vec<u8>| {
            store.write(move |tx| tx.meta_put(key, &value)).unwrap();
        };
        let read = |view: &View<'_, '_>| view.meta_get("k").unwrap();
        put("k", b"1".to_vec());
        let before = store.read().unwrap();
        assert_eq!(read(&store.read().unwrap()), Some(b"1".to_vec()));
        put("k", b"2".to_vec());
        assert_eq!(read(&store.read().unwrap()), Some(b"2".to_vec()));
        // An older view keeps the snapshot it began with.
        assert_eq!(read(&before), Some(b"1".to_vec()));
        drop(before);

        // A snapshot shared past commits would pin the pages they free, and
        // the file would grow by every rewrite: 400 of 64 KiB here.
        let _ = store.read().unwrap().meta_get("big");
        for i in 0..400u32 {
            let mut value = vec![0u8; 64 * 1024];
            value[..4].copy_from_slice(&i.to_le_bytes());
            put("big", value);
        }
        let len = std::fs::metadata(&path).unwrap().len();
        assert!(len < 8 << 20, "the store file grew to {len} bytes");
    }

    /// A transaction's tables stay open between its writes and reads: each
    /// sees the others' pending rows; a table still lent out is refused with
    /// an error rather than waited for (which would hang the writer).
    #[test]
    fn kept_tables_serve_reads_and_refuse_a_second_borrower() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        store
            .write(|tx| {
                tx.put_tenant(&tenant(7, "acme"))?;
                assert_eq!(tx.view().tenant_by_slug("acme")?.map(|t| t.id), Some(7));
                tx.put_tenant(&tenant(7, "acme-renamed"))?;
                assert!(tx.view().tenant_by_slug("acme")?.is_none());
                let lent = tx.tables.get(TENANTS)?;
                let refused = tx.view().tenant(7);
                drop(lent);
                assert!(
                    matches!(&refused, Err(StoreError::Storage(m)) if m.contains("in use")),
                    "{refused:?}"
                );
                assert_eq!(
                    tx.view().tenant(7)?.map(|t| t.slug),
                    Some("acme-renamed".into())
                );
                Ok::<_, StoreError>(())
            })
            .unwrap();
        assert_eq!(store.read().unwrap().tenants().unwrap().len(), 1);
    }

    /// The tenant ids a reopened store holds, sorted.
    fn tenant_ids_on_disk(path: &Path) -> Vec<u64> {
        let store = Store::open(path).unwrap();
        let mut ids: Vec<u64> = store
            .read()
            .unwrap()
            .tenants()
            .unwrap()
            .iter()
            .map(|t| t.id)
            .collect();
        ids.sort();
        ids
    }

    /// Concurrent writers share commits; a writer that fails or panics after
    /// writing costs nobody else their write, and leaves nothing behind.
    #[test]
    fn group_commit_isolates_failures_and_batches() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open_with(&dir.path().join("s.redb"), 16, DEFAULT_CHECKPOINT_BYTES).unwrap(),
        );
        let threads: Vec<_> = (0..32u64)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    let mut outcomes = Vec::new();
                    for round in 0..20u64 {
                        let id = 1 + i * 100 + round;
                        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                            store.write(|tx| {
                                let slug = format!("t{id}");
                                tx.put_tenant(&tenant(id, &slug))?;
                                match id % 7 {
                                    // Fails after writing: the shared batch must be redone.
                                    3 => Err(StoreError::Corrupt("refused".into())),
                                    5 if round == 4 => panic!("writer bug"),
                                    _ => Ok(()),
                                }
                            })
                        }));
                        let kept = matches!(result, Ok(Ok(())));
                        outcomes.push((id, kept));
                    }
                    outcomes
                })
            })
            .collect();
        let mut expected = Vec::new();
        for t in threads {
            for (id, kept) in t.join().unwrap() {
                assert_eq!(kept, id % 7 != 3 && !(id % 7 == 5 && (id - 1) % 100 == 4));
                if kept {
                    expected.push(id);
                }
            }
        }
        let (commits, writes) = store.write_stats();
        assert!(commits < writes, "{commits} commits for {writes} writes");
        drop(store);
        expected.sort();
        assert_eq!(tenant_ids_on_disk(&dir.path().join("s.redb")), expected);
    }

    /// Writes queued for the writer thread batch with each other and with
    /// direct writers; each is answered with its own outcome, and a queued
    /// write that fails or panics after writing costs nobody else theirs.
    #[test]
    fn queued_writes_share_batches_and_stay_isolated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store =
            std::sync::Arc::new(Store::open_with(&path, 16, DEFAULT_CHECKPOINT_BYTES).unwrap());
        let direct: Vec<_> = (0..4u64)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    (0..50u64)
                        .map(|round| {
                            let id = 1 + i * 100 + round;
                            let result = store.write(|tx| {
                                tx.put_tenant(&tenant(id, &format!("d{id}")))?;
                                if id % 9 == 4 {
                                    return Err(StoreError::Corrupt("refused".into()));
                                }
                                Ok(())
                            });
                            (id, result.is_ok())
                        })
                        .collect::<Vec<_>>()
                })
            })
            .collect();
        let answers: Vec<_> = (0..300u64)
            .map(|i| {
                let id = 10_000 + i;
                let answer = store.write_queued(move |tx| {
                    if id % 5 == 2 {
                        // Refused before writing anything.
                        return Err(StoreError::Corrupt("invalid".into()));
                    }
                    tx.put_tenant(&tenant(id, &format!("q{id}")))?;
                    match id % 5 {
                        1 => Err(StoreError::Corrupt("refused after writing".into())),
                        3 if id % 7 == 0 => panic!("writer bug"),
                        _ => Ok(id),
                    }
                });
                (id, answer)
            })
            .collect();
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let mut expected = Vec::new();
        runtime.block_on(async {
            for (id, answer) in answers {
                let result = answer.await;
                let kept = id % 5 != 1 && id % 5 != 2 && !(id % 5 == 3 && id % 7 == 0);
                assert_eq!(result.is_ok(), kept, "queued write {id}: {result:?}");
                if let Ok(answered) = result {
                    assert_eq!(answered, id);
                    expected.push(id);
                }
            }
        });
        for t in direct {
            for (id, kept) in t.join().unwrap() {
                assert_eq!(kept, id % 9 != 4);
                if kept {
                    expected.push(id);
                }
            }
        }
        let (commits, writes) = store.write_stats();
        assert!(commits < writes, "{commits} commits for {writes} writes");
        drop(store);
        expected.sort();
        assert_eq!(tenant_ids_on_disk(&path), expected);
    }

    /// Writes queued from inside a runtime are answered on that runtime's
    /// thread (one delivery per batch), each with its own outcome; a later
    /// runtime on the same thread gets a courier of its own.
    #[test]
    fn queued_writes_from_a_runtime_are_answered_on_its_thread() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open_with(&path, 16, DEFAULT_CHECKPOINT_BYTES).unwrap();
        let mut expected = Vec::new();
        for round in 0..2u64 {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_time()
                .build()
                .unwrap();
            runtime.block_on(async {
                let answers: Vec<_> = (0..100u64)
                    .map(|i| {
                        let id = 1 + round * 1000 + i;
                        let answer = store.write_queued(move |tx| {
                            tx.put_tenant(&tenant(id, &format!("r{id}")))?;
                            if id % 4 == 0 {
                                return Err(StoreError::Corrupt("refused after writing".into()));
                            }
                            Ok(id)
                        });
                        (id, answer)
                    })
                    .collect();
                for (id, answer) in answers {
                    let wait = std::time::Duration::from_secs(10);
                    let Ok(result) = tokio::time::timeout(wait, answer).await else {
                        panic!("write {id} was never answered");
                    };
                    assert_eq!(result.is_ok(), id % 4 != 0, "write {id}: {result:?}");
                    if let Ok(answered) = result {
                        assert_eq!(answered, id);
                        expected.push(id);
                    }
                }
            });
        }
        drop(store);
        assert_eq!(tenant_ids_on_disk(&path), expected);
    }

    /// Lazy writes are readable at once, are not fsynced while a durable
    /// commit is recent, and reach the disk with the next durable commit or
    /// on close.
    #[test]
    fn lazy_writes_skip_the_fsync_and_persist_later() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        let store = Store::open(&path).unwrap();
        store
            .write(|tx| tx.put_tenant(&tenant(1, "durable")))
            .unwrap();
        let (durable_before, _) = store.write_stats();
        for i in 0..20u64 {
            store
                .write_lazy(|tx| tx.put_tenant(&tenant(100 + i, &format!("lazy{i}"))))
                .unwrap();
            assert!(store.read().unwrap().tenant(100 + i).unwrap().is_some());
        }
        let (durable_after, _) = store.write_stats();
        // A stall of over a second makes one durable; twenty in a row cannot be.
        assert!(
            durable_after - durable_before < 20,
            "every lazy write was fsynced"
        );
        assert!(store.group.lazy_pending() || durable_after > durable_before);
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.read().unwrap().tenants().unwrap().len(), 21);
    }

    #[test]
    fn one_request_per_commit_when_batching_is_off() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(
            Store::open_with(&dir.path().join("s.redb"), 1, DEFAULT_CHECKPOINT_BYTES).unwrap(),
        );
        let (commits_before, _) = store.write_stats();
        let threads: Vec<_> = (0..8u64)
            .map(|i| {
                let store = store.clone();
                std::thread::spawn(move || {
                    store
                        .write(|tx| tx.put_tenant(&tenant(i + 1, &format!("t{i}"))))
                        .unwrap()
                })
            })
            .collect();
        for t in threads {
            t.join().unwrap();
        }
        let (commits, writes) = store.write_stats();
        assert_eq!(commits - commits_before, 8);
        assert_eq!(writes, commits);
    }

    #[test]
    fn tombstones_are_recognised_without_decoding() {
        let mut data = serde_json::Map::new();
        // A user attribute named like the marker must not fool the check.
        data.insert("deleted_ms".into(), serde_json::json!(5));
        let mut rec = ResourceRecord {
            id: "u1".into(),
            schemas: vec![],
            data,
            password_hash: None,
            created_ms: 1,
            modified_ms: 2,
            version: 3,
            previous_id: Some("u0".into()),
            deleted_ms: None,
        };
        assert!(!is_tombstone(&codec::encode(&rec).unwrap()));
        rec.deleted_ms = Some(1_700_000_000_000);
        assert!(is_tombstone(&codec::encode(&rec).unwrap()));
    }

    #[test]
    fn failed_write_changes_nothing_and_tenant_delete_is_scoped() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.redb")).unwrap();
        store
            .write(|tx| {
                tx.put_tenant(&tenant(1, "a"))?;
                tx.put_tenant(&tenant(2, "b"))
            })
            .unwrap();
        let failed: Result<(), StoreError> = store.write(|tx| {
            tx.put_tenant(&tenant(3, "c"))?;
            Err(StoreError::Corrupt("boom".into()))
        });
        assert!(failed.is_err());
        assert_eq!(store.read().unwrap().tenants().unwrap().len(), 2);

        let cred = |tenant: u64, id: &str| CredentialRecord {
            id: id.into(),
            tenant,
            kind: CredentialKind::Bearer,
            created: 0,
            updated: 0,
            token_hash: vec![tenant as u8; 32],
            hint: None,
            expires_at: None,
            client_id: None,
            sealed_secret: vec![],
            name: None,
            scopes: vec![],
            previous_hash: vec![],
        };
        store
            .write(|tx| {
                tx.put_credential(&cred(1, "x"))?;
                tx.put_credential(&cred(2, "y"))
            })
            .unwrap();
        store.write(|tx| tx.delete_tenant(&tenant(1, "a"))).unwrap();
        let view = store.read().unwrap();
        assert!(view.tenant_by_slug("a").unwrap().is_none());
        assert!(
            view.credential_by_token_hash(1, &[1; 32])
                .unwrap()
                .is_none()
        );
        assert_eq!(
            view.credential_by_token_hash(2, &[2; 32])
                .unwrap()
                .unwrap()
                .id,
            "y"
        );
    }
}
