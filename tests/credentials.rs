//! SCIM credentials, activation, tenant isolation, throttling, envelope keys and
//! their rotation, against the real binary.

mod common;

use std::path::Path;
use std::time::Duration;

use common::*;
use roster::crypto::envelope::key_id_of;
use roster::store::Store;
use roster::store::records::{CredentialKind, DekState};

fn spc(server: &Server, slug: &str) -> String {
    format!("{}/scim/v2/{slug}/ServiceProviderConfig", server.base)
}

fn token(data: &Path, slug: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "create", "--tenant", slug];
    args.extend_from_slice(extra);
    let out = roster(data, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    assert_eq!(out.stdout.lines().count(), 1, "prints only the token");
    assert!(out.stderr.contains("will not be shown again"));
    out.stdout.trim().to_string()
}

fn assert_unauthorized(resp: &Resp) {
    assert_eq!(resp.status, 401, "{}", resp.body);
    let body = resp.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:api:messages:2.0:Error"
    );
    assert_eq!(body["status"], "401");
    let challenges = resp.headers_named("www-authenticate");
    assert!(
        challenges.iter().any(|c| c.starts_with("Bearer")),
        "{challenges:?}"
    );
    assert!(
        challenges.iter().any(|c| c.starts_with("Basic")),
        "{challenges:?}"
    );
    assert_eq!(resp.header("content-type"), Some("application/scim+json"));
}

#[test]
fn token_lifecycle_regeneration_and_grace_period() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Acme HR");
    ok(&data, &["scim", "activate", "--tenant", &slug]);

    assert_unauthorized(&get(&spc(&server, &slug), None));
    let first = token(&data, &slug, &[]);
    assert!(first.starts_with("rst_") && first.len() == 47, "{first}");
    let resp = get(&spc(&server, &slug), Some(&bearer(&first)));
    assert_eq!(resp.status, 200, "{}", resp.body);
    let body = resp.json();
    assert_eq!(
        body["schemas"][0],
        "urn:ietf:params:scim:schemas:core:2.0:ServiceProviderConfig"
    );
    assert_eq!(
        body["meta"]["location"],
        format!("{}/scim/v2/{slug}/ServiceProviderConfig", server.base)
    );

    // Regenerating invalidates the previous token at once.
    let second = token(&data, &slug, &[]);
    assert_unauthorized(&get(&spc(&server, &slug), Some(&bearer(&first))));
    assert_eq!(
        get(&spc(&server, &slug), Some(&bearer(&second))).status,
        200
    );

    // With a grace period (0.05 min = 3 s) the old token works until it ends.
    let third = token(&data, &slug, &["--grace-minutes", "0.05"]);
    assert_eq!(
        get(&spc(&server, &slug), Some(&bearer(&second))).status,
        200
    );
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&third))).status, 200);
    let listed = ok(&data, &["token", "list", "--tenant", &slug]);
    assert_eq!(listed.lines().count(), 3, "{listed}");
    assert!(!listed.contains(&second) && !listed.contains(&third));
    std::thread::sleep(Duration::from_millis(3500));
    assert_unauthorized(&get(&spc(&server, &slug), Some(&bearer(&second))));
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&third))).status, 200);

    // Bad grace periods are refused with one line.
    for grace in ["--grace-minutes=-1", "--grace-minutes=99999"] {
        let bad = roster(&data, &["token", "create", "--tenant", &slug, grace]);
        assert_eq!(bad.code, 1);
        assert_eq!(bad.stderr.lines().count(), 1, "{}", bad.stderr);
        assert!(bad.stderr.contains("grace period"), "{}", bad.stderr);
    }

    // The token survives a restart (only its hash is stored).
    let server = server.restart();
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&third))).status, 200);
}

