//! Load tool: runs named SCIM workloads against a running Roster and reports
//! throughput and latency percentiles.
//!
//! ```text
//! roster serve --data-dir /tmp/bench &          # (pin it: taskset -c 0 roster serve ...)
//! cargo run --release --example load -- --data-dir /tmp/bench --base http://127.0.0.1:8080 all
//! ```
//! It creates a tenant and token through the `roster` CLI (the control socket of
//! that data dir), or uses `--scim-base URL --token T` for any SCIM server.
//! Workloads: ceiling (GET of `examples/ceiling.rs`, a minimal actix-web
//! handler with a fixed 300-byte JSON: the reference of GET by id), baseline
//! (GET /healthz of the server), create, get, filter, list, patch, group,
//! sync (Okta full sync: filter then create per user), all.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Opts {
    base: String,
    /// The reference server (`examples/ceiling.rs`) of the `ceiling` workload.
    ceiling: String,
    scim_base: Option<String>,
    token: Option<String>,
    data_dir: String,
    roster: String,
    seconds: f64,
    users: usize,
    members: usize,
    workloads: Vec<String>,
}

fn parse_args() -> Opts {
    let mut o = Opts {
        base: "http://127.0.0.1:8080".into(),
        ceiling: "http://127.0.0.1:18199".into(),
        scim_base: None,
        token: None,
        data_dir: "./roster-data".into(),
        roster: "target/release/roster".into(),
        seconds: 5.0,
        users: 100_000,
        members: 5000,
        workloads: vec![],
    };
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_default();
        match a.as_str() {
            "--base" => o.base = val(),
            "--ceiling" => o.ceiling = val(),
            "--scim-base" => o.scim_base = Some(val()),
            "--token" => o.token = Some(val()),
            "--data-dir" => o.data_dir = val(),
            "--roster" => o.roster = val(),
            "--seconds" => o.seconds = val().parse().unwrap_or(5.0),
            "--users" => o.users = val().parse().unwrap_or(100_000),
            "--members" => o.members = val().parse().unwrap_or(5000),
            "-h" | "--help" => {
                println!(
                    "usage: load [--base URL] [--ceiling URL] [--data-dir D] [--roster BIN] [--scim-base URL --token T] [--seconds S] [--users N] [--members N] WORKLOAD..."
                );
                std::process::exit(0);
            }
            w => o.workloads.push(w.to_string()),
        }
    }
    if o.workloads.is_empty() || o.workloads.iter().any(|w| w == "all") {
        o.workloads = [
            "baseline", "create", "get", "filter", "list", "patch", "group",
        ]
        .map(String::from)
        .to_vec();
    }
    o
}

/// A SCIM client over plain HTTP/1.1: one keep-alive connection per load
/// thread, requests written in one piece. Lighter than a general client, so the
/// load tool spends far less CPU per request than the server it measures.
struct Client {
    /// `host:port`.
    authority: String,
    /// The base URL's path, which request paths are appended to.
    prefix: String,
    auth: String,
}

thread_local! {
    /// This thread's connection: (authority, stream).
    static CONNECTION: std::cell::RefCell<Option<(String, BufReader<TcpStream>)>> =
        const { std::cell::RefCell::new(None) };
}

impl Client {
    fn new(base: &str, auth: &str) -> Client {
        let rest = base.strip_prefix("http://").unwrap_or_else(|| {
            eprintln!("load: only http:// base URLs are supported, not {base}");
            std::process::exit(2)
        });
        let (authority, prefix) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
        Client {
            authority: authority.to_string(),
            prefix: prefix.trim_end_matches('/').to_string(),
            auth: auth.to_string(),
        }
    }

    /// A form POST (the token endpoint).
    fn form(&self, path: &str, body: &str) -> (u16, String) {
        self.exchange_message(format!(
            "POST {}{path} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n{body}",
            self.prefix,
            self.authority,
            body.len()
        ))
    }

    fn send(&self, method: &str, path: &str, body: Option<&Value>) -> (u16, String) {
        self.request(method, path, body.map(Value::to_string).as_deref())
    }

