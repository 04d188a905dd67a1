//! Group commit: concurrent writers share one durable redb transaction.
//!
//! Each caller applies its own closure, in turn, to the open batch transaction
//! (so closures may borrow from the caller's stack), then waits until the batch
//! is committed and fsynced before it answers. The last caller of a batch (no
//! other caller has arrived and not yet applied, or the batch is full) commits
//! it; callers that arrive during that commit form the next batch.
//!
//! Isolation: closures run one at a time and see the writes of the batch before
//! them, exactly as if each had its own transaction in that order. A closure
//! that fails before writing anything leaves the batch untouched. One that
//! fails (or panics) after writing has dirtied the shared transaction, which
//! cannot be partly undone (redb savepoints need a clean transaction), so the
//! batch is aborted and the callers already applied in it run again in a new
//! batch. Every retry removes the failing request, so retries end.

use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};

use redb::{Database, Durability};

use super::{StoreError, Tx};

/// How a batch ended.
#[derive(Clone, Debug)]
enum Outcome {
    Committed,
    /// Aborted because a later member failed after writing: run again.
    Retry,
    /// The commit itself failed (message of the storage error).
    Failed(String),
}

type Ending = Arc<OnceLock<Outcome>>;

struct State {
    tx: Option<Tx>,
    /// The ending of the batch whose transaction is in `tx`.
    ending: Ending,
    /// Closures applied in the open batch.
    applied: usize,
    committing: bool,
}

/// The shared writer. `max_batch` bounds how many requests one commit carries.
pub(super) struct GroupCommit {
    state: Mutex<State>,
    turn: Condvar,
    max_batch: usize,
    /// Callers inside `write` that have not applied their closure yet,
    /// counted before they take the lock: a batch waits for them.
    arrived: AtomicUsize,
    commits: AtomicU64,
    writes: AtomicU64,
    config_generation: AtomicU64,
    resource_generation: AtomicU64,
}

impl GroupCommit {
    pub(super) fn new(max_batch: usize) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                tx: None,
                ending: Arc::default(),
                applied: 0,
                committing: false,
            }),
            turn: Condvar::new(),
            max_batch: max_batch.max(1),
            arrived: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            config_generation: AtomicU64::new(0),
            resource_generation: AtomicU64::new(0),
        }
    }

    /// (durable commits, writes applied) since the store was opened.
    pub(super) fn stats(&self) -> (u64, u64) {
        (
            self.commits.load(Ordering::Relaxed),
            self.writes.load(Ordering::Relaxed),
        )
    }

    pub(super) fn config_generation(&self) -> u64 {
        self.config_generation.load(Ordering::Acquire)
    }

    pub(super) fn resource_generation(&self) -> u64 {
        self.resource_generation.load(Ordering::Acquire)
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Closures run under catch_unwind, so a poisoned lock means a panic in
        // this module's own bookkeeping; the state is still consistent.
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn wait<'a>(&self, guard: MutexGuard<'a, State>) -> MutexGuard<'a, State> {
        self.turn.wait(guard).unwrap_or_else(|p| p.into_inner())
    }

    /// Drops the open batch, which holds a failed caller's partial writes; the
    /// callers applied before it run again.
    fn abort_batch(&self, mut st: MutexGuard<'_, State>, ending: &Ending) {
        if let Some(tx) = st.tx.take() {
            tx.abort();
        }
        let _ = ending.set(Outcome::Retry);
        self.turn.notify_all();
    }

    /// Applies `f` in the open batch and returns once that batch is durable.
    pub(super) fn write<T, E: From<StoreError>>(
        &self,
        db: &Database,
        mut f: impl FnMut(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        loop {
            let arrival = Arrival::new(&self.arrived);
            let mut st = self.lock();
            while st.committing {
                st = self.wait(st);
            }
            if st.tx.is_none() {
                let mut inner = match db.begin_write() {
                    Ok(inner) => inner,
                    Err(e) => return Err(StoreError::from(e).into()),
                };
                if let Err(e) = inner.set_durability(Durability::Immediate) {
                    return Err(StoreError::from(e).into());
                }
                // Two fsyncs: a torn commit is never mistaken for a good one
                // (the single-fsync mode trusts a non-cryptographic checksum, and
                // our input is external). Quick repair would also save the
                // allocator state in every commit, a cost that grows with the
                // file; without it the first open after a crash walks the file.
                inner.set_two_phase_commit(true);
                st.tx = Some(Tx::new(inner));
                st.ending = Arc::default();
                st.applied = 0;
            }
            let ending = st.ending.clone();
            let Some(tx) = st.tx.as_mut() else {
                continue;
            };
            tx.dirty = false;
            let result = catch_unwind(AssertUnwindSafe(|| f(tx)));
            let dirtied = tx.dirty;
            drop(arrival);
            st.applied += 1;
            self.writes.fetch_add(1, Ordering::Relaxed);
            let value = match result {
                Ok(Ok(value)) => Ok(value),
                Ok(Err(e)) if !dirtied => Err(e),
                Ok(Err(e)) => {
                    self.abort_batch(st, &ending);
                    return Err(e);
                }
                Err(panic) => {
                    self.abort_batch(st, &ending);
                    resume_unwind(panic)
                }
            };
            if self.arrived.load(Ordering::SeqCst) == 0 || st.applied >= self.max_batch {
                let Some(tx) = st.tx.take() else {
                    continue;
                };
                st.committing = true;
                drop(st);
                let config_changed = tx.config_changed;
                let resources_changed = tx.resources_changed;
                let committed = tx.inner.commit();
                self.commits.fetch_add(1, Ordering::Relaxed);
                if config_changed {
                    // Before anyone in the batch answers: their next request must
                    // not be served from a cache of the old configuration.
                    self.config_generation.fetch_add(1, Ordering::AcqRel);
                }
                if resources_changed {
                    self.resource_generation.fetch_add(1, Ordering::AcqRel);
                }
                let mut st = self.lock();
                st.committing = false;
                let outcome = match &committed {
                    Ok(()) => Outcome::Committed,
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                let _ = ending.set(outcome);
                self.turn.notify_all();
                drop(st);
                return match committed {
                    Ok(()) => value,
                    Err(e) => Err(StoreError::from(e).into()),
                };
            }
            while ending.get().is_none() {
                st = self.wait(st);
            }
            drop(st);
            match ending.get() {
                Some(Outcome::Retry) => continue,
                Some(Outcome::Failed(message)) => {
                    return Err(StoreError::Storage(message.clone()).into());
                }
                _ => return value,
            }
        }
    }
}

/// Counts a caller in `arrived` until it is dropped (after applying, or on any
/// early return).
struct Arrival<'a>(&'a AtomicUsize);

impl<'a> Arrival<'a> {
    fn new(arrived: &'a AtomicUsize) -> Arrival<'a> {
        arrived.fetch_add(1, Ordering::SeqCst);
        Arrival(arrived)
    }
}

impl Drop for Arrival<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}
