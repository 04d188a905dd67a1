//! Webhooks as a receiving application meets them: a receiver on 127.0.0.1
//! started here gets change events signed per Standard Webhooks, in feed
//! order, retried while it is down and after Roster restarts.

mod common;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicU16, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use common::*;
use hmac::{Hmac, KeyInit, Mac};
use serde_json::{Value, json};

/// One request the receiver got.
#[derive(Clone, Debug)]
struct Received {
    headers: HashMap<String, String>,
    body: Vec<u8>,
    at: Instant,
}

impl Received {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap()
    }

    fn id(&self) -> &str {
        &self.headers["webhook-id"]
    }
}

/// A minimal HTTP/1.1 receiver answering every POST with `status`.
struct Receiver {
    port: u16,
    got: Arc<Mutex<Vec<Received>>>,
    status: Arc<AtomicU16>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl Receiver {
    fn start() -> Receiver {
        Self::on_port(0, Arc::default())
    }

    fn on_port(port: u16, got: Arc<Mutex<Vec<Received>>>) -> Receiver {
        let listener = TcpListener::bind(("127.0.0.1", port)).unwrap();
        let port = listener.local_addr().unwrap().port();
        listener.set_nonblocking(true).unwrap();
        let status = Arc::new(AtomicU16::new(200));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let (got, status, stop) = (got.clone(), status.clone(), stop.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Acquire) {
                    match listener.accept() {
                        Ok((stream, _)) => serve_one(stream, &got, status.load(Ordering::Acquire)),
                        Err(_) => std::thread::sleep(Duration::from_millis(5)),
                    }
                }
            })
        };
        Receiver {
            port,
            got,
            status,
            stop,
            thread: Some(thread),
        }
    }

    fn url(&self) -> String {
        format!(
            "http://127.0.0.1:{}/hooks/roster?token=receiver-side",
            self.port
        )
    }

    /// Closes the port: connections are refused until `up`.
    fn down(mut self) -> (u16, Arc<Mutex<Vec<Received>>>) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
        (self.port, self.got.clone())
    }

    fn up(port: u16, got: Arc<Mutex<Vec<Received>>>) -> Receiver {
        Self::on_port(port, got)
    }

    fn received(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    /// Waits until `n` messages arrived (at most 20 s).
    fn wait_for(&self, n: usize) -> Vec<Received> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let got = self.received();
            if got.len() >= n {
                return got;
            }
            assert!(
                Instant::now() < deadline,
                "only {} of {n} webhook messages arrived: {:?}",
                got.len(),
                got.iter().map(|r| r.id().to_string()).collect::<Vec<_>>()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Release);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn serve_one(stream: TcpStream, got: &Mutex<Vec<Received>>, status: u16) {
    stream.set_nonblocking(false).unwrap();
    stream
        .set_read_timeout(Some(Duration::from_secs(5)))
        .unwrap();
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    if reader.read_line(&mut line).is_err()
        || !line.starts_with("POST /hooks/roster?token=receiver-side ")
    {
        return;
    }
    let mut headers = HashMap::new();
    loop {
        let mut h = String::new();
        if reader.read_line(&mut h).is_err() || h.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            headers.insert(k.trim().to_ascii_lowercase(), v.trim().to_string());
        }
    }
    let len: usize = headers
        .get("content-length")
        .and_then(|v| v.parse().ok())
        .unwrap_or(0);
    let mut body = vec![0; len];
    if reader.read_exact(&mut body).is_err() {
        return;
    }
    if status == 200 {
        got.lock().unwrap().push(Received {
            headers,
            body,
            at: Instant::now(),
        });
    }
    let answer = if status == 200 {
        "thanks"
    } else {
        "receiver says no"
    };
    let _ = write!(
        reader.get_mut(),
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{answer}",
        answer.len()
    );
}

/// Checks a message's signature the way a receiver's Standard Webhooks
/// library does, with a clock tolerance of five minutes.
fn assert_signed(msg: &Received, secret: &str) {
    let key = STANDARD
        .decode(secret.strip_prefix("whsec_").expect("whsec_ secret"))
        .unwrap();
    let ts = &msg.headers["webhook-timestamp"];
    let age = roster_now() - ts.parse::<i64>().unwrap();
    assert!(age.abs() < 300, "timestamp {ts} is off by {age} s");
    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(&key).unwrap();
    mac.update(format!("{}.{ts}.", msg.id()).as_bytes());
    mac.update(&msg.body);
    let expected = format!("v1,{}", STANDARD.encode(mac.finalize().into_bytes()));
    let given = &msg.headers["webhook-signature"];
    assert!(
        given.split(' ').any(|s| s == expected),
        "bad signature {given} on {}",
        msg.id()
    );
    assert_eq!(msg.headers["content-type"], "application/json");
}

