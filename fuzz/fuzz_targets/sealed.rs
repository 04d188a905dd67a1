//! The sealed-value decoder: arbitrary bytes never open and never panic.
#![no_main]

use std::collections::BTreeMap;

use libfuzzer_sys::fuzz_target;
use roster::crypto::envelope::key_id_of;
use roster::crypto::{KeyBytes, Keyring, SealContext};

fuzz_target!(|data: &[u8]| {
    let _ = key_id_of(data);
    let ring = Keyring::new(BTreeMap::from([(1, KeyBytes::random())]), 1);
    let ctx = SealContext {
        table: "credentials",
        record: "1/c".into(),
        field: "secret",
    };
    assert!(ring.open(&ctx, data).is_err(), "forged bytes opened");
});
