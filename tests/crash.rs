//! Crash harness: 16 SCIM writers (creates, PATCH of active with a paired
//! attribute, group member adds, Bulk) against the real server, SIGKILLed at
//! varied moments (the first milliseconds after start up to seconds in, with
//! a small journal so checkpoints happen in between). After every restart on
//! the same data dir: every write that got a 2xx is there in its last
//! acknowledged state, nothing unacknowledged is half-applied, nothing
//! appears that no writer sent, the change feed has no gap and its last event
//! per resource carries the resource's version, and `roster check` passes.
//!
//! `ROSTER_CRASH_KILLS` sets the number of kills (default 5, as CI runs it;
//! the full run is 20 or more).

mod common;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use common::*;
use rand::{Rng, SeedableRng};
use serde_json::{Value, json};

const WRITERS: usize = 16;

#[derive(Clone, Debug, PartialEq, Eq)]
struct UserState {
    active: bool,
    /// `<seq>:<active>`, written in the same PATCH as `active`: a PATCH
    /// applied in part shows as a title that disagrees with `active`.
    title: String,
}

#[derive(Debug, Default)]
struct UserEntry {
    id: Option<String>,
    /// The last state a 2xx confirmed; None while the create is unconfirmed.
    acked: Option<UserState>,
    /// A write sent without an answer: it may or may not have landed.
    pending: Option<UserState>,
}

#[derive(Debug, Default)]
struct Ledger {
    users: BTreeMap<String, UserEntry>,
    group_id: String,
    members: BTreeSet<String>,
    pending_members: BTreeSet<String>,
    seq: u64,
    next_user: u64,
}

struct Shared {
    base: RwLock<String>,
    auth: String,
    slug: String,
    /// Bumped when a restarted server has been checked; writers that failed wait for it.
    epoch: AtomicU64,
    parked: AtomicUsize,
    stop: AtomicBool,
    acked: AtomicU64,
    unexpected: Mutex<Vec<String>>,
    ledgers: Vec<Mutex<Ledger>>,
}

impl Shared {
    fn send(&self, method: &str, path: &str, body: &Value) -> Result<Resp, String> {
        let base = self.base.read().unwrap().clone();
        try_request(
            method,
            &format!("{base}/scim/v2/{}{path}", self.slug),
            &[("Authorization", &self.auth)],
            Some(&body.to_string()),
        )
    }
}

fn user_body(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name,
           "active": true, "title": "0:true"})
}

fn fresh_state() -> UserState {
    UserState {
        active: true,
        title: "0:true".into(),
    }
}

/// What one request did, as the writer can tell.
enum Outcome {
    Acked(Resp),
    Unknown,
}

fn classify(shared: &Shared, what: &str, r: Result<Resp, String>) -> Outcome {
    match r {
        Ok(resp) if (200..300).contains(&resp.status) => Outcome::Acked(resp),
        Ok(resp) if resp.status >= 500 => Outcome::Unknown,
        Ok(resp) => {
            shared
                .unexpected
                .lock()
                .unwrap()
                .push(format!("{what}: {} {}", resp.status, resp.body));
            Outcome::Unknown
        }
        Err(_) => Outcome::Unknown,
    }
}

fn writer(shared: Arc<Shared>, w: usize, seed: u64) {
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let mut waiting_for: Option<u64> = None;
    while !shared.stop.load(Ordering::Acquire) {
        if let Some(epoch) = waiting_for {
            if shared.epoch.load(Ordering::Acquire) <= epoch {
                std::thread::sleep(Duration::from_millis(2));
                continue;
            }
            shared.parked.fetch_sub(1, Ordering::AcqRel);
            waiting_for = None;
        }
        let epoch = shared.epoch.load(Ordering::Acquire);
        let known = step(&shared, w, &mut rng);
        if !known {
            waiting_for = Some(epoch);
            shared.parked.fetch_add(1, Ordering::AcqRel);
        }
    }
    if waiting_for.is_some() {
        shared.parked.fetch_sub(1, Ordering::AcqRel);
    }
}