fn roster_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const FAST_RETRIES: &str = "300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms,300ms";

fn start_with(data: &std::path::Path, env: &[(&str, &str)]) -> Server {
    Server::launch(
        data,
        Launch {
            env: env.to_vec(),
            ..Launch::default()
        },
    )
    .expect("server start")
}

/// Adds an endpoint with the CLI; returns (id, secret).
fn add_webhook(data: &std::path::Path, slug: &str, url: &str, events: &str) -> (String, String) {
    let mut args = vec!["webhook", "add", "--tenant", slug, "--url", url];
    if !events.is_empty() {
        args.extend(["--events", events]);
    }
    let out = roster(data, &args);
    assert_eq!(out.code, 0, "{}", out.stderr);
    let lines: Vec<&str> = out.stdout.lines().collect();
    assert_eq!(lines.len(), 2, "{}", out.stdout);
    assert!(
        out.stderr.contains("will not be shown again"),
        "{}",
        out.stderr
    );
    (
        lines[0].strip_prefix("id: ").unwrap().to_string(),
        lines[1].strip_prefix("secret: ").unwrap().to_string(),
    )
}

fn slug_of(scim: &Scim) -> String {
    scim.base.rsplit('/').next().unwrap().to_string()
}

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name, "active": true})
}

/// Waits until a CLI output satisfies `pred` (at most 20 s).
fn wait_cli(data: &std::path::Path, args: &[&str], pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let out = ok(data, args);
        if pred(&out) {
            return out;
        }
        assert!(
            Instant::now() < deadline,
            "gave up waiting on {args:?}: {out}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The ids in arrival order with repeats of the same id next to each other
/// merged (at-least-once allows a resend; order must hold).
fn ids_in_order(got: &[Received]) -> Vec<u64> {
    let mut ids: Vec<u64> = Vec::new();
    for r in got {
        let n: u64 = r.id().strip_prefix("ev_").unwrap().parse().unwrap();
        if ids.last() != Some(&n) {
            ids.push(n);
        }
    }
    ids
}

#[test]
fn a_receiver_gets_signed_events_in_order_across_outages_and_restarts() {
    let (_tmp, data) = temp_data_dir();
    let env = [
        ("ROSTER_WEBHOOK_TARGETS", "any"),
        ("ROSTER_WEBHOOK_RETRY_SCHEDULE", FAST_RETRIES),
    ];
    let server = start_with(&data, &env);
    let scim = Scim::setup(&server, "Acme");
    let slug = slug_of(&scim);
    // Events before the endpoint exists are not sent to it.
    scim.create("/Users", &user("before@acme.test"));

    let receiver = Receiver::start();
    let (hook, secret) = add_webhook(&data, &slug, &receiver.url(), "");
    let listed = ok(&data, &["webhook", "list", "--tenant", &slug]);
    assert!(
        listed.contains(&hook) && listed.contains("enabled"),
        "{listed}"
    );
    assert!(!listed.contains(&secret), "the secret is shown only once");

    let alice = scim.create("/Users", &user("alice@acme.test"));
    let alice_id = alice["id"].as_str().unwrap().to_string();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let resp = scim.send("PATCH", &format!("/Users/{alice_id}"), &patch);
    assert_eq!(resp.status, 200, "{}", resp.body);
    let group = scim.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
                "displayName": "Engineering", "members": [{"value": alice_id}]}),
    );

    let got = receiver.wait_for(4);
    let types: Vec<String> = got
        .iter()
        .map(|r| r.json()["type"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(
        types,
        [
            "user.created",
            "user.deactivated",
            "group.created",
            "group.member_added"
        ]
    );
    for msg in &got {
        assert_signed(msg, &secret);
        let body = msg.json();
        assert_eq!(body["data"]["id"], msg.id());
        assert_eq!(body["data"]["type"], body["type"]);
    }
    assert_eq!(got[0].json()["data"]["resource"]["id"], alice_id);
    assert_eq!(got[1].json()["data"]["changed"], json!(["active"]));
    assert_eq!(got[3].json()["data"]["resource"]["id"], group["id"]);
    assert_eq!(got[3].json()["data"]["member"]["id"], alice_id);

    // The receiver goes down: attempts fail and are logged, then retried.
    let (port, inbox) = receiver.down();
    scim.create("/Users", &user("carol@acme.test"));
    let log = wait_cli(
        &data,
        &["webhook", "deliveries", "--tenant", &slug, "--id", &hook],
        |out| {
            out.lines()
                .filter(|l| l.contains("user.created") && l.contains("refused"))
                .count()
                >= 2
        },
    );
    assert!(log.contains(" 2 "), "the attempt number is logged: {log}");
    let listed = ok(&data, &["webhook", "list", "--tenant", &slug]);
    assert!(listed.contains("failed attempt(s)"), "{listed}");

    // Roster crashes while events wait, and another arrives after the restart.
    scim.create("/Users", &user("dave@acme.test"));
    server.kill();
    let server = start_with(&data, &env);
    let receiver = Receiver::up(port, inbox);
    receiver.wait_for(6);
    // Key rotation re-seals the secret: later messages verify with the same one.
    ok(&data, &["keys", "rotate"]);
    ok(&data, &["check"]);
    let scim = Scim {
        base: format!("{}/scim/v2/{slug}", server.base),
        auth: scim.auth.clone(),
    };
    scim.create("/Users", &user("erin@acme.test"));
    let got = receiver.wait_for(7);
    for msg in &got {
        assert_signed(msg, &secret);
    }
    let ids = ids_in_order(&got);
    assert!(ids.windows(2).all(|w| w[0] < w[1]), "out of order: {ids:?}");
    // Every event after the endpoint was added, none before, none missing.
    let feed = ok(&data, &["events", "--tenant", &slug, "--limit", "100"]);
    let feed_ids: Vec<u64> = feed
        .lines()
        .filter_map(|l| l.split(' ').next()?.parse().ok())
        .collect();
    assert_eq!(ids, feed_ids[1..].to_vec(), "feed: {feed}");

    // The delivery log shows the retried event's success with its attempt count.
    let log = ok(
        &data,
        &[
            "webhook",
            "deliveries",
            "--tenant",
            &slug,
            "--id",
            &hook,
            "--limit",
            "100",
        ],
    );
    assert!(
        log.lines()
            .any(|l| l.contains(" 200 ") && l.contains("thanks")),
        "{log}"
    );
    drop(server);
}

#[test]
fn loopback_targets_are_refused_unless_the_admin_allows_them() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Acme");
    let slug = slug_of(&scim);
    let receiver = Receiver::start();
    let (hook, _) = add_webhook(&data, &slug, &receiver.url(), "");
    scim.create("/Users", &user("alice@acme.test"));
    let log = wait_cli(
        &data,
        &["webhook", "deliveries", "--tenant", &slug, "--id", &hook],
        |out| out.contains("not a permitted webhook target"),
    );
    assert!(log.contains("webhook_targets = public"), "{log}");
    let test = roster(
        &data,
        &["webhook", "test", "--tenant", &slug, "--id", &hook],
    );
    assert_eq!(test.code, 1);
    assert!(
        test.stderr.contains("not a permitted webhook target"),
        "{}",
        test.stderr
    );
    std::thread::sleep(Duration::from_millis(300));
    assert!(receiver.received().is_empty(), "nothing reached 127.0.0.1");

    // Bad input is refused with a clear one-line error.
    for (url, events, want) in [
        (
            "ftp://example.com/x",
            "",
            "must start with https:// or http://",
        ),
        ("https://user:pw@example.com/", "", "user name or password"),
        (
            "https://example.com/",
            "user.exploded",
            "unknown event type",
        ),
    ] {
        let mut args = vec!["webhook", "add", "--tenant", slug.as_str(), "--url", url];
        if !events.is_empty() {
            args.extend(["--events", events]);
        }
        let out = roster(&data, &args);
        assert_ne!(out.code, 0);
        assert!(out.stderr.contains(want), "{}", out.stderr);
        assert_eq!(out.stderr.lines().count(), 1, "{}", out.stderr);
    }
    let out = roster(
        &data,
        &["webhook", "remove", "--tenant", &slug, "--id", "wh_nope"],
    );
    assert_eq!(out.code, 3, "{}", out.stderr);
}

