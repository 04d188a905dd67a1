//! Limits and abuse: each oversized or hostile request gets a clean SCIM
//! error, the server keeps serving others, and nothing stored changes.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::*;
use serde_json::{Value, json};

fn user(name: &str) -> Value {
    json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"], "userName": name})
}

fn nested(depth: usize) -> Value {
    (0..depth).fold(json!("x"), |inner, _| json!({ "a": inner }))
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap()
}

fn host_port(server: &Server) -> String {
    server.base.trim_start_matches("http://").to_string()
}

#[test]
fn oversized_and_hostile_bodies_get_clean_scim_errors() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Limits");
    let ada = scim.create("/Users", &user("ada@example.com"));
    let id = ada["id"].as_str().unwrap();

    // Body size: 413 past body_limit.
    let big = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "big", "title": "x".repeat(2 * 1024 * 1024)});
    assert_scim_error(&scim.post("/Users", &big), 413, None);
    // Nesting depth.
    let mut deep = user("deep@example.com");
    deep["urn:example:deep"] = nested(40);
    let msg = assert_scim_error(&scim.post("/Users", &deep), 400, Some("invalidValue"));
    assert!(msg.contains("nests deeper"), "{msg}");
    // Past serde_json's own recursion limit: still a SCIM error.
    let raw = format!("{}1{}", "[".repeat(5000), "]".repeat(5000));
    let resp = request(
        "POST",
        &scim.url("/Users"),
        &[("Authorization", &scim.auth)],
        Some(&raw),
    );
    assert_scim_error(&resp, 400, Some("invalidSyntax"));
    // A long string, many attributes, many values.
    let mut long = user("long@example.com");
    long["title"] = json!("t".repeat(70 * 1024));
    assert_scim_error(&scim.post("/Users", &long), 400, Some("invalidValue"));
    let mut wide = user("wide@example.com");
    for i in 0..1500 {
        wide[format!("x{i}")] = json!(1);
    }
    assert_scim_error(&scim.post("/Users", &wide), 400, Some("invalidValue"));
    let members: Vec<Value> = (0..20_001)
        .map(|i| json!({"value": format!("m{i}")}))
        .collect();
    let group = json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"],
        "displayName": "Huge", "members": members});
    let msg = assert_scim_error(&scim.post("/Groups", &group), 400, Some("invalidValue"));
    assert!(msg.contains("20000"), "{msg}");
    // PATCH operation count.
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({"op": "replace", "path": "title", "value": format!("t{i}")}))
        .collect();
    let patch =
        json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
    let r = scim.send("PATCH", &format!("/Users/{id}"), &patch);
    assert_eq!(r.status, 400, "{}", r.body);
    // Filters: too long, too deep, garbage.
    let long_filter = format!("userName eq \"{}\"", "a".repeat(9000));
    let r = scim.get(&format!("/Users?filter={}", enc(&long_filter)));
    assert_scim_error(&r, 400, Some("invalidFilter"));
    let deep_filter = format!("{}userName eq \"a\"{}", "(".repeat(40), ")".repeat(40));
    let r = scim.get(&format!("/Users?filter={}", enc(&deep_filter)));
    assert_scim_error(&r, 400, Some("invalidFilter"));
    let r = scim.get(&format!("/Users?filter={}", enc("userName eq")));
    assert_scim_error(&r, 400, Some("invalidFilter"));
    // count and startIndex extremes: clamped (RFC 7644 §3.4.2.4), or 400 when not numbers.
    for q in [
        "count=-5",
        "count=99999999",
        "startIndex=0",
        "startIndex=-3",
        "startIndex=999999999&count=1",
    ] {
        let r = scim.get(&format!("/Users?{q}"));
        assert_eq!(r.status, 200, "{q}: {}", r.body);
        assert!(r.json()["itemsPerPage"].as_u64().unwrap() <= 1000, "{q}");
    }
    let r = scim.get("/Users?count=99999999999999999999999");
    assert!(r.status == 200 || r.status == 400, "{}", r.body);
    let r = scim.get("/Users?count=lots");
    assert_scim_error(&r, 400, Some("invalidValue"));
    // Bulk past maxOperations.
    let ops: Vec<Value> = (0..1001)
        .map(|i| json!({"method": "POST", "path": "/Users", "bulkId": format!("b{i}"), "data": user(&format!("b{i}"))}))
        .collect();
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"], "Operations": ops});
    assert_scim_error(&scim.post("/Bulk", &bulk), 413, None);

    // Nothing of it was stored; the server still answers.
    let list = scim.get("/Users").json();
    assert_eq!(list["totalResults"], 1, "{list}");
    assert_eq!(
        scim.get(&format!("/Users/{id}")).json()["title"],
        Value::Null
    );
    assert!(ok(&data, &["check"]).starts_with("ok:"));
}