/// One request; false when its outcome is unknown (the server went away).
fn step(shared: &Shared, w: usize, rng: &mut rand::rngs::StdRng) -> bool {
    let mut ledger = shared.ledgers[w].lock().unwrap();
    let confirmed: Vec<(String, String, bool)> = ledger
        .users
        .iter()
        .filter_map(|(name, e)| Some((name.clone(), e.id.clone()?, e.acked.as_ref()?.active)))
        .collect();
    let choice = if confirmed.is_empty() {
        0
    } else {
        rng.random_range(0..10)
    };
    match choice {
        // Create one user.
        0..=2 => {
            ledger.next_user += 1;
            let name = format!("w{w}-u{}", ledger.next_user);
            ledger.users.insert(
                name.clone(),
                UserEntry {
                    pending: Some(fresh_state()),
                    ..UserEntry::default()
                },
            );
            match classify(
                shared,
                "create",
                shared.send("POST", "/Users", &user_body(&name)),
            ) {
                Outcome::Acked(resp) => {
                    let entry = ledger.users.get_mut(&name).unwrap();
                    entry.id = resp.json()["id"].as_str().map(str::to_string);
                    entry.acked = entry.pending.take();
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Outcome::Unknown => false,
            }
        }
        // PATCH active and title together.
        3..=6 => {
            let (name, id, active) = &confirmed[rng.random_range(0..confirmed.len())];
            ledger.seq += 1;
            let next = UserState {
                active: !active,
                title: format!("{}:{}", ledger.seq, !active),
            };
            let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [
                    {"op": "replace", "path": "active", "value": next.active},
                    {"op": "replace", "path": "title", "value": next.title}]});
            ledger.users.get_mut(name).unwrap().pending = Some(next);
            match classify(
                shared,
                "patch",
                shared.send("PATCH", &format!("/Users/{id}"), &patch),
            ) {
                Outcome::Acked(_) => {
                    let entry = ledger.users.get_mut(name).unwrap();
                    entry.acked = entry.pending.take();
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Outcome::Unknown => false,
            }
        }
        // Add a member to the writer's group.
        7..=8 => {
            let candidates: Vec<&String> = confirmed
                .iter()
                .map(|(_, id, _)| id)
                .filter(|id| !ledger.members.contains(*id))
                .collect();
            let Some(id) = candidates.first().map(|s| s.to_string()) else {
                return true;
            };
            let group = ledger.group_id.clone();
            let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
                "Operations": [{"op": "add", "path": "members", "value": [{"value": id}]}]});
            ledger.pending_members.insert(id.clone());
            match classify(
                shared,
                "member add",
                shared.send("PATCH", &format!("/Groups/{group}"), &patch),
            ) {
                Outcome::Acked(_) => {
                    ledger.pending_members.remove(&id);
                    ledger.members.insert(id);
                    shared.acked.fetch_add(1, Ordering::Relaxed);
                    true
                }
                Outcome::Unknown => false,
            }
        }
        // Bulk: two creates in one request.
        _ => {
            let names: Vec<String> = (0..2)
                .map(|_| {
                    ledger.next_user += 1;
                    format!("w{w}-u{}", ledger.next_user)
                })
                .collect();
            for n in &names {
                ledger.users.insert(
                    n.clone(),
                    UserEntry {
                        pending: Some(fresh_state()),
                        ..UserEntry::default()
                    },
                );
            }
            let ops: Vec<Value> = names
                .iter()
                .enumerate()
                .map(|(i, n)| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": user_body(n)}))
                .collect();
            let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
            match classify(shared, "bulk", shared.send("POST", "/Bulk", &bulk)) {
                Outcome::Acked(resp) => {
                    let body = resp.json();
                    for (n, op) in names.iter().zip(body["Operations"].as_array().unwrap()) {
                        assert_eq!(op["status"], "201", "{body}");
                        let entry = ledger.users.get_mut(n).unwrap();
                        entry.id = op["location"]
                            .as_str()
                            .and_then(|l| l.rsplit('/').next())
                            .map(str::to_string);
                        entry.acked = entry.pending.take();
                        shared.acked.fetch_add(1, Ordering::Relaxed);
                    }
                    true
                }
                Outcome::Unknown => false,
            }
        }
    }
}

fn version_of(resource: &Value) -> u64 {
    resource["meta"]["version"]
        .as_str()
        .unwrap()
        .trim_start_matches("W/")
        .trim_matches('"')
        .parse()
        .unwrap()
}

fn scim_get(base: &str, shared: &Shared, path: &str) -> Value {
    let r = get(
        &format!("{base}/scim/v2/{}{path}", shared.slug),
        Some(&shared.auth),
    );
    assert_eq!(r.status, 200, "{path}: {}", r.body);
    r.json()
}

