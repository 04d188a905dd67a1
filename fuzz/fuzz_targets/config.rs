//! The configuration parser: any TOML file and any ROSTER_* variables give a
//! config or a one-line error, never a panic.
#![no_main]

use std::collections::BTreeMap;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use roster::config::{Config, Overrides};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let none = Path::new("/nonexistent/roster.toml");
    let dir = tempfile::tempdir().expect("temp dir");
    let file = dir.path().join("roster.toml");
    std::fs::write(&file, text).expect("write config");
    let overrides = Overrides {
        config_file: Some(file),
        ..Overrides::default()
    };
    let _ = Config::load_from(&overrides, &BTreeMap::new(), none);
    let env: BTreeMap<String, String> = text
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (format!("ROSTER_{}", k.trim().to_uppercase()), v.to_string()))
        .collect();
    let _ = Config::load_from(&Overrides::default(), &env, none);
});