    /// (status, body), or (0, "") when the exchange failed.
    fn request(&self, method: &str, path: &str, body: Option<&str>) -> (u16, String) {
        let mut message = format!(
            "{method} {}{path} HTTP/1.1\r\nHost: {}\r\n",
            self.prefix, self.authority
        );
        if !self.auth.is_empty() {
            message.push_str(&format!("Authorization: {}\r\n", self.auth));
        }
        if let Some(body) = body {
            message.push_str(&format!(
                "Content-Type: application/scim+json\r\nContent-Length: {}\r\n\r\n{body}",
                body.len()
            ));
        } else {
            message.push_str("\r\n");
        }
        self.exchange_message(message)
    }

    fn exchange_message(&self, message: String) -> (u16, String) {
        CONNECTION.with_borrow_mut(|slot| {
            // A kept connection the server has closed meanwhile fails before
            // any answer: then once more on a new one.
            for _ in 0..2 {
                let reused = slot.as_ref().is_some_and(|(a, _)| *a == self.authority);
                if !reused {
                    let Ok(stream) = TcpStream::connect(&self.authority) else {
                        return (0, String::new());
                    };
                    let _ = stream.set_nodelay(true);
                    *slot = Some((self.authority.clone(), BufReader::new(stream)));
                }
                let Some((_, conn)) = slot.as_mut() else {
                    return (0, String::new());
                };
                match exchange(conn, message.as_bytes()) {
                    Ok((status, body, keep)) => {
                        if !keep {
                            *slot = None;
                        }
                        return (status, body);
                    }
                    Err(answered) => {
                        *slot = None;
                        if answered || !reused {
                            break;
                        }
                    }
                }
            }
            (0, String::new())
        })
    }
}

/// Writes `message` and reads the response: (status, body, keep-alive).
/// An error says whether any of the response had arrived.
fn exchange(conn: &mut BufReader<TcpStream>, message: &[u8]) -> Result<(u16, String, bool), bool> {
    conn.get_mut().write_all(message).map_err(|_| false)?;
    let mut line = String::new();
    if conn.read_line(&mut line).map_err(|_| false)? == 0 {
        return Err(false);
    }
    let status: u16 = line
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or(true)?;
    let (mut length, mut chunked, mut keep) = (None, false, true);
    loop {
        line.clear();
        if conn.read_line(&mut line).map_err(|_| true)? == 0 {
            return Err(true);
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        let Some((name, value)) = header.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("content-length") {
            length = value.parse::<usize>().ok();
        } else if name.eq_ignore_ascii_case("transfer-encoding") {
            chunked = value.eq_ignore_ascii_case("chunked");
        } else if name.eq_ignore_ascii_case("connection") {
            keep = !value.eq_ignore_ascii_case("close");
        }
    }
    let mut body = Vec::new();
    if chunked {
        loop {
            line.clear();
            conn.read_line(&mut line).map_err(|_| true)?;
            let size = usize::from_str_radix(line.trim().split(';').next().unwrap_or(""), 16)
                .map_err(|_| true)?;
            let at = body.len();
            body.resize(at + size, 0);
            conn.read_exact(&mut body[at..]).map_err(|_| true)?;
            line.clear();
            conn.read_line(&mut line).map_err(|_| true)?;
            if size == 0 {
                break;
            }
        }
    } else if let Some(n) = length {
        body.resize(n, 0);
        conn.read_exact(&mut body).map_err(|_| true)?;
    } else if status != 204 && status != 304 {
        conn.read_to_end(&mut body).map_err(|_| true)?;
        keep = false;
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned(), keep))
}

struct Report {
    name: String,
    requests: usize,
    errors: usize,
    elapsed: f64,
    latencies: Vec<f64>,
}

impl Report {
    fn print(&mut self) {
        self.latencies
            .sort_by(|a, b| a.partial_cmp(b).unwrap_or(std::cmp::Ordering::Equal));
        let pct = |p: f64| {
            if self.latencies.is_empty() {
                0.0
            } else {
                self.latencies[((self.latencies.len() as f64 - 1.0) * p) as usize] * 1000.0
            }
        };
        println!(
            "{:<28} {:>9.0} req/s  p50 {:>7.2} ms  p99 {:>7.2} ms  ({} requests, {} errors, {:.1} s)",
            self.name,
            self.requests as f64 / self.elapsed,
            pct(0.50),
            pct(0.99),
            self.requests,
            self.errors,
            self.elapsed
        );
    }
}