#[test]
fn huge_headers_slow_clients_and_idle_connections_are_bounded() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Conns");
    let addr = host_port(&server);

    // A request head past actix's 128 KiB bound: refused with 431 (or the connection closed), never served.
    let mut s = TcpStream::connect(&addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = write!(
        s,
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: {}\r\n\r\n",
        "a".repeat(64 * 1024)
    );
    let mut answer = String::new();
    let _ = s.read_to_string(&mut answer);
    assert!(
        answer.is_empty() || answer.starts_with("HTTP/1.1 431"),
        "{answer:.80}"
    );

    // Slowloris: many clients trickling their request heads.
    let before = rss_kib(server.pid());
    let mut slow: Vec<TcpStream> = (0..300)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
                .unwrap();
            s
        })
        .collect();
    // Idle connections that never send anything.
    let idle: Vec<TcpStream> = (0..1000)
        .map(|_| TcpStream::connect(&addr).unwrap())
        .collect();
    // Others are still served meanwhile.
    for i in 0..20 {
        scim.create("/Users", &user(&format!("u{i}@example.com")));
    }
    assert_eq!(get(&format!("{}/healthz", server.base), None).status, 200);
    let during = rss_kib(server.pid());
    eprintln!("server RSS: {before} KiB before, {during} KiB with 1300 slow or idle connections");
    assert!(
        during < before + 200 * 1024,
        "RSS grew from {before} to {during} KiB"
    );
    // The server closes the slow ones (408 after the request-head timeout).
    let mut closed = 0;
    for s in slow.iter_mut() {
        s.set_read_timeout(Some(Duration::from_secs(15))).unwrap();
        let mut buf = [0u8; 64];
        match s.read(&mut buf) {
            Ok(0) => closed += 1,
            Ok(n) => {
                assert!(String::from_utf8_lossy(&buf[..n]).starts_with("HTTP/1.1 408"));
                closed += 1;
            }
            Err(e) => panic!("a slow client was kept open: {e}"),
        }
    }
    assert_eq!(closed, slow.len());
    drop(idle);

    // A body that never finishes: 408 with a SCIM error, the rest unharmed.
    let mut s = TcpStream::connect(&addr).unwrap();
    let path = scim.base.trim_start_matches(&server.base).to_string();
    write!(
        s,
        "POST {path}/Users HTTP/1.1\r\nHost: x\r\nAuthorization: {}\r\nContent-Type: application/scim+json\r\nContent-Length: 1000\r\n\r\n{{\"userName\":",
        scim.auth
    )
    .unwrap();
    s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let mut answer = Vec::new();
    let _ = s.read_to_end(&mut answer);
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 408"), "{answer:.200}");
    assert!(answer.contains("did not arrive"), "{answer:.400}");
    assert_eq!(scim.get("/Users?count=0").json()["totalResults"], 20);
}

