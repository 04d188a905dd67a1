//! A journal under redb: a sync appends every write since the last one to a
//! log file as one checksummed record and syncs only that file.
//!
//! Why: redb writes a commit's pages where its allocator put them, ~30
//! scattered 4 KiB pages for a batch of creates, and syncing scattered pages
//! costs the disk (and on a VM the hypervisor) about twice the time of one
//! sequential write of the same bytes. The store file gets those pages after
//! the log record is durable, without a sync of its own, and not at once:
//! they wait in memory until `UNWRITTEN_BYTES` of them do, so a page many
//! commits rewrite is written once for all of them. When the log passes
//! `CHECKPOINT_BYTES` the store file gets what waits and is synced once, and
//! the log starts over under a new epoch, so a page written by many commits
//! reaches the disk once.
//!
//! Until its record is durable a write lives only in memory (`Overlay`, which
//! reads see), so the store file only ever holds synced writes. After a crash,
//! `open` replays the complete records of the current epoch into the store
//! file in order, syncs it and starts a new epoch. A torn or stale record
//! (wrong epoch, bad length, checksum mismatch) ends the replay: it was never
//! synced, so no commit that needed it returned. Each redb commit is therefore
//! all-or-nothing on disk, which is why the store can use redb's single-sync
//! commit without trusting its page checksums to detect torn commits.

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::io;
use std::ops::Bound;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, RwLock, RwLockReadGuard, RwLockWriteGuard};

use redb::backends::FileBackend;
use redb::{BackendError, StorageBackend};
use sha2::{Digest, Sha256};

/// Past this size (by default) the log is synced into the store file and
/// started over.
pub const CHECKPOINT_BYTES: u64 = 64 * 1024 * 1024;

const MAGIC: &[u8; 8] = b"RSTRJNL1";
/// Records are checked by CRC-32, as database logs commonly are: the check
/// finds a record torn by a crash, it does not guard against an adversary
/// (who could rewrite the store file itself), and padded to `LOG_BLOCK`.
/// Records of the two development formats before it (checked by SHA-256, or
/// by CRC-32 but not padded; no release wrote them) are refused by name
/// rather than dropped as torn.
const RECORD_MAGIC: &[u8; 8] = b"RSTRJNL3";
const EARLIER_RECORD_MAGICS: [&[u8; 8]; 2] = [MAGIC, b"RSTRJNL2"];
/// Header: magic, epoch, the store file's identity, SHA-256 of those three.
/// Records start at `RECORDS_START`.
const HEADER_LEN: usize = 8 + 8 + IDENTITY_LEN + 32;
const IDENTITY_LEN: usize = 8 + 16;
const RECORDS_START: u64 = 4096;
/// Records start and end on this boundary (zero-padded), so they can be
/// written with direct I/O.
const LOG_BLOCK: usize = 4096;
/// Record head: magic, epoch, body length, checksum of (epoch, length, body)
/// (CRC-32 in 4 bytes then zeros, or SHA-256).
const RECORD_HEAD_LEN: usize = 8 + 8 + 8 + 32;
/// Body entries: `SET_LEN` length, then `WRITE` offset length bytes.
const SET_LEN: u8 = 1;
const WRITE: u8 = 2;

/// Opens `path` for reading and writing, creating it if missing and never
/// truncating it: how the store file and its log are opened.
pub fn open_read_write(path: &Path) -> io::Result<File> {
    OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
}

/// The log file of the store at `store`.
pub fn log_path(store: &Path) -> PathBuf {
    let mut name = store.as_os_str().to_owned();
    name.push("-journal");
    PathBuf::from(name)
}

/// Non-overlapping byte runs by offset; a later write replaces what it covers.
#[derive(Debug, Default)]
struct Runs {
    runs: BTreeMap<u64, Vec<u8>>,
    /// The runs' total length.
    bytes: usize,
}

impl Runs {
    fn insert(&mut self, offset: u64, data: &[u8]) {
        self.insert_owned(offset, data.to_vec());
    }

    fn insert_owned(&mut self, offset: u64, data: Vec<u8>) {
        let end = offset + data.len() as u64;
        let covered: Vec<u64> = self
            .runs
            .range(..end)
            .rev()
            .take_while(|(start, run)| **start + run.len() as u64 > offset)
            .map(|(start, _)| *start)
            .collect();
        for start in covered {
            let Some(mut run) = self.runs.remove(&start) else {
                continue;
            };
            let run_end = start + run.len() as u64;
            self.bytes -= (run_end.min(end) - start.max(offset)) as usize;
            if run_end > end {
                let tail = run.split_off((end - start) as usize);
                self.runs.insert(end, tail);
            }
            if start < offset {
                run.truncate((offset - start) as usize);
                self.runs.insert(start, run);
            }
        }
        self.bytes += data.len();
        self.runs.insert(offset, data);
    }

    /// Cuts runs at `len`.
    fn truncate(&mut self, len: u64) {
        let beyond: Vec<u64> = self.runs.range(len..).map(|(start, _)| *start).collect();
        for start in beyond {
            if let Some(run) = self.runs.remove(&start) {
                self.bytes -= run.len();
            }
        }
        if let Some((start, run)) = self.runs.range_mut(..len).next_back() {
            let keep = (len - start) as usize;
            if run.len() > keep {
                self.bytes -= run.len() - keep;
                run.truncate(keep);
            }
        }
    }

    /// Copies the runs that overlap `[offset, offset + out.len())` into `out`.
    fn read_over(&self, offset: u64, out: &mut [u8]) {
        let end = offset + out.len() as u64;
        for (start, run) in self.runs.range(..end).rev() {
            let run_end = start + run.len() as u64;
            if run_end <= offset {
                break;
            }
            let from = offset.max(*start);
            let to = end.min(run_end);
            out[(from - offset) as usize..(to - offset) as usize]
                .copy_from_slice(&run[(from - start) as usize..(to - start) as usize]);
        }
    }
}