#[test]
fn failing_endpoints_are_disabled_and_retry_resumes_them() {
    let (_tmp, data) = temp_data_dir();
    let server = start_with(
        &data,
        &[
            ("ROSTER_WEBHOOK_TARGETS", "any"),
            ("ROSTER_WEBHOOK_RETRY_SCHEDULE", "100ms,100ms"),
        ],
    );
    let scim = Scim::setup(&server, "Acme");
    let slug = slug_of(&scim);
    let receiver = Receiver::start();
    receiver.status.store(500, Ordering::Release);
    let (hook, secret) = add_webhook(
        &data,
        &slug,
        &receiver.url(),
        "user.deactivated,user.created",
    );
    let alice = scim.create("/Users", &user("alice@acme.test"));
    let listed = wait_cli(&data, &["webhook", "list", "--tenant", &slug], |out| {
        out.contains("disabled: disabled after 3 failed attempts")
    });
    assert!(listed.contains("HTTP 500"), "{listed}");
    let log = ok(
        &data,
        &["webhook", "deliveries", "--tenant", &slug, "--id", &hook],
    );
    assert_eq!(
        log.lines().filter(|l| l.contains(" 500 ")).count(),
        3,
        "{log}"
    );
    assert!(log.contains("receiver says no"), "{log}");

    // A group event is not among its types: passed over, never sent.
    scim.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "Ops"}),
    );
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let id = alice["id"].as_str().unwrap();
    assert_eq!(
        scim.send("PATCH", &format!("/Users/{id}"), &patch).status,
        200
    );

    receiver.status.store(200, Ordering::Release);
    let test = ok(
        &data,
        &["webhook", "test", "--tenant", &slug, "--id", &hook],
    );
    assert!(test.contains("HTTP 200"), "{test}");
    let got = receiver.wait_for(1);
    assert_eq!(got[0].json()["type"], "webhook.test");
    assert_signed(&got[0], &secret);
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        receiver.received().len(),
        1,
        "a disabled endpoint gets only the test"
    );

    let retried = ok(
        &data,
        &["webhook", "retry", "--tenant", &slug, "--id", &hook],
    );
    assert!(retried.contains("enabled"), "{retried}");
    let got = receiver.wait_for(3);
    let types: Vec<&str> = got
        .iter()
        .map(|r| r.headers["webhook-id"].as_str())
        .collect();
    assert_eq!(got[1].json()["type"], "user.created", "{types:?}");
    assert_eq!(got[2].json()["type"], "user.deactivated", "{types:?}");
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(
        receiver.received().len(),
        3,
        "the group event was passed over"
    );
    let listed = ok(&data, &["webhook", "list", "--tenant", &slug]);
    assert!(!listed.contains("disabled"), "{listed}");

    ok(
        &data,
        &["webhook", "disable", "--tenant", &slug, "--id", &hook],
    );
    scim.create("/Users", &user("bob@acme.test"));
    std::thread::sleep(Duration::from_millis(700));
    assert_eq!(
        receiver.received().len(),
        3,
        "a disabled endpoint gets nothing"
    );
    ok(
        &data,
        &["webhook", "remove", "--tenant", &slug, "--id", &hook],
    );
    let listed = ok(&data, &["webhook", "list", "--tenant", &slug]);
    assert!(!listed.contains(&hook), "{listed}");
    let audit = ok(&data, &["audit", "--tenant", &slug, "--limit", "100"]);
    for action in [
        "webhook.created",
        "webhook.auto_disabled",
        "webhook.tested",
        "webhook.enabled",
        "webhook.disabled",
        "webhook.removed",
    ] {
        assert!(audit.contains(action), "{action} missing: {audit}");
    }
    assert!(
        !audit.contains("receiver-side"),
        "the URL's query stays out of the audit log"
    );
    assert!(!audit.contains(&secret));
    assert!(!server.log_text().contains(&secret));
}

