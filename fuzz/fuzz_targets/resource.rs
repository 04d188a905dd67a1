//! Validation and normalisation of User and Group bodies, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster::scim::resource::{Leniency, normalize};
use roster::scim::schema::{Registry, ResourceKind};
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    let registry = Registry::new(&[]);
    for kind in [ResourceKind::User, ResourceKind::Group] {
        for unknown_extensions in [false, true] {
            let _ = normalize(kind, &registry, &body, Leniency { unknown_extensions });
        }
    }
    let _ = roster::scim::resource::parse_members(&body);
});
