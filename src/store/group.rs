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
//!
//! Async callers (the HTTP handlers) do not wait on a thread of their own:
//! they queue an owned closure for the writer thread and await its answer.
//! The writer takes part in batches like any other caller, applying every
//! queued request it finds (each isolated as above), and answers them once
//! their batch is durable.

use std::collections::VecDeque;
use std::panic::{AssertUnwindSafe, catch_unwind, resume_unwind};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock};
use std::time::{Duration, Instant};

use redb::{Database, Durability};

use super::snapshot::SharedSnapshot;
use super::{Batch, StoreError, Tx};

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

/// How long a batch of lazy writes alone may stay off the disk.
pub const LAZY_WINDOW: Duration = Duration::from_secs(1);

struct State {
    batch: Option<Batch>,
    /// The ending of the open batch.
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
    /// Requests of async callers, waiting for the writer thread.
    queue: Mutex<VecDeque<Box<dyn Queued>>>,
    queued: Condvar,
    /// Whether the writer thread sleeps on `queued` (read and written under
    /// `queue`'s lock): a notify is a syscall even with no one to wake.
    writer_waiting: AtomicBool,
    stopping: AtomicBool,
    /// When a commit last reached the disk.
    last_durable: Mutex<Instant>,
    /// The read snapshot readers share until the next commit.
    pub(super) snapshots: SharedSnapshot,
    /// Whether a commit since then was lazy (not on disk yet).
    lazy_pending: AtomicBool,
    /// Wakes those who follow the change feed (webhook deliveries).
    pub(super) feed: FeedSignal,
}

/// A generation counter of commits that appended change events, to wait on.
#[derive(Default)]
pub(super) struct FeedSignal {
    generation: Mutex<u64>,
    changed: Condvar,
}