/// Writes not yet in the store file, which reads see.
#[derive(Debug, Default)]
struct Overlay {
    /// Written since the last sync began.
    fresh: Runs,
    /// Written before the sync in progress, until its record is durable.
    syncing: Runs,
    /// Durable in the log, not yet written to the store file: they go there
    /// together once `UNWRITTEN_BYTES` wait, or at a checkpoint, so a page
    /// many commits rewrite (redb's header, its table of tables, the leaves
    /// of a hot index) is written once, not once per commit.
    unwritten: Runs,
    /// The length redb sees.
    len: u64,
    /// The store file's length: never less than `len`, since growth is
    /// applied at once and a shrink waits for its record (a crash before it
    /// must not cut pages the durable state still uses).
    file_len: u64,
}

impl Overlay {
    /// Extends the length to `len`; bytes a pending shrink cut read as zeros.
    fn grow(&mut self, store: &File, len: u64) -> io::Result<()> {
        let stale_end = len.min(self.file_len);
        if self.len < stale_end {
            let zeros = vec![0; (stale_end - self.len) as usize];
            self.fresh.insert(self.len, &zeros);
        }
        if len > self.file_len {
            store.set_len(len)?;
            self.file_len = len;
        }
        self.len = len;
        Ok(())
    }
}

#[derive(Debug)]
struct Log {
    file: File,
    /// The same file opened for direct I/O: a record goes straight to the
    /// disk instead of through the page cache, which costs the kernel about
    /// half the CPU per record. None where the file system refuses it.
    direct: Option<File>,
    /// Of the store file this log belongs to.
    identity: [u8; IDENTITY_LEN],
    epoch: u64,
    /// Where the next record goes.
    end: u64,
    /// The store's length as of the last record.
    durable_len: u64,
    /// Reused for every record.
    buffer: Vec<u8>,
    /// A write to the log or the store file failed: the store file may lack
    /// records the log holds, so the log is kept for the next start-up to
    /// replay and nothing more is written.
    failed: bool,
}

/// The store file plus its log; see the module docs.
#[derive(Debug)]
pub struct Journaled {
    store: FileBackend,
    store_file: File,
    overlay: RwLock<Overlay>,
    /// Held by syncs (redb's committing thread) and nothing else: writes and
    /// reads only take the overlay's lock, briefly.
    log: Mutex<Log>,
    /// Log size that makes a checkpoint due.
    checkpoint_bytes: u64,
}

