//! One read snapshot shared by the readers that arrive between two commits.
//!
//! Beginning a redb read transaction and opening a table (a lookup in redb's
//! table of tables) cost as much as the point read a GET needs. Readers take
//! the newest committed snapshot from here, with the tables earlier readers
//! opened in it; every commit retires it before the writers it carried are
//! answered, so a read that starts after a write's answer always sees it.
//! Retiring also lets redb reuse the pages the commit freed: a snapshot kept
//! past commits would pin them.

use std::any::Any;
use std::ops::Deref;
use std::sync::{Arc, Mutex, OnceLock};

use redb::{
    Database, Key, ReadOnlyTable, ReadTransaction, ReadableDatabase, TableDefinition, TableHandle,
    Value,
};

use super::StoreError;
use super::tables::TABLE_NAMES;

/// A read transaction and the tables opened in it so far.
pub struct Snapshot {
    tx: ReadTransaction,
    /// One slot per name in `TABLE_NAMES`.
    tables: [OnceLock<Box<dyn Any + Send + Sync>>; TABLE_NAMES.len()],
}

/// A table of a snapshot: opened once and shared, or (for a name missing from
/// `TABLE_NAMES`) opened for this caller.
pub enum TableRef<'s, K: Key + 'static, V: Value + 'static> {
    /// Shared with the snapshot's other readers.
    Shared(&'s ReadOnlyTable<K, V>),
    /// Opened for one caller.
    Own(ReadOnlyTable<K, V>),
}

impl<K: Key + 'static, V: Value + 'static> Deref for TableRef<'_, K, V> {
    type Target = ReadOnlyTable<K, V>;

    fn deref(&self) -> &ReadOnlyTable<K, V> {
        match self {
            TableRef::Shared(table) => table,
            TableRef::Own(table) => table,
        }
    }
}

impl Snapshot {
    fn new(tx: ReadTransaction) -> Snapshot {
        Snapshot {
            tx,
            tables: std::array::from_fn(|_| OnceLock::new()),
        }
    }

    /// The table `def`, opened by the first reader that asks for it.
    pub fn table<K: Key + Send + Sync + 'static, V: Value + Send + Sync + 'static>(
        &self,
        def: TableDefinition<K, V>,
    ) -> Result<TableRef<'_, K, V>, redb::TableError> {
        let Some(slot) = TABLE_NAMES
            .iter()
            .position(|n| *n == def.name())
            .map(|i| &self.tables[i])
        else {
            return Ok(TableRef::Own(self.tx.open_table(def)?));
        };
        if slot.get().is_none() {
            // Two readers may both open it; the second copy is dropped.
            let _ = slot.set(Box::new(self.tx.open_table(def)?));
        }
        match slot.get().and_then(|t| t.downcast_ref()) {
            Some(table) => Ok(TableRef::Shared(table)),
            // Only a name declared twice with different types gets here.
            None => Ok(TableRef::Own(self.tx.open_table(def)?)),
        }
    }
}

/// The current shared snapshot, if a reader has begun one since the last commit.
#[derive(Default)]
pub(super) struct SharedSnapshot {
    current: Mutex<Current>,
}

#[derive(Default)]
struct Current {
    /// Commits retired so far: a snapshot begun under an older count may
    /// predate the last commit and is not shared.
    commits: u64,
    snapshot: Option<Arc<Snapshot>>,
}

impl SharedSnapshot {
    fn lock(&self) -> std::sync::MutexGuard<'_, Current> {
        // Nothing panics while holding it; a poisoned lock still holds a valid state.
        self.current.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The newest committed snapshot.
    pub(super) fn get(&self, db: &Database) -> Result<Arc<Snapshot>, StoreError> {
        let commits = {
            let current = self.lock();
            if let Some(snapshot) = &current.snapshot {
                return Ok(snapshot.clone());
            }
            current.commits
        };
        let snapshot = Arc::new(Snapshot::new(db.begin_read()?));
        let mut current = self.lock();
        if current.commits == commits && current.snapshot.is_none() {
            current.snapshot = Some(snapshot.clone());
        }
        Ok(snapshot)
    }

    /// Called after every commit, before its writers are answered.
    pub(super) fn retire(&self) {
        let retired = {
            let mut current = self.lock();
            current.commits += 1;
            current.snapshot.take()
        };
        // Readers still holding it keep it until they finish.
        drop(retired);
    }
}