impl FeedSignal {
    pub(super) fn generation(&self) -> u64 {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn bump(&self) {
        *self.generation.lock().unwrap_or_else(|p| p.into_inner()) += 1;
        self.changed.notify_all();
    }

    pub(super) fn wait_past(&self, seen: u64, timeout: std::time::Duration) -> u64 {
        let guard = self.generation.lock().unwrap_or_else(|p| p.into_inner());
        let (guard, _) = self
            .changed
            .wait_timeout_while(guard, timeout, |g| *g == seen)
            .unwrap_or_else(|p| p.into_inner());
        *guard
    }
}

impl GroupCommit {
    pub(super) fn new(max_batch: usize) -> GroupCommit {
        GroupCommit {
            state: Mutex::new(State {
                batch: None,
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
            queue: Mutex::new(VecDeque::new()),
            queued: Condvar::new(),
            writer_waiting: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            last_durable: Mutex::new(Instant::now()),
            lazy_pending: AtomicBool::new(false),
            snapshots: SharedSnapshot::default(),
            feed: FeedSignal::default(),
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

    /// Whether the last commit was lazy: its rows are not on disk yet.
    pub(super) fn lazy_pending(&self) -> bool {
        self.lazy_pending.load(Ordering::SeqCst)
    }

    fn durable_commit_due(&self) -> bool {
        self.last_durable
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .elapsed()
            >= LAZY_WINDOW
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
        if let Some(batch) = st.batch.take() {
            batch.abort();
        }
        let _ = ending.set(Outcome::Retry);
        self.turn.notify_all();
    }

    /// Applies `f` in the open batch and returns once that batch is committed
    /// (on disk, if `durable`).
    pub(super) fn write<T, E: From<StoreError>>(
        &self,
        db: &Database,
        durable: bool,
        mut f: impl FnMut(&mut Tx) -> Result<T, E>,
    ) -> Result<T, E> {
        loop {
            let arrival = Arrival::new(&self.arrived);
            let mut st = self.lock();
            while st.committing {
                st = self.wait(st);
            }
            if st.batch.is_none() {
                let mut inner = match db.begin_write() {
                    Ok(inner) => inner,
                    Err(e) => return Err(StoreError::from(e).into()),
                };
                if let Err(e) = inner.set_durability(Durability::Immediate) {
                    return Err(StoreError::from(e).into());
                }
                // One sync per commit: the journal under redb makes every
                // commit all-or-nothing on disk (`journal.rs`), so redb's
                // two-sync commit would add a second log record and sync for
                // nothing. Quick repair would also save the allocator state in
                // every commit, a cost that grows with the file; without it the
                // first open after a crash walks the file.
                inner.set_two_phase_commit(false);
                st.batch = Some(Batch::new(inner));
                st.ending = Arc::default();
                st.applied = 0;
            }
            let ending = st.ending.clone();
            let Some(batch) = st.batch.as_mut() else {
                continue;
            };
            let mut tx = batch.tx();
            tx.changes.durable |= durable;
            let result = catch_unwind(AssertUnwindSafe(|| f(&mut tx)));
            let dirtied = tx.dirty;
            // Closes its tables before the batch commits or aborts.
            drop(tx);
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
                let Some(batch) = st.batch.take() else {
                    continue;
                };
                st.committing = true;
                drop(st);
                let config_changed = batch.changes.config;
                let resources_changed = batch.changes.resources;
                let events_appended = batch.changes.events;
                let durable = batch.changes.durable || self.durable_commit_due();
                let mut inner = batch.inner;
                if !durable {
                    // Only lazy rows: the next durable commit persists them.
                    let _ = inner.set_durability(Durability::None);
                }
                let committed = inner.commit();
                self.snapshots.retire();
                if committed.is_ok() {
                    if durable {
                        self.commits.fetch_add(1, Ordering::Relaxed);
                        *self.last_durable.lock().unwrap_or_else(|p| p.into_inner()) =
                            Instant::now();
                    }
                    self.lazy_pending.store(!durable, Ordering::SeqCst);
                }
                if config_changed {
                    // Before anyone in the batch answers: their next request must
                    // not be served from a cache of the old configuration.
                    self.config_generation.fetch_add(1, Ordering::AcqRel);
                }
                if resources_changed {
                    self.resource_generation.fetch_add(1, Ordering::AcqRel);
                }
                if events_appended && committed.is_ok() {
                    self.feed.bump();
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

/// A queued write as the writer thread sees it.
trait Queued: Send {
    /// Whether its commit must be on disk before it is answered.
    fn durable(&self) -> bool;
    /// Runs the write in the batch transaction; false if it failed.
    fn apply(&mut self, tx: &mut Tx) -> bool;
    /// Answers the caller: its own result, or `commit_failure` if the batch
    /// it was applied in could not be committed.
    fn answer(self: Box<Self>, commit_failure: Option<&str>);
    /// Who delivers the answer on the caller's thread, if anyone.
    fn courier(&self) -> Option<&Courier>;
}

/// Answers for the callers of one runtime thread, and the commit failure
/// they share, if any.
type Delivery = (Option<String>, Vec<Box<dyn Queued>>);

/// Delivers answers on the thread the callers run on. Answering from the
/// writer thread woke the request thread once per answer, and on a shared
/// core each wake switched threads; handing a batch's answers over in one
/// message wakes it once.
#[derive(Clone)]
pub(super) struct Courier(tokio::sync::mpsc::UnboundedSender<Delivery>);

thread_local! {
    static COURIER: std::cell::RefCell<Option<Courier>> = const { std::cell::RefCell::new(None) };
}

impl Courier {
    /// The courier of the calling thread's runtime, started on first use;
    /// None outside a runtime (the writer then answers directly).
    fn of_this_thread() -> Option<Courier> {
        tokio::runtime::Handle::try_current().ok()?;
        COURIER.with(|slot| {
            let mut slot = slot.borrow_mut();
            if let Some(courier) = slot.as_ref().filter(|c| !c.0.is_closed()) {
                return Some(courier.clone());
            }
            let (sender, mut deliveries) = tokio::sync::mpsc::unbounded_channel::<Delivery>();
            tokio::spawn(async move {
                while let Some((failure, requests)) = deliveries.recv().await {
                    for request in requests {
                        request.answer(failure.as_deref());
                    }
                }
            });
            let courier = Courier(sender);
            *slot = Some(courier.clone());
            Some(courier)
        })
    }
}

/// Answers `requests` through their couriers, one message per courier;
/// directly where there is none or it has stopped.
fn deliver(requests: Vec<Box<dyn Queued>>, failure: Option<&str>) {
    let mut parcels: Vec<(Courier, Vec<Box<dyn Queued>>)> = Vec::new();
    for request in requests {
        let Some(courier) = request.courier().cloned() else {
            request.answer(failure);
            continue;
        };
        match parcels
            .iter_mut()
            .find(|(c, _)| c.0.same_channel(&courier.0))
        {
            Some((_, parcel)) => parcel.push(request),
            None => parcels.push((courier, vec![request])),
        }
    }
    for (courier, parcel) in parcels {
        if let Err(returned) = courier.0.send((failure.map(str::to_string), parcel)) {
            let (_, parcel) = returned.0;
            parcel
                .into_iter()
                .for_each(|request| request.answer(failure));
        }
    }
}

/// A typed queued write and where its answer goes.
struct Request<F, T, E> {
    durable: bool,
    f: F,
    result: Option<Result<T, E>>,
    reply: tokio::sync::oneshot::Sender<Result<T, E>>,
    courier: Option<Courier>,
}

impl<F, T, E> Queued for Request<F, T, E>
where
    F: FnMut(&mut Tx) -> Result<T, E> + Send,
    T: Send,
    E: From<StoreError> + Send,
{
    fn durable(&self) -> bool {
        self.durable
    }

    fn apply(&mut self, tx: &mut Tx) -> bool {
        self.result = None;
        let result = (self.f)(tx);
        let ok = result.is_ok();
        self.result = Some(result);
        ok
    }

    fn answer(self: Box<Self>, commit_failure: Option<&str>) {
        let result = match (commit_failure, self.result) {
            (Some(message), _) => Err(StoreError::Storage(message.to_string()).into()),
            (None, Some(result)) => result,
            // It panicked (the panic is in the log); its writes were aborted.
            (None, None) => Err(StoreError::Storage("the write failed unexpectedly".into()).into()),
        };
        // A caller that went away (client disconnected) needs no answer.
        let _ = self.reply.send(result);
    }

    fn courier(&self) -> Option<&Courier> {
        self.courier.as_ref()
    }
}

/// Why the writer's share of a batch did not commit.
enum WriterError {
    /// One of its requests failed after writing: the batch was aborted.
    Aborted,
    Store(StoreError),
}

impl From<StoreError> for WriterError {
    fn from(e: StoreError) -> Self {
        WriterError::Store(e)
    }
}

impl GroupCommit {
    /// Queues `f` for the writer thread; the receiver gets its result once
    /// the batch it ran in is durable (or failed).
    pub(super) fn submit<T, E>(
        &self,
        durable: bool,
        f: impl FnMut(&mut Tx) -> Result<T, E> + Send + 'static,
    ) -> tokio::sync::oneshot::Receiver<Result<T, E>>
    where
        T: Send + 'static,
        E: From<StoreError> + Send + 'static,
    {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let request = Box::new(Request {
            durable,
            f,
            result: None,
            reply,
            courier: Courier::of_this_thread(),
        });
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        queue.push_back(request);
        let wake = self.writer_waiting.load(Ordering::Relaxed);
        drop(queue);
        if wake {
            self.queued.notify_one();
        }
        answer
    }

    /// Asks the writer thread to finish the queue and end.
    pub(super) fn stop(&self) {
        self.stopping.store(true, Ordering::SeqCst);
        let _guard = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        self.queued.notify_all();
    }

    fn next_queued(&self) -> Option<Box<dyn Queued>> {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .pop_front()
    }

    /// Waits until a request is queued; false once stopping with nothing left.
    fn wait_for_queued(&self) -> bool {
        let mut queue = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        while queue.is_empty() {
            if self.stopping.load(Ordering::SeqCst) {
                return false;
            }
            self.writer_waiting.store(true, Ordering::Relaxed);
            queue = self.queued.wait(queue).unwrap_or_else(|p| p.into_inner());
            self.writer_waiting.store(false, Ordering::Relaxed);
        }
        true
    }

    /// The writer thread: applies queued requests in batches until stopped.
    pub(super) fn run_writer(&self, db: &Database) {
        // Requests applied in the open batch; kept across a retry of it.
        let mut applied: Vec<Box<dyn Queued>> = Vec::new();
        while !applied.is_empty() || self.wait_for_queued() {
            match self.write(db, false, |tx| self.apply_queued(tx, &mut applied)) {
                Ok(()) => deliver(std::mem::take(&mut applied), None),
                // The failed request is answered; the others run again.
                Err(WriterError::Aborted) => {}
                Err(WriterError::Store(e)) => {
                    let message = e.to_string();
                    if applied.is_empty() {
                        // No transaction could even begin: answer what waits
                        // instead of retrying a store that cannot write.
                        applied.extend(
                            self.queue
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .drain(..),
                        );
                    }
                    deliver(std::mem::take(&mut applied), Some(&message));
                }
            }
        }
    }

    /// Applies the requests of a retried batch, then queued ones, up to a
    /// batch's worth. A request that fails after writing is answered at once
    /// and aborts the batch.
    fn apply_queued(
        &self,
        tx: &mut Tx,
        applied: &mut Vec<Box<dyn Queued>>,
    ) -> Result<(), WriterError> {
        let mut wrote = false;
        let mut index = 0;
        loop {
            if index == applied.len() {
                if applied.len() >= self.max_batch {
                    break;
                }
                let next = self.next_queued().or_else(|| {
                    // Let the request handlers run first (they share the
                    // core): what they queue now joins this batch.
                    std::thread::yield_now();
                    self.next_queued()
                });
                match next {
                    Some(request) => applied.push(request),
                    None => break,
                }
                if index > 0 {
                    self.writes.fetch_add(1, Ordering::Relaxed);
                }
            }
            tx.dirty = false;
            let request = &mut applied[index];
            tx.changes.durable |= request.durable();
            let ok = catch_unwind(AssertUnwindSafe(|| request.apply(tx))).unwrap_or(false);
            if !ok && tx.dirty {
                applied.remove(index).answer(None);
                return Err(WriterError::Aborted);
            }
            wrote |= tx.dirty;
            index += 1;
        }
        tx.dirty = wrote;
        Ok(())
    }
}