impl Journaled {
    /// Opens the log of the store at `store_path` (creating it), replays what
    /// a crash left in it into `store_file` and starts a new epoch.
    /// `WouldBlock` means another process has the store open.
    pub fn open(store_path: &Path, store_file: File) -> io::Result<Journaled> {
        let path = log_path(store_path);
        let file = open_read_write(&path)?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => {
                return Err(io::Error::new(
                    io::ErrorKind::WouldBlock,
                    "the journal is locked by another process",
                ));
            }
            Err(std::fs::TryLockError::Error(e)) => return Err(e),
        }
        // The names of both files must survive a power cut as well.
        if let Some(dir) = store_path.parent().filter(|d| !d.as_os_str().is_empty()) {
            File::open(dir)?.sync_all()?;
        }
        let identity = identity(&store_file)?;
        let (epoch, replayed) = match read_header(&file)? {
            Some((epoch, written_for)) => (
                epoch,
                replay(&file, epoch, &store_file, written_for == identity)?,
            ),
            None if first_record_intact(&file)? => {
                return Err(io::Error::new(io::ErrorKind::InvalidData, DamagedHeader));
            }
            None => (0, 0),
        };
        if replayed > 0 {
            // What was replayed must be durable before its records stop
            // counting. Without records, the store file holds nothing unsynced:
            // it only gets writes whose record came first.
            store_file.sync_data()?;
        }
        let file_len = store_file.metadata()?.len();
        let direct = open_direct(&path);
        let mut log = Log {
            file,
            direct,
            identity,
            epoch,
            end: RECORDS_START,
            durable_len: file_len,
            buffer: Vec::new(),
            failed: false,
        };
        start_epoch(&mut log)?;
        let overlay = Overlay {
            len: file_len,
            file_len,
            ..Overlay::default()
        };
        let store = FileBackend::new(store_file.try_clone()?).map_err(io::Error::other)?;
        Ok(Journaled {
            store,
            store_file,
            overlay: RwLock::new(overlay),
            log: Mutex::new(log),
            checkpoint_bytes: CHECKPOINT_BYTES,
        })
    }

    /// Makes a checkpoint due at `bytes` of log instead of `CHECKPOINT_BYTES`.
    pub fn with_checkpoint_bytes(mut self, bytes: u64) -> Journaled {
        self.checkpoint_bytes = bytes.max(RECORDS_START + LOG_BLOCK as u64);
        self
    }

    fn overlay(&self) -> RwLockReadGuard<'_, Overlay> {
        self.overlay.read().unwrap_or_else(|p| p.into_inner())
    }

    fn overlay_mut(&self) -> RwLockWriteGuard<'_, Overlay> {
        self.overlay.write().unwrap_or_else(|p| p.into_inner())
    }

    fn log(&self) -> MutexGuard<'_, Log> {
        self.log.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Makes every write so far durable: one record, one sync of the log,
    /// then the runs go to the store file. Returns whether a checkpoint is due.
    fn commit_overlay(&self, log: &mut Log) -> io::Result<bool> {
        let len = {
            let mut overlay = self.overlay_mut();
            if overlay.fresh.runs.is_empty() && overlay.len == log.durable_len {
                return Ok(false);
            }
            let fresh = std::mem::take(&mut overlay.fresh);
            overlay.syncing = fresh;
            overlay.len
        };
        let overlay = self.overlay();
        let syncing = &overlay.syncing.runs;
        let entries: usize = syncing.values().map(|run| 1 + 8 + 8 + run.len()).sum();
        let body_len = 1 + 8 + entries;
        let padded_len = (RECORD_HEAD_LEN + body_len).next_multiple_of(LOG_BLOCK);
        let mut buffer = std::mem::take(&mut log.buffer);
        buffer.clear();
        // Direct I/O needs the record block-aligned in memory too: it starts
        // at the buffer's first aligned byte, and the buffer never moves.
        buffer.reserve(padded_len + LOG_BLOCK);
        let start = (LOG_BLOCK - buffer.as_ptr() as usize % LOG_BLOCK) % LOG_BLOCK;
        buffer.resize(start + RECORD_HEAD_LEN, 0);
        buffer.push(SET_LEN);
        buffer.extend_from_slice(&len.to_le_bytes());
        for (offset, run) in syncing {
            buffer.push(WRITE);
            buffer.extend_from_slice(&offset.to_le_bytes());
            buffer.extend_from_slice(&(run.len() as u64).to_le_bytes());
            buffer.extend_from_slice(run);
        }
        drop(overlay);
        let checksum = record_checksum(log.epoch, &buffer[start + RECORD_HEAD_LEN..]);
        buffer.resize(start + padded_len, 0);
        let record = &mut buffer[start..];
        record[..8].copy_from_slice(RECORD_MAGIC);
        record[8..16].copy_from_slice(&log.epoch.to_le_bytes());
        record[16..24].copy_from_slice(&(body_len as u64).to_le_bytes());
        record[24..RECORD_HEAD_LEN].copy_from_slice(&checksum);
        // Writes (from redb's readers too) go on meanwhile, into `fresh`.
        let written = log
            .write_record(&buffer[start..])
            .and_then(|()| log.file.sync_data());
        if buffer.capacity() <= BUFFER_KEPT {
            log.buffer = buffer;
        }
        if let Err(e) = written {
            log.failed = true;
            super::note_write_failure(&e);
            return Err(e);
        }
        log.end += padded_len as u64;
        log.durable_len = len;
        let write_out = {
            let mut overlay = self.overlay_mut();
            let synced = std::mem::take(&mut overlay.syncing);
            for (offset, run) in synced.runs {
                overlay.unwritten.insert_owned(offset, run);
            }
            // A deferred shrink, now that its record is durable; not below
            // what redb has grown to since.
            let target = len.max(overlay.len);
            if overlay.file_len > target {
                overlay.unwritten.truncate(target);
                if let Err(e) = self.store_file.set_len(target) {
                    log.store_write_failed(&e);
                    return Ok(false);
                }
                overlay.file_len = target;
            }
            overlay.unwritten.bytes >= UNWRITTEN_BYTES
        };
        let checkpoint_due = log.end >= self.checkpoint_bytes;
        if write_out
            && !checkpoint_due
            && let Err(e) = self.write_unwritten()
        {
            log.store_write_failed(&e);
            return Ok(false);
        }
        Ok(checkpoint_due)
    }

    /// Writes the durable runs into the store file (without a sync). Called
    /// with the log's lock held: only that lock's holder changes `unwritten`.
    fn write_unwritten(&self) -> io::Result<()> {
        let overlay = self.overlay();
        // Runs that adjoin go out in one write: 8 MiB of pages after creates
        // lie in a few long stretches, which took 2 000 writes one by one.
        let mut stretch: Vec<&[u8]> = Vec::new();
        let (mut start, mut end) = (0, 0);
        let mut joined = Vec::new();
        for (&offset, run) in &overlay.unwritten.runs {
            if offset != end || end - start >= STRETCH_BYTES {
                self.write_stretch(start, &stretch, &mut joined)?;
                stretch.clear();
                start = offset;
            }
            stretch.push(run);
            end = offset + run.len() as u64;
        }
        self.write_stretch(start, &stretch, &mut joined)?;
        drop(overlay);
        self.overlay_mut().unwritten = Runs::default();
        Ok(())
    }

    /// Writes adjoining runs at `offset`: one alone as it is, more joined in
    /// `joined`.
    fn write_stretch(&self, offset: u64, runs: &[&[u8]], joined: &mut Vec<u8>) -> io::Result<()> {
        match runs {
            [] => Ok(()),
            [run] => self.store_file.write_all_at(run, offset),
            _ => {
                joined.clear();
                runs.iter().for_each(|run| joined.extend_from_slice(run));
                self.store_file.write_all_at(joined, offset)
            }
        }
    }

    /// Syncs the store file, after which the log's records are redundant.
    fn checkpoint(&self, log: &mut Log) -> io::Result<()> {
        if log.failed {
            return Err(failed_earlier());
        }
        let done = self
            .write_unwritten()
            .and_then(|()| self.store_file.sync_data())
            .and_then(|()| start_epoch(log));
        if let Err(e) = &done {
            // A failed sync may have dropped the store file's pages (the
            // kernel marks them clean), and a failed header write may leave
            // no epoch: either way only the log still holds them.
            log.failed = true;
            super::note_write_failure(e);
        }
        done
    }
}

/// How many bytes of durable pages may wait in memory for the store file.
const UNWRITTEN_BYTES: usize = 8 * 1024 * 1024;

/// Adjoining runs are joined into writes of about this size.
const STRETCH_BYTES: u64 = 1024 * 1024;

/// A record larger than this gets a buffer of its own, not kept afterwards.
const BUFFER_KEPT: usize = 8 * 1024 * 1024;

fn failed_earlier() -> io::Error {
    io::Error::other("an earlier write to the store failed; restart roster to replay its journal")
}

