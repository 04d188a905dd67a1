//! Bulk request parsing, targets and bulkId references, never a panic.
#![no_main]

use std::collections::HashMap;

use libfuzzer_sys::fuzz_target;
use roster::scim::bulk;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let Ok(body) = serde_json::from_slice::<Value>(data) else {
        return;
    };
    if let Ok(request) = bulk::parse(&body) {
        let mut ids = HashMap::new();
        for (n, op) in request.operations.iter().enumerate() {
            let _ = bulk::target(&op.path);
            for r in bulk::references(op) {
                ids.insert(r, format!("id{n}"));
            }
            if let Some(data) = &op.data {
                let mut data = data.clone();
                let _ = bulk::resolve_refs(&mut data, &ids);
            }
        }
    }
});