#[test]
fn every_route_refuses_another_tenants_credentials() {
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let a = Scim::setup(&server, "Alpha");
    let b = Scim::setup(&server, "Beta");
    let slug_b = b.base.rsplit('/').next().unwrap().to_string();
    let slug_a = a.base.rsplit('/').next().unwrap().to_string();
    let user_b = b.create("/Users", &user("bea@beta.test"));
    let uid = user_b["id"].as_str().unwrap();
    let group_b = b.create(
        "/Groups",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:Group"], "displayName": "B team", "members": [{"value": uid}]}),
    );
    let gid = group_b["id"].as_str().unwrap();
    let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"],
        "Operations": [{"op": "replace", "path": "active", "value": false}]});
    let bulk = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:BulkRequest"],
        "Operations": [{"method": "DELETE", "path": format!("/Users/{uid}")}]});
    // Tenant A's application token, asked for before the failures below get this address throttled.
    let out = ok(
        &data,
        &[
            "app",
            "create",
            "--tenant",
            &slug_a,
            "--name",
            "alpha-app",
            "--scopes",
            "directory:read,events:read",
        ],
    );
    let tok = request(
        "POST",
        &format!("{}/oauth/token", server.base),
        &[
            FORM,
            (
                "Authorization",
                &basic(&field(&out, "client_id"), &field(&out, "client_secret")),
            ),
        ],
        Some("grant_type=client_credentials"),
    )
    .json()["access_token"]
        .as_str()
        .unwrap()
        .to_string();
    // Every SCIM route of tenant B, with tenant A's token: 401, nothing changes.
    let routes: Vec<(&str, String, Option<Value>)> = vec![
        ("GET", "/ServiceProviderConfig".into(), None),
        ("GET", "/ResourceTypes".into(), None),
        ("GET", "/Schemas".into(), None),
        ("GET", "/Users".into(), None),
        ("GET", format!("/Users/{uid}"), None),
        ("POST", "/Users".into(), Some(user("intruder@alpha.test"))),
        ("PUT", format!("/Users/{uid}"), Some(user("bea@beta.test"))),
        ("PATCH", format!("/Users/{uid}"), Some(patch.clone())),
        ("DELETE", format!("/Users/{uid}"), None),
        ("GET", "/Groups".into(), None),
        ("GET", format!("/Groups/{gid}"), None),
        ("PATCH", format!("/Groups/{gid}"), Some(patch.clone())),
        ("DELETE", format!("/Groups/{gid}"), None),
        ("POST", "/Bulk".into(), Some(bulk)),
        (
            "POST",
            "/.search".into(),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
        ),
        (
            "POST",
            "/Users/.search".into(),
            Some(json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"]})),
        ),
    ];
    for (method, path, body) in &routes {
        let url = format!("{}{path}", b.base);
        let body = body.as_ref().map(Value::to_string);
        let r = request(method, &url, &[("Authorization", &a.auth)], body.as_deref());
        // 401, or 429 once this address has failed often enough (also a refusal).
        assert!(
            r.status == 401 || r.status == 429,
            "{method} {path} with another tenant's token: {}",
            r.body
        );
        assert!(
            !r.body.contains("bea@beta.test"),
            "{method} {path} leaked data"
        );
        // Basic credentials of the other tenant too.
        let creds = ok(
            &data,
            &["scim", "credentials", "--tenant", &slug_a, "--reveal"],
        );
        let basic_a = basic(&field(&creds, "client id"), &field(&creds, "secret"));
        let r = request(
            method,
            &url,
            &[("Authorization", &basic_a)],
            body.as_deref(),
        );
        assert!(
            r.status == 401 || r.status == 429,
            "{method} {path} with another tenant's basic credentials"
        );
    }
    // Nothing changed in B (read from its feed: this address is throttled by now).
    let feed = ok(&data, &["events", "--tenant", &slug_b]);
    assert_eq!(
        feed.lines().filter(|l| !l.trim().is_empty()).count(),
        3,
        "{feed}"
    );
    assert!(
        !feed.contains("deactivated") && !feed.contains("deleted"),
        "{feed}"
    );

    // Every API route with tenant A's application token: B's resources are not found.
    for path in [
        format!("/users/{uid}"),
        "/users/by-username/bea@beta.test".to_string(),
        format!("/users/{uid}/groups"),
        format!("/users/{uid}/permissions"),
        format!("/groups/{gid}"),
        format!("/groups/{gid}/members"),
    ] {
        let r = get(
            &format!("{}/api/v1{path}", server.base),
            Some(&bearer(&tok)),
        );
        assert_eq!(r.status, 404, "{path}: {}", r.body);
    }
    for path in ["/users", "/groups", "/roles", "/events"] {
        let r = get(
            &format!("{}/api/v1{path}", server.base),
            Some(&bearer(&tok)),
        );
        assert_eq!(r.status, 200);
        assert!(
            !r.body.contains(uid) && !r.body.contains("bea@beta.test"),
            "{path} leaked B"
        );
    }
}