/// Runs `op(i)` on `threads` threads for `seconds` (or `limit` operations).
fn run(
    name: &str,
    threads: usize,
    seconds: f64,
    limit: Option<usize>,
    op: impl Fn(usize) -> bool + Send + Sync + 'static,
) -> Report {
    let op = Arc::new(op);
    let counter = Arc::new(AtomicUsize::new(0));
    let deadline = Instant::now() + Duration::from_secs_f64(seconds);
    let started = Instant::now();
    let handles: Vec<_> = (0..threads)
        .map(|_| {
            let (op, counter) = (op.clone(), counter.clone());
            std::thread::spawn(move || {
                let mut lat = Vec::new();
                let mut errors = 0;
                loop {
                    let i = counter.fetch_add(1, Ordering::Relaxed);
                    if limit.is_some_and(|l| i >= l)
                        || (limit.is_none() && Instant::now() >= deadline)
                    {
                        break;
                    }
                    let t = Instant::now();
                    if !op(i) {
                        errors += 1;
                    }
                    lat.push(t.elapsed().as_secs_f64());
                }
                (lat, errors)
            })
        })
        .collect();
    let mut report = Report {
        name: name.to_string(),
        requests: 0,
        errors: 0,
        elapsed: 0.0,
        latencies: vec![],
    };
    for h in handles {
        if let Ok((lat, errors)) = h.join() {
            report.requests += lat.len();
            report.errors += errors;
            report.latencies.extend(lat);
        }
    }
    report.elapsed = started.elapsed().as_secs_f64();
    report
}

/// `n` user ids of the tenant: existing users first (paged by id), then new ones.
fn user_ids(c: &Arc<Client>, n: usize, tag: u32) -> Vec<String> {
    let mut ids = Vec::with_capacity(n);
    let mut cursor = String::new();
    while ids.len() < n {
        let (_, body) = c.send(
            "GET",
            &format!("/Users?attributes=id&count=1000&cursor={cursor}"),
            None,
        );
        let Ok(page) = serde_json::from_str::<Value>(&body) else {
            break;
        };
        let found = page["Resources"].as_array().cloned().unwrap_or_default();
        ids.extend(
            found
                .iter()
                .filter_map(|r| r["id"].as_str().map(String::from)),
        );
        match page["nextCursor"].as_str() {
            Some(next) if !found.is_empty() => cursor = next.to_string(),
            _ => break,
        }
    }
    ids.truncate(n);
    let missing = n - ids.len();
    let created = Arc::new(std::sync::Mutex::new(Vec::new()));
    let (c2, sink) = (c.clone(), created.clone());
    run(
        &format!("create {missing} members (16)"),
        16,
        0.0,
        Some(missing),
        move |i| {
            let (s, b) = c2.request(
                "POST",
                "/Users",
                Some(&okta_user(&format!("g{tag}-{i}@load.test"))),
            );
            if let (201, Some(id), Ok(mut g)) = (s, created_id(&b), sink.lock()) {
                g.push(id);
            }
            s == 201
        },
    );
    ids.extend(created.lock().map(|g| g.clone()).unwrap_or_default());
    ids
}