/// Every user on the server, by userName.
fn all_users(base: &str, shared: &Shared) -> HashMap<String, Value> {
    let mut out = HashMap::new();
    let mut start = 1;
    loop {
        let page = scim_get(
            base,
            shared,
            &format!("/Users?startIndex={start}&count=1000"),
        );
        let got = page["Resources"].as_array().cloned().unwrap_or_default();
        for u in &got {
            out.insert(u["userName"].as_str().unwrap().to_string(), u.clone());
        }
        if got.len() < 1000 {
            return out;
        }
        start += 1000;
    }
}

fn all_events(base: &str, token: &str) -> Vec<Value> {
    let mut out = Vec::new();
    let mut after = String::new();
    loop {
        let r = get(
            &format!("{base}/api/v1/events?limit=1000&after={after}"),
            Some(&bearer(token)),
        );
        assert_eq!(r.status, 200, "{}", r.body);
        let body = r.json();
        let page = body["data"].as_array().cloned().unwrap_or_default();
        out.extend(page.iter().cloned());
        match body["next"].as_str() {
            Some(n) if !page.is_empty() => after = n.to_string(),
            _ => return out,
        }
    }
}

fn app_token(base: &str, id: &str, secret: &str) -> String {
    let r = request(
        "POST",
        &format!("{base}/oauth/token"),
        &[FORM, ("Authorization", &basic(id, secret))],
        Some("grant_type=client_credentials"),
    );
    assert_eq!(r.status, 200, "{}", r.body);
    r.json()["access_token"].as_str().unwrap().to_string()
}

/// Checks the server against every ledger and settles what was unknown.
/// Returns the number of acknowledged writes checked.
fn verify(shared: &Shared, base: &str, app: (&str, &str)) -> u64 {
    let users = all_users(base, shared);
    let mut checked = 0;
    let mut versions: HashMap<String, u64> = HashMap::new();
    let mut expected_names = BTreeSet::new();
    for (w, ledger) in shared.ledgers.iter().enumerate() {
        let mut ledger = ledger.lock().unwrap();
        let mut gone = Vec::new();
        for (name, entry) in ledger.users.iter_mut() {
            let found = users.get(name);
            let state = found.map(|u| UserState {
                active: u["active"].as_bool().unwrap(),
                title: u["title"].as_str().unwrap_or_default().to_string(),
            });
            if let (Some(u), Some(s)) = (found, &state) {
                assert_eq!(
                    s.title.split(':').nth(1),
                    Some(s.active.to_string().as_str()),
                    "{name}: PATCH applied in part: {u}"
                );
                if let Some(id) = &entry.id {
                    assert_eq!(u["id"].as_str(), Some(id.as_str()), "{name} changed id");
                }
            }
            match (&entry.acked, &state) {
                (Some(acked), Some(s)) => {
                    checked += 1;
                    assert!(
                        s == acked || entry.pending.as_ref() == Some(s),
                        "{name}: acknowledged {acked:?}, pending {:?}, found {s:?}",
                        entry.pending
                    );
                }
                (Some(acked), None) => panic!("{name}: acknowledged ({acked:?}) but lost"),
                (None, Some(s)) => assert_eq!(
                    entry.pending.as_ref(),
                    Some(s),
                    "{name}: unconfirmed create landed in another state"
                ),
                (None, None) => gone.push(name.clone()),
            }
            if let (Some(u), Some(s)) = (found, state) {
                entry.id = u["id"].as_str().map(str::to_string);
                entry.acked = Some(s);
                entry.pending = None;
                versions.insert(entry.id.clone().unwrap(), version_of(u));
                expected_names.insert(name.clone());
            }
        }
        for name in gone {
            ledger.users.remove(&name);
        }
        let group = scim_get(base, shared, &format!("/Groups/{}", ledger.group_id));
        let members: BTreeSet<String> = group["members"]
            .as_array()
            .into_iter()
            .flatten()
            .map(|m| m["value"].as_str().unwrap().to_string())
            .collect();
        for m in &ledger.members {
            checked += 1;
            assert!(
                members.contains(m),
                "writer {w}: acknowledged member {m} lost"
            );
        }
        for m in &members {
            assert!(
                ledger.members.contains(m) || ledger.pending_members.contains(m),
                "writer {w}: member {m} that no request added"
            );
        }
        ledger.members = members;
        ledger.pending_members.clear();
        versions.insert(ledger.group_id.clone(), version_of(&group));
    }
    let phantoms: Vec<&String> = users
        .keys()
        .filter(|n| !expected_names.contains(*n))
        .collect();
    assert!(phantoms.is_empty(), "users no writer created: {phantoms:?}");

    // The feed: consecutive, one created per user, last event per resource at its version.
    let token = app_token(base, app.0, app.1);
    let events = all_events(base, &token);
    let mut last_version: HashMap<String, u64> = HashMap::new();
    let mut created: BTreeSet<String> = BTreeSet::new();
    for (i, e) in events.iter().enumerate() {
        assert_eq!(
            e["id"].as_str().unwrap(),
            format!("ev_{}", i + 1),
            "the feed has a gap or a duplicate at {i}"
        );
        let id = e["resource"]["id"].as_str().unwrap().to_string();
        if e["type"] == "user.created" {
            assert!(created.insert(id.clone()), "{id} created twice");
        }
        last_version.insert(id, e["resource"]["version"].as_u64().unwrap());
    }
    for (id, version) in &versions {
        assert_eq!(
            last_version.get(id),
            Some(version),
            "the feed's last event on {id} is not at its version"
        );
    }
    checked
}