#[test]
fn credentials_belong_to_one_tenant() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let a = create_tenant(&data, "Tenant A");
    let b = create_tenant(&data, "Tenant B");
    for slug in [&a, &b] {
        ok(&data, &["scim", "activate", "--tenant", slug]);
    }
    let token_a = token(&data, &a, &[]);
    token(&data, &b, &[]);
    assert_eq!(get(&spc(&server, &a), Some(&bearer(&token_a))).status, 200);
    assert_unauthorized(&get(&spc(&server, &b), Some(&bearer(&token_a))));
    assert_unauthorized(&get(
        &spc(&server, "no-such-tenant"),
        Some(&bearer(&token_a)),
    ));

    let creds_a = ok(&data, &["scim", "credentials", "--tenant", &a, "--reveal"]);
    let (id_a, secret_a) = (field(&creds_a, "client id"), field(&creds_a, "secret"));
    assert_eq!(id_a, "roster_scim_tenant-a");
    assert_eq!(
        get(&spc(&server, &a), Some(&basic(&id_a, &secret_a))).status,
        200
    );
    assert_unauthorized(&get(&spc(&server, &b), Some(&basic(&id_a, &secret_a))));
    let id_b = format!("roster_scim_{b}");
    assert_unauthorized(&get(&spc(&server, &b), Some(&basic(&id_b, &secret_a))));
    assert_unauthorized(&get(
        &spc(&server, &a),
        Some(&basic(&id_a, "wrong-secret-value")),
    ));
    assert_unauthorized(&get(&spc(&server, &a), Some("Digest abc")));
    assert_unauthorized(&get(&spc(&server, &a), Some("Basic %%%not-base64")));

    // Unknown SCIM paths are authenticated too, then 404 as a SCIM error.
    assert_unauthorized(&get(&format!("{}/scim/v2/{a}/Nope", server.base), None));
    let missing = get(
        &format!("{}/scim/v2/{a}/Nope", server.base),
        Some(&bearer(&token_a)),
    );
    assert_eq!(missing.status, 404);
    assert_eq!(missing.json()["status"], "404");

    // Masked unless revealed; reveals are audited without the secret.
    let masked = ok(&data, &["scim", "credentials", "--tenant", &a]);
    assert!(!masked.contains(&secret_a));
    let audit = ok(&data, &["audit", "--tenant", &a]);
    assert!(audit.contains("secret.revealed"), "{audit}");
    assert!(
        audit.contains("scim.request") && audit.contains("401"),
        "{audit}"
    );
    assert!(!audit.contains(&secret_a) && !audit.contains(&token_a));
}

#[test]
fn edited_secret_replaces_the_old_one() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Edit Me");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let old = field(
        &ok(
            &data,
            &["scim", "credentials", "--tenant", &slug, "--reveal"],
        ),
        "secret",
    );
    let new_secret = "a-new-secret-chosen-by-the-admin-42";
    let out = roster_in(
        &data,
        &["scim", "set-secret", "--tenant", &slug],
        &[],
        Some(new_secret),
    );
    assert_eq!(out.code, 0, "{}", out.stderr);
    let id = format!("roster_scim_{slug}");
    assert_eq!(
        get(&spc(&server, &slug), Some(&basic(&id, new_secret))).status,
        200
    );
    assert_unauthorized(&get(&spc(&server, &slug), Some(&basic(&id, &old))));
    let short = roster_in(
        &data,
        &["scim", "set-secret", "--tenant", &slug],
        &[],
        Some("short"),
    );
    assert_ne!(short.code, 0);
    assert!(short.stderr.contains("16-256"), "{}", short.stderr);
    assert_eq!(
        get(&spc(&server, &slug), Some(&basic(&id, new_secret))).status,
        200
    );
}

