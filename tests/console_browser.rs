//! The admin console end to end in real headless Chromium (Debian's package),
//! driven by tests/browser/console.mjs with playwright-core. Screenshots of
//! every screen land in target/test-artifacts/console/.

mod common;

use std::path::Path;
use std::process::Command;

use common::*;

#[test]
fn console_end_to_end_in_chromium() {
    let script_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/browser");
    let chromium = std::env::var("CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    let node_ok = Command::new("node")
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    let ready = Path::new(&chromium).exists()
        && node_ok
        && script_dir.join("node_modules/playwright-core").exists();
    if !ready {
        let how =
            "install Debian's chromium and run `npm ci --prefix tests/browser` (.ci/run does both)";
        // CI installs both, so there a missing browser is a failure, not a skip.
        assert!(
            std::env::var("CI").is_err(),
            "browser test cannot run in CI: {how}"
        );
        eprintln!("SKIPPED console_end_to_end_in_chromium: {how}");
        return;
    }
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let setup = server
        .stdout
        .iter()
        .find_map(|l| l.split("open ").nth(1))
        .and_then(|rest| rest.split(' ').next())
        .expect("first-run setup URL on stdout")
        .to_string();
    let artifacts = Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-artifacts/console");
    let out = Command::new("node")
        .current_dir(&script_dir)
        .arg("console.mjs")
        .arg(&server.base)
        .arg(&setup)
        .arg(&artifacts)
        .env("CHROMIUM", &chromium)
        .output()
        .expect("run node");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "browser test failed\n{stdout}\n{stderr}\nserver log:\n{}",
        server.log_text()
    );
    assert!(stdout.contains("ok: console end to end"), "{stdout}");
    // Screenshots are numbered in journey order; the last one is the narrow screen.
    let shots: Vec<String> = std::fs::read_dir(&artifacts)
        .expect("screenshots written")
        .filter_map(|e| e.ok()?.file_name().into_string().ok())
        .collect();
    assert!(
        shots.iter().any(|s| s.ends_with("-api-client-created.png"))
            && shots.iter().any(|s| s.ends_with("-scim-390px.png")),
        "{shots:?}"
    );
}