fn kill_delay(rng: &mut rand::rngs::StdRng, kill: usize) -> Duration {
    // Cycle through the ranges so every run covers each of them.
    let ms = match kill % 4 {
        0 => rng.random_range(0..5),
        1 => rng.random_range(5..150),
        2 => rng.random_range(150..1000),
        _ => rng.random_range(1000..3000),
    };
    Duration::from_millis(ms)
}

#[test]
fn acknowledged_writes_survive_sigkill() {
    let kills: usize = std::env::var("ROSTER_CRASH_KILLS")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or(5);
    let seed: u64 = std::env::var("ROSTER_CRASH_SEED")
        .ok()
        .and_then(|k| k.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        });
    eprintln!("crash harness: {kills} kills, seed {seed} (ROSTER_CRASH_SEED to replay)");
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (_tmp, data) = temp_data_dir();
    // A small journal: checkpoints happen between (and during) the kills.
    let env = [("ROSTER_JOURNAL_CHECKPOINT_BYTES", "262144")];
    let start = |data: &std::path::Path| {
        Server::launch(
            data,
            Launch {
                env: env.to_vec(),
                ..Launch::default()
            },
        )
        .expect("server start")
    };
    let mut server = start(&data);
    let scim = Scim::setup(&server, "Crash");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    let out = ok(
        &data,
        &["app", "create", "--tenant", &slug, "--name", "feed"],
    );
    let app = (field(&out, "client_id"), field(&out, "client_secret"));
    let mut ledgers = Vec::new();
    for w in 0..WRITERS {
        let g = scim.create(
            "/Groups",
            &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": format!("g{w}")}),
        );
        ledgers.push(Mutex::new(Ledger {
            group_id: g["id"].as_str().unwrap().to_string(),
            ..Ledger::default()
        }));
    }
    let shared = Arc::new(Shared {
        base: RwLock::new(server.base.clone()),
        auth: scim.auth.clone(),
        slug: slug.clone(),
        epoch: AtomicU64::new(0),
        parked: AtomicUsize::new(0),
        stop: AtomicBool::new(false),
        acked: AtomicU64::new(0),
        unexpected: Mutex::new(Vec::new()),
        ledgers,
    });
    let threads: Vec<_> = (0..WRITERS)
        .map(|w| {
            let shared = shared.clone();
            let seed = seed ^ (w as u64 + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15);
            std::thread::spawn(move || writer(shared, w, seed))
        })
        .collect();

    let mut checked = 0;
    for kill in 0..kills {
        std::thread::sleep(kill_delay(&mut rng, kill));
        server.kill();
        // Wait until every writer has met the dead server.
        let deadline = Instant::now() + Duration::from_secs(30);
        while shared.parked.load(Ordering::Acquire) < WRITERS {
            assert!(Instant::now() < deadline, "writers did not stop");
            std::thread::sleep(Duration::from_millis(2));
        }
        server = start(&data);
        checked += verify(&shared, &server.base, (&app.0, &app.1));
        let check = ok(&data, &["check"]);
        assert!(check.starts_with("ok:"), "{check}");
        *shared.base.write().unwrap() = server.base.clone();
        shared.epoch.fetch_add(1, Ordering::AcqRel);
    }
    std::thread::sleep(Duration::from_millis(300));
    shared.stop.store(true, Ordering::Release);
    for t in threads {
        t.join().unwrap();
    }
    checked += verify(&shared, &server.base, (&app.0, &app.1));
    assert!(server.stop().success());
    let check = ok(&data, &["check"]);
    assert!(check.starts_with("ok:"), "{check}");
    let unexpected = shared.unexpected.lock().unwrap();
    assert!(unexpected.is_empty(), "refused requests: {unexpected:?}");
    let acked = shared.acked.load(Ordering::Relaxed);
    eprintln!(
        "crash harness: {kills} kills; {acked} writes acknowledged; {checked} acknowledged states checked after restarts; 0 lost"
    );
    assert!(acked > 0, "no write was acknowledged");
}