/// Fills a new group with `members` in PATCHes of 100, then times single
/// member removes and adds on it, and one full GET of it.
fn group_workload(c: &Arc<Client>, members: &[String], tag: u32) {
    let n = members.len();
    let (_, g) = c.send(
        "POST",
        "/Groups",
        Some(&json!({"displayName": format!("load-group-{tag}-{n}")})),
    );
    let gid = serde_json::from_str::<Value>(&g)
        .ok()
        .and_then(|v| v["id"].as_str().map(String::from))
        .unwrap_or_default();
    let patch = |ops: Value| json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let members = Arc::new(members.to_vec());
    let (c2, gid2, m2) = (c.clone(), gid.clone(), members.clone());
    run(
        &format!("group add batches of 100 to {n} (1)"),
        1,
        0.0,
        Some(n.div_ceil(100)),
        move |b| {
            let value: Vec<Value> = m2[b * 100..((b + 1) * 100).min(m2.len())]
                .iter()
                .map(|id| json!({"value": id}))
                .collect();
            let body = patch(json!([{"op": "add", "path": "members", "value": value}]));
            // 204 once the group is too large to list in the answer.
            matches!(
                c2.send("PATCH", &format!("/Groups/{gid2}"), Some(&body)).0,
                200 | 204
            )
        },
    )
    .print();
    // Each operation is one PATCH: a remove on even i, the add back on odd i.
    let (c3, gid3, m3) = (c.clone(), gid.clone(), members.clone());
    let patch3 = patch;
    run(
        &format!("group single remove/add on {n} (1)"),
        1,
        0.0,
        Some(2000),
        move |i| {
            let id = &m3[(i / 2 * 7919) % m3.len()];
            let body = if i % 2 == 0 {
                patch3(json!([{"op": "remove", "path": format!("members[value eq \"{id}\"]")}]))
            } else {
                patch3(json!([{"op": "add", "path": "members", "value": [{"value": id}]}]))
            };
            matches!(
                c3.send("PATCH", &format!("/Groups/{gid3}"), Some(&body)).0,
                200 | 204
            )
        },
    )
    .print();
    let started = Instant::now();
    let (status, body) = c.send("GET", &format!("/Groups/{gid}"), None);
    let listed = serde_json::from_str::<Value>(&body)
        .ok()
        .and_then(|v| v["members"].as_array().map(Vec::len))
        .unwrap_or(0);
    println!(
        "{:<28} {:>9.1} ms  ({status}, {listed} members, {} bytes)",
        format!("GET group of {n}"),
        started.elapsed().as_secs_f64() * 1000.0,
        body.len()
    );
}

/// The reference the group commit is measured against: plain redb durable
/// write transactions on the same disk as the server's store, run while the
/// server is idle: per (two-phase, rows) mode, commits of `rows` rows each in
/// redb's default (1 fsync, trusting page checksums to spot a torn commit) or
/// two-phase (2 fsyncs, crash-safe without them) mode. Roster's own commits
/// sync once, to its journal, and are crash-safe without them too.
fn redb_reference(data_dir: &str, seconds: f64, modes: &[(bool, u64)]) {
    use redb::{Database, ReadableDatabase as _, TableDefinition};
    const T: TableDefinition<u64, &[u8]> = TableDefinition::new("t");
    let dir = match tempfile::tempdir_in(data_dir) {
        Ok(d) => d,
        Err(e) => return eprintln!("redb: cannot create a temp dir in {data_dir}: {e}"),
    };
    let db = match Database::create(dir.path().join("ref.redb")) {
        Ok(db) => db,
        Err(e) => return eprintln!("redb: {e}"),
    };
    let row = [7u8; 600];
    let mut key = 0u64;
    for &(two_phase, rows) in modes {
        let started = Instant::now();
        let mut commits = 0u64;
        while started.elapsed().as_secs_f64() < seconds {
            let Ok(mut tx) = db.begin_write() else { return };
            tx.set_two_phase_commit(two_phase);
            if let Ok(mut t) = tx.open_table(T) {
                for _ in 0..rows {
                    key += 1;
                    let _ = t.insert(key, row.as_slice());
                }
            }
            if tx.commit().is_err() {
                return eprintln!("redb: commit failed");
            }
            commits += 1;
        }
        let per_s = commits as f64 / started.elapsed().as_secs_f64();
        println!(
            "{:<28} {:>9.0} commits/s ({:.0} rows/s)",
            format!("redb {} x{rows}", if two_phase { "2pc" } else { "1pc" }),
            per_s,
            per_s * rows as f64
        );
    }
    let _ = db.begin_read();
}

/// An Okta-style create body (JSON text: built per request, it is cheap).
fn okta_user(name: &str) -> String {
    let (user, external) = (Value::from(name), Value::from(format!("ext-{name}")));
    format!(
        r#"{{"schemas":["urn:ietf:params:scim:schemas:core:2.0:User"],"userName":{user},"name":{{"givenName":"Load","familyName":"Test"}},"emails":[{{"primary":true,"value":{user},"type":"work"}}],"displayName":"Load Test","locale":"en-US","externalId":{external},"groups":[],"active":true}}"#
    )
}

