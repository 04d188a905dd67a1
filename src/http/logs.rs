//! Where the server's log lines go: stderr, in batches. Writing each request's
//! line on its own cost a write(2) per request (~4 % of a GET, and a wake-up
//! of journald under systemd); lines below WARN are now gathered and written
//! together at most `FLUSH_EVERY` later. Warnings and errors are written at
//! once, after what is pending, so the order of lines holds.

use std::cell::RefCell;
use std::io::Write;
use std::sync::{Condvar, Mutex, Once, OnceLock};
use std::time::{Duration, SystemTime};

use tracing::{Level, Metadata};
use tracing_subscriber::fmt::MakeWriter;

use crate::config::LogFormat;

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

/// One request's log line.
pub struct RequestLine<'a> {
    /// 48 random bits that tell requests apart.
    pub request_id: u64,
    pub method: &'a str,
    /// Without the query string.
    pub path: &'a str,
    pub status: u16,
    pub latency: Duration,
    /// The tenant slug, or `-`.
    pub tenant: &'a str,
}

/// Set when request lines are written by `write_request_line`.
static REQUEST_LINES: OnceLock<LogFormat> = OnceLock::new();

/// Request lines are written by `write_request_line` from now on, in `format`
/// (not for coloured terminal output, which stays with the subscriber).
pub fn write_request_lines(format: LogFormat) {
    let _ = REQUEST_LINES.set(format);
}

/// Writes a request's line exactly as the subscriber's formatter would (same
/// text or JSON line), without going through it: its field visitor and
/// timestamp formatting cost about 14 % of GET throughput. False when the
/// subscriber writes request lines itself.
pub fn write_request_line(line: &RequestLine<'_>) -> bool {
    let Some(format) = REQUEST_LINES.get() else {
        return false;
    };
    thread_local! {
        /// The line being built, and the second its timestamp prefix is of.
        static BUFFER: RefCell<(Vec<u8>, u64, String)> = const { RefCell::new((Vec::new(), u64::MAX, String::new())) };
    }
    BUFFER.with_borrow_mut(|(buf, second, prefix)| {
        buf.clear();
        let since_epoch = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap_or_default();
        if since_epoch.as_secs() != *second {
            *second = since_epoch.as_secs();
            *prefix = second_prefix(*second);
        }
        let written = format_request_line(buf, *format, line, prefix, since_epoch.subsec_micros());
        // A line that cannot be written is dropped, as the subscriber drops it.
        if written.is_ok() {
            let _ = LogLine { urgent: false }.write_all(buf);
        }
    });
    true
}

/// A request's line in `format`, its time given as the second's
/// `second_prefix` and the microseconds into it.
fn format_request_line(
    buf: &mut Vec<u8>,
    format: LogFormat,
    line: &RequestLine<'_>,
    prefix: &str,
    micros: u32,
) -> std::io::Result<()> {
    let hundredths = (line.latency.as_micros() + 5) / 10;
    match format {
        LogFormat::Text => writeln!(
            buf,
            "{prefix}.{micros:06}Z  INFO request request_id={:012x} method={} path={} status={} latency_ms={}.{:02} tenant={}",
            line.request_id,
            line.method,
            line.path,
            line.status,
            hundredths / 100,
            hundredths % 100,
            line.tenant,
        ),
        LogFormat::Json => {
            write!(
                buf,
                r#"{{"timestamp":"{prefix}.{micros:06}Z","level":"INFO","fields":{{"message":"request","request_id":"{:012x}","method":"#,
                line.request_id,
            )?;
            json_string(buf, line.method)?;
            buf.write_all(br#","path":"#)?;
            json_string(buf, line.path)?;
            write!(
                buf,
                r#","status":{},"latency_ms":"{}.{:02}","tenant":"#,
                line.status,
                hundredths / 100,
                hundredths % 100
            )?;
            json_string(buf, line.tenant)?;
            buf.write_all(b"}}\n")
        }
    }
}

fn json_string(buf: &mut Vec<u8>, s: &str) -> std::io::Result<()> {
    serde_json::to_writer(buf, s).map_err(std::io::Error::other)
}

/// `YYYY-MM-DDTHH:MM:SS` of a Unix second, UTC.
fn second_prefix(second: u64) -> String {
    let at = i64::try_from(second)
        .ok()
        .and_then(|s| time::OffsetDateTime::from_unix_timestamp(s).ok())
        .unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
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

    #[test]
    fn request_lines_read_as_the_subscribers_do() {
        // 2024-02-29T23:59:59Z: a leap day, the last second of it.
        let prefix = second_prefix(1_709_251_199);
        assert_eq!(prefix, "2024-02-29T23:59:59");
        let line = RequestLine {
            request_id: 0xab_cdef,
            method: "GET",
            path: "/scim/v2/acme/Users/\"x\"",
            status: 200,
            latency: Duration::from_micros(1_234),
            tenant: "acme",
        };
        let mut text = Vec::new();
        format_request_line(&mut text, LogFormat::Text, &line, &prefix, 42).unwrap();
        assert_eq!(
            String::from_utf8(text).unwrap(),
            "2024-02-29T23:59:59.000042Z  INFO request request_id=000000abcdef method=GET \
             path=/scim/v2/acme/Users/\"x\" status=200 latency_ms=1.23 tenant=acme\n"
        );
        let mut json = Vec::new();
        format_request_line(&mut json, LogFormat::Json, &line, &prefix, 42).unwrap();
        assert_eq!(json.last(), Some(&b'\n'));
        let parsed: serde_json::Value = serde_json::from_slice(&json).unwrap();
        assert_eq!(
            parsed,
            serde_json::json!({
                "timestamp": "2024-02-29T23:59:59.000042Z",
                "level": "INFO",
                "fields": {
                    "message": "request",
                    "request_id": "000000abcdef",
                    "method": "GET",
                    "path": "/scim/v2/acme/Users/\"x\"",
                    "status": 200,
                    "latency_ms": "1.23",
                    "tenant": "acme",
                }
            })
        );
    }
}