/// Spawns a CLI command on `data` and SIGKILLs it after `delay` (if it is
/// still running); true when it had finished by itself.
fn run_killed(data: &std::path::Path, args: &[&str], delay: Duration) -> bool {
    let mut child = roster_command(data.parent().unwrap())
        .arg("--data-dir")
        .arg(data)
        .args(args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(delay);
    let _ = child.kill();
    child.wait().unwrap().success()
}

fn timed(data: &std::path::Path, args: &[&str]) -> u64 {
    let started = Instant::now();
    ok(data, args);
    started.elapsed().as_millis() as u64 + 10
}

fn copy_key(from: &std::path::Path, to_dir: &std::path::Path) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(to_dir).unwrap();
    let to = to_dir.join("master.key");
    std::fs::copy(from, &to).unwrap();
    std::fs::set_permissions(&to, std::fs::Permissions::from_mode(0o600)).unwrap();
}

const TENANTS: usize = 2000;

fn assert_intact(data: &std::path::Path, what: &str) {
    let check = roster(data, &["check"]);
    assert_eq!(check.code, 0, "{what}: {}", check.stderr);
    assert!(
        check
            .stdout
            .contains(&format!("{TENANTS} sealed secret(s) open")),
        "{what}: {}",
        check.stdout
    );
}