/// Property: a PATCH is all or nothing. Random lists of valid operations with
/// at most one bad one anywhere: refused requests leave the user exactly as
/// it was (same version), accepted ones apply every operation.
#[test]
fn patch_requests_apply_all_or_nothing() {
    use rand::{Rng, SeedableRng};
    let (_tmp, data) = temp_data_dir();
    let server = Server::start(&data);
    let scim = Scim::setup(&server, "Atomic");
    let u = scim.create(
        "/Users",
        &json!({"schemas": ["urn:ietf:params:scim:schemas:core:2.0:User"],
        "userName": "ada@example.com", "title": "t0", "nickName": "n0",
        "emails": [{"value": "ada@example.com", "type": "work"}]}),
    );
    let id = u["id"].as_str().unwrap();
    let seed: u64 = rand::random();
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let (mut refused, mut applied) = (0, 0);
    for round in 0..150 {
        let before = scim.get(&format!("/Users/{id}")).json();
        let n = rng.random_range(1..6);
        let bad_at = rng.random_bool(0.5).then(|| rng.random_range(0..n));
        let mut expect: Vec<(&str, Value)> = Vec::new();
        let ops: Vec<Value> = (0..n)
            .map(|i| {
                if Some(i) == bad_at {
                    match rng.random_range(0..4) {
                        0 => json!({"op": "replace", "path": "noSuchAttribute", "value": 1}),
                        1 => json!({"op": "frobnicate", "path": "title", "value": "x"}),
                        2 => json!({"op": "replace", "path": "active", "value": {"nested": true}}),
                        _ => json!({"op": "remove", "path": "userName"}),
                    }
                } else {
                    let (path, value) = match rng.random_range(0..3) {
                        0 => ("title", json!(format!("t{round}-{i}"))),
                        1 => ("nickName", json!(format!("n{round}-{i}"))),
                        _ => ("displayName", json!(format!("d{round}-{i}"))),
                    };
                    expect.retain(|(p, _)| *p != path);
                    expect.push((path, value.clone()));
                    json!({"op": "replace", "path": path, "value": value})
                }
            })
            .collect();
        let patch = json!({"schemas": ["urn:ietf:params:scim:api:messages:2.0:PatchOp"], "Operations": ops});
        let r = scim.send("PATCH", &format!("/Users/{id}"), &patch);
        let after = scim.get(&format!("/Users/{id}")).json();
        if bad_at.is_some() {
            assert_eq!(r.status, 400, "seed {seed} round {round}: {}", r.body);
            assert_eq!(
                after, before,
                "seed {seed} round {round}: a refused PATCH changed the user"
            );
            refused += 1;
        } else {
            assert_eq!(r.status, 200, "seed {seed} round {round}: {}", r.body);
            for (path, value) in &expect {
                assert_eq!(&after[*path], value, "seed {seed} round {round}");
            }
            applied += 1;
        }
    }
    assert!(refused > 0 && applied > 0);
}