#[test]
fn deactivated_scim_refuses_and_reactivation_restores() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Switch");
    let tok = token(&data, &slug, &[]);
    // New tenants start with SCIM inactive, as in the console.
    let refused = get(&spc(&server, &slug), Some(&bearer(&tok)));
    assert_eq!(refused.status, 403);
    assert!(
        refused.json()["detail"]
            .as_str()
            .unwrap()
            .contains("deactivated")
    );
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&tok))).status, 200);
    ok(&data, &["scim", "deactivate", "--tenant", &slug]);
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&tok))).status, 403);
    // Bad credentials stay 401 while inactive: the tenant's state is not disclosed.
    assert_unauthorized(&get(&spc(&server, &slug), Some(&bearer("rst_nope"))));
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&tok))).status, 200);
    let audit = ok(&data, &["audit", "--tenant", &slug]);
    assert!(audit.contains("scim.deactivated") && audit.contains("scim.activated"));
}

#[test]
fn repeated_failures_from_one_address_are_throttled() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Throttle");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let good = token(&data, &slug, &[]);
    for _ in 0..10 {
        assert_eq!(
            get(&spc(&server, &slug), Some(&bearer("rst_guess"))).status,
            401
        );
    }
    let blocked = get(&spc(&server, &slug), Some(&bearer(&good)));
    assert_eq!(blocked.status, 429);
    let wait: u64 = blocked.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait));
    assert_eq!(blocked.json()["status"], "429");
}

fn raw_key_ids(data: &Path) -> (Vec<u32>, Vec<(u32, DekState, bool)>) {
    let store = Store::open(&data.join("roster.redb")).unwrap();
    let view = store.read().unwrap();
    let ids = view
        .all_credentials()
        .unwrap()
        .into_iter()
        .filter(|c| c.kind == CredentialKind::Basic)
        .map(|c| key_id_of(&c.sealed_secret).unwrap())
        .collect();
    let deks = view
        .deks()
        .unwrap()
        .into_iter()
        .map(|d| (d.id, d.state, d.wrapped.is_empty()))
        .collect();
    (ids, deks)
}

#[test]
fn data_key_rotation_reseals_everything_and_survives_restart() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slugs: Vec<String> = (0..3)
        .map(|i| create_tenant(&data, &format!("Rot {i}")))
        .collect();
    let secrets: Vec<String> = slugs
        .iter()
        .map(|s| {
            field(
                &ok(&data, &["scim", "credentials", "--tenant", s, "--reveal"]),
                "secret",
            )
        })
        .collect();
    for s in &slugs {
        ok(&data, &["scim", "activate", "--tenant", s]);
    }
    let rotated = ok(&data, &["keys", "rotate"]);
    assert!(rotated.contains("data key 2 active"), "{rotated}");
    assert!(rotated.contains("re-encrypted 3 secret(s)"), "{rotated}");
    let status = ok(&data, &["keys", "status"]);
    assert!(status.contains("last rotated: 20"), "{status}");

    // Still authenticates and reveals, before and after a restart.
    let id0 = format!("roster_scim_{}", slugs[0]);
    assert_eq!(
        get(&spc(&server, &slugs[0]), Some(&basic(&id0, &secrets[0]))).status,
        200
    );
    ok(&data, &["keys", "rotate"]);
    let server = server.restart();
    assert_eq!(
        get(&spc(&server, &slugs[0]), Some(&basic(&id0, &secrets[0]))).status,
        200
    );
    for (slug, secret) in slugs.iter().zip(&secrets) {
        let shown = ok(
            &data,
            &["scim", "credentials", "--tenant", slug, "--reveal"],
        );
        assert_eq!(&field(&shown, "secret"), secret);
    }
    assert!(server.stop().success());

    // The raw table: every ciphertext names the active key; retired keys hold no material.
    let (ids, deks) = raw_key_ids(&data);
    assert_eq!(ids, vec![3, 3, 3]);
    assert_eq!(
        deks,
        vec![
            (1, DekState::Retired, true),
            (2, DekState::Retired, true),
            (3, DekState::Active, false)
        ]
    );
    let audit = ok(&data, &["audit"]);
    assert!(audit.contains("keys.rotated"), "{audit}");
}