#[test]
fn kills_during_master_key_rotation_backup_and_restore_leave_a_usable_store() {
    let (tmp, data) = temp_data_dir();
    {
        let config = roster::config::Config {
            data_dir: data.clone(),
            ..roster::config::Config::default()
        };
        let dir = roster::directory::Directory::open(&config).unwrap();
        dir.create_tenants_bulk("Crash", TENANTS, "test").unwrap();
    }
    assert_intact(&data, "setup");
    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
    let rounds = 4;

    // rotate-master: the store opens with whichever key the kill left, every secret too.
    let key_file = |n: u32| {
        let f = tmp.path().join(format!("new-{n}.key"));
        roster::crypto::MasterKey::random().create_file(&f).unwrap();
        f
    };
    let first = key_file(0);
    let span = timed(
        &data,
        &[
            "keys",
            "rotate-master",
            "--new-key-file",
            first.to_str().unwrap(),
        ],
    );
    for round in 1..=rounds {
        let f = key_file(round);
        let delay = Duration::from_millis(rng.random_range(0..span));
        run_killed(
            &data,
            &[
                "keys",
                "rotate-master",
                "--new-key-file",
                f.to_str().unwrap(),
            ],
            delay,
        );
        assert_intact(&data, &format!("rotate-master round {round}"));
    }

    // backup: a killed backup leaves the store as it was and no file that restores half.
    let server = Server::start(&data);
    let file = tmp.path().join("backup.redb");
    let span = timed(&data, &["backup", "--out", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    for round in 0..rounds {
        let out = tmp.path().join(format!("killed-{round}.redb"));
        let delay = Duration::from_millis(rng.random_range(0..span));
        run_killed(&data, &["backup", "--out", out.to_str().unwrap()], delay);
        if out.exists() {
            let target = tmp.path().join(format!("from-killed-{round}"));
            let restored = roster(&target, &["restore", out.to_str().unwrap()]);
            assert_eq!(
                restored.code, 0,
                "a finished backup restores: {}",
                restored.stderr
            );
            copy_key(&data.join("master.key"), &target);
            assert_intact(&target, &format!("backup round {round}"));
        }
    }
    assert!(server.stop().success());
    assert_intact(&data, "after killed backups");

    // restore: a killed restore leaves nothing the server would serve, or the whole store.
    ok(&data, &["backup", "--out", file.to_str().unwrap()]);
    let span = timed(
        &tmp.path().join("timed-restore"),
        &["restore", file.to_str().unwrap()],
    );
    for round in 0..rounds {
        let target = tmp.path().join(format!("restore-{round}"));
        let delay = Duration::from_millis(rng.random_range(0..span));
        let finished = run_killed(&target, &["restore", file.to_str().unwrap()], delay);
        copy_key(&data.join("master.key"), &target);
        if target.join("roster.redb").exists() {
            assert_intact(
                &target,
                &format!("restore round {round} (finished: {finished})"),
            );
        } else {
            // Nothing usable was left: the restore can simply be run again.
            let again = roster(&target, &["restore", file.to_str().unwrap()]);
            assert_eq!(again.code, 0, "round {round}: {}", again.stderr);
            assert_intact(&target, &format!("restore round {round}, run again"));
        }
    }
}

fn flip_byte(path: &std::path::Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, offset).unwrap();
    f.write_all_at(&[b[0] ^ 0x5a], offset).unwrap();
}

fn copy_dir(from: &std::path::Path, to: &std::path::Path) {
    let _ = std::fs::remove_dir_all(to);
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_type().unwrap().is_file() {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

#[test]
fn damaged_store_and_journal_files_are_refused_at_start_naming_the_file() {
    let (tmp, data) = temp_data_dir();
    for i in 0..40 {
        ok(
            &data,
            &["tenant", "create", "--name", &format!("Tenant {i}")],
        );
    }
    let listing = ok(&data, &["tenant", "list"]);
    let pristine = tmp.path().join("pristine");
    copy_dir(&data, &pristine);
    let store = data.join("roster.redb");
    let len = std::fs::metadata(&store).unwrap().len();

    // Truncated: refused, naming the file; nothing is served.
    std::fs::OpenOptions::new()
        .write(true)
        .open(&store)
        .unwrap()
        .set_len(len / 2)
        .unwrap();
    let refused = Server::launch(&data, Launch::default())
        .err()
        .expect("refused");
    assert_ne!(refused.0, 0);
    assert!(refused.1.contains("roster.redb"), "{}", refused.1);
    assert!(!refused.1.contains("panicked"), "{}", refused.1);

    // One flipped byte anywhere: refused with the file named, or (a byte of
    // free space) served with exactly the data it had.
    let mut rng = rand::rngs::StdRng::seed_from_u64(rand::random());
    let mut refused_flips = 0;
    for _ in 0..24 {
        copy_dir(&pristine, &data);
        flip_byte(&store, rng.random_range(0..len));
        let out = roster(&data, &["tenant", "list"]);
        if out.code == 0 {
            assert_eq!(out.stdout, listing, "a damaged store served other data");
            assert!(ok(&data, &["check"]).starts_with("ok:"));
        } else {
            refused_flips += 1;
            assert!(
                out.stderr.contains("roster.redb") && !out.stderr.contains("panicked"),
                "{}",
                out.stderr
            );
        }
    }
    eprintln!("flipped bytes: {refused_flips} of 24 refused, the rest in unused space");

    // The journal: writes acknowledged by a server killed before a checkpoint.
    // (Damaged in place: the journal is bound to its store file's identity,
    // which a copy does not keep.)
    let killed_server = || {
        copy_dir(&pristine, &data);
        let server = Server::start(&data);
        for i in 0..6 {
            ok(&data, &["tenant", "create", "--name", &format!("Late {i}")]);
        }
        server.kill();
    };
    let journal = data.join("roster.redb-journal");
    // A damaged first record with intact ones after it: refused, not replayed in part.
    killed_server();
    flip_byte(&journal, 4096 + 200);
    let out = roster(&data, &["tenant", "list"]);
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("roster.redb-journal") && out.stderr.contains("journal is damaged"),
        "{}",
        out.stderr
    );
    // A damaged journal header in front of records: refused as well.
    killed_server();
    flip_byte(&journal, 10);
    let out = roster(&data, &["tenant", "list"]);
    assert_ne!(out.code, 0, "{}", out.stdout);
    assert!(
        out.stderr.contains("roster.redb-journal") && out.stderr.contains("header is damaged"),
        "{}",
        out.stderr
    );
    // Undamaged, the killed server's writes are all there.
    killed_server();
    let after = ok(&data, &["tenant", "list"]);
    assert!(
        (0..6).all(|i| after.contains(&format!("Late {i}"))),
        "{after}"
    );
}

/// A small tmpfs mounted for one test, unmounted when dropped.
struct SmallDisk {
    path: std::path::PathBuf,
}

impl SmallDisk {
    /// Mounts `size` of tmpfs (needs root); None where mounting is refused.
    fn mount(path: &std::path::Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(path).unwrap();
        let done = std::process::Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={size},mode=0700"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .is_ok_and(|s| s.success());
        done.then(|| SmallDisk {
            path: path.to_path_buf(),
        })
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(&self.path)
            .status();
    }
}

/// Fills the disk holding `dir` with one file until it is full.
fn fill(dir: &std::path::Path) -> std::path::PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let block = vec![7u8; 64 * 1024];
    while f.write_all(&block).is_ok() {}
    let _ = f.sync_all();
    path
}

#[test]
fn a_full_disk_refuses_writes_cleanly_and_writes_resume_when_space_returns() {
    let tmp = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&tmp.path().join("disk"), "24m") else {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI must be able to mount a tmpfs (run as root) for the full-disk test"
        );
        eprintln!("skipped: cannot mount a tmpfs here (not root)");
        return;
    };
    let data = disk.path.join("data");
    let launch = || {
        Server::launch(
            &data,
            Launch {
                env: vec![("ROSTER_JOURNAL_CHECKPOINT_BYTES", "262144")],
                // The server's log stays off the small disk.
                cwd: Some(tmp.path().to_path_buf()),
                ..Launch::default()
            },
        )
        .expect("server start")
    };
    let mut server = launch();
    let scim = Scim::setup(&server, "Full");
    let slug = scim.base.rsplit('/').next().unwrap().to_string();
    let mut acked = Vec::new();
    for i in 0..30 {
        acked.push(
            scim.create("/Users", &user_body(&format!("before-{i}")))["id"]
                .as_str()
                .unwrap()
                .to_string(),
        );
    }
    let filler = fill(&disk.path);

    // Writes now fail: each with a clean SCIM error, never a half-stored user.
    let mut refused = 0;
    for i in 0..400 {
        let r = scim.post("/Users", &user_body(&format!("during-{i}")));
        match r.status {
            201 => acked.push(r.json()["id"].as_str().unwrap().to_string()),
            507 => {
                assert_eq!(r.json()["status"], "507", "{}", r.body);
                assert!(r.body.contains("disk is full"), "{}", r.body);
                refused += 1;
                if refused >= 5 {
                    break;
                }
            }
            other => panic!("a write on a full disk got {other}: {}", r.body),
        }
    }
    assert!(refused >= 5, "the disk never filled");
    // Reads keep working meanwhile.
    for id in &acked {
        assert_eq!(scim.get(&format!("/Users/{id}")).status, 200);
    }
    assert_eq!(get(&format!("{}/healthz", server.base), None).status, 200);

    // Space returns: the server notices, exits for a restart (as systemd does it).
    std::fs::remove_file(&filler).unwrap();
    let status = server
        .wait_exit(Duration::from_secs(30))
        .expect("the server exits once the disk takes writes again");
    assert_eq!(status.code(), Some(75), "{}", server.log_text());
    assert!(
        server.log_text().contains("takes writes again"),
        "{}",
        server.log_text()
    );
    server = launch();
    let scim = Scim {
        base: format!("{}/scim/v2/{slug}", server.base),
        auth: scim.auth.clone(),
    };
    for id in &acked {
        assert_eq!(
            scim.get(&format!("/Users/{id}")).status,
            200,
            "acknowledged {id} lost"
        );
    }
    let listed = scim.get("/Users?count=1000").json();
    assert_eq!(
        listed["totalResults"].as_u64().unwrap() as usize,
        acked.len(),
        "a refused write was stored"
    );
    assert_eq!(scim.post("/Users", &user_body("after")).status, 201);
    assert!(server.stop().success());
    assert!(ok(&data, &["check"]).starts_with("ok:"));
}