/// Inode and birth time of the store file: a journal left by a crash must not
/// be replayed into a different file put in its place. (Not the device
/// number, which may change across reboots on some volume managers.)
fn identity(store: &File) -> io::Result<[u8; IDENTITY_LEN]> {
    use std::os::unix::fs::MetadataExt;
    let meta = store.metadata()?;
    let born = meta
        .created()
        .ok()
        .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
        .map_or(0, |d| d.as_nanos());
    let mut id = [0u8; IDENTITY_LEN];
    id[..8].copy_from_slice(&meta.ino().to_le_bytes());
    id[8..].copy_from_slice(&born.to_le_bytes());
    Ok(id)
}

/// The epoch and store identity of a valid header.
fn read_header(file: &File) -> io::Result<Option<(u64, [u8; IDENTITY_LEN])>> {
    let mut head = [0u8; HEADER_LEN];
    match file.read_exact_at(&mut head, 0) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let epoch = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    let mut identity = [0u8; IDENTITY_LEN];
    identity.copy_from_slice(&head[16..16 + IDENTITY_LEN]);
    if head != header(epoch, &identity) {
        // Torn while an epoch started: the store file was synced before, so
        // nothing needs replaying.
        return Ok(None);
    }
    Ok(Some((epoch, identity)))
}

/// Whether the log holds an intact record (of any epoch) where records start.
fn first_record_intact(file: &File) -> io::Result<bool> {
    let len = file.metadata()?.len();
    let mut head = [0u8; RECORD_HEAD_LEN];
    if RECORDS_START + RECORD_HEAD_LEN as u64 > len {
        return Ok(false);
    }
    file.read_exact_at(&mut head, RECORDS_START)?;
    let epoch = u64::from_le_bytes(head[8..16].try_into().unwrap_or_default());
    Ok(intact_record_after(file, epoch, RECORDS_START - 1, len)? == Some(RECORDS_START))
}

/// A header that fails its check in front of intact records: damage, since a
/// header torn while an epoch started is followed by no record of its own,
/// and the records of the epoch before cannot be told apart from live ones.
#[derive(Debug, thiserror::Error)]
#[error(
    "the journal's header is damaged while the journal holds records; refusing to guess which writes it holds: restore from a backup, or, if the server had stopped cleanly, move the journal aside"
)]
pub struct DamagedHeader;

/// The header of `epoch` for the store file `identity`.
fn header(epoch: u64, identity: &[u8; IDENTITY_LEN]) -> [u8; HEADER_LEN] {
    let mut head = [0u8; HEADER_LEN];
    head[..8].copy_from_slice(MAGIC);
    head[8..16].copy_from_slice(&epoch.to_le_bytes());
    head[16..16 + IDENTITY_LEN].copy_from_slice(identity);
    let digest = Sha256::digest(&head[..HEADER_LEN - 32]);
    head[HEADER_LEN - 32..].copy_from_slice(&digest);
    head
}

impl Log {
    /// After the commit's record is durable: the commit stands, and what the
    /// store file lacks stays readable in the overlay for the next start-up
    /// to replay; no more writes are taken.
    fn store_write_failed(&mut self, e: &io::Error) {
        self.failed = true;
        super::note_write_failure(e);
        tracing::error!(error = %e, "cannot write the store file; writes stop until a restart replays the journal");
    }

    /// Writes a record (block-aligned in memory and in size) at the log's end.
    fn write_record(&mut self, record: &[u8]) -> io::Result<()> {
        if let Some(direct) = &self.direct {
            match direct.write_all_at(record, self.end) {
                // Refused for this file system after all: the whole record
                // goes through the page cache instead, now and from now on.
                Err(e) if e.raw_os_error() == Some(libc::EINVAL) => self.direct = None,
                done => return done,
            }
        }
        self.file.write_all_at(record, self.end)
    }
}

/// The log opened for direct I/O, where the file system allows it.
#[cfg(target_os = "linux")]
fn open_direct(path: &Path) -> Option<File> {
    use std::os::unix::fs::OpenOptionsExt;
    OpenOptions::new()
        .write(true)
        .custom_flags(libc::O_DIRECT)
        .open(path)
        .ok()
}

#[cfg(not(target_os = "linux"))]
fn open_direct(_path: &Path) -> Option<File> {
    None
}

/// Writes and syncs the header of a new epoch: older records stop counting.
/// Epochs are random, so records of an old epoch beyond the new tail never
/// match, even if a torn header lost the previous epoch's number.
fn start_epoch(log: &mut Log) -> io::Result<()> {
    let epoch = loop {
        let candidate = rand::random::<u64>();
        if candidate != log.epoch {
            break candidate;
        }
    };
    log.file.write_all_at(&header(epoch, &log.identity), 0)?;
    log.file.sync_data()?;
    log.epoch = epoch;
    log.end = RECORDS_START;
    Ok(())
}

/// A record's checksum field: CRC-32 of (epoch, length, body), then zeros.
fn record_checksum(epoch: u64, body: &[u8]) -> [u8; 32] {
    let mut crc = crc32fast::Hasher::new();
    crc.update(&epoch.to_le_bytes());
    crc.update(&(body.len() as u64).to_le_bytes());
    crc.update(body);
    let mut field = [0u8; 32];
    field[..4].copy_from_slice(&crc.finalize().to_le_bytes());
    field
}

