//! Operating Roster: online backup and restore, upgrades from the previous
//! schema (a v1 store fixture), refusing a newer schema, and /metrics.

mod common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};

use common::*;
use serde_json::json;

fn copy_key(from: &Path, to_dir: &Path) {
    std::fs::create_dir_all(to_dir).unwrap();
    let to = to_dir.join("master.key");
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
}

#[test]
fn online_backup_under_writes_restores_every_acknowledged_write() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Arc::new(Scim::setup(&server, "Backup"));
    let acked: Arc<Mutex<Vec<String>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (scim, acked, stop) = (scim.clone(), acked.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut i = 0;
            while !stop.load(Ordering::Relaxed) && i < 5000 {
                let r = scim.post("/Users", &json!({"userName": format!("writer-{i}")}));
                if r.status == 201 {
                    acked
                        .lock()
                        .unwrap()
                        .push(r.json()["id"].as_str().unwrap().to_string());
                }
                i += 1;
            }
        })
    };
    while acked.lock().unwrap().len() < 30 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    let before: Vec<String> = acked.lock().unwrap().clone();
    let file = tmp.path().join("backup.redb");
    let out = ok(&data, &["backup", "--out", file.to_str().unwrap()]);
    assert!(
        out.contains("one consistent snapshot") && out.contains("NOT in the backup"),
        "{out}"
    );
    while acked.lock().unwrap().len() < before.len() + 20 {
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    stop.store(true, Ordering::Relaxed);
    writer.join().unwrap();
    assert!(file.exists() && !tmp.path().join("backup.redb.partial").exists());

    // Restore is refused while a server runs on the target, or into a non-empty dir.
    let busy = roster(&data, &["restore", file.to_str().unwrap()]);
    assert_eq!(busy.code, 1);
    assert!(busy.stderr.contains("server is running"), "{}", busy.stderr);
    drop(server);
    let existing = roster(&data, &["restore", file.to_str().unwrap()]);
    assert!(
        existing.stderr.contains("already exists"),
        "{}",
        existing.stderr
    );
    // The store moved aside without its journal: still not an empty data dir.
    let aside = tmp.path().join("aside.redb");
    std::fs::rename(data.join("roster.redb"), &aside).unwrap();
    let journal_left = roster(&data, &["restore", file.to_str().unwrap()]);
    assert_eq!(journal_left.code, 1);
    assert!(
        journal_left
            .stderr
            .contains("roster.redb-journal already exists")
            && journal_left.stderr.contains("its journal aside"),
        "{}",
        journal_left.stderr
    );
    assert!(!data.join("roster.redb").exists());
    std::fs::rename(&aside, data.join("roster.redb")).unwrap();

    let restored = tmp.path().join("restored");
    let out = roster(&restored, &["restore", file.to_str().unwrap()]);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert!(
        out.stdout.contains("1 tenant(s)") && out.stdout.contains("fingerprint"),
        "{}",
        out.stdout
    );
    assert!(!restored.join("roster.redb.restoring-journal").exists());
    // The master key travels separately.
    copy_key(&data.join("master.key"), &restored);
    assert!(ok(&restored, &["check"]).starts_with("ok:"));
    let server = Server::start(&restored);
    let slug = scim.base.rsplit('/').next().unwrap();
    let again = Scim {
        base: format!("{}/scim/v2/{slug}", server.base),
        auth: scim.auth.clone(),
    };
    for id in &before {
        assert_eq!(
            again.get(&format!("/Users/{id}")).status,
            200,
            "acknowledged write {id} lost"
        );
    }
    let total = again.get("/Users?count=0").json()["totalResults"]
        .as_u64()
        .unwrap() as usize;
    assert!(total >= before.len());

    let bad = tmp.path().join("not-a-backup");
    std::fs::write(&bad, b"hello").unwrap();
    let out = roster(
        &tmp.path().join("other"),
        &["restore", bad.to_str().unwrap()],
    );
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("not a usable roster backup"),
        "{}",
        out.stderr
    );
    assert!(!tmp.path().join("other/roster.redb").exists());
    assert!(
        !tmp.path()
            .join("other/roster.redb.restoring-journal")
            .exists()
    );
}