/// Event-to-webhook latency, for the notes (not an assertion on speed).
#[test]
fn event_to_webhook_latency_is_reported() {
    let (_tmp, data) = temp_data_dir();
    let server = start_with(&data, &[("ROSTER_WEBHOOK_TARGETS", "any")]);
    let scim = Scim::setup(&server, "Acme");
    let slug = slug_of(&scim);
    let receiver = Receiver::start();
    add_webhook(&data, &slug, &receiver.url(), "");
    let mut latencies = Vec::new();
    for i in 0..50 {
        let sent = Instant::now();
        scim.create("/Users", &user(&format!("u{i}@acme.test")));
        let got = receiver.wait_for(i + 1);
        latencies.push(got[i].at.saturating_duration_since(sent));
    }
    latencies.sort();
    eprintln!(
        "event-to-webhook latency over 50 creates: median {:?}, p90 {:?}, max {:?}",
        latencies[25], latencies[45], latencies[49]
    );
    assert_eq!(receiver.received().len(), 50);
}

/// The value of the input with this id on a console page.
fn input_value(html: &str, id: &str) -> String {
    let at = html
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id} on the page"));
    let rest = &html[at..];
    let v = rest.find("value=\"").expect("a value") + 7;
    rest[v..].split('"').next().unwrap().to_string()
}