/// Applies the complete records of `epoch` to the store file, in order.
/// Records written for another store file are refused, not applied. Returns
/// how many records were applied.
fn replay(log: &File, epoch: u64, store: &File, same_store: bool) -> io::Result<usize> {
    let log_len = log.metadata()?.len();
    let mut at = RECORDS_START;
    let mut head = [0u8; RECORD_HEAD_LEN];
    let mut body = Vec::new();
    let mut applied = 0;
    let mut complete = true;
    while at + RECORD_HEAD_LEN as u64 <= log_len {
        log.read_exact_at(&mut head, at)?;
        let number = |range: std::ops::Range<usize>| {
            u64::from_le_bytes(head[range].try_into().unwrap_or_default())
        };
        let (record_epoch, len) = (number(8..16), number(16..24));
        let body_at = at + RECORD_HEAD_LEN as u64;
        if EARLIER_RECORD_MAGICS.iter().any(|m| head[..8] == m[..]) {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                EarlierJournalFormat { at },
            ));
        }
        if head[..8] != RECORD_MAGIC[..] {
            complete = false;
            break;
        }
        if record_epoch != epoch || len > log_len - body_at {
            complete = false;
            break;
        }
        body.resize(len as usize, 0);
        log.read_exact_at(&mut body, body_at)?;
        if record_checksum(epoch, &body)[..] != head[24..] {
            complete = false;
            break;
        }
        if !same_store {
            return Err(io::Error::new(io::ErrorKind::InvalidData, ForeignJournal));
        }
        apply(&body, store)?;
        applied += 1;
        at = (body_at + len).next_multiple_of(LOG_BLOCK as u64);
    }
    // A crash can only tear the last record; an intact one of this epoch
    // after a bad one means the file was damaged, and stopping here would
    // silently drop acknowledged writes.
    if !complete && let Some(found) = intact_record_after(log, epoch, at, log_len)? {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            DamagedJournal { bad: at, found },
        ));
    }
    Ok(applied)
}

/// The offset of an intact current-format record of `epoch` after `from`.
fn intact_record_after(log: &File, epoch: u64, from: u64, log_len: u64) -> io::Result<Option<u64>> {
    let mut head = [0u8; RECORD_HEAD_LEN];
    let mut body = Vec::new();
    let mut at = (from + 1).next_multiple_of(LOG_BLOCK as u64);
    while at + RECORD_HEAD_LEN as u64 <= log_len {
        log.read_exact_at(&mut head, at)?;
        let number = |range: std::ops::Range<usize>| {
            u64::from_le_bytes(head[range].try_into().unwrap_or_default())
        };
        let body_at = at + RECORD_HEAD_LEN as u64;
        let len = number(16..24);
        if &head[..8] == RECORD_MAGIC && number(8..16) == epoch && len <= log_len - body_at {
            body.resize(len as usize, 0);
            log.read_exact_at(&mut body, body_at)?;
            if record_checksum(epoch, &body)[..] == head[24..] {
                return Ok(Some(at));
            }
        }
        at += LOG_BLOCK as u64;
    }
    Ok(None)
}

/// A journal record in a format of a development build before this one.
#[derive(Debug, thiserror::Error)]
#[error(
    "the journal holds a record at byte {at} in an earlier development format that this version does not replay; open the store with the build that wrote it to checkpoint the journal, or restore from a backup"
)]
pub struct EarlierJournalFormat {
    at: u64,
}

/// A journal record fails its check while a later one is intact.
#[derive(Debug, thiserror::Error)]
#[error(
    "the journal is damaged: the record at byte {bad} fails its checksum but the one at byte {found} is intact, so replaying would drop acknowledged writes; restore from a backup"
)]
pub struct DamagedJournal {
    bad: u64,
    found: u64,
}

/// Applies one record's body to the store file.
fn apply(mut body: &[u8], store: &File) -> io::Result<()> {
    fn number(bytes: &[u8]) -> io::Result<(u64, &[u8])> {
        let (n, rest) = bytes.split_at_checked(8).ok_or_else(malformed)?;
        Ok((
            u64::from_le_bytes(n.try_into().map_err(|_| malformed())?),
            rest,
        ))
    }
    while let Some((&kind, rest)) = body.split_first() {
        let (first, rest) = number(rest)?;
        body = match kind {
            SET_LEN => {
                store.set_len(first)?;
                rest
            }
            WRITE => {
                let (len, rest) = number(rest)?;
                let len = usize::try_from(len).map_err(|_| malformed())?;
                let (data, rest) = rest.split_at_checked(len).ok_or_else(malformed)?;
                store.write_all_at(data, first)?;
                rest
            }
            _ => return Err(malformed()),
        };
    }
    Ok(())
}

/// The journal holds synced writes of a different store file (the store file
/// was replaced after a crash).
#[derive(Debug, thiserror::Error)]
#[error("its journal holds writes of a different store file")]
pub struct ForeignJournal;

/// A record whose checksum matched but whose body does not parse: written by
/// something else, so stop rather than guess.
fn malformed() -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, "malformed journal record")
}

impl StorageBackend for Journaled {
    fn len(&self) -> Result<u64, io::Error> {
        Ok(self.overlay().len)
    }