#[test]
fn upgrade_from_a_v1_store() {
    let fixture = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/v1");
    let (_tmp, data) = temp_data_dir();
    std::fs::create_dir_all(&data).unwrap();
    std::fs::copy(fixture.join("roster.redb"), data.join("roster.redb")).unwrap();
    copy_key(&fixture.join("master.key"), &data);
    let token = std::fs::read_to_string(fixture.join("token.txt"))
        .unwrap()
        .trim()
        .to_string();

    let server = Server::start(&data);
    // v2 keeps live counts: carol, deleted by the IdP in v1, is not counted.
    let list = ok(&data, &["tenant", "list"]);
    assert!(list.contains("      2       1  Fixture Co"), "{list}");
    let scim = Scim {
        base: format!("{}/scim/v2/fixture", server.base),
        auth: bearer(&token),
    };
    let alice = scim
        .get(&format!(
            "/Users?filter={}",
            enc(r#"userName eq "alice@fixture.test""#)
        ))
        .json();
    assert_eq!(alice["Resources"][0]["groups"][0]["display"], "Staff");
    let carol = scim.post("/Users", &json!({"userName": "carol@fixture.test"}));
    assert_eq!(carol.status, 201);
    assert_eq!(
        carol.json()["meta"]["version"],
        "W/\"1\"",
        "deleted in v1: re-created as a new user"
    );
    assert!(ok(&data, &["tenant", "list"]).contains("      3       1  Fixture Co"));
    // v3 indexes meta.lastModified: the upgraded users are in that order, and
    // carol, just re-created, is the newest.
    let by_time = scim
        .get("/Users?sortBy=meta.lastModified&sortOrder=descending")
        .json();
    let names: Vec<&str> = by_time["Resources"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["userName"].as_str().unwrap())
        .collect();
    assert_eq!(names.len(), 3, "{by_time}");
    assert_eq!(names[0], "carol@fixture.test");
    assert!(ok(&data, &["check"]).starts_with("ok:"));
    assert!(server.stop().success());

    let store = roster::store::Store::open(&data.join("roster.redb")).unwrap();
    assert_eq!(
        store.read().unwrap().schema_version().unwrap(),
        roster::store::SCHEMA_VERSION
    );
    drop(store);
    // Migrations are idempotent: a second start changes nothing.
    let server = Server::start(&data);
    assert!(ok(&data, &["tenant", "list"]).contains("      3       1  Fixture Co"));
    drop(server);
}

#[test]
fn a_newer_schema_is_refused_with_a_clear_message() {
    let (_tmp, data) = temp_data_dir();
    create_tenant(&data, "Future");
    {
        let store = roster::store::Store::open(&data.join("roster.redb")).unwrap();
        store
            .write(|tx| tx.meta_put("schema_version", &9u64.to_be_bytes()))
            .unwrap();
    }
    let (code, err) = Server::launch(&data, Launch::default())
        .err()
        .expect("must refuse");
    assert_eq!(code, 1);
    assert!(
        err.contains("written by a newer roster (schema version 9"),
        "{err}"
    );
    assert!(!err.contains("panicked"));
}

#[test]
fn metrics_in_prometheus_format_optionally_behind_a_token() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Metered");
    scim.create("/Users", &json!({"userName": "m1"}));
    assert_eq!(scim.get("/Users/nope").status, 404);
    let m = get(&format!("{}/metrics", server.base), None);
    assert_eq!(m.status, 200);
    assert!(
        m.header("content-type")
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = m.body;
    for needle in [
        "# TYPE roster_http_requests_total counter",
        "roster_http_requests_total{route=\"/scim/v2/{tenant}/Users\",method=\"POST\",status=\"201\"} 1",
        "roster_http_request_duration_seconds_bucket{route=\"/scim/v2/{tenant}/Users\",method=\"POST\",status=\"201\",le=\"+Inf\"} 1",
        "roster_scim_operations_total{tenant=\"metered\",operation=\"POST Users\",outcome=\"ok\"} 1",
        "roster_scim_operations_total{tenant=\"metered\",operation=\"GET Users\",outcome=\"error\"} 1",
        "roster_tenant_users{tenant=\"metered\"} 1",
        "roster_data_key_age_seconds ",
        "roster_console_sessions 0",
    ] {
        assert!(body.contains(needle), "missing {needle} in\n{body}");
    }
    let size: u64 = body
        .lines()
        .find_map(|l| l.strip_prefix("roster_store_size_bytes "))
        .unwrap()
        .parse()
        .unwrap();
    assert!(size > 0);
    assert!(!body.contains("/Users/nope"), "raw paths are not labels");
    drop(server);

    let token_file = tmp.path().join("metrics.token");
    std::fs::write(&token_file, "s3cret-metrics-token\n").unwrap();
    let config = tmp.path().join("roster.toml");
    std::fs::write(
        &config,
        format!("metrics_token_file = {:?}\n", token_file.to_str().unwrap()),
    )
    .unwrap();
    let server = Server::launch(
        &data,
        Launch {
            args: vec!["--config", config.to_str().unwrap()],
            ..Launch::default()
        },
    )
    .unwrap();
    assert_eq!(get(&format!("{}/metrics", server.base), None).status, 401);
    assert_eq!(
        get(&format!("{}/metrics", server.base), Some("Bearer wrong")).status,
        401
    );
    assert_eq!(
        get(
            &format!("{}/metrics", server.base),
            Some("Bearer s3cret-metrics-token")
        )
        .status,
        200
    );
}
