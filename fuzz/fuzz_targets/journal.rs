//! The journal decoder: a store whose journal holds arbitrary bytes after a
//! valid header opens (replaying what is intact) or is refused, never a panic.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::os::unix::fs::FileExt;

fuzz_target!(|data: &[u8]| {
    let dir = tempfile::tempdir().expect("temp dir");
    let path = dir.path().join("s.redb");
    // A real store and journal first, so the header is valid for this file.
    drop(roster::store::Store::open(&path).expect("fresh store"));
    let journal = roster::store::journal::log_path(&path);
    let file = std::fs::OpenOptions::new()
        .write(true)
        .open(&journal)
        .expect("journal");
    file.write_all_at(data, 4096).expect("write records");
    drop(file);
    if let Ok(store) = roster::store::Store::open(&path) {
        let _ = store.read().map(|v| v.tenants().map(|t| t.len()));
    }
});