    fn read(&self, offset: u64, out: &mut [u8]) -> Result<(), io::Error> {
        let overlay = self.overlay();
        let end = offset.checked_add(out.len() as u64);
        if end.is_none_or(|end| end > overlay.len) {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past the end of the store",
            ));
        }
        // The store file is never shorter than `len`.
        self.store.read(offset, out)?;
        overlay.unwritten.read_over(offset, out);
        overlay.syncing.read_over(offset, out);
        overlay.fresh.read_over(offset, out);
        Ok(())
    }

    fn set_len(&self, len: u64) -> Result<(), io::Error> {
        let mut overlay = self.overlay_mut();
        if len >= overlay.len {
            overlay.grow(&self.store_file, len)?;
        } else {
            overlay.fresh.truncate(len);
            overlay.len = len;
        }
        Ok(())
    }

    fn sync_data(&self) -> Result<(), io::Error> {
        let mut log = self.log();
        if log.failed {
            return Err(failed_earlier());
        }
        if self.commit_overlay(&mut log)?
            && let Err(e) = self.checkpoint(&mut log)
        {
            // This commit is durable in the log; the next ones are refused.
            tracing::error!(error = %e, "cannot checkpoint the store file; writes stop until a restart replays the journal");
        }
        Ok(())
    }

    fn write(&self, offset: u64, data: &[u8]) -> Result<(), io::Error> {
        if data.is_empty() {
            return Ok(());
        }
        let end = offset.checked_add(data.len() as u64).ok_or_else(|| {
            io::Error::new(io::ErrorKind::InvalidInput, "write past the largest offset")
        })?;
        let mut overlay = self.overlay_mut();
        if end > overlay.len {
            // As with a file, writing past the end extends it.
            overlay.grow(&self.store_file, end)?;
        }
        overlay.fresh.insert(offset, data);
        Ok(())
    }

    fn close(&self) -> Result<(), io::Error> {
        // A clean close leaves nothing to replay. Writes redb never synced
        // are dropped, as a crash would drop them. After a failure the log
        // stays for the next start-up.
        let checkpointed = {
            let mut log = self.log();
            self.checkpoint(&mut log)
        };
        self.store.close()?;
        checkpointed
    }

    fn try_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.store.try_lock_range(start, end)
    }

    fn try_lock_shared_range(
        &self,
        start: Bound<u64>,
        end: Bound<u64>,
    ) -> Result<bool, BackendError> {
        self.store.try_lock_shared_range(start, end)
    }

    fn lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.store.lock_range(start, end)
    }

    fn lock_shared_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.store.lock_shared_range(start, end)
    }

    fn unlock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<(), BackendError> {
        self.store.unlock_range(start, end)
    }

    fn query_lock_range(&self, start: Bound<u64>, end: Bound<u64>) -> Result<bool, BackendError> {
        self.store.query_lock_range(start, end)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use redb::{Database, ReadableDatabase, ReadableTable, TableDefinition};

    /// A temp dir and the store path in it.
    fn temp_store() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.redb");
        (dir, path)
    }

    fn journaled(path: &Path) -> io::Result<Journaled> {
        Journaled::open(path, open_read_write(path).unwrap())
    }

    fn read_at(backend: &Journaled, offset: u64, len: usize) -> Vec<u8> {
        let mut out = vec![0; len];
        backend.read(offset, &mut out).unwrap();
        out
    }

    /// Random overlapping writes and cuts, checked against a flat buffer.
    #[test]
    fn runs_read_what_a_file_would() {
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        let mut overlay = Runs::default();
        let mut model = vec![0u8; 4096];
        for step in 0..2000u32 {
            let held: usize = overlay.runs.values().map(Vec::len).sum();
            assert_eq!(overlay.bytes, held, "byte count before step {step}");
            if step % 97 == 96 {
                let len = rng.random_range(0..4096u64);
                overlay.truncate(len);
                // What was cut reads as nothing (zeros) afterwards.
                model[len as usize..].fill(0);
                continue;
            }
            let offset = rng.random_range(0..4000u64);
            let len = rng.random_range(1..=(4096 - offset).min(300)) as usize;
            let byte = (step % 251) as u8 + 1;
            overlay.insert(offset, &vec![byte; len]);
            model[offset as usize..offset as usize + len].fill(byte);
            let mut out = vec![0u8; 4096];
            overlay.read_over(0, &mut out);
            assert_eq!(out, model, "after step {step}");
            let (from, to) = (rng.random_range(0..4096), rng.random_range(0..4096));
            let (from, to) = (from.min(to), from.max(to));
            let mut part = vec![0u8; to - from];
            overlay.read_over(from as u64, &mut part);
            assert_eq!(
                part,
                model[from..to],
                "range {from}..{to} after step {step}"
            );
        }
        let runs: Vec<(u64, u64)> = overlay
            .runs
            .iter()
            .map(|(start, run)| (*start, *start + run.len() as u64))
            .collect();
        assert!(runs.windows(2).all(|w| w[0].1 <= w[1].0), "runs overlap");
    }

    #[test]
    fn a_record_replays_only_if_its_checksum_holds_and_earlier_formats_are_refused() {
        let (_dir, path) = temp_store();
        let log = log_path(&path);
        {
            let backend = journaled(&path).unwrap();
            backend.set_len(2 * 4096).unwrap();
            backend.write(0, &[b'a'; 4096]).unwrap();
            backend.sync_data().unwrap();
            backend.write(4096, &[b'b'; 4096]).unwrap();
            backend.sync_data().unwrap();
            // Dropped without close: a crash.
        }
        let crashed = std::fs::read(&log).unwrap();
        let number = |at: usize| u64::from_le_bytes(crashed[at..at + 8].try_into().unwrap());
        let first = RECORDS_START as usize;
        let second =
            (first + RECORD_HEAD_LEN + number(first + 16) as usize).next_multiple_of(LOG_BLOCK);
        let replayed = |log_bytes: &[u8]| {
            std::fs::write(&log, log_bytes).unwrap();
            std::fs::write(&path, []).unwrap();
            let backend = journaled(&path).unwrap();
            (read_at(&backend, 0, 4), read_at(&backend, 4096, 4))
        };

        // One bit of the second record's page flipped, its length intact.
        let mut damaged = crashed.clone();
        damaged[second + RECORD_HEAD_LEN + 100] ^= 1;
        assert_eq!(replayed(&damaged), (b"aaaa".to_vec(), vec![0; 4]));

        // A record as an earlier development build wrote it is refused by
        // name, not dropped as torn.
        for magic in EARLIER_RECORD_MAGICS {
            let mut earlier = crashed.clone();
            earlier[first..first + 8].copy_from_slice(magic);
            std::fs::write(&log, &earlier).unwrap();
            std::fs::write(&path, []).unwrap();
            let Err(refused) = journaled(&path) else {
                panic!("an earlier format is refused")
            };
            assert!(
                refused.to_string().contains("earlier development format"),
                "{refused}"
            );
        }
    }

    /// The store file lost every write since the last checkpoint (a power cut
    /// before the kernel wrote them back) and the last record is torn: the
    /// synced records come back, the torn one and unsynced writes do not, and
    /// a later open does not replay the same records again.
    #[test]
    fn synced_writes_are_replayed_and_torn_or_unsynced_ones_are_not() {
        let (_dir, path) = temp_store();
        let log = log_path(&path);
        {
            let backend = journaled(&path).unwrap();
            backend.set_len(3 * 4096).unwrap();
            backend.write(0, &[b'a'; 4096]).unwrap();
            backend.sync_data().unwrap();
            backend.write(4096, &[b'b'; 4096]).unwrap();
            backend.write(100, b"A2").unwrap();
            backend.sync_data().unwrap();
            assert_eq!(read_at(&backend, 98, 6), b"aaA2aa");
            backend.write(8192, &[b'c'; 4096]).unwrap();
            backend.sync_data().unwrap();
            backend.write(0, b"unsynced").unwrap();
            assert_eq!(
                read_at(&backend, 0, 8),
                b"unsynced",
                "reads see the overlay"
            );
            // Dropped without close: a crash.
        }
        assert_eq!(
            std::fs::read(&path).unwrap()[..8],
            [0; 8],
            "durable writes wait in memory (the log has them), unsynced ones stay out"
        );
        std::fs::write(&path, []).unwrap();
        // Its padding is under a block: cutting one tears the last record.
        let log_len = std::fs::metadata(&log).unwrap().len();
        OpenOptions::new()
            .write(true)
            .open(&log)
            .unwrap()
            .set_len(log_len - LOG_BLOCK as u64)
            .unwrap();

        let backend = journaled(&path).unwrap();
        assert_eq!(backend.len().unwrap(), 3 * 4096);
        assert_eq!(read_at(&backend, 0, 4), b"aaaa");
        assert_eq!(read_at(&backend, 98, 6), b"aaA2aa");
        assert_eq!(read_at(&backend, 4096, 4096), vec![b'b'; 4096]);
        assert_eq!(
            read_at(&backend, 8192, 4),
            [0; 4],
            "the torn record is not applied"
        );
        let on_disk = std::fs::read(&path).unwrap();
        assert_eq!(
            on_disk[4096..8192],
            [b'b'; 4096],
            "replayed into the store file"
        );
        drop(backend);

        // The replayed records belong to an old epoch now.
        std::fs::write(&path, vec![b'z'; 3 * 4096]).unwrap();
        let backend = journaled(&path).unwrap();
        assert_eq!(read_at(&backend, 0, 4), b"zzzz");
    }

    #[test]
    fn a_journal_left_for_another_store_file_is_refused() {
        let (_dir, path) = temp_store();
        {
            let backend = journaled(&path).unwrap();
            backend.set_len(4096).unwrap();
            backend.write(0, &[b'a'; 4096]).unwrap();
            backend.sync_data().unwrap();
        }
        // Replaced after the crash, before the journal was replayed.
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(&path, [b'n'; 4096]).unwrap();
        let refused = journaled(&path).unwrap_err();
        assert!(
            refused.get_ref().is_some_and(|e| e.is::<ForeignJournal>()),
            "{refused}"
        );
        assert_eq!(
            std::fs::read(&path).unwrap(),
            [b'n'; 4096],
            "nothing applied"
        );

        // A journal a clean close emptied is no obstacle.
        std::fs::remove_file(log_path(&path)).unwrap();
        journaled(&path).unwrap().close().unwrap();
        std::fs::remove_file(&path).unwrap();
        std::thread::sleep(std::time::Duration::from_millis(5));
        std::fs::write(&path, [b'm'; 4096]).unwrap();
        let backend = journaled(&path).unwrap();
        assert_eq!(read_at(&backend, 0, 4), b"mmmm");
    }

    /// A shrink reaches the store file only with its record, and bytes it cut
    /// read as zeros when the store grows again, before and after a restart.
    #[test]
    fn a_shrink_waits_for_its_record_and_regrowth_reads_zeros() {
        let (_dir, path) = temp_store();
        let backend = journaled(&path).unwrap();
        backend.set_len(3 * 4096).unwrap();
        backend.write(0, &[b'a'; 3 * 4096]).unwrap();
        backend.sync_data().unwrap();
        backend.set_len(4096).unwrap();
        assert_eq!(backend.len().unwrap(), 4096);
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 3 * 4096, "not yet");
        let mut past_end = [0u8; 8];
        assert!(backend.read(4096, &mut past_end).is_err());
        backend.set_len(2 * 4096).unwrap();
        assert_eq!(read_at(&backend, 4090, 12), b"aaaaaa\0\0\0\0\0\0");
        backend.sync_data().unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 2 * 4096);
        assert_eq!(read_at(&backend, 4096, 4096), vec![0; 4096]);
        // The cut page's durable bytes waited in memory: gone with the cut.
        backend.set_len(3 * 4096).unwrap();
        assert_eq!(read_at(&backend, 2 * 4096, 4096), vec![0; 4096]);
        backend.sync_data().unwrap();
        backend.close().unwrap();
        drop(backend);
        let backend = journaled(&path).unwrap();
        assert_eq!(backend.len().unwrap(), 3 * 4096);
        assert_eq!(read_at(&backend, 4090, 12), b"aaaaaa\0\0\0\0\0\0");
        assert_eq!(read_at(&backend, 2 * 4096, 4096), vec![0; 4096]);
    }

    /// Adjoining runs are written out joined, in stretches of at most about
    /// `STRETCH_BYTES`: every byte lands where it was written, gaps stay zero.
    #[test]
    fn joined_runs_land_where_they_were_written() {
        let (_dir, path) = temp_store();
        let backend = journaled(&path).unwrap();
        let pages = 3 * STRETCH_BYTES as usize / 4096 + 7;
        backend.set_len((pages * 4096) as u64).unwrap();
        let mut expected = vec![0u8; pages * 4096];
        // (first page, pages): a long stretch with some runs of several
        // pages, lone pages, another long stretch.
        let mut runs: Vec<(usize, usize)> = Vec::new();
        let mut n = 0;
        while n < 300 {
            let len = if n % 10 == 4 { 3 } else { 1 };
            runs.push((n, len));
            n += len;
        }
        runs.extend([(310, 1), (312, 1), (320, 2)]);
        runs.extend((330..pages).map(|n| (n, 1)));
        for (first, len) in runs {
            let run: Vec<u8> = (0..len * 4096)
                .map(|i| (first * 31 + i / 4096 * 7 + i % 251) as u8)
                .collect();
            let at = first * 4096;
            expected[at..at + run.len()].copy_from_slice(&run);
            backend.write(at as u64, &run).unwrap();
        }
        backend.sync_data().unwrap();
        backend.close().unwrap();
        assert!(
            std::fs::read(&path).unwrap() == expected,
            "the store file holds each run at its offset"
        );
    }

    #[test]
    fn durable_pages_reach_the_store_file_together() {
        let (_dir, path) = temp_store();
        let backend = journaled(&path).unwrap();
        let page = |n: usize| (n * 4096) as u64;
        let pages = UNWRITTEN_BYTES / 4096;
        backend.set_len(page(pages + 1)).unwrap();
        let on_disk = |n: usize| std::fs::read(&path).unwrap()[n * 4096];
        // A page every commit rewrites counts once.
        for round in 0..3u8 {
            backend.write(0, &[round; 4096]).unwrap();
            backend.sync_data().unwrap();
        }
        for n in 1..pages - 1 {
            backend.write(page(n), &[b'p'; 4096]).unwrap();
            backend.sync_data().unwrap();
        }
        assert_eq!(read_at(&backend, 0, 1), [2]);
        assert_eq!((on_disk(0), on_disk(pages - 2)), (0, 0), "still waiting");
        backend.write(page(pages - 1), &[b'p'; 4096]).unwrap();
        backend.sync_data().unwrap();
        assert_eq!((on_disk(0), on_disk(pages - 1)), (2, b'p'), "all at once");
        backend.write(page(pages), &[b'q'; 4096]).unwrap();
        backend.sync_data().unwrap();
        assert_eq!(on_disk(pages), 0);
        backend.close().unwrap();
        assert_eq!(on_disk(pages), b'q', "a clean close writes what waits");
        drop(backend);
        std::fs::write(log_path(&path), []).unwrap();
        let backend = journaled(&path).unwrap();
        assert_eq!(read_at(&backend, page(pages), 1), b"q");
    }

    #[test]
    fn a_second_open_is_refused_while_the_first_holds_the_journal() {
        let (_dir, path) = temp_store();
        let _first = journaled(&path).unwrap();
        let second = journaled(&path).unwrap_err();
        assert_eq!(second.kind(), io::ErrorKind::WouldBlock);
    }

    const ROWS: TableDefinition<u64, &str> = TableDefinition::new("rows");

    fn insert(db: &Database, key: u64) {
        let tx = db.begin_write().unwrap();
        tx.open_table(ROWS).unwrap().insert(key, "row").unwrap();
        tx.commit().unwrap();
    }

    fn keys(db: &Database) -> Vec<u64> {
        let tx = db.begin_read().unwrap();
        let table = tx.open_table(ROWS).unwrap();
        table
            .iter()
            .unwrap()
            .map(|row| row.unwrap().0.value())
            .collect()
    }

    /// redb on the journal, after a power cut that lost everything the store
    /// file got since the last checkpoint: every committed transaction is
    /// back; with the last record torn, exactly the last one is missing and
    /// the database is consistent and writable.
    #[test]
    fn redb_commits_survive_losing_the_store_files_unsynced_pages() {
        redb_commits_survive(journaled);
        // As on a file system that refuses direct I/O.
        redb_commits_survive(|path| {
            let backend = journaled(path)?;
            backend.log().direct = None;
            Ok(backend)
        });
    }

    fn redb_commits_survive(open: fn(&Path) -> io::Result<Journaled>) {
        let (dir, path) = temp_store();
        let db = Database::builder()
            .create_with_backend(open(&path).unwrap())
            .unwrap();
        insert(&db, 0);
        drop(db);
        // A clean close checkpointed: this copy is what the disk holds.
        let checkpointed = std::fs::read(&path).unwrap();
        let db = Database::builder()
            .create_with_backend(open(&path).unwrap())
            .unwrap();
        for key in 1..=20 {
            insert(&db, key);
        }
        let log = std::fs::read(log_path(&path)).unwrap();
        let log_file = File::open(log_path(&path)).unwrap();
        let (epoch, _) = read_header(&log_file).unwrap().unwrap();

        // A record is padded by less than a block: cutting one tears its body.
        for (name, log_len, expected) in [
            ("whole", log.len(), (0..=20).collect::<Vec<u64>>()),
            ("torn", log.len() - LOG_BLOCK, (0..=19).collect()),
        ] {
            let crashed = dir.path().join(format!("{name}.redb"));
            std::fs::write(&crashed, &checkpointed).unwrap();
            // The copy is a new file: give the journal its identity.
            let identity = identity(&File::open(&crashed).unwrap()).unwrap();
            let mut crashed_log = log[..log_len].to_vec();
            crashed_log[..HEADER_LEN].copy_from_slice(&header(epoch, &identity));
            std::fs::write(log_path(&crashed), crashed_log).unwrap();

            let reopened = Database::builder()
                .create_with_backend(open(&crashed).unwrap())
                .unwrap();
            assert_eq!(keys(&reopened), expected, "{name}");
            insert(&reopened, 99);
            drop(reopened);
            let again = Database::builder()
                .create_with_backend(open(&crashed).unwrap())
                .unwrap();
            assert_eq!(keys(&again).last(), Some(&99), "{name}");
        }
        drop(db);
    }
}