/// The `id` of a created resource.
fn created_id(body: &str) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Created {
        id: String,
    }
    serde_json::from_str::<Created>(body).ok().map(|c| c.id)
}

fn setup(o: &Opts) -> (String, String) {
    if let (Some(b), Some(t)) = (&o.scim_base, &o.token) {
        return (b.clone(), format!("Bearer {t}"));
    }
    let cli = |args: &[&str]| -> String {
        let out = Command::new(&o.roster)
            .arg("--data-dir")
            .arg(&o.data_dir)
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("cannot run {}: {e}", o.roster));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let name = format!("load-{}", std::process::id());
    let created = cli(&["tenant", "create", "--name", &name]);
    let slug = created
        .lines()
        .find_map(|l| l.strip_prefix("slug: "))
        .unwrap_or(&name)
        .to_string();
    cli(&["scim", "activate", "--tenant", &slug]);
    let token = cli(&["token", "create", "--tenant", &slug])
        .trim()
        .to_string();
    (
        format!("{}/scim/v2/{slug}", o.base),
        format!("Bearer {token}"),
    )
}

fn main() {
    let o = parse_args();
    let (scim_base, auth) = setup(&o);
    let client = Arc::new(Client::new(&scim_base, &auth));
    println!("target {scim_base}");
    let tag = std::process::id();
    // (id, userName) of the users the create runs made.
    let ids: Arc<std::sync::Mutex<Vec<(String, String)>>> = Arc::default();
    // A workload may be named more than once (interleaved runs): each create
    // run makes new users.
    let mut create_runs = 0u32;
    for w in &o.workloads {
        match w.as_str() {
            "baseline" => {
                let c = Arc::new(Client::new(&o.base, ""));
                run(
                    "baseline GET /healthz (32)",
                    32,
                    o.seconds,
                    None,
                    move |_| c.send("GET", "/healthz", None).0 == 200,
                )
                .print();
            }
            "ceiling" => {
                let c = Arc::new(Client::new(&o.ceiling, ""));
                run("ceiling (32)", 32, o.seconds, None, move |_| {
                    c.send("GET", "/", None).0 == 200
                })
                .print();
            }
            "create" => {
                let (c, ids) = (client.clone(), ids.clone());
                create_runs += 1;
                let prefix = format!("c{tag}r{create_runs}");
                run("create (16)", 16, o.seconds, None, move |i| {
                    let name = format!("{prefix}-{i}@load.test");
                    let (s, body) = c.request("POST", "/Users", Some(&okta_user(&name)));
                    if s == 201
                        && let Some(id) = created_id(&body)
                        && let Ok(mut g) = ids.lock()
                    {
                        g.push((id, name));
                    }
                    s == 201
                })
                .print();
            }
            "api" => {
                // The application API beside SCIM GET: token requests, then
                // GET /api/v1/users/{id} of users the create runs made.
                let known: Vec<(String, String)> =
                    ids.lock().map(|g| g.clone()).unwrap_or_default();
                if known.is_empty() {
                    eprintln!("{w}: run create first");
                    continue;
                }
                let slug = scim_base.rsplit('/').next().unwrap_or_default().to_string();
                let out = Command::new(&o.roster)
                    .arg("--data-dir")
                    .arg(&o.data_dir)
                    .args(["app", "create", "--tenant", &slug, "--name", "load"])
                    .output()
                    .unwrap_or_else(|e| panic!("cannot run {}: {e}", o.roster));
                let text = String::from_utf8_lossy(&out.stdout).into_owned();
                let field = |k: &str| {
                    text.lines()
                        .find_map(|l| l.strip_prefix(k))
                        .unwrap_or_default()
                        .to_string()
                };
                let form = format!(
                    "grant_type=client_credentials&client_id={}&client_secret={}",
                    field("client_id: "),
                    field("client_secret: ")
                );
                let oauth = Arc::new(Client::new(&o.base, ""));
                let (o2, f2) = (oauth.clone(), form.clone());
                run("api token (16)", 16, o.seconds, None, move |_| {
                    o2.form("/oauth/token", &f2).0 == 200
                })
                .print();
                let (_, body) = oauth.form("/oauth/token", &form);
                let token = body
                    .split("\"access_token\":\"")
                    .nth(1)
                    .and_then(|rest| rest.split('"').next())
                    .unwrap_or_default()
                    .to_string();
                let api = Arc::new(Client::new(
                    &format!("{}/api/v1", o.base),
                    &format!("Bearer {token}"),
                ));
                let known = Arc::new(known);
                run("api get (32)", 32, o.seconds, None, move |i| {
                    let (id, _) = &known[i % known.len()];
                    api.send("GET", &format!("/users/{id}"), None).0 == 200
                })
                .print();
            }
            "get" | "filter" | "patch" => {
                let known: Vec<(String, String)> =
                    ids.lock().map(|g| g.clone()).unwrap_or_default();
                if known.is_empty() {
                    eprintln!("{w}: run create first");
                    continue;
                }
                let known = Arc::new(known);
                let c = client.clone();
                let w2 = w.clone();
                let threads = if w == "patch" { 16 } else { 32 };
                run(&format!("{w} ({threads})"), threads, o.seconds, None, move |i| {
                    let (id, name) = &known[i % known.len()];
                    match w2.as_str() {
                        "get" => c.send("GET", &format!("/Users/{id}"), None).0 == 200,
                        "filter" => {
                            let f = format!("userName%20eq%20%22{}%22", name.replace('@', "%40"));
                            let (s, body) = c.send("GET", &format!("/Users?filter={f}"), None);
                            // A hit, not an empty list.
                            s == 200
                                && (body.contains("\"totalResults\":1,")
                                    || body.contains("\"totalResults\":1}"))
                        }
                        _ => {
                            let body = format!(
                                r#"{{"schemas":["urn:ietf:params:scim:api:messages:2.0:PatchOp"],"Operations":[{{"op":"replace","value":{{"active":{}}}}}]}}"#,
                                i % 2 == 0
                            );
                            c.request("PATCH", &format!("/Users/{id}"), Some(&body)).0 == 200
                        }
                    }
                })
                .print();
            }
            "list" => {
                let c = client.clone();
                let total: usize =
                    serde_json::from_str::<Value>(&c.send("GET", "/Users?count=0", None).1)
                        .ok()
                        .and_then(|v| v["totalResults"].as_u64())
                        .unwrap_or(0) as usize;
                run(
                    &format!("list pages of 100 of {total} (8)"),
                    8,
                    o.seconds,
                    None,
                    move |i| {
                        let start = 1 + (i * 100) % total.max(1);
                        c.send("GET", &format!("/Users?startIndex={start}&count=100"), None)
                            .0
                            == 200
                    },
                )
                .print();
            }
            "group" => {
                let c = client.clone();
                let ids = user_ids(&c, o.members, tag);
                for size in [o.members, 100] {
                    group_workload(&c, &ids[..size.min(ids.len())], tag);
                }
            }
            "sync" => {
                let c = client.clone();
                let n = o.users;
                let mut r = run(
                    &format!("okta full sync of {n} (16)"),
                    16,
                    0.0,
                    Some(n),
                    move |i| {
                        let name = format!("s{tag}-{i}@load.test");
                        let f = format!("userName%20eq%20%22{}%22", name.replace('@', "%40"));
                        let found =
                            c.send(
                                "GET",
                                &format!("/Users?filter={f}&startIndex=1&count=100"),
                                None,
                            )
                            .0 == 200;
                        found && c.request("POST", "/Users", Some(&okta_user(&name))).0 == 201
                    },
                );
                r.print();
            }
            "redb" => redb_reference(
                &o.data_dir,
                o.seconds,
                &[(false, 1), (true, 1), (false, 100)],
            ),
            // Only the single-row references of the group-commit target, for
            // interleaving with `create` and `patch` (see benches/figures.sh).
            "redb2pc" => redb_reference(&o.data_dir, o.seconds, &[(true, 1)]),
            "redb1pc" => redb_reference(&o.data_dir, o.seconds, &[(false, 1)]),
            other => eprintln!("unknown workload {other}"),
        }
    }
}