#[test]
fn the_data_file_never_holds_a_secret_in_plaintext() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Plain");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let tok = token(&data, &slug, &[]);
    let secret = field(
        &ok(
            &data,
            &["scim", "credentials", "--tenant", &slug, "--reveal"],
        ),
        "secret",
    );
    let chosen = "chosen-secret-0123456789-abcdef";
    roster_in(
        &data,
        &["scim", "set-secret", "--tenant", &slug],
        &[],
        Some(chosen),
    );
    assert_eq!(get(&spc(&server, &slug), Some(&bearer(&tok))).status, 200);
    ok(&data, &["keys", "rotate"]);
    assert!(server.stop().success());
    let master = std::fs::read_to_string(data.join("master.key")).unwrap();
    let file = std::fs::read(data.join("roster.redb")).unwrap();
    for needle in [
        tok.as_str(),
        &tok[4..],
        secret.as_str(),
        chosen,
        master.trim(),
    ] {
        assert!(
            !file.windows(needle.len()).any(|w| w == needle.as_bytes()),
            "plaintext secret found in the store file"
        );
    }
}

#[test]
fn moved_or_tampered_ciphertext_fails_to_open() {
    let (_tmp, data) = temp_data_dir();
    let a = create_tenant(&data, "Swap A");
    let b = create_tenant(&data, "Swap B");
    assert!(ok(&data, &["check"]).contains("2 sealed secret(s) open"));
    {
        let store = Store::open(&data.join("roster.redb")).unwrap();
        let view = store.read().unwrap();
        let ta = view.tenant_by_slug(&a).unwrap().unwrap();
        let tb = view.tenant_by_slug(&b).unwrap().unwrap();
        let mut ca = view.credentials_of(ta.id).unwrap().remove(0);
        let cb = view.credentials_of(tb.id).unwrap().remove(0);
        drop(view);
        // Move B's ciphertext into A's row.
        ca.sealed_secret = cb.sealed_secret.clone();
        store.write(|tx| tx.put_credential(&ca)).unwrap();
    }
    let moved = roster(&data, &["check"]);
    assert_eq!(moved.code, 1);
    assert!(
        moved.stderr.contains("failed authentication"),
        "{}",
        moved.stderr
    );
    assert!(roster(&data, &["scim", "credentials", "--tenant", &a, "--reveal"]).code != 0);
    // B's own row still opens.
    ok(&data, &["scim", "credentials", "--tenant", &b, "--reveal"]);

    {
        let store = Store::open(&data.join("roster.redb")).unwrap();
        let view = store.read().unwrap();
        let tb = view.tenant_by_slug(&b).unwrap().unwrap();
        let mut cb = view.credentials_of(tb.id).unwrap().remove(0);
        drop(view);
        let last = cb.sealed_secret.len() - 1;
        cb.sealed_secret[last] ^= 0x01;
        store.write(|tx| tx.put_credential(&cb)).unwrap();
    }
    let tampered = roster(&data, &["scim", "credentials", "--tenant", &b, "--reveal"]);
    assert_ne!(tampered.code, 0);
    assert!(
        tampered.stderr.contains("failed authentication"),
        "{}",
        tampered.stderr
    );
}

#[test]
fn master_key_problems_are_clear_startup_errors() {
    let (tmp, data) = temp_data_dir();
    let slug = create_tenant(&data, "Keys");
    let key = data.join("master.key");
    let saved = tmp.path().join("saved.key");
    std::fs::rename(&key, &saved).unwrap();

    // Missing key for an existing store: refuse, name the file, never make a new key.
    let (code, err) = Server::launch(&data, Launch::default())
        .err()
        .expect("must fail");
    assert_eq!(code, 1);
    assert!(
        err.contains(&key.display().to_string()) && err.contains("will not create"),
        "{err}"
    );
    assert!(!key.exists());

    // A wrong key.
    let other = tmp.path().join("other.key");
    roster::crypto::MasterKey::random()
        .create_file(&other)
        .unwrap();
    let other_str = other.to_str().unwrap().to_string();
    let (code, err) = Server::launch(
        &data,
        Launch {
            env: vec![("ROSTER_MASTER_KEY_FILE", &other_str)],
            ..Launch::default()
        },
    )
    .err()
    .expect("must fail");
    assert_eq!(code, 1);
    assert!(
        err.contains("does not match") && err.contains(&other_str),
        "{err}"
    );
    assert!(!err.contains("panicked"));

    // A group-readable key.
    std::fs::copy(&saved, &key).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let out = roster(&data, &["tenant", "list"]);
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("readable by group or others"),
        "{}",
        out.stderr
    );
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(ok(&data, &["tenant", "list"]).contains(&slug));
}

