//! PATCH: path parsing, request parsing and application to a stored user,
//! never a panic; a failed request leaves the caller's copy to be dropped.
#![no_main]

use libfuzzer_sys::fuzz_target;
use roster::scim::patch;
use roster::scim::schema::{Registry, ResourceKind};
use serde_json::{Value, json};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let _ = patch::parse_path(text);
    let Ok(body) = serde_json::from_str::<Value>(text) else {
        return;
    };
    let mut notes = Vec::new();
    let Ok(ops) = patch::parse_request(&body, &mut notes) else {
        return;
    };
    let registry = Registry::new(&[]);
    let stored = json!({
        "userName": "ada@example.com", "active": true, "displayName": "Ada",
        "name": {"givenName": "Ada", "familyName": "Lovelace"},
        "emails": [{"value": "ada@example.com", "type": "work", "primary": true}],
        "urn:ietf:params:scim:schemas:extension:enterprise:2.0:User": {"department": "R&D"}
    });
    let mut doc = stored.as_object().cloned().unwrap_or_default();
    let _ = patch::apply(ResourceKind::User, &registry, "u1", &mut doc, &ops);
});
