//! Roster: a self-hosted SCIM 2.0 provisioning appliance with an embedded store.
#![forbid(unsafe_code)]
#![cfg_attr(
    not(test),
    deny(clippy::unwrap_used, clippy::expect_used, clippy::panic)
)]

pub mod cli;
pub mod config;
pub mod console;
pub mod control;
pub mod crypto;
pub mod directory;
pub mod error;
pub mod http;
pub mod outbound;
pub mod plumbing;
pub mod scim;
pub mod store;

/// Seconds since the Unix epoch, the one clock every record uses.
pub fn now_unix() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

/// Formats a Unix timestamp as RFC 3339 (UTC), as SCIM and the CLI show it.
pub fn format_time(unix: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| unix.to_string())
}
