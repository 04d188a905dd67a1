//! The tables of a write transaction, each opened once and kept open until
//! the transaction's caller is done with it.
//!
//! Opening a redb table (a lookup in redb's table of tables) and closing it
//! (staging its new root) cost about half as much as the insert it is opened
//! for, and a SCIM create touches seven tables. A `Tx` lends each table it opened
//! to every later access, so the writer thread opens each table once for a
//! whole batch of requests. redb refuses to open a table that is already
//! open in the transaction, so every access of a `Tx`, reads included, goes
//! through here.

use std::sync::{Mutex, MutexGuard, OnceLock, TryLockError};

use redb::{Key, Table, TableDefinition, TableHandle, Value, WriteTransaction};

use super::StoreError;
use super::tables::*;

/// A table once opened. A lock rather than a `RefCell` because a `View` may
/// move to another thread (a streamed group response), though only its
/// snapshot variant ever does.
type Kept<'t, K, V> = OnceLock<Mutex<Table<'t, K, V>>>;

/// The slot of the table named `name`, among the tables of one key and value type.
pub trait Slot<'t, K: Key + 'static, V: Value + 'static> {
    fn slot(&self, name: &str) -> Option<&Kept<'t, K, V>>;
}

/// Declares one slot per table, grouped by key and value type (a table's
/// slot is found by its type, then its name).
macro_rules! slots {
    ($( ($k:ty, $v:ty): $($def:ident),+ ;)*) => {
        #[allow(non_snake_case)]
        #[derive(Default)]
        pub struct Slots<'t> {
            $($( $def: Kept<'t, $k, $v>, )+)*
        }

        $(
            impl<'t> Slot<'t, $k, $v> for Slots<'t> {
                fn slot(&self, name: &str) -> Option<&Kept<'t, $k, $v>> {
                    $( if name == $def.name() { return Some(&self.$def); } )+
                    None
                }
            }
        )*
    };
}

slots! {
    (&'static str, &'static [u8]): META, ADMINS;
    (u64, &'static [u8]): TENANTS, AUDIT;
    (&'static str, u64): TENANT_SLUGS;
    ((u64, &'static str), &'static [u8]): USERS, GROUPS, CREDENTIALS, WEBHOOKS;
    ((u64, &'static str), &'static str): USER_NAMES, USER_EXTERNAL_IDS, GROUP_NAMES;
    ((u64, &'static str, &'static str), ()): USER_EMAILS, MEMBER_OF;
    ((u64, i64, &'static str), ()): USER_MODIFIED, GROUP_MODIFIED;
    ((u64, &'static str, &'static str), &'static str): MEMBERS;
    ((u64, &'static [u8]), &'static str): TOKEN_HASHES;
    (u32, &'static [u8]): KEYRING;
    ((u64, u64), &'static [u8]): EVENTS, DELIVERIES;
    (&'static [u8], &'static [u8]): SESSIONS;
    (u64, (u64, u64)): TENANT_COUNTS;
}

/// A write transaction's tables opened so far.
pub struct OpenTables<'t> {
    tx: &'t WriteTransaction,
    slots: Slots<'t>,
}

impl<'t> OpenTables<'t> {
    pub fn new(tx: &'t WriteTransaction) -> OpenTables<'t> {
        OpenTables {
            tx,
            slots: Slots::default(),
        }
    }

    /// The table `def`, opened on first use. An error, not a deadlock, if it
    /// is already lent out (read while it is being written).
    pub fn get<K: Key + 'static, V: Value + 'static>(
        &self,
        def: TableDefinition<'_, K, V>,
    ) -> Result<MutexGuard<'_, Table<'t, K, V>>, StoreError>
    where
        Slots<'t>: Slot<'t, K, V>,
    {
        let name = def.name();
        let slot = self
            .slots
            .slot(name)
            .ok_or_else(|| StoreError::Storage(format!("table {name} has no slot")))?;
        if slot.get().is_none() {
            let _ = slot.set(Mutex::new(self.tx.open_table(def)?));
        }
        let Some(kept) = slot.get() else {
            return Err(StoreError::Storage(format!("table {name} did not open")));
        };
        match kept.try_lock() {
            Ok(table) => Ok(table),
            // A request that panicked while reading left the table as it was;
            // one that panicked while writing aborted the batch.
            Err(TryLockError::Poisoned(poisoned)) => Ok(poisoned.into_inner()),
            Err(TryLockError::WouldBlock) => Err(StoreError::Storage(format!(
                "table {name} is already in use"
            ))),
        }
    }
}