/// Waits until a console page satisfies `pred` (at most 20 s).
fn wait_page(console: &Console, path: &str, pred: impl Fn(&str) -> bool) -> String {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let page = console.get(path);
        if pred(&page.body) {
            return page.body;
        }
        assert!(
            Instant::now() < deadline,
            "page never matched: {}",
            page.body
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn webhooks_are_managed_in_the_console() {
    let (_tmp, data) = temp_data_dir();
    let server = start_with(
        &data,
        &[
            ("ROSTER_WEBHOOK_TARGETS", "any"),
            ("ROSTER_WEBHOOK_RETRY_SCHEDULE", "100ms,100ms"),
        ],
    );
    let scim = Scim::setup(&server, "Acme");
    let slug = slug_of(&scim);
    let console = Console::sign_in(&server, "ops");
    let home = format!("/admin/settings/api/{slug}");
    let receiver = Receiver::start();

    // A URL that is not one gets the reason beside the form, typed value kept.
    let bad = console.post(&format!("{home}/webhooks"), &[("url", "ftp://x")]);
    assert_eq!(bad.status, 400);
    assert!(bad.body.contains("value=\"ftp://x\""), "{}", bad.body);
    assert!(bad.body.contains("form-error"));

    // Added: the signing secret is shown once, with eye and copy.
    let added = console.post(
        &format!("{home}/webhooks"),
        &[("url", &receiver.url()), ("event", "user.created")],
    );
    assert_eq!(added.status, 200, "{}", added.body);
    let hook = input_value(&added.body, "once-id");
    let secret = input_value(&added.body, "once-secret");
    assert!(secret.starts_with("whsec_") && added.body.contains("data-toggle=\"once-secret\""));
    let listed = console.get(&home);
    assert!(listed.body.contains("/hooks/roster") && listed.body.contains("Enabled"));
    assert!(
        !listed.body.contains("receiver-side"),
        "the query string is not shown"
    );
    assert!(
        !listed.body.contains(&secret),
        "the secret is shown once only"
    );

    // Send test event: the receiver gets a signed message, the page says so.
    let tested = console.post(&format!("{home}/webhooks/{hook}/test"), &[]);
    assert_eq!(tested.status, 200);
    assert!(
        tested
            .body
            .contains("Test event delivered: the receiver answered 200."),
        "{}",
        tested.body
    );
    let got = receiver.wait_for(1);
    assert_signed(&got[0], &secret);
    assert_eq!(got[0].json()["type"], "webhook.test");

    // Events flow; the delivery log shows each attempt.
    scim.create("/Users", &user("alice@acme.test"));
    let got = receiver.wait_for(2);
    assert_eq!(got[1].json()["type"], "user.created");
    let log = console.get(&format!("{home}/webhooks/{hook}"));
    assert_eq!(log.status, 200);
    assert!(log.body.contains("webhook.test") && log.body.contains("user.created"));
    assert!(log.body.contains("thanks"), "the response excerpt is shown");

    // The receiver fails: after the schedule the endpoint is disabled, with a notice.
    receiver.status.store(500, Ordering::Release);
    scim.create("/Users", &user("bob@acme.test"));
    let page = wait_page(&console, &home, |b| b.contains("Disabled after failures"));
    assert!(
        page.contains("was disabled:") && page.contains("HTTP 500"),
        "{page}"
    );
    assert!(page.contains(">Retry<"));

    // Retry once the receiver is back: the waiting event arrives.
    receiver.status.store(200, Ordering::Release);
    let retried = console.post(&format!("{home}/webhooks/{hook}/enable"), &[]);
    assert_eq!(retried.status, 303);
    let got = receiver.wait_for(3);
    assert_eq!(got[2].json()["data"]["resource"]["type"], "User");
    assert_signed(&got[2], &secret);

    // Disable, then delete.
    assert_eq!(
        console
            .post(&format!("{home}/webhooks/{hook}/disable"), &[])
            .status,
        303
    );
    let page = console.get(&home);
    assert!(page.body.contains(">Disabled<") && page.body.contains(">Enable<"));
    assert_eq!(
        console
            .post(&format!("{home}/webhooks/{hook}/delete"), &[])
            .status,
        303
    );
    assert!(console.get(&home).body.contains("No webhook endpoints yet"));
    assert_eq!(console.get(&format!("{home}/webhooks/{hook}")).status, 404);
    let audit = ok(&data, &["audit", "--tenant", &slug, "--limit", "100"]);
    for action in [
        "webhook.created",
        "webhook.tested",
        "webhook.enabled",
        "webhook.disabled",
        "webhook.removed",
    ] {
        assert!(audit.contains(action), "{action} missing");
    }
    assert!(!audit.contains(&secret) && !server.log_text().contains(&secret));
}
