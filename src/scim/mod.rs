//! The SCIM 2.0 protocol, pure: no IO, no actix, no redb.

pub mod bulk;
pub mod discovery;
pub mod error;
pub mod filter;
pub mod limits;
pub mod patch;
pub mod query;
pub mod resource;
pub mod schema;

/// Media type of SCIM requests and responses (RFC 7644 §3.1).
pub const SCIM_MEDIA_TYPE: &str = "application/scim+json";