#[test]
fn master_key_rotation_rewraps_through_a_running_server() {
    let (tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let slug = create_tenant(&data, "Master");
    ok(&data, &["scim", "activate", "--tenant", &slug]);
    let secret = field(
        &ok(
            &data,
            &["scim", "credentials", "--tenant", &slug, "--reveal"],
        ),
        "secret",
    );
    let old_key = std::fs::read(data.join("master.key")).unwrap();
    let new_file = tmp.path().join("new.key");
    let new_key = roster::crypto::MasterKey::random();
    new_key.create_file(&new_file).unwrap();
    let out = ok(
        &data,
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            new_file.to_str().unwrap(),
        ],
    );
    assert!(out.contains("re-wrapped 1 data key(s)"), "{out}");
    assert!(ok(&data, &["keys", "status"]).contains(&new_key.fingerprint()));
    // A new data key after the master rotation is wrapped by the new master.
    ok(&data, &["keys", "rotate"]);
    let server = server.restart();
    let id = format!("roster_scim_{slug}");
    assert_eq!(
        get(&spc(&server, &slug), Some(&basic(&id, &secret))).status,
        200
    );
    assert!(server.stop().success());
    // The old key no longer opens the store.
    std::fs::write(data.join("master.key"), old_key).unwrap();
    let out = roster(&data, &["tenant", "list"]);
    assert_eq!(out.code, 1);
    assert!(out.stderr.contains("does not match"), "{}", out.stderr);
}

#[test]
fn kill_during_rotation_leaves_every_secret_readable() {
    let (_tmp, data) = temp_data_dir();
    {
        let config = roster::config::Config {
            data_dir: data.clone(),
            ..roster::config::Config::default()
        };
        let dir = roster::directory::Directory::open(&config).unwrap();
        dir.create_tenants_bulk("Crash", 10_000, "test").unwrap();
    }
    assert!(ok(&data, &["check"]).contains("10000 sealed secret(s) open"));

    // Time one undisturbed rotation, then kill others at random points within it.
    let started = std::time::Instant::now();
    ok(&data, &["keys", "rotate"]);
    let span = started.elapsed().as_millis() as u64 + 20;
    let mut completed = 1;
    for round in 0..8u64 {
        let mut child = roster_command(data.parent().unwrap())
            .arg("--data-dir")
            .arg(&data)
            .args(["keys", "rotate"])
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let delay = rand::random_range(0..span.max(1));
        std::thread::sleep(Duration::from_millis(delay));
        let _ = child.kill();
        let status = child.wait().unwrap();
        if status.success() {
            completed += 1;
        }
        let check = roster(&data, &["check"]);
        assert_eq!(check.code, 0, "round {round}: {}", check.stderr);
        assert!(
            check.stdout.contains("10000 sealed secret(s) open"),
            "{}",
            check.stdout
        );
    }
    // Exactly one active key, and every secret sealed under it.
    let (ids, deks) = raw_key_ids(&data);
    let active: Vec<u32> = deks
        .iter()
        .filter(|(_, s, _)| *s == DekState::Active)
        .map(|(id, _, _)| *id)
        .collect();
    assert_eq!(active.len(), 1);
    assert!(ids.iter().all(|id| *id == active[0]));
    assert!(
        active[0] as usize > completed,
        "every finished rotation is kept"
    );
}
