//! Where the server's log lines go: stderr, in batches. Writing each request's
//! line on its own cost a write(2) per request (~4 % of a GET, and a wake-up
//! of journald under systemd); lines below WARN are now gathered and written
//! together at most `FLUSH_EVERY` later. Warnings and errors are written at
//! once, after what is pending, so the order of lines holds.

use std::io::Write;
use std::sync::{Condvar, Mutex, Once};
use std::time::Duration;

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

/// How long a gathered line may wait.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

/// Beyond this many pending bytes, a line is written at once.
const MAX_PENDING: usize = 64 * 1024;

static PENDING: Mutex<Vec<u8>> = Mutex::new(Vec::new());

/// Wakes the log thread when a line arrives at an empty buffer (an idle
/// server's log thread sleeps until then).
static ARRIVED: Condvar = Condvar::new();

fn pending() -> std::sync::MutexGuard<'static, Vec<u8>> {
    // A panic while holding the lock leaves whole lines: still fine to write.
    PENDING.lock().unwrap_or_else(|p| p.into_inner())
}

fn write_out(pending: &mut Vec<u8>) -> std::io::Result<()> {
    if pending.is_empty() {
        return Ok(());
    }
    let result = std::io::stderr().write_all(pending);
    pending.clear();
    result
}

/// Writes the lines still pending (before the process ends).
pub fn flush() {
    let _ = write_out(&mut pending());
}

/// The log destination for `tracing_subscriber`: batched stderr.
pub struct BatchedStderr;

impl BatchedStderr {
    /// Starts the thread that writes gathered lines, and makes a panic write
    /// them before its own message (once per process).
    pub fn start() -> BatchedStderr {
        static STARTED: Once = Once::new();
        STARTED.call_once(|| {
            let spawned = std::thread::Builder::new()
                .name("roster-log".into())
                .spawn(|| {
                    loop {
                        let mut lines = pending();
                        while lines.is_empty() {
                            lines = ARRIVED.wait(lines).unwrap_or_else(|p| p.into_inner());
                        }
                        drop(lines);
                        // Let the lines of the next few milliseconds join.
                        std::thread::sleep(FLUSH_EVERY);
                        flush();
                    }
                });
            if let Err(e) = spawned {
                eprintln!("roster: log lines are written at once: no log thread ({e})");
            }
            let report = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                flush();
                report(info)
            }));
        });
        BatchedStderr
    }
}

/// One event's line; `urgent` lines (WARN, ERROR) are written at once.
pub struct LogLine {
    urgent: bool,
}

impl Write for LogLine {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let mut pending = pending();
        let first = pending.is_empty();
        pending.extend_from_slice(buf);
        if self.urgent || pending.len() >= MAX_PENDING {
            write_out(&mut pending)?;
        } else if first {
            ARRIVED.notify_one();
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether lines of `level` are written at once.
fn is_urgent(level: &Level) -> bool {
    // Lower levels are more severe: ERROR < WARN < INFO.
    *level <= Level::WARN
}

impl<'a> MakeWriter<'a> for BatchedStderr {
    type Writer = LogLine;

    fn make_writer(&'a self) -> LogLine {
        LogLine { urgent: true }
    }

    fn make_writer_for(&'a self, meta: &Metadata<'_>) -> LogLine {
        LogLine {
            urgent: is_urgent(meta.level()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_lines_wait_and_a_warning_writes_them_first() {
        assert!(is_urgent(&Level::ERROR) && is_urgent(&Level::WARN));
        assert!(!is_urgent(&Level::INFO) && !is_urgent(&Level::DEBUG));
        // No log thread runs in unit tests (`start` is not called).
        let line = b"(logs unit test: a batched line)\n";
        LogLine { urgent: false }.write_all(line).unwrap();
        assert!(pending().windows(line.len()).any(|w| w == line));
        LogLine { urgent: true }
            .write_all(b"(logs unit test: an urgent line)\n")
            .unwrap();
        assert!(pending().is_empty());
    }
}
